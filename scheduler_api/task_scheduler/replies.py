"""Answers of ``/api/v1/api.php?target=scheduler``: the document's envelope."""

from __future__ import annotations

from marshmallow import fields

from scheduler_api.replies import Strict, integer, string


class Envelope(Strict):
    """``{"success":1,"message":...,"data":...}``; executeTask's failed run is a 200 with
    ``{"success":0,"message":...}``."""

    success = integer(enum=[0, 1])
    message = string(optional=True)
    data = fields.Raw(allow_none=True)


class Failure(Strict):
    success = integer(enum=[0])
    message = string()
