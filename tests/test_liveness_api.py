"""Buddy punching through the frame API, with every real model (detector, FaceNet and the SVC,
pose and gestures, emotion, face landmarks, MiniFASNet): a stranger's body making the gestures
with a print of an enrolled colleague over his face, and the same body with a face that goes
from neutral to a smile (kiosk/benchmarks/spoof_frames.py builds both from real photos).

On the code before liveness (main at 9d5d60b) the print sequences were welcomed by name and
recorded (the issue's attack, reproduced by ``test_a_print_over_a_strangers_face...`` with
``KIOSK_LIVENESS_POLICY=off``); now they record no check-in and leave a suspected spoof."""

from __future__ import annotations

import re

import liveness_helpers
import pytest
from test_kiosk_api import stream

from kiosk.extensions import db
from kiosk.models import AttendanceEvent, FaceSample, SampleKind, SpoofStatus, SuspectedSpoof


@pytest.fixture(scope="module")
def live_frames():
    return liveness_helpers.live_frames()


@pytest.fixture(scope="module")
def print_frames():
    return liveness_helpers.print_frames()


def spoofs():
    return db.session.query(SuspectedSpoof).all()


def events():
    return db.session.query(AttendanceEvent).all()


def test_a_live_person_who_smiles_checks_in(trained_app, live_frames):
    """Both arms up (the composite's O reads only near the gesture cut once the face is swapped:
    the arms-up V reads clearly), the photo is taken, then the person smiles: checked in."""
    client = trained_app.test_client()
    body = stream(client, live_frames[("arms_out", "neutral")], until="CONFIRMING", limit=90)
    assert body["state"] == "CONFIRMING" and body["person"]["name"] == "Barack Obama", body
    body = stream(client, live_frames[("v", "neutral")], until="SMILING", limit=60)
    assert body["state"] == "SMILING", body
    body = stream(client, live_frames[("v", "neutral")], limit=4)
    assert body["state"] == "SMILING" and "smile" in body["prompt"], body  # the photo waits for the smile
    body = stream(client, live_frames[("arms_out", "smiling")], until="DONE", limit=120)
    assert body["state"] == "DONE", body
    # The kiosk says which punch it recorded, at the site's time: "Good morning, NAME: in at 08:59".
    assert re.fullmatch(r"Good (morning|afternoon|evening), Barack Obama: in at \d\d:\d\d", body["prompt"]), body
    assert body["prompt"].endswith(body["checked_in_at"])
    assert body["event_kind"] == "check_in"
    assert len(events()) == 1 and spoofs() == []


@pytest.mark.parametrize("kind", ["still", "moved", "smiling"])
def test_a_print_over_a_strangers_face_records_no_check_in_and_is_kept_for_review(trained_app, print_frames, kind):
    client = trained_app.test_client()
    body = stream(client, print_frames[(kind, "arms_out")], until="CONFIRMING", limit=90)
    assert body["state"] == "CONFIRMING" and body["person"]["name"] == "George W Bush", body
    # As the attacker did: arms out, then the O, then both arms up; then the kiosk waits.
    body = stream(client, print_frames[(kind, "o")], until="SMILING", limit=15)
    if body["state"] != "DONE":
        body = stream(client, print_frames[(kind, "v")], until="DONE", limit=200)
    assert body["state"] == "DONE", body
    assert "administrator will confirm" in body["prompt"] and body["event_kind"] == "needs_review"
    assert body["photo_url"] is None
    assert events() == []
    (spoof,) = spoofs()
    assert spoof.person.name == "George W Bush" and spoof.status is SpoofStatus.open and spoof.policy == "review"
    assert "expression" in spoof.failed_cues.split(",")
    from kiosk import storage

    assert storage.resolve(spoof.photo_path).is_file() and storage.resolve(spoof.neutral_path).is_file()
    # Learning never takes a suspect check-in's face.
    learned = db.session.query(FaceSample).filter(FaceSample.kind == SampleKind.learned).count()
    assert learned == 0


def test_the_arms_up_shortcut_with_a_print_does_not_check_in(trained_app, print_frames):
    trained_app.config["KIOSK_LIVENESS_POLICY"] = "refuse"
    client = trained_app.test_client()
    stream(client, print_frames[("still", "arms_out")], until="CONFIRMING", limit=90)
    body = stream(client, print_frames[("still", "v")], until="CANCELLED", limit=200)
    assert body["state"] == "CANCELLED", body
    assert "in person" in body["prompt"]
    assert events() == []
    assert [s.policy for s in spoofs()] == ["refuse"]


def test_a_phone_screen_over_the_face_does_not_check_in(trained_app, print_frames):
    client = trained_app.test_client()
    body = stream(client, print_frames[("phone", "arms_out")], until="CONFIRMING", limit=90)
    if body["state"] == "CONFIRMING":  # recognised through the screen: it must not check in
        stream(client, print_frames[("phone", "o")], until="DONE", limit=200)
    assert events() == []


def test_before_liveness_the_print_was_welcomed_by_name(trained_app, print_frames):
    """The issue's attack, reproduced with liveness off (the old behaviour): the print checks in."""
    trained_app.config["KIOSK_LIVENESS_POLICY"] = "off"
    client = trained_app.test_client()
    stream(client, print_frames[("still", "arms_out")], until="CONFIRMING", limit=90)
    body = stream(client, print_frames[("still", "v")], until="DONE", limit=200)
    # The kiosk says which punch it recorded, at the site's time: "Good morning, NAME: in at 08:59".
    assert re.fullmatch(r"Good (morning|afternoon|evening), George W Bush: in at \d\d:\d\d", body["prompt"]), body
    assert body["prompt"].endswith(body["checked_in_at"])
    assert len(events()) == 1 and spoofs() == []
