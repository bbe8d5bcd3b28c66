"""Example values every dialect's examples share (each dialect keeps its own in its package's
``examples`` module): an account's credentials and the messages the shared plumbing writes."""

from __future__ import annotations

from scheduler_api.adapter import STORE_DOWN

APPKEY = "4ea0dfcc2d543658a6ccbdb823a8eb7a"
USERKEY = "c7ea4649981f84454aa5d7c449abcdf8"
RATE_LIMITED = (
    "rate limit exceeded: requests of this account are limited to 20 per 1 second; retry in 1 s"
)
METHOD_NOT_ALLOWED = "The method is not allowed for the requested URL."
QUOTA_REACHED = f"account {APPKEY} already has 1000 schedules"
STORE_UNREACHABLE = STORE_DOWN

__all__ = [
    "APPKEY",
    "METHOD_NOT_ALLOWED",
    "QUOTA_REACHED",
    "RATE_LIMITED",
    "STORE_UNREACHABLE",
    "USERKEY",
]
