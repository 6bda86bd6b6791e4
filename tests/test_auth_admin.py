"""Admin sign-in: passwords, lock-out, CSRF, cookies, redirects. CSRF stays ON in this file."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from kiosk.config import Config
from kiosk.extensions import db
from kiosk.models import AdminUser, RequestThrottle, utcnow
from kiosk.services import accounts

PASSWORD = "correct horse battery"


def csrf_token(page_text: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', page_text) or re.search(
        r'name="csrf_token" value="([^"]+)"', page_text
    )
    assert match, "no CSRF token on the page"
    return match.group(1)


def post_login(client, username: str, password: str, *, next_url: str | None = None, token: str | None = None):
    page = client.get("/auth/login")
    data = {"username": username, "password": password, "csrf_token": token or csrf_token(page.text)}
    url = "/auth/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data=data)


@pytest.fixture
def admin(app):
    # Some tests here sign in more than 10 times in 10 seconds from one address: the attempt rate
    # has its own tests (tests/test_rate_limits.py).
    app.config["KIOSK_RATE_SIGN_INS_PER_ADDRESS"] = 1000
    return accounts.create_admin("admin", PASSWORD)


def test_sign_in_and_out(client, admin):
    assert client.get("/admin/").status_code == 302
    response = post_login(client, "admin", PASSWORD)
    assert response.status_code == 303 and response.location.endswith("/admin/")
    page = client.get("/admin/")
    assert page.status_code == 200 and "Dashboard" in page.text
    # The admin pages expose the token for API calls in a meta tag.
    token = csrf_token(page.text)
    assert 'name="csrf-token"' in page.text
    # Sign-out is a POST with the token; a GET does nothing.
    assert client.get("/auth/logout").status_code == 405
    assert client.post("/auth/logout").status_code == 400
    assert client.get("/admin/").status_code == 200
    out = client.post("/auth/logout", data={"csrf_token": token})
    assert out.status_code == 303 and out.location.endswith("/auth/login")
    assert client.get("/admin/").status_code == 302
    assert client.get("/api/v1/people").status_code == 401


def test_wrong_password_and_unknown_user_look_the_same(client, admin):
    wrong = post_login(client, "admin", "not the password")
    nobody = post_login(client, "nobody", "not the password")
    assert wrong.status_code == nobody.status_code == 401
    assert "Wrong username or password." in wrong.text and "Wrong username or password." in nobody.text
    assert client.get("/admin/").status_code == 302


def test_missing_fields_are_a_400(client, admin):
    page = client.get("/auth/login")
    response = client.post("/auth/login", data={"username": "admin", "csrf_token": csrf_token(page.text)})
    assert response.status_code == 400
    assert "Enter both your username and your password." in response.text


def test_lock_out_after_repeated_failures(app, client, admin):
    app.config["KIOSK_LOGIN_MAX_FAILURES"] = 3
    app.config["KIOSK_LOGIN_LOCKOUT_SECONDS"] = 300
    for _ in range(3):
        assert post_login(client, "admin", "guess").status_code == 401
    locked = post_login(client, "admin", PASSWORD)  # even the right password is refused now
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.text
    assert client.get("/admin/").status_code == 302
    # Once the lock expires, the right password works and the counter starts again.
    db.session.execute(db.update(RequestThrottle).where(RequestThrottle.locked_until.is_not(None))
                       .values(locked_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert post_login(client, "admin", PASSWORD).status_code == 303


def test_a_success_resets_the_failure_count(app, client, admin):
    app.config["KIOSK_LOGIN_MAX_FAILURES"] = 3
    for _ in range(2):
        post_login(client, "admin", "guess")
    assert post_login(client, "admin", PASSWORD).status_code == 303
    client.post("/auth/logout", data={"csrf_token": csrf_token(client.get("/admin/").text)})
    for _ in range(2):
        post_login(client, "admin", "guess")
    assert post_login(client, "admin", PASSWORD).status_code == 303


def test_login_without_csrf_token_is_refused(client, admin):
    response = client.post("/auth/login", data={"username": "admin", "password": PASSWORD})
    assert response.status_code == 400
    assert "reload the page" in response.text
    forged = client.post("/auth/login", data={"username": "admin", "password": PASSWORD, "csrf_token": "forged"})
    assert forged.status_code == 400
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize(
    "next_url, expected",
    [
        ("/admin/people", "/admin/people"),
        ("//evil.example/x", "/admin/"),
        ("https://evil.example/", "/admin/"),
        ("/\\evil.example", "/admin/"),
    ],
)
def test_next_only_redirects_on_this_site(client, admin, next_url, expected):
    response = post_login(client, "admin", PASSWORD, next_url=next_url)
    assert response.status_code == 303
    assert response.location == expected


def test_anonymous_page_redirects_to_sign_in_with_next(client):
    response = client.get("/admin/people?q=ada")
    assert response.status_code == 302
    assert "/auth/login?next=" in response.location and "people" in response.location


def test_signed_in_admin_skips_the_form(client, admin):
    post_login(client, "admin", PASSWORD)
    response = client.get("/auth/login")
    assert response.status_code == 302 and response.location.endswith("/admin/")


def test_session_cookie_is_secure_httponly_samesite(app, client, admin):
    app.config["SESSION_COOKIE_SECURE"] = True  # as in production (the testing config relaxes it)
    page = client.get("/auth/login", base_url="https://localhost")
    response = client.post(
        "/auth/login",
        base_url="https://localhost",
        headers={"Referer": "https://localhost/auth/login"},  # Flask-WTF checks it over HTTPS
        data={"username": "admin", "password": PASSWORD, "csrf_token": csrf_token(page.text)},
    )
    assert response.status_code == 303
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_production_config_sets_the_cookie_flags(tmp_path, monkeypatch):
    monkeypatch.delenv("KIOSK_SECURE_COOKIES", raising=False)
    config = Config(tmp_path)
    assert config.SESSION_COOKIE_SECURE and config.REMEMBER_COOKIE_SECURE
    assert config.SESSION_COOKIE_HTTPONLY and config.SESSION_COOKIE_SAMESITE == "Lax"


def test_admin_pages_are_not_cached(client, admin):
    post_login(client, "admin", PASSWORD)
    response = client.get("/admin/people")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_create_admin_validates(app, admin):
    from kiosk.errors import Conflict, InvalidInput

    with pytest.raises(InvalidInput):
        accounts.create_admin("ok_name", "short")
    with pytest.raises(InvalidInput):
        accounts.create_admin("bad name!", PASSWORD)
    with pytest.raises(Conflict):
        accounts.create_admin("admin", PASSWORD)
    stored = db.session.scalar(db.select(AdminUser).where(AdminUser.username == "admin"))
    assert PASSWORD not in stored.password_hash and stored.check_password(PASSWORD)
