"""Read the rest of every request body the app answered without reading.

Many answers come before the body is read: a kiosk without its device token (401), an
anonymous admin API call (401), a wrong content type (415), a CSRF failure (400). The bytes
the client sent are still on the connection. Gunicorn (27) drains at most 64 KB of them
before it reuses a keep-alive connection; past that it closes the connection *without*
saying so in the answer. Nginx keeps its upstream connections alive (``keepalive`` in
nginx.conf) and never retries a POST, so the next frame sent over that connection came back
as a 502 Bad Gateway: a kiosk frame is 30-150 KB. (Found by tests/reliability/test_security.py.)

Reading the rest here keeps the connection clean whatever server runs the app. Only bodies
the app would have accepted are read (``Content-Length`` within ``MAX_CONTENT_LENGTH``):
anything larger is refused by Nginx first, and without Nginx the server closes the
connection, which a browser handles. Behind Nginx the body is already buffered and arrives at
once; a client that trickles it to gunicorn directly gets ``DRAIN_SECONDS`` (bounded through
the socket gunicorn puts in the environ), then the server closes that connection.

:class:`KioskRequest` (the app's request class) answers a *streamed* body (chunked, without
``Content-Length``) that goes past ``MAX_CONTENT_LENGTH`` with 413, like a sized one.

The bulk import's upload may be larger (``KIOSK_IMPORT_MAX_MB``): :func:`upload_request_limit`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, cast

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream, get_content_length

CHUNK_BYTES = 64 * 1024
DRAIN_SECONDS = 10.0
UPLOAD_FORM_OVERHEAD = 1024 * 1024  # multipart boundaries and headers around the import's files


def upload_request_limit(import_max_mb: int) -> int:
    """The largest request body of an import upload (nginx.conf's import location allows the same)."""
    return int(import_max_mb) * 1024 * 1024 + UPLOAD_FORM_OVERHEAD


class _CountingInput:
    """``wsgi.input`` as the app sees it, counting the bytes the app takes."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.consumed = 0

    def read(self, size: int | None = -1) -> bytes:
        data = self._stream.read() if size is None or size < 0 else self._stream.read(size)
        self.consumed += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        # Defined so werkzeug's LimitedStream does not reach a server stream's own readinto
        # through __getattr__, uncounted.
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        data = self._stream.readline() if size is None or size < 0 else self._stream.readline(size)
        self.consumed += len(data)
        return data

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        lines = self._stream.readlines() if hint is None or hint < 0 else self._stream.readlines(hint)
        self.consumed += sum(len(line) for line in lines)
        return lines

    def __iter__(self) -> Iterator[bytes]:
        for line in self._stream:
            self.consumed += len(line)
            yield line

    def __getattr__(self, name: str) -> Any:  # anything else a server offers (fileno, ...)
        return getattr(self._stream, name)


class DrainUnreadBody:
    """WSGI middleware: after the app answers, read what is left of the request body.

    ``max_bytes`` is the largest body that is read (the app's ``MAX_CONTENT_LENGTH``);
    ``larger_paths`` maps the paths that accept more (the bulk import) to their own limit.
    """

    def __init__(self, app: Callable, max_bytes: int, larger_paths: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger_paths = larger_paths or {}

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        length = _content_length(environ)
        limit = self.larger_paths.get(environ.get("PATH_INFO", ""), self.max_bytes)
        if not length or length > limit or "wsgi.input" not in environ:
            return self.app(environ, start_response)
        counting = _CountingInput(environ["wsgi.input"])
        environ["wsgi.input"] = counting
        answer = self.app(environ, start_response)
        if counting.consumed < length:
            _drain(counting, length - counting.consumed, environ.get("gunicorn.socket"))
        return answer


def _content_length(environ: dict) -> int:
    try:
        return max(int(environ.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def _drain(stream: _CountingInput, remaining: int, sock: Any = None) -> None:
    """Read ``remaining`` bytes at most, for ``DRAIN_SECONDS`` at most when the socket is known."""
    deadline = time.monotonic() + DRAIN_SECONDS
    prior_timeout = sock.gettimeout() if sock is not None else None
    try:
        while remaining > 0:
            if sock is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                sock.settimeout(left)
            data = stream.read(min(CHUNK_BYTES, remaining))
            if not data:  # the client stopped sending: the server sees that itself
                return
            remaining -= len(data)
    except (OSError, ValueError):  # a timeout, or a client gone mid-body: the server closes
        return
    finally:
        if sock is not None:
            try:
                sock.settimeout(prior_timeout)
            except OSError:
                pass


class _AtMostStream(LimitedStream):
    """A streamed body (chunked: no Content-Length) that may hold ``max_bytes`` and no more.

    werkzeug's own limit stops reading *at* the limit and hands the app what it has, so a body
    one byte too long arrived cut at 20 MB and was refused as a truncated image (400). This
    reads one byte further and answers 413, as for a body whose Content-Length is too large."""

    def __init__(self, stream: Any, max_bytes: int) -> None:
        super().__init__(stream, max_bytes + 1, is_max=True)
        self.max_bytes = max_bytes

    def readinto(self, buffer: Any) -> int | None:
        size = super().readinto(buffer)
        if self._pos > self.max_bytes:
            raise RequestEntityTooLarge()
        return size


class KioskRequest(Request):
    """Flask's request, with streamed bodies over ``MAX_CONTENT_LENGTH`` refused with 413."""

    @cached_property
    def stream(self) -> IO[bytes]:
        limit = self.max_content_length
        if (
            limit is not None
            and self.environ.get("wsgi.input_terminated")
            and get_content_length(self.environ) is None
            and not self.shallow
        ):
            return cast(IO[bytes], _AtMostStream(self.environ["wsgi.input"], limit))
        return super().stream
