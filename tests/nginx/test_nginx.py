"""The shipped nginx.conf, run by Debian's nginx in front of gunicorn on loopback.

Everything goes through https://127.0.0.1:<port> with a certificate generated for the run:
the HTTP->HTTPS redirect, TLS versions, security headers, static files served by Nginx
itself, /healthz through the proxy, forwarded headers honoured by the app, body limits,
and a real frame round trip to the kiosk API.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess

import pytest
import requests
from kiosk_stack import (
    MIME_TYPES,
    NGINX,
    NGINX_SITE_LINES,
    https_session,
    kiosk_frame_jpeg,
    make_self_signed_cert,
    tls_handshake,
)

from kiosk.config import REPO_ROOT, Config

pytestmark = pytest.mark.nginx

STATES = {"IDLE", "IDENTIFYING", "CONFIRMING", "SMILING", "DONE", "UNKNOWN", "CANCELLED"}
SECURITY_HEADERS = (
    "Strict-Transport-Security", "Content-Security-Policy", "Permissions-Policy",
    "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy",
)


def csp_directives(value: str) -> dict[str, list[str]]:
    directives = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


# --- the shipped file ----------------------------------------------------------------------


def _nginx_t(prefix, conf):
    return subprocess.run([NGINX, "-t", "-p", f"{prefix}/", "-c", str(conf)], capture_output=True, text=True,
                          timeout=30)


def test_shipped_nginx_conf_passes_nginx_t(tmp_path):
    """`nginx -t` on the file exactly as shipped, placed like /etc/nginx/ (certs/ and mime.types
    beside it) with a private prefix for what nginx writes."""
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    conf = conf_dir / "nginx.conf"
    shutil.copyfile(REPO_ROOT / "nginx.conf", conf)
    shutil.copy(MIME_TYPES, conf_dir / "mime.types")
    make_self_signed_cert(conf_dir / "certs")
    result = _nginx_t(tmp_path, conf)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    assert conf.read_bytes() == (REPO_ROOT / "nginx.conf").read_bytes()


def test_nginx_t_notices_a_missing_certificate(tmp_path):
    # The check above can fail: without the certificate the same file is refused.
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    shutil.copyfile(REPO_ROOT / "nginx.conf", conf_dir / "nginx.conf")
    shutil.copy(MIME_TYPES, conf_dir / "mime.types")
    result = _nginx_t(tmp_path, conf_dir / "nginx.conf")
    assert result.returncode != 0
    assert "kiosk.crt" in result.stderr


def test_every_site_line_the_tests_change_is_in_the_shipped_file():
    text = (REPO_ROOT / "nginx.conf").read_text()
    for line in NGINX_SITE_LINES:
        assert text.count(line) == 1, line


def test_body_limit_matches_the_apps_limit():
    text = (REPO_ROOT / "nginx.conf").read_text()
    limit_mb = Config().MAX_CONTENT_LENGTH // (1024 * 1024)
    assert f"client_max_body_size {limit_mb}m;" in text


# --- the running proxy ------------------------------------------------------------------------


def test_http_redirects_to_https_keeping_path_and_query(proxied):
    nginx = proxied.nginx
    response = requests.get(f"{nginx.http}/admin/people?page=2", allow_redirects=False, timeout=10)
    assert response.status_code == 301
    assert response.headers["Location"] == f"https://127.0.0.1:{nginx.https_port}/admin/people?page=2"
    # The plain-HTTP side answers nothing but the redirect: no app content, even for the API.
    api = requests.post(f"{nginx.http}/api/v1/kiosk/frames", data=b"x", allow_redirects=False, timeout=10)
    assert api.status_code == 301


def test_tls_1_2_and_1_3_with_forward_secret_aead_ciphers_only(proxied):
    port = proxied.nginx.https_port
    version, cipher = tls_handshake(port, version=ssl.TLSVersion.TLSv1_2)
    assert version == "TLSv1.2"
    assert cipher.startswith("ECDHE-") and ("GCM" in cipher or "CHACHA20" in cipher), cipher
    version, _ = tls_handshake(port, version=ssl.TLSVersion.TLSv1_3)
    assert version == "TLSv1.3"


def test_tls_1_1_is_refused(proxied):
    with pytest.raises((ssl.SSLError, ConnectionError)):
        tls_handshake(proxied.nginx.https_port, version=ssl.TLSVersion.TLSv1_1)


@pytest.mark.parametrize("path", ["/", "/auth/login", "/admin/", "/healthz", "/static/css/admin.css", "/no-such-page",
                                  "/api/v1/kiosk/state"])
def test_security_headers_on_every_kind_of_answer(proxied, path):
    response = proxied.session().get(proxied.url + path, allow_redirects=False, timeout=60)
    for header in SECURITY_HEADERS:
        assert header in response.headers, f"{header} missing on {path} ({response.status_code})"
        # requests joins repeated headers with ", ": each must arrive exactly once
        assert len(response.raw.headers.getlist(header)) == 1, (header, response.raw.headers.getlist(header))
    assert int(response.headers["Strict-Transport-Security"].split("max-age=")[1].split(";")[0]) >= 31536000
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "camera=(self)" in response.headers["Permissions-Policy"]
    assert response.headers["Server"] == "nginx"  # server_tokens off: no version

    csp = csp_directives(response.headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert set(csp["img-src"]) == {"'self'", "data:", "blob:"}
    assert set(csp["media-src"]) == {"'self'", "blob:", "mediastream:"}
    assert csp["object-src"] == ["'none'"]
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert "unsafe-eval" not in response.headers["Content-Security-Policy"]


def test_static_files_come_from_disk_with_nginx_caching(proxied):
    response = proxied.session().get(proxied.url + "/static/css/admin.css", timeout=10)
    assert response.status_code == 200
    assert response.content == (REPO_ROOT / "static/css/admin.css").read_bytes()
    assert response.headers["Content-Type"].startswith("text/css")
    # `expires 1h` is Nginx's; Flask's static view would say "no-cache".
    assert "max-age=3600" in response.headers["Cache-Control"]
    assert proxied.session().get(proxied.url + "/static/no-such-file.css", timeout=10).status_code == 404
    assert proxied.session().get(proxied.url + "/static/../nginx.conf", timeout=10).status_code in (400, 404)


def test_static_files_are_served_even_with_the_app_down(nginx_without_upstream):
    """The same nginx.conf pointed at a port where nothing listens: static files still come
    back, so Nginx serves them itself; the app's routes fail with 502."""
    session = https_session(nginx_without_upstream.cert)
    static = session.get(nginx_without_upstream.https + "/static/css/admin.css", timeout=10)
    assert static.status_code == 200
    assert static.content == (REPO_ROOT / "static/css/admin.css").read_bytes()
    assert session.get(nginx_without_upstream.https + "/healthz", timeout=10).status_code == 502


def test_healthz_through_the_proxy(proxied):
    response = proxied.session().get(proxied.url + "/healthz", timeout=10)
    assert response.status_code == 200
    health = response.json()
    assert health["status"] == "ok" and health["models"] == "ready", health  # the stack waits for the warm-up
    assert health["warm_up_s"] > 0


def test_the_app_sees_https_the_host_and_the_client_address(proxied):
    behind = proxied.session().get(proxied.url + "/_probe/request", timeout=10).json()
    assert behind["scheme"] == "https" and behind["is_secure"] is True
    assert behind["host"] == f"127.0.0.1:{proxied.nginx.https_port}"
    assert behind["url_root"] == f"https://127.0.0.1:{proxied.nginx.https_port}/"
    assert behind["remote_addr"] == "127.0.0.1"

    # Straight to gunicorn (no proxy in between) the same app sees plain HTTP: the https
    # above comes from X-Forwarded-Proto.
    direct = requests.get(proxied.gunicorn.url + "/_probe/request", timeout=10).json()
    assert direct["scheme"] == "http"


def test_forged_forwarded_headers_from_a_client_are_not_believed(proxied):
    forged = proxied.session().get(
        proxied.url + "/_probe/request",
        headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "evil.example"},
        timeout=10,
    ).json()
    assert forged["remote_addr"] == "127.0.0.1"
    assert forged["scheme"] == "https"
    assert "evil.example" not in forged["host"]


def test_oversized_body_is_refused_by_nginx_with_413(proxied):
    limit = Config().MAX_CONTENT_LENGTH
    response = proxied.session().post(proxied.url + "/api/v1/kiosk/frames", data=b"\xff" * (limit + 1024),
                                      headers={"Content-Type": "image/jpeg"}, timeout=60)
    assert response.status_code == 413
    assert "nginx" in response.text  # Nginx's own page: gunicorn never read the body


def test_a_body_just_under_the_limit_reaches_the_app(proxied):
    limit = Config().MAX_CONTENT_LENGTH
    body = b"\xff\xd8\xff" + b"\0" * (limit - 4096)  # a JPEG header, then nothing decodable
    response = proxied.kiosk_session().post(proxied.url + "/api/v1/kiosk/frames", data=body,
                                      headers={"Content-Type": "image/jpeg"}, timeout=120)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_image"


def test_an_import_upload_over_the_photo_limit_reaches_the_app(proxied):
    """/admin/people/import takes archives up to KIOSK_IMPORT_MAX_MB; every other URL stops at the
    photo limit. The app answers (anonymous: to the sign-in page) and the connection stays usable."""
    body = b"\0" * (Config().MAX_CONTENT_LENGTH + (5 << 20))
    session = proxied.kiosk_session()
    elsewhere = session.post(proxied.url + "/admin/people", data=body, allow_redirects=False, timeout=120,
                             headers={"Content-Type": "application/zip"})
    assert elsewhere.status_code == 413 and "nginx" in elsewhere.text
    imported = session.post(proxied.url + "/admin/people/import", data=body, allow_redirects=False, timeout=120,
                            headers={"Content-Type": "application/zip"})
    assert imported.status_code == 302 and "/auth/login" in imported.headers["Location"]
    assert session.post(proxied.url + "/api/v1/kiosk/reset", timeout=60).status_code == 200


def test_answers_given_before_reading_a_large_body_leave_the_next_post_working(proxied):
    """A kiosk frame refused before the app reads it (no device token, no sign-in, a wrong
    content type) must not spoil the keep-alive connection between Nginx and gunicorn: the
    next POST over it came back 502 when the unread body passed gunicorn's 64 KB drain."""
    session = proxied.kiosk_session()
    body = b"\xff\xd8\xff" + bytes(range(256)) * 800  # ~200 KB, the size of a kiosk frame
    for attempt in range(3):
        refused = session.post(proxied.url + "/api/v1/kiosk/frames", data=body,
                               headers={"Content-Type": "application/octet-stream"}, timeout=60)
        assert refused.status_code in (400, 401, 415), (attempt, refused.status_code, refused.text[:200])
        following = session.post(proxied.url + "/api/v1/kiosk/reset", timeout=60)
        assert following.status_code == 200, (attempt, following.status_code, following.text[:200])


def test_huge_headers_are_refused_before_the_app(proxied):
    response = proxied.session().get(proxied.url + "/healthz", headers={"X-Big": "a" * 20_000}, timeout=10)
    assert response.status_code == 400


def test_device_tokens_in_kiosk_links_stay_out_of_the_access_log(proxied):
    proxied.session().get(proxied.url + "/?token=do-not-log-this-secret", allow_redirects=False, timeout=30)
    log = (proxied.nginx.log_dir / "access.log").read_text()
    assert '"GET / HTTP/1.1"' in log
    assert "do-not-log-this-secret" not in log


def set_cookies(response) -> list[str]:
    return response.raw.headers.getlist("Set-Cookie")


def test_a_kiosk_gets_one_routing_cookie_that_never_changes(proxied):
    """The key nginx routes a kiosk on (several app hosts, nginx.conf): handed out once, by nginx,
    with the first answer; never again while the browser sends it back; a new one per kiosk."""
    kiosk = proxied.kiosk_session()
    first = kiosk.get(proxied.url + "/healthz", timeout=30)
    (cookie,) = [c for c in set_cookies(first) if c.startswith("kiosk_route=")]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"path", "max-age", "secure", "httponly", "samesite"} <= attributes
    route = kiosk.cookies["kiosk_route"]
    assert len(route) == 32  # nginx's $request_id: 128 random bits
    for path in ("/healthz", "/api/v1/kiosk/state", "/static/css/admin.css"):
        answer = kiosk.get(proxied.url + path, timeout=60)
        assert not [c for c in set_cookies(answer) if c.startswith("kiosk_route=")], path
    assert kiosk.cookies["kiosk_route"] == route
    other = proxied.session()
    other.get(proxied.url + "/healthz", timeout=30)
    assert other.cookies["kiosk_route"] != route
    # The access log says which app host answered each kiosk (by its routing key).
    log = (proxied.nginx.log_dir / "access.log").read_text()
    assert f"upstream=127.0.0.1:{proxied.gunicorn.port} route={route}" in log


@pytest.mark.models  # the server runs the real models on the frame
def test_a_frame_round_trip_through_nginx(proxied, faces_data):
    """A real face photo in a 640x480 JPEG, posted as the kiosk page posts it, answered with
    the kiosk state (models load on the first frame: generous timeout)."""
    session = proxied.kiosk_session()
    frame = kiosk_frame_jpeg(faces_data / "fr_obama" / "1.jpg")
    first = session.post(proxied.url + "/api/v1/kiosk/frames", data=frame,
                         headers={"Content-Type": "image/jpeg"}, timeout=300)
    assert first.status_code == 200, first.text
    state = first.json()
    assert state["state"] in STATES
    assert state["frame_size"] == [640, 480]
    assert len(state["faces"]) == 1
    x, y, w, h = state["faces"][0]["box"]
    assert 0 <= x < 640 and 0 <= y < 480 and w > 50 and h > 50
    assert first.headers["Cache-Control"] == "no-store"
    # The session cookie is marked Secure: the app knows it is behind HTTPS.
    app_cookie = next(c for c in set_cookies(first) if c.startswith("session="))
    assert "; secure" in app_cookie.lower()

    second = session.post(proxied.url + "/api/v1/kiosk/frames", data=frame,
                          headers={"Content-Type": "image/jpeg"}, timeout=120)
    assert second.status_code == 200
    assert second.json()["state"] in STATES
    assert session.get(proxied.url + "/api/v1/kiosk/state", timeout=30).json()["state"] in STATES
