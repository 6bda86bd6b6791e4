"""`kiosk purge`: photos past the retention period go, the attendance events stay."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta, timezone

import pytest

from kiosk import storage
from kiosk.extensions import db
from kiosk.models import AttendanceEvent
from kiosk.services.attendance import record_check_in
from kiosk.vision.image import load_image


@pytest.fixture
def events(app, make_person, faces_data):
    image = load_image(faces_data / "lfw_Tony_Blair" / "1.jpg")
    person = make_person("Tony")
    now = datetime.now(timezone.utc)
    made = {}
    for age in (400, 40, 2):
        made[age] = record_check_in(person, image, happy=0.5, identification_score=0.9,
                                    now=now - timedelta(days=age)).event
    return made


def run(runner, *args):
    result = runner.invoke(args=["purge", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def test_purge_removes_old_photos_and_keeps_events(runner, events):
    old_files = [storage.resolve(p) for age in (400, 40)
                 for p in (events[age].photo_path, events[age].original_photo_path)]
    recent_files = [storage.resolve(events[2].photo_path), storage.resolve(events[2].original_photo_path)]
    assert run(runner, "--days", "30") == {"retention_days": 30, "photos": 2, "learned_faces": 0, "spoof_evidence": 0}
    assert not any(f.exists() for f in old_files)
    assert all(f.exists() for f in recent_files)
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count(AttendanceEvent.id))) == 3  # events stay
    assert db.session.get(AttendanceEvent, events[40].id).photo_path is None
    assert run(runner, "--days", "30")["photos"] == 0  # idempotent


def test_purge_uses_the_retention_setting(app, runner, events):
    app.config["KIOSK_PHOTO_RETENTION_DAYS"] = 100
    assert run(runner) == {"retention_days": 100, "photos": 1, "learned_faces": 0, "spoof_evidence": 0}
    app.config["KIOSK_PHOTO_RETENTION_DAYS"] = 0
    report = run(runner)
    assert report["photos"] == 0 and "Retention is off" in report["note"]


def test_purge_orphans(app, runner, events):
    orphan = storage.resolve(storage.store_bytes("photos", b"left by a crash", ".png"))
    fresh = storage.resolve(storage.store_bytes("photos", b"being written", ".png"))
    old = time.time() - 3600
    os.utime(orphan, (old, old))
    report = run(runner, "--orphans")
    assert report["orphans"] == 1
    assert not orphan.exists() and fresh.exists()  # a file younger than a minute may be a check-in in flight
    assert storage.resolve(events[2].photo_path).exists()


def test_purge_rejects_a_bad_days_value(runner, app):
    result = runner.invoke(args=["purge", "--days", "0"])
    assert result.exit_code != 0 and "0" in result.output


def test_purge_on_a_schedule(app, runner, events, make_person, faces_data):
    result = runner.invoke(args=["purge", "--days", "30", "--every", "0.00001", "--runs", "2"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.strip().splitlines()]
    assert [line["photos"] for line in lines] == [2, 0]  # the second run finds nothing new


def test_suspected_spoof_frames_follow_the_retention_and_the_person(runner, app, make_person, faces_data):
    """A suspected spoof's frames are biometric data: removed by the retention rule (the entry stays,
    without frames), by `purge --orphans` when no entry refers to them, and with the person."""
    from kiosk.checkin.liveness import LivenessJudge
    from kiosk.models import SuspectedSpoof
    from kiosk.services import people, spoofs

    image = load_image(faces_data / "lfw_Tony_Blair" / "1.jpg")
    person = make_person("Tony")
    verdict = LivenessJudge().verdict()
    now = datetime.now(timezone.utc)
    old = spoofs.record(person.id, image, image.copy(), verdict=verdict, policy="review", happy=0.1,
                        identification_score=0.9, kiosk_id="k", now=now - timedelta(days=40))
    new = spoofs.record(person.id, image, image.copy(), verdict=verdict, policy="review", happy=0.1,
                        identification_score=0.9, kiosk_id="k", now=now)
    old_files = [storage.resolve(p) for p in old.files]
    new_files = [storage.resolve(p) for p in new.files]
    assert len(old_files) == 2 and all(f.exists() for f in old_files + new_files)
    assert run(runner, "--days", "30")["spoof_evidence"] == 1
    assert not any(f.exists() for f in old_files) and all(f.exists() for f in new_files)
    db.session.expire_all()
    assert db.session.get(SuspectedSpoof, old.id).photo_path is None  # the entry stays, without frames

    stray = storage.resolve(storage.store_bytes(spoofs.SPOOF_FOLDER, b"left by a crash", ".jpg"))
    os.utime(stray, (time.time() - 3600, time.time() - 3600))
    assert run(runner, "--orphans")["orphan_spoof_frames"] == 1 and not stray.exists()

    people.delete_person(db.session.get(type(person), person.id))
    assert not any(f.exists() for f in new_files)
    assert db.session.query(SuspectedSpoof).count() == 0
