"""The answers of ``/api/jobs``: JSON, and ``{"error": "..."}`` for every refusal."""

from __future__ import annotations

from typing import Any

from flask import Response

from scheduler_api import formats


class BeaconError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def answer(data: Any, status: int = 200) -> Response:
    return formats.respond(formats.json_bytes(data), formats.JSON, status)


def error_response(status: int, message: str) -> Response:
    body = formats.json_bytes({"error": formats.clip_message(message)})
    return formats.respond(body, formats.JSON, status)
