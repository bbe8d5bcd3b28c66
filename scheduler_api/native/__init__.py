"""The native API (``/v1``): the whole engine in one JSON API of the service's own.

Schedules with any trigger the engine evaluates (``at``, ``cron``, ``every``, ``rrule``,
``calendar``) and any target its pools deliver (``webhook``, ``push``, ``task``, ``beacon``);
pause, resume, run now, runs, previews (of saved and unsaved triggers), dead letters, the webhook
signing secret, and named API keys with scopes (``Authorization: Bearer``) beside HTTP Basic
``appkey:master_secret``. Errors are RFC 9457 problem documents naming each bad field; lists are
pages (``?limit=&cursor=`` answering ``next_cursor``); every POST takes an ``Idempotency-Key``.
Modules: ``problems`` (the error shape), ``access`` (credentials, scopes, idempotency),
``schemas`` (requests), ``mapping`` (onto the core), ``render`` and ``replies`` (answers),
``routes`` (schedules, previews) and ``account_routes`` (dead letters, secret, keys).
"""

from scheduler_api.native import account_routes  # noqa: F401 (registers its routes)
from scheduler_api.native.routes import blueprint

__all__ = ["blueprint"]
