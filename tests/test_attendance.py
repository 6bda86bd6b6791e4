"""Attendance: recording check-ins with their photos, the duplicate window and the check-out rule,
deletion, retention, orphan clean-up, and crash safety (a writer killed mid-way).

Real photo: tests/data/expressions/happy.jpg. The crash tests run the real service in a child
process that SIGKILLs itself at the chosen point.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import func, select

from kiosk import storage
from kiosk.errors import Conflict, InvalidInput, KioskError
from kiosk.extensions import db
from kiosk.models import AttendanceEvent, EventKind
from kiosk.services import attendance, photos
from kiosk.services.people import delete_person, set_active
from kiosk.vision.image import load_image

pytestmark = pytest.mark.both_databases

REPO = Path(__file__).resolve().parent.parent
PHOTO = REPO / "tests" / "data" / "expressions" / "happy.jpg"
T0 = datetime(2025, 3, 4, 0, 2, tzinfo=timezone.utc)


@pytest.fixture
def frame():
    return cv2.resize(load_image(PHOTO), (320, 240), interpolation=cv2.INTER_AREA)


def photo_files(data_dir: Path) -> list[Path]:
    folder = data_dir / "photos"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def events() -> list[AttendanceEvent]:
    return list(db.session.scalars(select(AttendanceEvent).order_by(AttendanceEvent.id)))


def assert_every_row_has_its_files() -> None:
    for event in events():
        for relative in photos.event_files(event):
            assert storage.resolve(relative).is_file(), "a row points at a missing file"


def child_env(app) -> dict:
    """The environment of a child process using the same data dir and database as ``app``."""
    return {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2",
            "KIOSK_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"]}


def check_in(person, frame, now, **kwargs):
    return attendance.record_check_in(person, frame, happy=0.8, identification_score=0.9, now=now, **kwargs)


def test_record_check_in_writes_photos_and_the_event(app, make_person, frame, data_dir):
    app.config["KIOSK_TIMEZONE"] = "Asia/Seoul"
    person = make_person("Ada Lovelace")
    result = attendance.record_check_in(
        person, frame, happy=0.83, identification_score=0.91, kiosk_id="lobby", now=T0
    )
    assert not result.duplicate and result.kind is EventKind.check_in
    assert result.checked_in_at == "09:02"  # 00:02 UTC in Seoul
    event = result.event
    assert event.id is not None and event.person_id == person.id and event.kiosk_id == "lobby"
    assert event.timestamp == T0 and event.happy_score == pytest.approx(0.83)
    assert event.identification_score == pytest.approx(0.91)
    assert event.memo == "Ada Lovelace\n2025-03-04 09:02"
    expected = {Path(event.photo_path).name, Path(event.original_photo_path).name}
    assert {p.name for p in photo_files(data_dir)} == expected
    assert_every_row_has_its_files()
    assert result.as_dict()["checked_in_at"] == "09:02"


def test_kiosk_id_defaults_to_the_config(app, make_person, frame):
    app.config["KIOSK_ID"] = "front-door"
    assert check_in(make_person(), frame, T0).event.kiosk_id == "front-door"


def test_second_check_in_inside_the_window_is_a_duplicate(app, make_person, frame, data_dir):
    app.config["KIOSK_DUPLICATE_WINDOW_MINUTES"] = 30
    person = make_person()
    first = check_in(person, frame, T0)
    files_before = photo_files(data_dir)
    again = check_in(person, frame, T0 + timedelta(minutes=29))
    assert again.duplicate and again.event.id == first.event.id and again.kind is EventKind.check_in
    assert len(events()) == 1 and photo_files(data_dir) == files_before  # nothing written
    assert attendance.recent_repeat(person.id, T0 + timedelta(minutes=29)).timestamp == T0
    later = check_in(person, frame, T0 + timedelta(minutes=31))
    # Past the gap, the default rule (in_out) makes the second punch of the working day an "out".
    assert not later.duplicate and later.kind is EventKind.check_out and len(events()) == 2
    assert attendance.recent_repeat(person.id, T0 + timedelta(minutes=120)) is None


def test_window_is_per_person(app, make_person, frame):
    check_in(make_person("Ada"), frame, T0)
    assert not check_in(make_person("Grace"), frame, T0 + timedelta(minutes=1)).duplicate


def test_check_out_rule(app, make_person, frame):
    app.config.update(KIOSK_REPEAT_RULE="check_out", KIOSK_DUPLICATE_WINDOW_MINUTES=30)
    person = make_person("Ada Lovelace")
    first = check_in(person, frame, T0)
    # Inside the window after a check-in: not a duplicate, it will be a check-out.
    assert attendance.recent_repeat(person.id, T0 + timedelta(minutes=10)) is None
    out = check_in(person, frame, T0 + timedelta(minutes=10))
    assert not out.duplicate and out.kind is EventKind.check_out and out.event.id != first.event.id
    assert out.event.memo.endswith("(check-out)") and out.event.photo_path
    # Again inside the window after the check-out: a duplicate of the check-out.
    again = check_in(person, frame, T0 + timedelta(minutes=15))
    assert again.duplicate and again.event.id == out.event.id and again.kind is EventKind.check_out
    assert attendance.recent_repeat(person.id, T0 + timedelta(minutes=15)).timestamp == out.event.timestamp
    assert [e.kind for e in events()] == [EventKind.check_in, EventKind.check_out]


def test_daily_rule_first_event_of_the_local_day_is_in_later_ones_out(app, make_person, frame):
    app.config.update(KIOSK_REPEAT_RULE="daily", KIOSK_DUPLICATE_WINDOW_MINUTES=30, KIOSK_TIMEZONE="Asia/Tokyo")
    person = make_person("Ada Lovelace")
    first = check_in(person, frame, T0)  # 09:02 in Tokyo
    assert first.kind is EventKind.check_in and first.checked_in_at == "09:02"
    # Inside the window: a repeat of the check-in, known before the person confirms.
    assert attendance.recent_repeat(person.id, T0 + timedelta(minutes=10)).id == first.event.id
    assert check_in(person, frame, T0 + timedelta(minutes=10)).duplicate
    # Later the same day: check-outs (the reports take the last one as the time out).
    lunch = check_in(person, frame, T0 + timedelta(hours=4))
    assert not lunch.duplicate and lunch.kind is EventKind.check_out
    assert lunch.event.memo.endswith("(check-out)")
    repeat = attendance.recent_repeat(person.id, T0 + timedelta(hours=4, minutes=5))
    assert repeat.id == lunch.event.id and repeat.kind is EventKind.check_out
    evening = check_in(person, frame, T0 + timedelta(hours=9))
    assert not evening.duplicate and evening.kind is EventKind.check_out
    # The next local day starts with a check-in again.
    assert check_in(person, frame, T0 + timedelta(days=1)).kind is EventKind.check_in
    assert [e.kind for e in events()] == [EventKind.check_in, EventKind.check_out, EventKind.check_out,
                                          EventKind.check_in]


def test_daily_rule_days_are_the_sites_days_not_utcs(app, make_person, frame):
    app.config.update(KIOSK_REPEAT_RULE="daily", KIOSK_DUPLICATE_WINDOW_MINUTES=10, KIOSK_TIMEZONE="Asia/Tokyo")
    person = make_person()
    late = datetime(2025, 3, 4, 14, 50, tzinfo=timezone.utc)  # 23:50 in Tokyo
    assert check_in(person, frame, late).kind is EventKind.check_in
    # 00:10 the next day in Tokyo (the same UTC day): a new day, so a check-in.
    assert check_in(person, frame, late + timedelta(minutes=20)).kind is EventKind.check_in
    app.config["KIOSK_TIMEZONE"] = "UTC"
    assert check_in(person, frame, late + timedelta(minutes=40)).kind is EventKind.check_out


def test_window_zero_never_deduplicates(app, make_person, frame):
    app.config["KIOSK_DUPLICATE_WINDOW_MINUTES"] = 0
    person = make_person()
    check_in(person, frame, T0)
    assert not check_in(person, frame, T0 + timedelta(seconds=5)).duplicate


def test_unknown_repeat_rule_is_a_clear_error(app, make_person, frame):
    app.config["KIOSK_REPEAT_RULE"] = "whatever"
    with pytest.raises(KioskError, match="KIOSK_REPEAT_RULE"):
        check_in(make_person(), frame, T0)


def test_invalid_input_is_refused_before_anything_is_written(app, make_person, frame, data_dir):
    person = make_person()
    with pytest.raises(InvalidInput):
        check_in(person, np.zeros((240, 320), np.uint8), T0)  # not BGR
    with pytest.raises(InvalidInput):
        check_in(person, frame, T0.replace(tzinfo=None))
    with pytest.raises(InvalidInput):
        attendance.record_check_in(person, frame, happy="very", identification_score=0.9, now=T0)
    set_active(person, False)
    with pytest.raises(Conflict):
        check_in(person, frame, T0)
    assert events() == [] and photo_files(data_dir) == []


def test_scores_are_clipped_to_the_column_range(app, make_person, frame):
    event = attendance.record_check_in(
        make_person(), frame, happy=1.0000001, identification_score=float("nan"), now=T0
    ).event
    assert event.happy_score == 1.0 and event.identification_score is None


def test_failed_commit_removes_the_files(app, make_person, frame, data_dir, monkeypatch):
    person = make_person()

    def broken_commit():
        raise RuntimeError("disk full")

    monkeypatch.setattr(db.session, "commit", broken_commit)
    with pytest.raises(RuntimeError):
        check_in(person, frame, T0)
    monkeypatch.undo()
    assert events() == [] and photo_files(data_dir) == []


def test_delete_event_removes_its_files(app, make_person, frame, data_dir):
    person = make_person()
    keep = check_in(person, frame, T0).event
    gone = check_in(person, frame, T0 + timedelta(days=1)).event
    gone_files = [storage.resolve(p) for p in photos.event_files(gone)]
    attendance.delete_event(gone)
    assert [e.id for e in events()] == [keep.id]
    assert not any(p.exists() for p in gone_files)
    assert len(photo_files(data_dir)) == 2
    assert_every_row_has_its_files()


def test_deleting_the_person_removes_their_photos(app, make_person, frame, data_dir):
    person = make_person()
    check_in(person, frame, T0)
    delete_person(person)
    assert events() == [] and photo_files(data_dir) == []


def test_retention_purge_keeps_events_and_removes_old_photos(app, make_person, frame, data_dir):
    person = make_person()
    old = check_in(person, frame, T0).event
    recent = check_in(person, frame, T0 + timedelta(days=40)).event
    old_files = [storage.resolve(p) for p in photos.event_files(old)]
    now = T0 + timedelta(days=41)
    assert attendance.purge_photos_older_than(30, now=now) == 1
    assert [e.id for e in events()] == [old.id, recent.id]  # events stay, for the reports
    db.session.refresh(old)
    assert old.photo_path is None and old.original_photo_path is None
    assert not any(p.exists() for p in old_files)
    assert recent.photo_path and len(photo_files(data_dir)) == 2
    assert attendance.purge_photos_older_than(30, now=now) == 0  # idempotent
    with pytest.raises(InvalidInput):
        attendance.purge_photos_older_than(0)


def test_apply_photo_retention_reads_the_setting(app, make_person, frame):
    check_in(make_person(), frame, T0)
    later = T0 + timedelta(days=100)
    app.config["KIOSK_PHOTO_RETENTION_DAYS"] = 0  # keep forever
    assert attendance.apply_photo_retention(now=later) == 0
    app.config["KIOSK_PHOTO_RETENTION_DAYS"] = 90
    assert attendance.apply_photo_retention(now=later) == 1


def test_purge_orphan_files_spares_referenced_and_fresh_files(app, make_person, frame, data_dir):
    event = check_in(make_person(), frame, T0).event
    orphan = storage.resolve(storage.store_bytes("photos", b"stray", ".png"))
    temp = data_dir / "photos" / ".tmp-abc123"
    temp.write_bytes(b"half a png")
    assert attendance.purge_orphan_files() == 0  # everything is younger than a minute
    old = time.time() - 3600
    for path in (orphan, temp, *[storage.resolve(p) for p in photos.event_files(event)]):
        os.utime(path, (old, old))
    assert attendance.purge_orphan_files() == 2
    assert not orphan.exists() and not temp.exists()
    assert_every_row_has_its_files()


# --------------------------------------------------------------------------- two processes at once

_RACER = textwrap.dedent(
    """
    import json, os, sys, time
    from datetime import datetime, timezone
    import cv2
    from kiosk import create_app
    from kiosk.config import TestingConfig
    from kiosk.extensions import db
    from kiosk.models import Person
    from kiosk.services import attendance, photos

    data_dir, person_id, photo, go = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    app = create_app(TestingConfig(data_dir))
    # Test-only slowdown (this test is about the race, not the files): writing the photos takes
    # 0.3 s, so both processes are surely between "no earlier event" and their insert together.
    real_save = photos.save_photos
    def slow_save(*args, **kwargs):
        time.sleep(0.3)
        return real_save(*args, **kwargs)
    photos.save_photos = slow_save
    with app.app_context():
        person = db.session.get(Person, person_id)
        frame = cv2.imread(photo)
        open(go + f".ready-{os.getpid()}", "w").close()
        while not os.path.exists(go):
            time.sleep(0.005)
        # No explicit time, as the kiosk records: the service stamps the event under the lock.
        result = attendance.record_check_in(person, frame, happy=0.9, identification_score=0.9)
        print(json.dumps({"duplicate": result.duplicate, "event_id": result.event.id}))
    """
)


def test_two_processes_checking_in_the_same_person_record_one_event(app, make_person, data_dir, tmp_path):
    """Two kiosks served by two workers (KIOSK_WORKERS=2), or by two app hosts on one PostgreSQL
    database, see the same person at once: the duplicate check and the insert are one step across
    processes (SQLite: a file lock; PostgreSQL: the person's row locked in the database), so one
    event is recorded."""
    person = make_person()
    db.session.commit()
    go = tmp_path / "go"
    env = child_env(app)
    racers = [
        subprocess.Popen([sys.executable, "-c", _RACER, str(data_dir), str(person.id), str(PHOTO), str(go)],
                         env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("go.ready-*"))) < 2:  # both loaded and waiting for the signal
        assert time.monotonic() < deadline and all(r.poll() is None for r in racers), "a racer did not start"
        time.sleep(0.02)
    go.touch()
    answers = []
    for racer in racers:
        out, err = racer.communicate(timeout=120)
        assert racer.returncode == 0, err
        answers.append(json.loads(out.strip().splitlines()[-1]))

    db.session.expire_all()
    assert len(events()) == 1
    assert sorted(answer["duplicate"] for answer in answers) == [False, True]
    assert {answer["event_id"] for answer in answers} == {events()[0].id}
    assert_every_row_has_its_files()
    assert len(photo_files(data_dir)) == 2  # the one event's photo and original; the duplicate wrote none


# --------------------------------------------------------------------------- a writer killed mid-way

_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import cv2
    from kiosk import create_app
    from kiosk.config import TestingConfig
    from kiosk.extensions import db
    from kiosk.models import Person
    from kiosk.services import attendance

    data_dir, person_id, photo, kill_at = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    app = create_app(TestingConfig(data_dir))
    with app.app_context():
        person = db.session.get(Person, person_id)
        frame = cv2.imread(photo)
        die = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
        if kill_at == "rename_png":
            # Between the PNG's temp file (written and fsynced) and its rename to the final name.
            real_replace = os.replace
            def replace(src, dst, *a, **k):
                if str(dst).endswith(".png"):
                    die()
                return real_replace(src, dst, *a, **k)
            os.replace = replace
        elif kill_at == "commit":
            # Both files in place, the row not yet committed (the commit that stores it).
            from kiosk.services import photos
            real_save, real_commit, saved = photos.save_photos, db.session.commit, []
            photos.save_photos = lambda *a, **k: saved.append(1) or real_save(*a, **k)
            db.session.commit = lambda: die() if saved else real_commit()
        attendance.record_check_in(person, frame, happy=0.9, identification_score=0.9)
        print("not killed")
    """
)


@pytest.mark.parametrize("kill_at", ["rename_png", "commit"])
def test_killed_writer_leaves_no_partial_png_and_no_dangling_event(app, make_person, data_dir, kill_at):
    person = make_person()
    db.session.commit()
    env = child_env(app)
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(data_dir), str(person.id), str(PHOTO), kill_at],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr

    db.session.expire_all()
    assert db.session.scalar(select(func.count(AttendanceEvent.id))) == 0  # no event at all
    assert_every_row_has_its_files()
    left = photo_files(data_dir)
    finals = [p for p in left if not p.name.startswith(".tmp-")]
    if kill_at == "rename_png":
        # The PNG never appeared under a final name: only its temp file (and the original JPEG).
        assert not [p for p in finals if p.suffix == ".png"]
        assert [p.name for p in left if p.name.startswith(".tmp-")]
    else:
        assert sorted(p.suffix for p in finals) == [".jpg", ".png"]  # orphans
    for path in finals:  # whatever reached a final name is complete (load_image refuses truncation)
        assert load_image(path).shape[:2] == (282, 500)

    # The clean-up removes what the dead writer left; a later check-in works normally.
    assert attendance.purge_orphan_files(min_age_s=0) == len(left)
    assert photo_files(data_dir) == []
    frame = load_image(PHOTO)
    result = attendance.record_check_in(person, frame, happy=0.9, identification_score=0.9)
    assert not result.duplicate
    assert_every_row_has_its_files()
