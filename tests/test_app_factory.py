"""The app factory, configuration and the error contract of the web layer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk import create_app
from kiosk.config import Config, ConfigError, TestingConfig, load_or_create_secret_key


def test_factory_builds_independent_apps(tmp_path):
    first = create_app(TestingConfig(tmp_path / "a"))
    second = create_app(TestingConfig(tmp_path / "b"))
    assert first is not second
    assert first.config["KIOSK_DATA_DIR"] != second.config["KIOSK_DATA_DIR"]
    assert first.config["SQLALCHEMY_DATABASE_URI"].endswith("/a/kiosk.sqlite3")
    for name in ("health", "kiosk_page", "auth", "admin", "api"):
        assert name in first.blueprints


def test_config_reads_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KIOSK_DATA_DIR", str(tmp_path / "site"))
    monkeypatch.setenv("KIOSK_DATABASE_URL", "sqlite:////tmp/elsewhere.db")
    monkeypatch.setenv("KIOSK_DUPLICATE_WINDOW_MINUTES", "45")
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    config = Config()
    assert config.KIOSK_DATA_DIR == str((tmp_path / "site").resolve())
    assert config.SQLALCHEMY_DATABASE_URI == "sqlite:////tmp/elsewhere.db"
    assert config.KIOSK_DUPLICATE_WINDOW_MINUTES == 45
    assert config.SECRET_KEY == "from-the-environment"


def test_a_bad_time_zone_refuses_to_start_with_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setenv("KIOSK_TIMEZONE", "Mars/Olympus_Mons")
    with pytest.raises(ConfigError, match=r"KIOSK_TIMEZONE='Mars/Olympus_Mons' is not a known time zone: use an IANA"):
        Config(tmp_path)
    monkeypatch.setenv("KIOSK_TIMEZONE", "Asia/Seoul")
    assert Config(tmp_path).KIOSK_TIMEZONE == "Asia/Seoul"
    with pytest.raises(ConfigError, match="KIOSK_TIMEZONE"):  # overrides given to the factory too
        create_app({"KIOSK_DATA_DIR": str(tmp_path), "KIOSK_TIMEZONE": "Europe/Atlantis"})


def test_a_bad_model_lanes_setting_refuses_to_start(monkeypatch, tmp_path):
    monkeypatch.setenv("KIOSK_MODEL_LANES", "many")
    with pytest.raises(ConfigError, match="KIOSK_MODEL_LANES must be a whole number from 1 to 16, not 'many'"):
        create_app({"KIOSK_DATA_DIR": str(tmp_path)})


def test_a_bad_repeat_rule_refuses_to_start_with_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setenv("KIOSK_REPEAT_RULE", "sometimes")
    refusal = "KIOSK_REPEAT_RULE must be one of in_out, ignore, check_out, daily, not 'sometimes'"
    with pytest.raises(ConfigError, match=refusal):
        Config(tmp_path)
    monkeypatch.setenv("KIOSK_REPEAT_RULE", " Daily ")
    assert Config(tmp_path).KIOSK_REPEAT_RULE == " Daily "  # read as daily: spaces and case do not matter


def test_the_kiosk_command_says_which_setting_is_wrong_without_a_traceback(tmp_path):
    kiosk = Path(sys.executable).parent / "kiosk"
    env = {**os.environ, "KIOSK_DATA_DIR": str(tmp_path), "KIOSK_TIMEZONE": "Mars/Olympus_Mons"}
    result = subprocess.run([str(kiosk), "people", "list"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "KIOSK_TIMEZONE='Mars/Olympus_Mons' is not a known time zone" in result.stderr
    assert "Traceback" not in result.stderr

def test_checkin_settings_come_from_the_environment(monkeypatch, tmp_path):
    from kiosk.checkin.machine import MachineConfig

    monkeypatch.setenv("KIOSK_CHECKIN_GESTURE_HOLD_FRAMES", "8")
    monkeypatch.setenv("KIOSK_CHECKIN_MESSAGE_S", "2.5")
    app = create_app(TestingConfig(tmp_path))
    config = MachineConfig.from_mapping(app.config)
    assert config.gesture_hold_frames == 8 and config.message_s == 2.5
    assert config.vote_window == MachineConfig().vote_window


def test_dict_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("KIOSK_DATA_DIR", str(tmp_path))
    app = create_app({"KIOSK_ID": "front-door", "TESTING": True})
    assert app.config["KIOSK_ID"] == "front-door"


def test_secret_key_generated_once_and_kept(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    key = load_or_create_secret_key(tmp_path)
    assert len(key) == 64
    assert load_or_create_secret_key(tmp_path) == key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0, "the key file must be private"


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    # A test app loads models on first use; the liveness model's files are there, the policy is the default.
    assert response.get_json() == {"status": "ok", "models": "lazy", "liveness": {"model": "ok", "policy": "review"}}


def test_healthz_reports_broken_database(monkeypatch, tmp_path):
    monkeypatch.setenv("KIOSK_DATA_DIR", str(tmp_path))
    broken = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite:////nonexistent-dir/x.db"})
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"


def test_api_errors_are_json(client):
    response = client.get("/api/v1/does-not-exist")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_pages_errors_are_html(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Error 404" in response.get_data(as_text=True)


def test_admin_requires_sign_in(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_unexpected_errors_are_500_without_traceback(app, client):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = client.get("/boom", headers={"Accept": "application/json"})
    assert response.status_code == 500
    assert "secret internals" not in response.get_data(as_text=True)


def test_security_headers_without_nginx(client):
    """gunicorn may serve HTTPS itself (make run): the app sends the headers nginx.conf sends."""
    import re
    from pathlib import Path

    from kiosk.web.security_headers import HEADERS

    page = client.get("/")
    for name, value in HEADERS.items():
        assert page.headers[name] == value
    assert "Strict-Transport-Security" not in page.headers, "HSTS only over HTTPS"
    secure = client.get("/healthz", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")
    # One list of headers, two places: nginx.conf must send the same ones.
    nginx = (Path(__file__).resolve().parents[1] / "nginx.conf").read_text()
    for name, value in HEADERS.items():
        assert re.search(rf'add_header {name} "{re.escape(value)}" always;', nginx), name
        assert f"proxy_hide_header {name};" in nginx, name


def test_a_rounding_step_payroll_does_not_use_refuses_to_start(monkeypatch, tmp_path):
    monkeypatch.setenv("KIOSK_ROUNDING_MINUTES", "7")
    with pytest.raises(ConfigError, match="KIOSK_ROUNDING_MINUTES must be one of 0, 1, 5, 6, 10, 15, 30"):
        Config(tmp_path)
