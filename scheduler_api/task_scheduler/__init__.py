"""The "Scheduler" task API (``/api/v1/api.php?target=scheduler&action=...``), a thin adapter.

A task is a ``Schedule`` of dialect ``task_scheduler``: its ``repeat_items`` become a
``CalendarTrigger`` in the account's time zone, its class and data a ``task`` target run by the
``tasks`` pool, ``active=false`` a disabled schedule (never due, still runnable by hand). Ids are
the document's numbers, issued per account; the schedule id is ``task-<appkey>-<n>``, so another
account's number names nothing. Answers use the document's envelope,
``{"success":1,"message":...,"data":...}`` or ``{"success":0,"message":"<what is wrong>"}``.

Modules: ``routes`` (the one route, its actions, reading the body and ``taskId``), ``schemas``
(the document's request shapes and field names), ``mapping`` (a task as a core schedule; core
errors in the document's terms), ``render`` (the envelope, the views, the ``Dialect``),
``replies`` (the answers' shapes, for OpenAPI). The plumbing is ``scheduler_api.adapter``.
"""

from scheduler_api.task_scheduler.routes import blueprint

__all__ = ["blueprint"]
