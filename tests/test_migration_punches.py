"""The migration that makes existing check-ins in/out punches (e22a77e4d001), on SQLite and on a
real PostgreSQL server: no event is lost or moved, days recorded with check-ins only alternate in
and out per local day (the site's time zone), days that already had check-outs keep their kinds,
each relabelled punch keeps its original as revision 0, and the downgrade puts the originals back."""

from __future__ import annotations

from datetime import datetime, timezone

import factories
import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from kiosk.extensions import db
from kiosk.models import UTCDateTime

pytestmark = pytest.mark.both_databases

BEFORE = "d21ba12ed001"
EVENTS = sa.table("attendance_event", sa.column("id", sa.Integer), sa.column("person_id", sa.Integer),
                  sa.column("kind", sa.String), sa.column("timestamp", UTCDateTime), sa.column("kiosk_id", sa.String))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def kinds() -> list[tuple[int, str, datetime]]:
    rows = db.session.execute(sa.select(EVENTS.c.id, EVENTS.c.kind, EVENTS.c.timestamp).order_by(EVENTS.c.id))
    return [tuple(row) for row in rows]


def test_existing_check_ins_become_in_and_out_without_losing_one(app, monkeypatch):
    monkeypatch.setenv("KIOSK_TIMEZONE", "Europe/Berlin")
    ada, bob = (factories.person(name).id for name in ("Ada", "Bob"))
    db.session.remove()
    downgrade(revision=BEFORE)
    recorded = [
        # Ada, Monday 2 March in Berlin: the first one is 00:30 local, the evening before in UTC.
        (ada, "check_in", "2026-03-01T23:30"), (ada, "check_in", "2026-03-02T11:00"),
        (ada, "check_in", "2026-03-02T12:00"), (ada, "check_in", "2026-03-02T16:00"),
        # Ada, Tuesday: a single check-in (its out is missing, and stays missing).
        (ada, "check_in", "2026-03-03T08:00"),
        # Bob, recorded under the daily rule: in, out, out - kept as it was.
        (bob, "check_in", "2026-03-02T08:00"), (bob, "check_out", "2026-03-02T12:00"),
        (bob, "check_out", "2026-03-02T17:00"),
    ]
    db.session.execute(EVENTS.insert(), [dict(person_id=p, kind=k, timestamp=utc(t), kiosk_id="k")
                                         for p, k, t in recorded])
    db.session.commit()
    before = kinds()
    db.session.remove()
    upgrade()
    after = kinds()
    assert [(i, t) for i, _, t in after] == [(i, t) for i, _, t in before]  # none lost, none moved
    assert [k for _, k, _ in after] == ["check_in", "check_out", "check_in", "check_out", "check_in",
                                        "check_in", "check_out", "check_out"]
    revisions = db.session.execute(sa.text(
        "SELECT event_id, number, kind, actor, reason IS NOT NULL FROM punch_revision ORDER BY event_id, number"
    )).all()
    assert [tuple(r) for r in revisions] == [
        (before[1][0], 0, "check_in", "system", False), (before[1][0], 1, "check_out", "system", True),
        (before[3][0], 0, "check_in", "system", False), (before[3][0], 1, "check_out", "system", True)]
    assert db.session.execute(sa.text("SELECT COUNT(*) FROM attendance_event WHERE removed")).scalar() == 0
    assert set(db.session.execute(sa.text("SELECT source FROM attendance_event")).scalars()) == {"kiosk"}
    db.session.remove()
    downgrade(revision=BEFORE)
    assert kinds() == before  # the originals are back
    db.session.remove()
    upgrade()
    assert kinds() == after


def test_the_migrated_schema_is_the_models_schema_on_both_engines(app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), db.metadata) == []
