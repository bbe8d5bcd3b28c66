"""The "Jobs" API (``/api/jobs``): beacon jobs, as a thin adapter over ``shared.beacon_jobs``.

Parameters come in the query string or as form fields (both are read); ``userkey`` is required
on every call and names the account. ``action`` picks the call on each path; its default is the
document's (``list`` / ``create`` on ``/api/jobs``, ``show`` / ``update`` on a job). The document
writes Start Job and Finish Job as ``action=pickup`` too; here they are ``action=start`` and
``action=end`` (or ``finish``), as its endpoint list names them. Answers are JSON; errors are
``{"error": "..."}`` with 400, 401, 403, 404, 405, 409 or 413.

Modules: ``routes`` (the routes and their actions), ``schemas`` (each call's parameters),
``reading`` (a call's userkey, action, parameters and results), ``mapping`` (the new job; core
errors as statuses), ``render`` (the answers, the ``Dialect``), ``replies`` (the answers' shapes,
for OpenAPI). The plumbing is ``scheduler_api.adapter``.
"""

from scheduler_api.beacon_jobs.routes import blueprint

__all__ = ["blueprint"]
