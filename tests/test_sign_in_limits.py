"""Limits on failed sign-ins (issue 13, items 6 and 7): counted atomically in the database, so
parallel guesses cannot get past the limit; per typed name *and* client address, so a guesser
elsewhere cannot lock the administrator out; per client address over all names; and unknown
names answered exactly like real ones."""

from __future__ import annotations

import re
import threading
from collections import Counter

import pytest
from factories import ADMIN_PASSWORD

from kiosk.services import accounts

# On SQLite and on a real PostgreSQL server (conftest.py): the counting, locking and unique keys
# are the database's, so both engines must keep them.
pytestmark = pytest.mark.both_databases


def login_form(client) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/auth/login").text).group(1)


def attempt(client, username: str, password: str, token: str | None = None):
    return client.post("/auth/login", data={"username": username, "password": password,
                                            "csrf_token": token or login_form(client)})


def from_address(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


@pytest.fixture
def admin_account(app):
    # These tests count failures; the rate of attempts per address (a window of 10 by default) has
    # its own tests (tests/test_rate_limits.py), so it is set out of their way here.
    app.config.update(KIOSK_LOGIN_MAX_FAILURES=5, KIOSK_LOGIN_MAX_FAILURES_PER_ADDRESS=20,
                      KIOSK_LOGIN_LOCKOUT_SECONDS=300, KIOSK_RATE_SIGN_INS_PER_ADDRESS=1000)
    return accounts.create_admin("admin", ADMIN_PASSWORD)


def test_wrong_passwords_sent_in_parallel_cannot_pass_the_limit(app, admin_account):
    """The probe's reproduction: 4 at a time, 14 were checked before the first 429 (limit 5)."""
    rounds, parallel = 5, 4
    clients = [app.test_client() for _ in range(parallel)]
    tokens = [login_form(client) for client in clients]
    statuses: list[int] = []
    lock = threading.Lock()

    def guess(client, token, start: threading.Barrier) -> None:
        with app.app_context():  # each thread its own context, database session and connection
            start.wait()
            status = attempt(client, "admin", "wrong guess", token).status_code
        with lock:
            statuses.append(status)

    for _ in range(rounds):
        start = threading.Barrier(parallel)
        threads = [threading.Thread(target=guess, args=(c, t, start)) for c, t in zip(clients, tokens)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    counts = Counter(statuses)
    assert counts == {401: 5, 429: rounds * parallel - 5}, counts
    # And the right password is refused too while the lock lasts.
    assert attempt(app.test_client(), "admin", ADMIN_PASSWORD).status_code == 429


def test_unknown_and_real_names_are_answered_alike(app, admin_account):
    answers = {}
    for name in ("admin", "nobody-by-this-name"):
        client = app.test_client()
        answers[name] = [(r.status_code, "Wrong username or password." in r.text, "Too many failed sign-ins" in r.text)
                         for r in (attempt(client, name, "wrong guess") for _ in range(7))]
    assert answers["admin"] == answers["nobody-by-this-name"]
    assert [status for status, *_ in answers["admin"]] == [401] * 5 + [429] * 2


def test_a_guesser_elsewhere_cannot_lock_the_administrator_out(app, admin_account):
    guesser = from_address(app, "203.0.113.66")
    for _ in range(5):
        assert attempt(guesser, "admin", "wrong guess").status_code == 401
    locked = attempt(guesser, "admin", ADMIN_PASSWORD)
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= 301
    desk = from_address(app, "192.0.2.10")
    assert attempt(desk, "admin", ADMIN_PASSWORD).status_code == 303


def test_one_address_is_limited_over_all_names(app, admin_account):
    app.config["KIOSK_LOGIN_MAX_FAILURES_PER_ADDRESS"] = 8
    sprayer = from_address(app, "203.0.113.99")
    for i in range(8):
        assert attempt(sprayer, f"name-{i}", "wrong guess").status_code == 401
    assert attempt(sprayer, "someone-else", "wrong guess").status_code == 429
    assert attempt(sprayer, "admin", ADMIN_PASSWORD).status_code == 429  # every name, from there
    assert attempt(from_address(app, "192.0.2.10"), "admin", ADMIN_PASSWORD).status_code == 303


def test_successful_sign_ins_do_not_count_against_the_address(app, admin_account):
    app.config["KIOSK_LOGIN_MAX_FAILURES_PER_ADDRESS"] = 3
    desk = from_address(app, "192.0.2.10")
    for _ in range(6):
        assert attempt(desk, "admin", ADMIN_PASSWORD).status_code == 303
        desk.post("/auth/logout", data={"csrf_token": re.search(
            r'name="csrf-token" content="([^"]+)"', desk.get("/admin/").text).group(1)})
