"""Database tables on the real, migrated schema, on SQLite and on PostgreSQL: constraints, cascades,
pragmas, UTC."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from kiosk.extensions import db
from kiosk.models import AdminUser, AttendanceEvent, EventKind, FaceSample, GestureSample, Person

pytestmark = pytest.mark.both_databases


@pytest.mark.sqlite_only
def test_sqlite_pragmas(app):
    assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1
    assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    assert db.session.execute(text("PRAGMA busy_timeout")).scalar() >= 5000


def test_person_name_unique_and_not_blank(app):
    db.session.add(Person(name="Ada"))
    db.session.commit()
    db.session.add(Person(name="Ada"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    db.session.add(Person(name="   "))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_deleting_a_person_cascades_in_the_database(app):
    person = Person(name="Grace")
    db.session.add(person)
    db.session.flush()
    sample = FaceSample(person_id=person.id, crop_path="faces/x.png")
    sample.set_embedding(np.arange(128, dtype=np.float32), "dlib")
    db.session.add(sample)
    db.session.add(AttendanceEvent(person_id=person.id, kind=EventKind.check_in, kiosk_id="k1"))
    db.session.commit()
    # Delete with SQL, not the ORM, to prove the ON DELETE CASCADE is in the schema itself.
    db.session.execute(text("DELETE FROM person WHERE id = :id"), {"id": person.id})
    db.session.commit()
    assert db.session.scalar(select(FaceSample).limit(1)) is None
    assert db.session.scalar(select(AttendanceEvent).limit(1)) is None


def test_orphan_rows_are_refused(app):
    db.session.add(FaceSample(person_id=999, crop_path="faces/orphan.png"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_embedding_round_trip(app):
    person = Person(name="Linus")
    db.session.add(person)
    db.session.flush()
    vector = np.random.default_rng(0).normal(size=512).astype(np.float32)
    sample = FaceSample(person_id=person.id, crop_path="faces/l.png")
    sample.set_embedding(vector, "facenet")
    db.session.add(sample)
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(FaceSample, sample.id)
    assert stored.embedder == "facenet"
    np.testing.assert_array_equal(stored.embedding_array(), vector)


def test_timestamps_are_stored_in_utc(app):
    person = Person(name="Tz")
    db.session.add(person)
    db.session.flush()
    seoul = timezone(timedelta(hours=9))
    event = AttendanceEvent(person_id=person.id, timestamp=datetime(2026, 3, 2, 9, 0, tzinfo=seoul), kiosk_id="k")
    db.session.add(event)
    db.session.commit()
    raw = db.session.execute(text("SELECT timestamp FROM attendance_event")).scalar()
    assert str(raw).startswith("2026-03-02 00:00:00")
    db.session.expire_all()
    loaded = db.session.get(AttendanceEvent, event.id)
    assert loaded.timestamp == datetime(2026, 3, 2, 0, 0, tzinfo=timezone.utc)
    assert loaded.timestamp.tzinfo is not None


def test_naive_datetimes_are_refused(app):
    person = Person(name="Naive")
    db.session.add(person)
    db.session.flush()
    db.session.add(AttendanceEvent(person_id=person.id, timestamp=datetime(2026, 1, 1), kiosk_id="k"))
    with pytest.raises(Exception, match="naive datetime"):
        db.session.commit()
    db.session.rollback()


def test_check_constraints(app):
    person = Person(name="Checks")
    db.session.add(person)
    db.session.flush()
    db.session.add(AttendanceEvent(person_id=person.id, kiosk_id="k", happy_score=1.5))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    db.session.add(GestureSample(label="wave", landmarks_json="[]"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_admin_password_is_hashed(app):
    admin = AdminUser(username="root")
    admin.set_password("correct horse battery")
    db.session.add(admin)
    db.session.commit()
    assert "correct horse" not in admin.password_hash
    assert admin.check_password("correct horse battery")
    assert not admin.check_password("wrong")
