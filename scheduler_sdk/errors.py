"""The one exception the SDK raises for an answer it can't use: the API's RFC 9457 problem."""

from __future__ import annotations

from typing import Any

from scheduler_sdk.types import FieldError

PROBLEM = "application/problem+json"


class ProblemError(Exception):
    """An error answer of the native API, as its problem document (RFC 9457) has it.

    ``status`` the HTTP status, ``title`` its phrase, ``detail`` the whole story in one line,
    ``errors`` each bad field (``{"field": "trigger.cron", "detail": "..."}``) when there are
    any, ``retry_after_s`` the server's Retry-After (on 429 and 503) and ``problem`` the document
    itself. An answer that is not a problem document (a proxy's HTML page, say) still becomes one
    of these, its text in ``detail``.
    """

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        errors: list[FieldError] | None = None,
        problem: dict[str, Any] | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.errors: list[FieldError] = errors or []
        self.problem: dict[str, Any] = problem or {}
        self.retry_after_s = retry_after_s

    @property
    def fields(self) -> dict[str, str]:
        """Each bad field's path -> what is wrong with it."""
        return {error["field"]: error["detail"] for error in self.errors}
