"""The API as a module-level WSGI app, for WSGI servers: ``gunicorn scheduler_api.wsgi:app``.

Settings come from the environment like every other process (``REDIS_URL``, ``SCHEDULER_*``).
Each gunicorn worker imports this module itself (no ``--preload``), so no Redis connection is
shared across a fork.
"""

from __future__ import annotations

from scheduler_api.app import create_app

app = create_app()
