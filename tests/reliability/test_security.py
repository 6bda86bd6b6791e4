"""Security through the real deployment (Nginx + gunicorn on loopback):

- every admin page and admin API route refuses anonymous requests, even ones carrying a
  valid CSRF token or a forged session cookie, and nothing changes on the server;
- with device tokens on, a kiosk without its token (or with a wrong or removed one) cannot
  post frames, read or reset its state; with the header or the link's cookie it can;
- photo URLs cannot be traversed out of their folders nor guessed: random kiosk photo tokens
  and traversal payloads get nothing, a real check-in photo is visible only to the kiosk
  session that took it, and stored photo names are random.
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
import ssl
import time

from kiosk_stack import kiosk_cli, kiosk_token
from reliability_kit import Kiosk, Snapshot, describe, report, run_until

# The API's description is public like any API description: it holds no data (docs/integrations.md).
# The console's language switch is offered on the sign-in page too: it only sets a cookie.
PUBLIC_ENDPOINTS = {"kiosk_page.index", "health.healthz", "health.readyz", "static", "auth.login",
                    "api.openapi_description", "i18n.choose_console_language"}
KIOSK_ENDPOINTS = {"api.kiosk_frames", "api.kiosk_state", "api.kiosk_reset", "api.kiosk_photo", "api.kiosk_answer",
                   # An unpaired kiosk asks for its pairing code and polls for approval: public by design
                   # (tests/test_pairing.py: what they give away, and their limits per address).
                   "api.kiosk_pairing_start", "api.kiosk_pairing_poll"}
SAMPLE_ARGUMENTS = {"kind": "faces", "job_id": "1", "token": "x"}  # ints are 1: rows that exist


def _routes(data_dir):
    from kiosk import create_app
    from kiosk.config import TestingConfig

    app = create_app(TestingConfig(data_dir))  # only to list the routes the server has
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS or rule.endpoint in KIOSK_ENDPOINTS:
            continue
        values = {name: SAMPLE_ARGUMENTS.get(name, 1) for name in rule.arguments}
        path = rule.build(values, append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, path, rule.endpoint))
    return routes


def _raw_get(stack, path: str, cookie: str | None = None) -> tuple[int, bytes]:
    """GET with the path sent exactly as written (no client-side normalisation)."""
    context = ssl.create_default_context(cafile=str(stack.nginx.cert))
    connection = http.client.HTTPSConnection("127.0.0.1", stack.nginx.https_port, context=context, timeout=30)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        if cookie:
            connection.putheader("Cookie", cookie)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_every_admin_route_refuses_anonymous_requests(module_stack):
    stack = module_stack
    routes = _routes(stack.data_dir)
    assert len(routes) >= 20, routes  # the admin console and its API are all there
    before = Snapshot.take(stack.data_dir)

    anonymous = stack.session()
    login_page = anonymous.get(stack.url + "/auth/login", timeout=30).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
    # CSRF passes (a real token, the Referer a browser sends), so only the sign-in check is left.
    anonymous.headers.update({"X-CSRFToken": csrf, "Referer": stack.url + "/admin/"})
    forged = stack.session()
    forged.cookies.set("session", "eyJfdXNlcl9pZCI6IjEifQ.forged.signature", domain="127.0.0.1")

    refused, leaks = 0, []
    for client_name, client in (("anonymous", anonymous), ("forged cookie", forged)):
        for method, path, endpoint in routes:
            response = client.request(method, stack.url + path, allow_redirects=False, timeout=60,
                                      json={} if method in ("POST", "PATCH") else None)
            if path.startswith("/api/"):
                ok = response.status_code in (401, 403) and response.json().get("error") in (
                    "unauthorized", "forbidden")
                # a forged cookie may fail the CSRF check first: refused all the same
                ok = ok or (client_name == "forged cookie" and response.status_code == 400
                            and response.json().get("error") == "csrf_failed")
            else:
                location = response.headers.get("Location", "")
                ok = response.status_code in (302, 303) and location.startswith("/auth/login")
                ok = ok or (client_name == "forged cookie" and response.status_code == 400)
            if ok:
                refused += 1
            else:
                leaks.append((client_name, method, path, endpoint, response.status_code))
    after = Snapshot.take(stack.data_dir)
    report("security.anonymous", routes=len(routes), requests=refused + len(leaks), refused=refused,
           leaks=len(leaks))
    assert leaks == []
    assert after.changes_since(before) == {}


def test_kiosks_must_be_paired_by_default(make_stack, frames):
    stack = make_stack()  # KIOSK_REQUIRE_PAIRING is on unless a site turns it off
    added = kiosk_cli(stack.data_dir, "devices", "add", "Lobby kiosk", "--json", env=stack.gunicorn.env)
    assert added.returncode == 0, added.stderr
    printed = json.loads(added.stdout)
    assert printed["name"] == "Lobby kiosk"
    token = printed["token"]
    frame = frames["empty"][0]
    counts = {}

    anonymous = Kiosk(stack, paired=False)
    for name, answer in (("frame", anonymous.frame(frame)), ("reset", anonymous.reset()),
                         ("state", _state(anonymous))):
        assert answer.status == 401 and answer.body["error"] == "kiosk_not_paired", (name, answer)
    wrong = Kiosk(stack, token=secrets.token_urlsafe(32))
    answer = wrong.frame(frame)
    assert answer.status == 401 and answer.body["error"] == "kiosk_not_paired"
    counts["refused"] = 4

    registered = Kiosk(stack, token=token)
    answer = registered.frame(frame)
    assert answer.status == 200, answer
    assert answer.state in ("IDLE", "IDENTIFYING")

    # A kiosk browser: opens the link once, then posts with the cookie alone.
    browser = Kiosk(stack, paired=False)
    link = browser.session.get(f"{stack.url}/?token={token}", allow_redirects=False, timeout=30)
    assert link.status_code == 303 and link.headers["Location"] == "/"
    assert browser.frame(frame).status == 200

    revoked = kiosk_cli(stack.data_dir, "devices", "revoke", "Lobby kiosk", env=stack.gunicorn.env)
    assert revoked.returncode == 0, revoked.stderr
    assert registered.frame(frame).status == 401  # at once, on the running server
    assert browser.frame(frame).status == 401
    counts["refused_after_revoke"] = 2
    report("security.device_tokens", **counts)


def _state(kiosk: Kiosk):
    from reliability_kit import FrameAnswer

    started = time.perf_counter()
    response = kiosk.session.get(kiosk.stack.url + "/api/v1/kiosk/state", timeout=30)
    return FrameAnswer(response.status_code, (time.perf_counter() - started) * 1000, response.json())


TRAVERSALS = [
    "../../secret_key", "..%2f..%2fsecret_key", "%2e%2e%2f%2e%2e%2fsecret_key", "..%252f..%252fsecret_key",
    "....//....//secret_key", "..\\..\\secret_key", "%2e%2e/%2e%2e/kiosk.sqlite3", "..%00/secret_key",
    "/etc/passwd", "%2fetc%2fpasswd", "photos/..%2f..%2fsecret_key",
]


def test_photo_and_static_urls_cannot_be_traversed(module_stack):
    stack = module_stack
    secret = (stack.data_dir / "secret_key").read_bytes().strip()
    forbidden = [secret, b"SQLite format 3", b"root:x:0:0"]
    prefixes = ["/api/v1/kiosk/photos/", "/static/", "/static/css/", "/admin/attendance/1/", "/"]
    paired = f"kiosk_device_token={kiosk_token(stack)}"  # photo links are tried as a paired kiosk would
    tried, leaks = 0, []
    for prefix in prefixes:
        for payload in TRAVERSALS:
            status, body = _raw_get(stack, prefix + payload, paired if prefix.startswith("/api/v1/kiosk/") else None)
            tried += 1
            if status == 200 and any(marker in body for marker in forbidden):
                leaks.append((prefix + payload, status))
            elif prefix == "/api/v1/kiosk/photos/" and status not in (400, 404):
                leaks.append((prefix + payload, status))
    report("security.traversal", requests=tried, leaks=len(leaks))
    assert leaks == []


def test_kiosk_photo_tokens_cannot_be_guessed(module_stack):
    stack = module_stack
    kiosk = Kiosk(stack)
    kiosk.reset()  # a real kiosk session cookie: guesses come from a legitimate kiosk
    statuses = {}
    for _ in range(300):
        guess = secrets.token_urlsafe(24)
        status = kiosk.session.get(f"{stack.url}/api/v1/kiosk/photos/{guess}", timeout=30).status_code
        statuses[status] = statuses.get(status, 0) + 1
    report("security.photo_guesses", guesses=300, statuses=statuses)
    assert statuses == {404: 300}


def test_a_check_in_photo_is_only_visible_to_its_kiosk(trained_site, make_stack, frames):
    stack = make_stack(env={"KIOSK_DUPLICATE_WINDOW_MINUTES": "0"})
    kiosk = Kiosk(stack)
    kiosk.reset()
    answers = run_until(kiosk, frames["capture_obama"], {"DONE", "UNKNOWN", "CANCELLED"})
    done = answers[-1]
    assert done.state == "DONE", describe(answers)
    photo_url = done.body["photo_url"]
    assert photo_url and len(photo_url.rsplit("/", 1)[1]) >= 32  # >= 192 random bits

    own = kiosk.session.get(stack.url + photo_url, timeout=30)
    assert own.status_code == 200 and own.content.startswith(b"\x89PNG")
    assert "no-store" in own.headers["Cache-Control"]
    other_kiosk = Kiosk(stack)
    other_kiosk.reset()
    assert other_kiosk.session.get(stack.url + photo_url, timeout=30).status_code == 404
    # No cookie and no device token at all: not even a paired kiosk, refused before the photo is looked up.
    assert stack.session().get(stack.url + photo_url, timeout=30).status_code == 401

    names = [path.name for path in (stack.data_dir / "photos").iterdir()]
    assert names and all(re.fullmatch(r"[A-Za-z0-9_-]{22,}\.(png|jpg)", name) for name in names), names
    assert not any("obama" in name.lower() for name in names)
    report("security.photo_scope", photo_token_chars=len(photo_url.rsplit("/", 1)[1]), stored_files=len(names))
