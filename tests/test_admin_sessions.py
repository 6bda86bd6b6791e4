"""Admin sessions end on the server (issue 13, item 1): a copy of the session cookie is worth
nothing after its admin signs out, has their password changed or is removed, or after the idle
and absolute timeouts. CSRF stays on: every request carries the page's token as a browser does."""

from __future__ import annotations

import re
from datetime import timedelta

import factories
import pytest
from factories import ADMIN_PASSWORD

from kiosk.extensions import db
from kiosk.models import AdminSession, utcnow
from kiosk.services import accounts

# On SQLite and on a real PostgreSQL server (conftest.py): the counting, locking and unique keys
# are the database's, so both engines must keep them.
pytestmark = pytest.mark.both_databases


def csrf_of(client) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/admin/").text).group(1)


def cookie_of(client) -> str:
    return client.get_cookie("session").value


def browser_with(app, cookie: str):
    """Another browser (or an attacker) presenting a copy of ``cookie``."""
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other


def sign_in(app, username: str = "admin", password: str = ADMIN_PASSWORD):
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/auth/login").text).group(1)
    answer = client.post("/auth/login", data={"username": username, "password": password, "csrf_token": token})
    assert answer.status_code == 303, answer.text[:300]
    return client


@pytest.fixture
def admin_account(app):
    return factories.admin()


def test_a_cookie_saved_before_sign_out_is_refused_after_it(app, admin_account):
    """The probe's reproduction: save the cookie, sign out with the CSRF token, replay the cookie."""
    browser = sign_in(app)
    saved = cookie_of(browser)
    assert browser_with(app, saved).get("/api/v1/people").status_code == 200
    out = browser.post("/auth/logout", data={"csrf_token": csrf_of(browser)})
    assert out.status_code == 303
    replay = browser_with(app, saved)
    answer = replay.get("/api/v1/people")
    assert answer.status_code == 401
    assert "session has ended" in answer.get_json()["message"]
    assert replay.get("/admin/").status_code == 302
    assert db.session.scalar(db.select(db.func.count(AdminSession.id))) == 0


def test_signing_in_again_ends_the_browsers_earlier_session(app, admin_account):
    browser = sign_in(app)
    earlier = cookie_of(browser)
    answer = browser.post("/auth/login", data={"username": "admin", "password": ADMIN_PASSWORD,
                                               "csrf_token": csrf_of(browser)})
    assert answer.status_code == 303
    assert browser.get("/api/v1/people").status_code == 200
    assert browser_with(app, earlier).get("/api/v1/people").status_code == 401
    assert db.session.scalar(db.select(db.func.count(AdminSession.id))) == 1


def test_signing_out_ends_only_that_browsers_session(app, admin_account):
    desk, laptop = sign_in(app), sign_in(app)
    desk.post("/auth/logout", data={"csrf_token": csrf_of(desk)})
    assert desk.get("/api/v1/people").status_code == 401
    assert laptop.get("/api/v1/people").status_code == 200


def test_a_password_change_ends_every_session_of_that_admin(app, runner, admin_account):
    accounts.create_admin("other", ADMIN_PASSWORD)
    desk, laptop, colleague = sign_in(app), sign_in(app), sign_in(app, "other")
    stolen = cookie_of(laptop)
    result = runner.invoke(args=["admin", "password", "admin", "--password-stdin"], input="a brand new passphrase\n")
    assert result.exit_code == 0, result.output
    assert "2 open session(s) ended" in result.output
    for client in (desk, laptop, browser_with(app, stolen)):
        assert client.get("/api/v1/people").status_code == 401
    assert colleague.get("/api/v1/people").status_code == 200
    sign_in(app, "admin", "a brand new passphrase")  # the new password works
    with pytest.raises(AssertionError):
        sign_in(app, "admin", ADMIN_PASSWORD)


def test_removing_an_admin_ends_their_sessions(app, runner, admin_account):
    browser = sign_in(app)
    saved = cookie_of(browser)
    result = runner.invoke(args=["admin", "remove", "admin", "--yes"])
    assert result.exit_code == 0 and "1 open session(s) ended" in result.output, result.output
    assert browser_with(app, saved).get("/api/v1/people").status_code == 401
    assert runner.invoke(args=["admin", "list"]).output == ""


def test_a_short_new_password_is_refused_and_nothing_ends(app, runner, admin_account):
    browser = sign_in(app)
    result = runner.invoke(args=["admin", "password", "admin", "--password-stdin"], input="short\n")
    assert result.exit_code != 0 and "at least 10 characters" in result.output
    assert browser.get("/api/v1/people").status_code == 200


def _age(column: str, **delta) -> None:
    db.session.execute(db.update(AdminSession).values({column: utcnow() - timedelta(**delta)}))
    db.session.commit()


def test_an_idle_session_ends_after_the_idle_timeout(app, admin_account):
    browser = sign_in(app)
    saved = cookie_of(browser)
    _age("last_seen_at", minutes=29)
    assert browser.get("/api/v1/people").status_code == 200  # 29 minutes idle: still signed in
    _age("last_seen_at", minutes=31)
    answer = browser_with(app, saved).get("/api/v1/people")
    assert answer.status_code == 401
    assert "signed out after 30 minutes without activity" in answer.get_json()["message"]
    # A page says so on the sign-in form it redirects to.
    page = browser.get("/admin/people", follow_redirects=True)
    assert page.request.path == "/auth/login"
    assert re.search(r'class="flash flash-info"[^>]*>Your session has ended[^<]*sign in again', page.text)


def test_activity_keeps_a_session_alive(app, admin_account):
    browser = sign_in(app)
    _age("last_seen_at", minutes=20)
    assert browser.get("/api/v1/people").status_code == 200  # this use is recorded...
    seen = db.session.scalar(db.select(AdminSession.last_seen_at))
    assert utcnow() - seen < timedelta(minutes=1)
    _age("created_at", hours=1)
    assert browser.get("/api/v1/people").status_code == 200  # ...so the idle clock started again


def test_a_session_ends_after_the_absolute_timeout_even_in_use(app, admin_account):
    app.config["KIOSK_ADMIN_SESSION_HOURS"] = 12
    browser = sign_in(app)
    _age("created_at", hours=12, minutes=1)
    answer = browser.get("/api/v1/people")
    assert answer.status_code == 401 and "after 12 hours" in answer.get_json()["message"]


def test_a_forged_or_foreign_session_token_signs_no_one_in(app, admin_account):
    browser = sign_in(app)
    with browser.session_transaction() as session:
        session["admin_session"] = "not a token the server ever issued"
    assert browser.get("/api/v1/people").status_code == 401
