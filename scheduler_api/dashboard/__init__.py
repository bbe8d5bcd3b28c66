"""``/dashboard``: an account's schedules (whatever API or the CLI made them), their executions
with the attempts of each, a timeline, the dead letters; buttons to pause, resume, run now,
delete and redrive.

Server-rendered (Jinja, autoescaped), no front-end build and no JavaScript. ``common``: the
blueprint and its error page; ``sessions``: sign-in sessions and CSRF; ``pages``: what a GET
shows; ``views``: the rows those pages show; ``actions``: what the buttons post to.
"""

from scheduler_api.dashboard import actions, pages  # noqa: F401  (they add their routes)
from scheduler_api.dashboard.common import blueprint
from scheduler_api.dashboard.sessions import configure_sessions

__all__ = ["blueprint", "configure_sessions"]
