"""Talking HTTP over a raw socket, as the request-limit tests do: a request head, an exchange that
reads the answer however early the server answers, and a health probe."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass

FAST_S = 3.0  # a refused request is answered within this, on a busy 2-core machine
MARKER = "BODYECHO"


@dataclass
class Answer:
    status: int
    head: str
    body: bytes
    seconds: float

    def json(self) -> object:
        return json.loads(self.body)


def exchange(port: int, head: bytes, body: bytes | list[bytes] = b"") -> Answer:
    """Send ``head`` and ``body`` (a list: one chunk each, chunked framing added) on a fresh
    connection and read the answer as a client does: the head, then Content-Length bytes.
    Sending runs in a thread: a server that refuses early stops reading, and the answer must
    still be read."""
    if isinstance(body, list):
        body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in body) + b"0\r\n\r\n"
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)

    def send() -> None:
        with contextlib.suppress(OSError):  # the server answered and closed before the end
            sock.sendall(head + body)

    started = time.monotonic()
    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        reader = sock.makefile("rb")
        try:
            status_line = reader.readline()
        except ConnectionResetError:
            # Closed with our request unread: the kernel answers with a reset, not a FIN. Either
            # way the server refused without an answer (status 0).
            status_line = b""
        lines = []
        while (line := reader.readline()) not in (b"\r\n", b""):
            lines.append(line.decode("latin-1").strip())
        length = next(
            (int(h.split(":")[1]) for h in lines if h.lower().startswith("content-length:")), 0
        )
        answer_body = reader.read(length)
    finally:
        elapsed = time.monotonic() - started
        sock.close()
        sender.join(timeout=10)
    status = int(status_line.split(b" ", 2)[1]) if status_line else 0
    return Answer(status, "\n".join([status_line.decode("latin-1"), *lines]), answer_body, elapsed)


def request_head(method: str, target: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {target} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def healthy(port: int) -> bool:
    try:
        return exchange(port, request_head("GET", "/healthz", {})).status == 200
    except OSError:
        return False
