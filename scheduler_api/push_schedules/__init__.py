"""The push "Scheduled Tasks API" (``/v4/schedules``), as a thin adapter over the core.

A schedule is a ``Schedule`` with a push target. ``trigger.single.time`` is a wall-clock time:
with ``zone_type`` 1 it is read in the account's time zone (a one-shot trigger); with ``zone_type``
2 it is read in the time zone of each device of the audience (an instants trigger: one fire per
distinct instant, each sent by the push pool to the devices of its zones only). Devices' zones come
from the device registry, ``PUT /v4/devices/<registration_id>`` (our extension). A schedule is
purged after its last fire (the document's 28104: "the task has been sent"); its msg ids stay
readable for the history retention. Errors are ``{"error": {"code": 28xxx, "message": ...}}``.
"""

from scheduler_api.push_schedules.routes import blueprint

__all__ = ["blueprint"]
