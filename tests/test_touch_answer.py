"""The touch answer (KIOSK_TOUCH_CONFIRM): Yes and No buttons take the step an O or an X takes,
only while the kiosk asks for a confirmation of a face in view, and the liveness checks still
decide whether the check-in is recorded."""

from __future__ import annotations

import pytest
from test_checkin_machine import Clock, MemoryBackend, identify, nobody
from test_kiosk_api import kiosk_mid_check_in  # noqa: F401  (a fixture)
from test_liveness import frame_obs, machine_with, stream

from kiosk import create_app
from kiosk.checkin.machine import State
from kiosk.config import ConfigError


@pytest.fixture
def clock():
    return Clock(15.0)


@pytest.fixture
def backend():
    return MemoryBackend()


def test_yes_by_touch_confirms_and_a_live_smile_checks_in(clock, backend):
    machine = machine_with("refuse", backend, clock)
    identify(machine, clock)
    machine.step(frame_obs(clock))  # arms down: no gesture at all
    assert machine.answer_by_touch(True, clock.t) is True
    assert machine.state == State.SMILING
    stream(machine, clock, 3, happy=0.97, mouth=0.83)
    assert machine.state == State.DONE and len(backend.recorded) == 1 and backend.suspects == []


def test_yes_by_touch_with_a_print_is_refused_by_liveness(clock, backend):
    machine = machine_with("refuse", backend, clock)
    identify(machine, clock)
    machine.step(frame_obs(clock, happy=0.4, mouth=0.61))
    assert machine.answer_by_touch(True, clock.t)
    stream(machine, clock, 8, happy=0.45, mouth=0.61)  # the smile step's whole time, no change
    assert machine.state == State.CANCELLED
    assert backend.recorded == [] and len(backend.suspects) == 1
    assert "expression" in backend.suspects[0][1].failed


def test_no_by_touch_cancels_and_records_nothing(clock, backend):
    machine = machine_with("review", backend, clock)
    identify(machine, clock)
    assert machine.answer_by_touch(False, clock.t)
    assert machine.state == State.CANCELLED and backend.recorded == [] and backend.suspects == []


def test_a_touch_counts_only_while_confirming_a_face_in_view(clock, backend):
    machine = machine_with("review", backend, clock)
    assert machine.answer_by_touch(True, clock.t) is False and machine.state == State.IDLE
    identify(machine, clock)
    machine.step(nobody(clock))  # the face just left
    assert machine.answer_by_touch(True, clock.t) is False and machine.state == State.CONFIRMING
    machine.step(frame_obs(clock))
    late = clock.t + machine.config.confirm_timeout_s + 1
    assert machine.answer_by_touch(True, late) is False and machine.state == State.CONFIRMING


@pytest.mark.parametrize("value, expected", [("on", True), ("1", True), ("off", False), ("", False), (False, False)])
def test_the_setting_is_read_once_at_start(tmp_path, value, expected):
    app = create_app({"TESTING": True, "KIOSK_DATA_DIR": str(tmp_path), "KIOSK_TOUCH_CONFIRM": value})
    assert app.config["KIOSK_TOUCH_CONFIRM"] is expected


def test_a_bad_setting_refuses_to_start(tmp_path):
    with pytest.raises(ConfigError, match="KIOSK_TOUCH_CONFIRM must be on or off"):
        create_app({"TESTING": True, "KIOSK_DATA_DIR": str(tmp_path), "KIOSK_TOUCH_CONFIRM": "maybe"})


def test_off_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv("KIOSK_TOUCH_CONFIRM", raising=False)
    assert create_app({"TESTING": True, "KIOSK_DATA_DIR": str(tmp_path)}).config["KIOSK_TOUCH_CONFIRM"] is False


# -- through the API, on real frames and models --------------------------------------------
ANSWER = "/api/v1/kiosk/answer"


def test_the_api_refuses_a_touch_where_the_site_has_it_off(trained_app, kiosk_mid_check_in, monkeypatch):
    kiosk, registry, session_id = kiosk_mid_check_in
    monkeypatch.setitem(trained_app.config, "KIOSK_TOUCH_CONFIRM", False)
    response = kiosk.post(ANSWER, json={"answer": "yes"})
    assert response.status_code == 403 and response.get_json()["error"] == "touch_answer_off"
    assert registry.get(session_id).machine.state == State.CONFIRMING  # nothing changed


def test_the_api_takes_yes_by_touch_while_confirming(trained_app, kiosk_mid_check_in, monkeypatch):
    kiosk, registry, session_id = kiosk_mid_check_in
    monkeypatch.setitem(trained_app.config, "KIOSK_TOUCH_CONFIRM", True)
    for bad in ({"answer": "maybe"}, {"answer": True}, ["yes"]):
        response = kiosk.post(ANSWER, json=bad)
        assert response.status_code == 400 and response.get_json()["error"] == "bad_answer", bad
    assert kiosk.post(ANSWER, data="yes", content_type="text/plain").status_code == 400
    assert registry.get(session_id).machine.state == State.CONFIRMING  # refused: nothing changed
    response = kiosk.post(ANSWER, json={"answer": "yes"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["state"] == "SMILING" and body["person"] == {"name": "Barack Obama"}
    again = kiosk.post(ANSWER, json={"answer": "no"})  # no longer confirming
    assert again.status_code == 409 and again.get_json()["error"] == "not_confirming"
    assert registry.get(session_id).machine.state == State.SMILING


def test_the_api_has_nothing_to_confirm_without_a_session(trained_app, monkeypatch):
    monkeypatch.setitem(trained_app.config, "KIOSK_TOUCH_CONFIRM", True)
    response = trained_app.test_client().post(ANSWER, json={"answer": "no"})
    assert response.status_code == 409 and response.get_json()["error"] == "not_confirming"
