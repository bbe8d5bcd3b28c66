"""The chaos runs' callback receivers on 127.0.0.1, one server per behaviour, each recording
every request it read in full (its ``webhook-id``, when, and what it answered).

- ``ok`` answers 200 at once;
- ``hang`` never answers: it holds the connection until the caller gives up (its read timeout)
  or the receivers close;
- ``reset`` closes the connection without answering, with a TCP reset (SO_LINGER 0).

Each behaviour is its own port, as it would be its own host: the delivery pools keep per-
destination state (in-flight caps, circuit breakers) that must not let one misbehaving receiver
speak for a healthy one.
"""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

from scheduler_api.serving import CappedHead
from shared.timing import now_ms

KINDS = ("ok", "hang", "reset")
HANG_S = 120.0  # longer than any attempt: the caller's timeout ends a hang, or the close does


@dataclass(frozen=True)
class Receipt:
    webhook_id: str
    kind: str
    at_ms: int  # when the request had been read in full
    ok: bool  # answered 2xx


class Receivers:
    """The three receivers, and every receipt in arrival order (``receipts()``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._receipts: list[Receipt] = []
        self._closing = threading.Event()
        self._servers = {kind: self._server(kind) for kind in KINDS}
        self._threads = [
            threading.Thread(target=server.serve_forever, daemon=True)
            for server in self._servers.values()
        ]

    def __enter__(self) -> Receivers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()  # releases the hanging handlers first
        for server in self._servers.values():
            server.shutdown()
            server.server_close()

    def url(self, kind: str) -> str:
        host, port = self._servers[kind].server_address[:2]
        return f"http://{host}:{port}"

    def receipts(self) -> list[Receipt]:
        with self._lock:
            return list(self._receipts)

    def _record(self, headers: Any, kind: str) -> None:
        receipt = Receipt(headers.get("webhook-id", ""), kind, now_ms(), kind == "ok")
        with self._lock:
            self._receipts.append(receipt)

    def _server(self, kind: str) -> ThreadingHTTPServer:
        receivers = self

        class Handler(CappedHead):  # the request caps of every server the project starts
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receivers._record(self.headers, kind)
                if kind == "ok":
                    self._answer()
                elif kind == "hang":
                    receivers._closing.wait(HANG_S)
                    self.close_connection = True
                else:
                    self._reset()

            def _answer(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def _reset(self) -> None:
                # Linger 0: the close sends RST, not FIN; closed here, before socketserver's
                # own shutdown(SHUT_WR) could send a FIN first.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
                self.close_connection = True

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        return server
