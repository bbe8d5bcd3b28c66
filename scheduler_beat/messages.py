"""The beat's Celery messages: built by ``shared.messages`` (the core publishes runs on demand
with the same builder), re-exported here for the beat and its callers."""

from __future__ import annotations

from shared.messages import build_message

__all__ = ["build_message"]
