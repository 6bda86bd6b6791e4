"""A real HTTP receiver for webhook tests: a ThreadingHTTPServer on a loopback port, in a thread.

``Receiver(behaviours=[...])`` answers each request by the next behaviour of the list, then
``"ok"`` for the rest (each answer after ``delay_s``): ``"ok"`` (204), ``"error"`` (500), ``"hang"``
(holds the request for ``hang_s`` seconds, longer than the sender's time-out, then 204), ``"close"``
(closes the connection without an answer). Every request that arrived is kept in ``received`` (behaviour, headers, body,
when), the failed ones too: a test sees each attempt.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    behaviour: str
    headers: dict
    body: bytes
    at: float

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class Receiver:
    def __init__(self, behaviours: list[str] | None = None, *, hang_s: float = 5.0, port: int = 0,
                 delay_s: float = 0.0) -> None:
        self.behaviours = list(behaviours or [])
        self.hang_s = hang_s
        self.delay_s = delay_s  # every answer takes this long (a receiver with work to do)
        self.received: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    behaviour = receiver.behaviours.pop(0) if receiver.behaviours else "ok"
                    receiver.received.append(Received(behaviour, dict(self.headers.items()), body, time.time()))
                if behaviour == "close":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if behaviour == "hang":
                    time.sleep(receiver.hang_s)
                time.sleep(receiver.delay_s)
                self.send_response(500 if behaviour == "error" else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answered_ok(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.behaviour == "ok"]

    def wait_for(self, count: int, timeout_s: float) -> list[Received]:
        """The first ``count`` requests answered 2xx, waiting up to ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ok = self.answered_ok()
            if len(ok) >= count:
                return ok
            time.sleep(0.05)
        raise AssertionError(f"{len(self.answered_ok())} of {count} webhook(s) arrived in {timeout_s} s; "
                             f"all requests: {[r.behaviour for r in self.received]}")
