"""``Idempotency-Key`` on a POST: the same key and request within a day answers the first answer
again; the same key with another request is refused.

A request is known by its fingerprint (method, path and the SHA-256 of its body). The first
request with a key reserves it (a pending record), runs, and keeps its answer for ``TTL_S``; a
second one with the same key meanwhile is told to wait (``Pending``). An answer worth retrying
(a 5xx: Redis away, a crash) is not kept, so the retry runs afresh.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from shared.store import Store

TTL_S = 24 * 3600
MAX_KEY_CHARS = 255


@dataclass(frozen=True)
class Answer:
    """A kept answer: what to send again."""

    status: int
    body: str
    content_type: str
    location: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What ``begin`` found: ``fresh`` (run the request), ``answer`` (send it again),
    ``mismatch`` (the key was used for another request) or ``pending`` (its first request is
    still running)."""

    kind: str
    answer: Answer | None = None


def fingerprint(method: str, path: str, body: bytes) -> str:
    return f"{method} {path} {hashlib.sha256(body).hexdigest()}"


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def begin(store: Store, account: str, key: str, print_: str) -> Outcome:
    found = store.reserve_idempotency(account, key_digest(key), {"fingerprint": print_}, TTL_S)
    if found is None:
        return Outcome("fresh")
    if found.get("fingerprint") != print_:
        return Outcome("mismatch")
    if "status" not in found:
        return Outcome("pending")
    answer = Answer(found["status"], found["body"], found["content_type"], found.get("location"))
    return Outcome("answer", answer)


def finish(store: Store, account: str, key: str, print_: str, answer: Answer) -> None:
    """Keep ``answer`` for the key, unless it is a 5xx (then the key is free again)."""
    if answer.status >= 500:
        store.settle_idempotency(account, key_digest(key), None, TTL_S)
        return
    record = {
        "fingerprint": print_,
        "status": answer.status,
        "body": answer.body,
        "content_type": answer.content_type,
        "location": answer.location,
    }
    store.settle_idempotency(account, key_digest(key), record, TTL_S)
