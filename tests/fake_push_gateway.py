"""A fake push gateway: a real HTTP server on 127.0.0.1 serving ``POST /v4/push``.

It answers like EngageLab's ``/v4/push`` (``{"request_id": ..., "msg_id": "..."}``) when the HTTP
Basic credentials are the expected ones (401 otherwise), and records every request with its
decoded credentials and JSON body. ``statuses`` scripts the first answers (e.g. ``[503, 200]``).
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from scheduler_api.serving import CappedHead
from tests.support import now_ms


@dataclass
class PushRequest:
    path: str
    auth: tuple[str, str] | None
    body: Any
    at_ms: int
    msg_id: str | None = None  # what the gateway answered (None: an error)


@dataclass
class FakePushGateway:
    key: str = "gw-key"
    secret: str = "gw-secret"
    statuses: list[int] = field(default_factory=list)
    requests: list[PushRequest] = field(default_factory=list)

    def __enter__(self) -> FakePushGateway:
        gateway = self

        class Handler(CappedHead):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = gateway._handle(self.path, self.headers.get("Authorization"), raw)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, path: str, authorization: str | None, raw: bytes) -> tuple[int, Any]:
        auth = _basic(authorization)
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        with self._lock:
            request = PushRequest(path, auth, body, now_ms())
            self.requests.append(request)
            scripted = self.statuses.pop(0) if self.statuses else 200
            if path != "/v4/push":
                return 404, {"error": {"code": 404, "message": "not found"}}
            if auth != (self.key, self.secret):
                return 401, {"error": {"code": 21001, "message": "auth failed"}}
            if scripted != 200:
                return scripted, {"error": {"code": scripted, "message": "scripted failure"}}
            request.msg_id = f"{1_000_000 + len(self.requests)}"
        request_id = body.get("request_id", "") if isinstance(body, dict) else ""
        return 200, {"request_id": request_id, "msg_id": request.msg_id}

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v4/push"

    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def delivered(self) -> list[PushRequest]:
        """The requests that got a msg_id, in arrival order."""
        with self._lock:
            return [r for r in self.requests if r.msg_id]


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password
