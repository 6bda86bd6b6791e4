"""DrainUnreadBody: a body the app answered without reading is read before the connection is
reused (the proof through Nginx and gunicorn is tests/nginx/test_nginx.py)."""

from __future__ import annotations

import io
import socket
import threading
import time

import pytest

from kiosk.web import request_body
from kiosk.web.request_body import DrainUnreadBody


def _app_reading(n_bytes: int):
    def app(environ, start_response):
        if n_bytes:
            environ["wsgi.input"].read(n_bytes)
        start_response("401 UNAUTHORIZED", [("Content-Type", "application/json")])
        return [b'{"error": "device_token_required"}']

    return app


def _call(app, body: bytes, *, content_length: int | None = None):
    stream = io.BytesIO(body + b"NEXT REQUEST")  # what the connection holds after the body
    environ = {"wsgi.input": stream, "CONTENT_LENGTH": str(len(body) if content_length is None else content_length)}
    answer = b"".join(app(environ, lambda status, headers: None))
    return answer, stream


def test_an_unread_body_is_read_up_to_its_end_and_not_beyond():
    body = b"\xff\xd8" + b"x" * 300_000  # a kiosk frame is larger than gunicorn's 64 KB drain
    answer, stream = _call(DrainUnreadBody(_app_reading(0), max_bytes=1 << 20), body)
    assert b"device_token_required" in answer
    assert stream.tell() == len(body)
    assert stream.read() == b"NEXT REQUEST"


def test_a_partly_read_body_is_finished():
    body = b"y" * 200_000
    _, stream = _call(DrainUnreadBody(_app_reading(70_000), max_bytes=1 << 20), body)
    assert stream.tell() == len(body)


def test_a_body_read_with_readinto_counts_as_read():
    """werkzeug reads with readinto when the stream has it: those bytes count too."""
    def app(environ, start_response):
        buffer = bytearray(1000)
        assert environ["wsgi.input"].readinto(buffer) == 1000
        start_response("200 OK", [])
        return [b"ok"]

    stream = io.BytesIO(b"r" * 1000 + b"NEXT REQUEST")
    environ = {"wsgi.input": stream, "CONTENT_LENGTH": "1000"}
    assert b"".join(DrainUnreadBody(app, max_bytes=1 << 20)(environ, lambda s, h: None)) == b"ok"
    assert environ["wsgi.input"].consumed == 1000
    assert stream.read() == b"NEXT REQUEST"


def test_a_body_the_app_read_is_left_alone():
    body = b"z" * 1000
    _, stream = _call(DrainUnreadBody(_app_reading(1000), max_bytes=1 << 20), body)
    assert stream.tell() == len(body)


def test_a_body_above_the_apps_limit_is_not_read():
    body = b"w" * 5000
    _, stream = _call(DrainUnreadBody(_app_reading(0), max_bytes=4096), body)
    assert stream.tell() == 0


def test_a_client_that_sent_less_than_announced_ends_the_drain():
    body = b"v" * 100
    app = DrainUnreadBody(_app_reading(0), max_bytes=1 << 20)
    stream = io.BytesIO(body)
    environ = {"wsgi.input": stream, "CONTENT_LENGTH": "10000"}
    assert b"".join(app(environ, lambda status, headers: None))
    assert stream.tell() == len(body)


def test_requests_without_a_body_are_untouched():
    seen = {}

    def app(environ, start_response):
        seen["input"] = environ["wsgi.input"]
        start_response("200 OK", [])
        return [b"ok"]

    stream = io.BytesIO(b"")
    assert b"".join(DrainUnreadBody(app, max_bytes=1024)({"wsgi.input": stream}, lambda s, h: None)) == b"ok"
    assert seen["input"] is stream


def test_a_client_that_stalls_mid_body_is_given_up_on(monkeypatch):
    """Straight to gunicorn (no Nginx buffering), a client announcing 100 KB and sending 1 KB
    must not hold a server thread: the drain gives up after DRAIN_SECONDS."""
    monkeypatch.setattr(request_body, "DRAIN_SECONDS", 0.3)
    server, client = socket.socketpair()
    give_up = None
    try:
        client.sendall(b"a" * 1000)  # then nothing more
        # Were the drain unbounded, it would block until this gives up for the client (then fail).
        give_up = threading.Timer(8, lambda: client.shutdown(socket.SHUT_WR))
        give_up.start()
        environ = {"wsgi.input": server.makefile("rb"), "CONTENT_LENGTH": "100000", "gunicorn.socket": server}
        started = time.monotonic()
        answer = b"".join(DrainUnreadBody(_app_reading(0), max_bytes=1 << 20)(environ, lambda s, h: None))
        assert b"device_token_required" in answer
        assert time.monotonic() - started < 5
        assert server.gettimeout() is None  # the server's own setting is back
    finally:
        if give_up is not None:
            give_up.cancel()
        server.close()
        client.close()


# ---------------------------------------------------------------------------- streamed bodies


# What gunicorn hands the app for a chunked upload: the de-chunked body, no length it can trust.
CHUNKED = {"environ_overrides": {"wsgi.input_terminated": True, "CONTENT_LENGTH": ""},
           "headers": {"Transfer-Encoding": "chunked"}}


def _post_streamed(client, body: bytes, content_type: str = "image/jpeg"):
    return client.post("/api/v1/kiosk/frames", input_stream=io.BytesIO(body), content_type=content_type, **CHUNKED)


def test_a_streamed_body_over_the_limit_is_413_like_a_sized_one(app, client):
    """Issue 13, item 11: it was cut at the limit and refused as a truncated image (400)."""
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    oversized = b"\xff\xd8\xff" + b"\0" * (64 * 1024)
    streamed = _post_streamed(client, oversized)
    assert streamed.status_code == 413, streamed.get_json()
    assert streamed.get_json()["error"] == "too_large"
    sized = client.post("/api/v1/kiosk/frames", data=oversized, content_type="image/jpeg")
    assert sized.status_code == 413
    assert streamed.get_json() == sized.get_json()
    head = b'--b\r\nContent-Disposition: form-data; name="frame"; filename="f.jpg"\r\n\r\n'
    form = head + oversized + b"\r\n--b--\r\n"
    multipart = client.post("/api/v1/kiosk/frames", input_stream=io.BytesIO(form),
                            content_type="multipart/form-data; boundary=b", **CHUNKED)
    assert multipart.status_code == 413


@pytest.mark.models
def test_a_streamed_body_at_the_limit_is_read_whole(app, client):
    import cv2
    import numpy as np

    frame = cv2.imencode(".jpg", np.full((480, 640, 3), 128, np.uint8))[1].tobytes()
    app.config["MAX_CONTENT_LENGTH"] = len(frame)
    answer = _post_streamed(client, frame)
    assert answer.status_code == 200, answer.get_json()  # an empty room: read whole, decoded, IDLE
    assert answer.get_json()["state"] == "IDLE"
