"""The "Job Scheduler API" (``/1/jobs``): webhook jobs, as a thin adapter over the core.

A job is a ``Schedule`` with a webhook target: ``when`` becomes a one-shot trigger, ``cron`` a cron
trigger in UTC (Unix 5-field or Quartz 6/7-field, as the document's ``0 15 10 ? * *``). Jobs are
purged once they have no future fire, as the document says. Requests are JSON or XML (``<job>``);
answers are JSON, XML or plain text by ``Accept``. Errors are ``{"error": "..."}``,
``<error>...</error>`` or the bare message, in the format the client accepts.
"""

from scheduler_api.webhook_jobs.routes import blueprint

__all__ = ["blueprint"]
