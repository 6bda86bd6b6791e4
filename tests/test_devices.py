"""Kiosk device tokens: the service, the ``kiosk devices`` commands, the header/cookie check
and the ``/?token=`` link, on the real migrated database.

``require_paired_kiosk`` is exercised through a small route registered by the test (the frame
API itself: tests/test_pairing.py and, through Nginx, tests/reliability/test_security.py). The
clients here are unpaired browsers (``paired=False``): the tests present tokens themselves.
"""

from __future__ import annotations

import json
from datetime import timedelta

import factories
import pytest
from flask import jsonify

from kiosk.errors import Conflict, InvalidInput, NotFound
from kiosk.extensions import db
from kiosk.models import KioskDevice, utcnow
from kiosk.services import devices
from kiosk.web import device_link

PROBE = "/api/v1/_test-device-probe"


@pytest.fixture
def probe(app):
    """A route that does what the frame API does first: require the device token."""

    def view():
        device = device_link.require_paired_kiosk()
        return jsonify({"device": device.name if device else None})

    app.add_url_rule(PROBE, "device_probe", view)
    return PROBE


def test_register_returns_a_token_that_only_its_hash_is_stored(app):
    device, token = devices.register_device("lobby")
    assert len(token) >= 40
    stored = db.session.get(KioskDevice, device.id)
    assert stored.token_hash == devices.hash_token(token)
    assert token not in stored.token_hash
    assert devices.find_device_by_token(token).name == "lobby"
    assert devices.find_device_by_token(token + "x") is None
    assert devices.find_device_by_token("") is None
    assert devices.find_device_by_token("a" * 10_000) is None


def test_two_devices_get_different_tokens(app):
    _, first = devices.register_device("lobby")
    _, second = devices.register_device("back-door")
    assert first != second


@pytest.fixture
def client(app):
    return app.test_client(paired=False)


@pytest.mark.parametrize("name", ["", "   ", "\u200b", "x" * 65, "bell\x07"])
def test_bad_names_are_refused(app, name):
    with pytest.raises(InvalidInput):
        devices.register_device(name)


@pytest.mark.parametrize("name", ["Front door", "  Front   door ", "Café, 2nd floor", "../etc", "naïve"])
def test_display_names_with_spaces_are_kept_cleaned(app, name):
    device, _ = devices.register_device(name, "Building A")
    assert device.name == " ".join(name.split()) and device.location == "Building A"
    assert devices.get_device(name.upper()).id == device.id  # found regardless of case


def test_duplicate_name_conflicts(app):
    devices.register_device("Front door")
    with pytest.raises(Conflict):
        devices.register_device("front  DOOR")


def test_rename_and_revoke(app):
    device, token = devices.register_device("lobby")
    devices.rename_device(device.id, "Front door", "Hall")
    assert devices.find_device_by_token(token).name == "Front door"
    devices.revoke_device(device.id)
    assert devices.find_device_by_token(token) is None
    assert devices.get_device("Front door").revoked_at is not None


def test_rotate_invalidates_the_old_token(app):
    _, old = devices.register_device("lobby")
    new = devices.rotate_token("lobby")
    assert devices.find_device_by_token(old) is None
    assert devices.find_device_by_token(new).name == "lobby"


def test_remove_invalidates_and_unknown_names_are_not_found(app):
    _, token = devices.register_device("lobby")
    devices.remove_device("lobby")
    assert devices.find_device_by_token(token) is None
    with pytest.raises(NotFound):
        devices.remove_device("lobby")
    with pytest.raises(NotFound):
        devices.rotate_token("nobody")


def test_pairing_is_required_by_default(app, client, probe):
    missing = client.get(probe)
    assert missing.status_code == 401 and missing.get_json()["error"] == "kiosk_not_paired"


def test_the_former_setting_name_still_works(monkeypatch, tmp_path):
    from kiosk.config import Config

    monkeypatch.delenv("KIOSK_REQUIRE_PAIRING", raising=False)
    monkeypatch.setenv("KIOSK_REQUIRE_DEVICE_TOKEN", "0")
    assert Config(tmp_path).KIOSK_REQUIRE_PAIRING is False
    monkeypatch.setenv("KIOSK_REQUIRE_PAIRING", "1")
    assert Config(tmp_path).KIOSK_REQUIRE_PAIRING is True
    monkeypatch.delenv("KIOSK_REQUIRE_DEVICE_TOKEN")
    monkeypatch.delenv("KIOSK_REQUIRE_PAIRING")
    assert Config(tmp_path).KIOSK_REQUIRE_PAIRING is True


def test_pairing_off_lets_anonymous_kiosks_in_but_never_ignores_a_wrong_token(app, client, probe):
    app.config["KIOSK_REQUIRE_PAIRING"] = False
    response = client.get(probe)
    assert response.status_code == 200
    assert response.get_json() == {"device": None}
    wrong = client.get(probe, headers={device_link.TOKEN_HEADER: "not-a-token"})
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "kiosk_not_paired"


def test_tokens_off_still_names_a_registered_device(app, client, probe):
    app.config["KIOSK_REQUIRE_PAIRING"] = False
    _, token = factories.device("lobby")
    assert client.get(probe, headers={device_link.TOKEN_HEADER: token}).get_json() == {"device": "lobby"}


def test_tokens_on_refuses_missing_and_wrong_tokens(app, client, probe):
    app.config["KIOSK_REQUIRE_PAIRING"] = True
    _, token = factories.device("lobby")

    missing = client.get(probe)
    assert missing.status_code == 401
    assert missing.get_json()["error"] == "kiosk_not_paired"
    assert missing.get_json()["message"].startswith("This kiosk is not paired")

    wrong = client.get(probe, headers={device_link.TOKEN_HEADER: token[:-1] + ("A" if token[-1] != "A" else "B")})
    assert wrong.status_code == 401
    assert wrong.get_json()["error"] == "kiosk_not_paired"

    ok = client.get(probe, headers={device_link.TOKEN_HEADER: token})
    assert ok.status_code == 200
    assert ok.get_json() == {"device": "lobby"}


def test_tokens_on_accepts_the_cookie(app, client, probe):
    app.config["KIOSK_REQUIRE_PAIRING"] = True
    _, token = factories.device("lobby")
    client.set_cookie(device_link.TOKEN_COOKIE, token)
    assert client.get(probe).get_json() == {"device": "lobby"}


def test_a_removed_device_is_refused_at_once(app, client, probe):
    app.config["KIOSK_REQUIRE_PAIRING"] = True
    _, token = factories.device("lobby")
    assert client.get(probe, headers={device_link.TOKEN_HEADER: token}).status_code == 200
    devices.remove_device("lobby")
    assert client.get(probe, headers={device_link.TOKEN_HEADER: token}).status_code == 401


def test_last_seen_is_recorded_but_not_on_every_frame(app, client, probe):
    app.config["KIOSK_REQUIRE_PAIRING"] = True
    device, token = factories.device("lobby")
    assert device.last_seen is None
    client.get(probe, headers={device_link.TOKEN_HEADER: token})
    db.session.expire_all()
    first_seen = db.session.get(KioskDevice, device.id).last_seen
    assert first_seen is not None and utcnow() - first_seen < timedelta(seconds=30)

    client.get(probe, headers={device_link.TOKEN_HEADER: token})
    db.session.expire_all()
    assert db.session.get(KioskDevice, device.id).last_seen == first_seen  # throttled

    stale = utcnow() - 2 * devices.LAST_SEEN_RESOLUTION
    db.session.get(KioskDevice, device.id).last_seen = stale
    db.session.commit()
    client.get(probe, headers={device_link.TOKEN_HEADER: token})
    db.session.expire_all()
    assert db.session.get(KioskDevice, device.id).last_seen > stale


def test_kiosk_link_sets_a_strict_cookie_and_drops_the_token_from_the_url(app, client, probe):
    app.config["KIOSK_REQUIRE_PAIRING"] = True
    _, token = devices.register_device("lobby")

    response = client.get(f"/?token={token}&lang=ko")
    assert response.status_code == 303
    assert response.headers["Location"] == "/?lang=ko"
    assert token not in response.headers["Location"]
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{device_link.TOKEN_COOKIE}={token};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=" in cookie
    assert response.headers["Cache-Control"] == "no-store"

    # The browser now posts frames with the cookie and nothing else.
    assert client.get(probe).get_json() == {"device": "lobby"}


def test_kiosk_link_cookie_is_secure_in_production(app, client):
    app.config["SESSION_COOKIE_SECURE"] = True
    _, token = devices.register_device("lobby")
    assert "Secure" in client.get(f"/?token={token}").headers["Set-Cookie"]


def test_kiosk_link_with_a_wrong_token_is_refused_without_a_cookie(app, client):
    response = client.get("/?token=not-a-token")
    assert response.status_code == 401
    assert "Set-Cookie" not in response.headers or device_link.TOKEN_COOKIE not in response.headers["Set-Cookie"]


def test_kiosk_page_without_a_token_is_untouched(app, client):
    assert client.get("/").status_code == 200


# --- the ``kiosk devices`` commands ---------------------------------------------------------


def test_cli_add_prints_the_token_alone_on_stdout(app, runner):
    result = runner.invoke(args=["devices", "add", "lobby"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert "\n" not in token and len(token) >= 40
    assert devices.find_device_by_token(token).name == "lobby"
    assert "X-Kiosk-Token" in result.stderr


def test_cli_add_json_prints_name_and_token(app, runner):
    result = runner.invoke(args=["devices", "add", "Front door", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["name"] == "Front door"
    assert devices.find_device_by_token(printed["token"]).name == "Front door"


def test_cli_list_never_shows_tokens(app, runner):
    token = runner.invoke(args=["devices", "add", "lobby"]).stdout.strip()
    runner.invoke(args=["devices", "add", "cafeteria"])
    result = runner.invoke(args=["devices", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["name"] for row in rows] == ["cafeteria", "lobby"]
    assert rows[0]["last_seen"] is None
    assert token not in result.output
    plain = runner.invoke(args=["devices", "list"])
    assert "lobby" in plain.stdout and token not in plain.output


def test_cli_rotate_and_remove(app, runner):
    old = runner.invoke(args=["devices", "add", "lobby"]).stdout.strip()
    rotated = runner.invoke(args=["devices", "rotate", "lobby"])
    assert rotated.exit_code == 0
    new = rotated.stdout.strip()
    assert new != old and devices.find_device_by_token(new) is not None
    assert devices.find_device_by_token(old) is None

    removed = runner.invoke(args=["devices", "remove", "lobby"])
    assert removed.exit_code == 0
    assert devices.list_devices() == []


def test_cli_errors_exit_non_zero_with_a_message(app, runner):
    runner.invoke(args=["devices", "add", "lobby"])
    duplicate = runner.invoke(args=["devices", "add", "lobby"])
    assert duplicate.exit_code != 0 and "already exists" in duplicate.output
    missing = runner.invoke(args=["devices", "remove", "nobody"])
    assert missing.exit_code != 0 and "No kiosk device" in missing.output


def test_the_service_says_why_a_token_is_refused_without_any_http(app):
    """The check itself lives in the service and raises documented errors; the web layer only
    finds the token in the request (kiosk/web/device_link.py)."""
    _, token = devices.register_device("lobby")
    assert devices.authenticate(token, required=True).name == "lobby"
    assert devices.authenticate(None, required=False) is None
    with pytest.raises(devices.KioskNotPaired) as missing:
        devices.authenticate(None, required=True)
    assert missing.value.status == 401 and "ask an administrator" in str(missing.value)
    for required in (True, False):
        with pytest.raises(devices.KioskNotPaired) as wrong:
            devices.authenticate(token + "x", required=required)
        assert wrong.value.status == 401 and wrong.value.code == "kiosk_not_paired"
