"""In and out, working days, hours, schedules and corrections: the rules payroll reads.

Punches are recorded through the real kiosk service (``attendance.record_check_in`` with a real
photo) where the rule that picks "in" or "out" is under test, and as rows (tests/factories.py)
where the hours are. Every rule is checked on SQLite and on a real PostgreSQL server.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import factories
import pytest
from sqlalchemy import func, select

from kiosk.errors import Conflict, InvalidInput
from kiosk.extensions import db
from kiosk.models import AttendanceEvent, AuditEntry, EventKind, PunchRevision
from kiosk.services import attendance, corrections, hours, schedules, site_settings
from kiosk.services.groups import create_group, set_person_group
from kiosk.vision.image import load_image

pytestmark = pytest.mark.both_databases

PHOTO = Path(__file__).resolve().parent / "data" / "expressions" / "happy.jpg"
BERLIN = ZoneInfo("Europe/Berlin")
IN, OUT = EventKind.check_in, EventKind.check_out


def at(text: str) -> datetime:
    """A Berlin wall-clock time as an aware instant."""
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


@pytest.fixture
def site(app):
    app.config.update(KIOSK_TIMEZONE="Europe/Berlin", KIOSK_DUPLICATE_WINDOW_MINUTES=30, KIOSK_REPEAT_RULE="in_out")
    return app


@pytest.fixture
def frame():
    return cv2.resize(load_image(PHOTO), (160, 120), interpolation=cv2.INTER_AREA)


def week(start: str, end: str, days=range(5), *, overnight: bool = False, grace: int = 5):
    times = schedules.shift_times(start, end, overnight=overnight, grace=grace)
    return {day: times for day in days}


def punch(person, when: str, kind: EventKind) -> AttendanceEvent:
    return factories.event(person, at(when), kind)


def sheet_of(person, day: str, now: str = "2026-06-30T12:00") -> hours.DaySheet:
    (sheet,) = hours.day_sheets(date.fromisoformat(day), date.fromisoformat(day), person_id=person.id, now=at(now))
    return sheet


# ---------------------------------------------------------------------------- in and out at the kiosk


def test_the_kiosk_alternates_in_and_out_within_a_working_day_with_breaks(site, frame):
    ada = factories.person("Ada")
    kinds = []
    for when in ("2026-03-02T08:59", "2026-03-02T12:00", "2026-03-02T12:45", "2026-03-02T17:11"):
        result = attendance.record_check_in(ada, frame, happy=0.9, identification_score=1.0, now=at(when))
        kinds.append(result.kind)
    assert kinds == [IN, OUT, IN, OUT]
    # A second visit inside the minimum gap records nothing: the kiosk says "already out".
    again = attendance.record_check_in(ada, frame, happy=0.9, identification_score=1.0, now=at("2026-03-02T17:20"))
    assert again.duplicate and again.kind is OUT
    sheet = sheet_of(ada, "2026-03-02")
    assert len(sheet.pairs) == 2 and not sheet.flagged
    assert sheet.worked == timedelta(hours=3, minutes=1) + timedelta(hours=4, minutes=26)


def test_a_missing_out_is_flagged_never_guessed_and_the_next_day_starts_with_in(site, frame):
    ada = factories.person("Ada")
    attendance.record_check_in(ada, frame, happy=0.9, identification_score=1.0, now=at("2026-03-02T09:00"))
    nxt = attendance.record_check_in(ada, frame, happy=0.9, identification_score=1.0, now=at("2026-03-03T09:05"))
    assert nxt.kind is IN
    monday = sheet_of(ada, "2026-03-02")
    assert [p.id for p in monday.missing_out] == [monday.punches[0].id]
    assert monday.worked == timedelta(0) and not monday.still_in
    # While the day is not over the same "in" is someone still at work, not a missing out.
    today = sheet_of(ada, "2026-03-03", now="2026-03-03T11:00")
    assert today.still_in and not today.missing_out and today.worked == timedelta(0)


def test_a_night_shift_is_one_working_day_across_midnight(site, frame):
    nina = factories.person("Nina")
    schedules.set_week(week("22:00", "06:00", overnight=True), person=nina, actor="test")
    first = attendance.record_check_in(nina, frame, happy=0.9, identification_score=1.0, now=at("2026-03-02T21:55"))
    last = attendance.record_check_in(nina, frame, happy=0.9, identification_score=1.0, now=at("2026-03-03T06:07"))
    assert (first.kind, last.kind) == (IN, OUT)  # midnight did not start a new day
    sheet = sheet_of(nina, "2026-03-02")
    assert [p.id for p in sheet.punches] == [first.event.id, last.event.id]
    assert sheet.worked == timedelta(hours=8, minutes=12) and not sheet.late
    assert sheet.overtime == timedelta(minutes=12)
    # Tuesday's own night shift has not begun by Tuesday noon: not absent, nothing listed.
    assert hours.day_sheets(date(2026, 3, 3), date(2026, 3, 3), person_id=nina.id, now=at("2026-03-03T12:00")) == []


def test_daylight_saving_nights_last_what_the_clock_says(site):
    nina = factories.person("Nina")
    schedules.set_week(week("22:00", "06:00", range(7), overnight=True), person=nina, actor="test")
    punch(nina, "2026-03-28T22:00", IN)  # Europe/Berlin springs forward at 02:00 on the 29th
    punch(nina, "2026-03-29T06:00", OUT)
    punch(nina, "2026-10-24T22:00", IN)  # and falls back at 03:00 on the 25th
    punch(nina, "2026-10-25T06:00", OUT)
    spring, autumn = sheet_of(nina, "2026-03-28"), sheet_of(nina, "2026-10-24", now="2026-10-30T12:00")
    assert spring.worked == timedelta(hours=7) and spring.shift.expected == timedelta(hours=7)
    assert autumn.worked == timedelta(hours=9) and autumn.shift.expected == timedelta(hours=9)
    assert spring.overtime == autumn.overtime == timedelta(0)


def test_late_early_leave_absent_and_holidays_come_from_the_schedule(site):
    kitchen = create_group("Kitchen", actor="test")
    schedules.set_week(week("09:00", "17:00"), group=kitchen, actor="test")
    ada, bob = factories.person("Ada"), factories.person("Bob")
    set_person_group(ada, kitchen, actor="test")
    set_person_group(bob, kitchen, actor="test")
    schedules.add_holiday("2026-03-04", "Founders' day", actor="test")
    punch(ada, "2026-03-02T09:04", IN)  # within the 5 minutes' grace
    punch(ada, "2026-03-02T17:00", OUT)
    punch(ada, "2026-03-03T09:20", IN)  # late by 20 minutes
    punch(ada, "2026-03-03T16:00", OUT)  # left an hour early
    punch(ada, "2026-03-04T10:00", IN)  # a holiday: worked hours are all overtime
    punch(ada, "2026-03-04T12:00", OUT)
    sheets = {s.day.isoformat(): s for s in hours.day_sheets(date(2026, 3, 2), date(2026, 3, 6), person_id=ada.id,
                                                              now=at("2026-03-05T12:00"))}
    assert not sheets["2026-03-02"].late and sheets["2026-03-03"].late_minutes == 20
    assert sheets["2026-03-03"].early_leave_minutes == 60
    assert sheets["2026-03-04"].holiday == "Founders' day" and sheets["2026-03-04"].overtime == timedelta(hours=2)
    assert sheets["2026-03-05"].absent  # Thursday 09:05 has passed without a punch
    assert "2026-03-06" not in sheets  # Friday is still to come
    (summary_ada, summary_bob) = hours.period_summary(date(2026, 3, 2), date(2026, 3, 6), now=at("2026-03-05T12:00"))
    # Ada's hours: 7:56 + 6:40 + 2:00
    assert summary_ada.as_dict() == {"person": "Ada", "days": 3, "hours": 16.6, "late": 1, "absent": 1}
    # Bob never came: absent on each working day so far, never on the holiday.
    assert summary_bob.as_dict() == {"person": "Bob", "days": 0, "hours": 0.0, "late": 0, "absent": 3}


def test_rounding_is_off_by_default_and_rounds_each_day_when_set(site):
    ada = factories.person("Ada")
    punch(ada, "2026-03-02T09:00", IN)
    punch(ada, "2026-03-02T16:52", OUT)
    assert sheet_of(ada, "2026-03-02").worked == timedelta(hours=7, minutes=52)
    site_settings.change({"rounding_minutes": "15"}, actor="admin", reason="payroll rounds to quarters")
    assert sheet_of(ada, "2026-03-02").worked == timedelta(hours=7, minutes=45)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "settings.changed"))
    assert entry.before_json == '{"rounding_minutes": 0}' and entry.after_json == '{"rounding_minutes": 15}'
    with pytest.raises(InvalidInput) as caught:
        site_settings.change({"rounding_minutes": "7"}, actor="admin")
    assert caught.value.code == "bad_setting"


def test_a_schedule_that_ends_before_it_starts_is_refused():
    with pytest.raises(InvalidInput) as caught:
        schedules.shift_times("17:00", "09:00", weekday="Monday")
    assert caught.value.code == "schedule_ends_before_start" and "next day" in str(caught.value)
    assert schedules.shift_times("22:00", "06:00", overnight=True).overnight


# ---------------------------------------------------------------------------- corrections


def revisions_of(event) -> list[tuple]:
    return [(r.number, r.kind, r.removed, r.reason) for r in corrections.revisions(event)]


def test_corrections_keep_the_original_change_the_hours_and_are_audited(site):
    ada = factories.person("Ada")
    morning = punch(ada, "2026-03-02T09:00", IN)
    # The missed out, added by hand.
    out = corrections.add_punch(ada, at("2026-03-02T17:00"), OUT, reason="forgot to check out", actor="admin")
    assert out.source == "manual" and sheet_of(ada, "2026-03-02").worked == timedelta(hours=8)
    # The in was really 08:30: a new revision, the original kept as revision 0.
    corrections.change_punch(morning, at=at("2026-03-02T08:30"), reason="badge log says 08:30", actor="admin")
    assert revisions_of(morning) == [(0, IN, False, None), (1, IN, False, "badge log says 08:30")]
    original = corrections.revisions(morning)[0]
    assert original.timestamp == at("2026-03-02T09:00") and original.actor == "kiosk:kiosk-1"
    assert sheet_of(ada, "2026-03-02").worked == timedelta(hours=8, minutes=30)
    # Removing the pair (its out first): nothing counts, both rows stay.
    corrections.remove_punch(out, reason="was not here", actor="admin")
    corrections.remove_punch(morning, reason="was not here", actor="admin")
    assert db.session.scalar(select(func.count()).select_from(AttendanceEvent)) == 2
    assert hours.day_sheets(date(2026, 3, 2), date(2026, 3, 2), person_id=ada.id, now=at("2026-06-30T12:00")) == []
    actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["person.created", "punch.added", "punch.changed", "punch.removed", "punch.removed"]
    changed = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "punch.changed"))
    assert changed.actor == "admin" and changed.reason == "badge log says 08:30"
    assert '"at": "2026-03-02T09:00+01:00"' in changed.before_json and "08:30" in changed.after_json


@pytest.mark.parametrize(("when", "kind", "reason", "code"), [
    ("2026-03-02T08:00", OUT, "x", "out_before_in"),  # before the day's in
    ("2026-03-02T12:00", OUT, "x", "overlapping_pairs"),  # inside the 09:00-17:00 stretch
    ("2026-03-02T11:00", IN, "x", "overlapping_pairs"),
    ("2026-03-02T17:30", OUT, "x", "overlapping_pairs"),  # an out after an out
    ("2026-03-02T17:00", IN, "x", "same_time"),
    ("2099-03-02T09:00", IN, "x", "punch_in_future"),
    ("2026-03-02T18:00", IN, "  ", "missing_reason"),
])
def test_a_correction_that_breaks_the_day_is_refused_and_writes_nothing(site, when, kind, reason, code):
    ada = factories.person("Ada")
    punch(ada, "2026-03-02T09:00", IN)
    punch(ada, "2026-03-02T17:00", OUT)
    counts = lambda: tuple(db.session.scalar(select(func.count()).select_from(t))  # noqa: E731
                           for t in (AttendanceEvent, PunchRevision, AuditEntry))
    before = counts()
    with pytest.raises((InvalidInput, Conflict)) as caught:
        corrections.add_punch(ada, at(when), kind, reason=reason, actor="admin")
    assert caught.value.code == code and 400 <= caught.value.status < 500
    db.session.rollback()
    assert counts() == before


def test_removing_an_in_that_still_has_its_out_is_refused(site):
    ada = factories.person("Ada")
    morning = punch(ada, "2026-03-02T09:00", IN)
    punch(ada, "2026-03-02T17:00", OUT)
    with pytest.raises(Conflict) as caught:
        corrections.remove_punch(morning, reason="mistake", actor="admin")
    assert caught.value.code == "out_before_in"
    db.session.rollback()
    assert not db.session.get(AttendanceEvent, morning.id).removed


# ---------------------------------------------------------------------------- what the kiosk says


def evening_zone() -> str:
    """A time zone where it is about 20:00 now, so that 8 hours ago is the same local day."""
    offset = 20 - datetime.now(timezone.utc).hour
    offset = offset - 24 if offset > 14 else offset + 24 if offset < -12 else offset
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def test_the_kiosk_says_in_at_what_time_and_how_long_the_day_was_at_out(site, frame):
    from kiosk.checkin.screen import recorded_prompt
    from kiosk.services.checkin import DatabaseBackend

    class Session:  # what the backend asks of a kiosk session: a link for the welcome photo
        def add_photo(self, event_id):
            return f"photo-{event_id}"

    site.config["KIOSK_TIMEZONE"] = evening_zone()
    ada = factories.person("Ada")
    factories.event(ada, datetime.now(timezone.utc) - timedelta(hours=8, minutes=12, seconds=20), IN)
    session = Session()
    backend = DatabaseBackend(session)
    outcome = backend.record(ada.id, frame, 0.9, 1.0)
    assert outcome.kind == "check_out" and not outcome.duplicate
    assert recorded_prompt("Ada", outcome.kind, outcome.local_time, outcome.worked_today_s) == \
        "Goodbye, Ada: 8 h 12 min today"
    assert recorded_prompt("Ada", "check_in", "08:59", None) == "Good morning, Ada: in at 08:59"
    assert recorded_prompt("Ada", "check_in", "13:05", None) == "Good afternoon, Ada: in at 13:05"


def test_deleting_a_person_takes_their_punches_revisions_and_own_week_with_them(site):
    from kiosk.models import WorkSchedule
    from kiosk.services.people import delete_person

    ada, bob = factories.person("Ada"), factories.person("Bob")
    schedules.set_week(week("09:00", "17:00"), person=ada, actor="test")
    schedules.set_week(week("08:00", "16:00"), person=bob, actor="test")
    morning = punch(ada, "2026-03-02T09:00", IN)
    corrections.change_punch(morning, at=at("2026-03-02T08:45"), reason="early", actor="admin")
    corrections.add_punch(ada, at("2026-03-02T17:00"), OUT, reason="forgot", actor="admin")
    delete_person(ada, actor="admin")
    assert db.session.scalar(select(func.count()).select_from(AttendanceEvent)) == 0
    assert db.session.scalar(select(func.count()).select_from(PunchRevision)) == 0
    assert db.session.scalars(select(WorkSchedule.person_id)).all() == [bob.id] * 5


def test_a_removed_punch_cannot_be_removed_or_changed_again(site):
    ada = factories.person("Ada")
    lone = punch(ada, "2026-03-02T09:00", IN)
    corrections.remove_punch(lone, reason="test badge", actor="admin")
    for again in (lambda: corrections.remove_punch(lone, reason="again", actor="admin"),
                  lambda: corrections.change_punch(lone, at=at("2026-03-02T09:30"), reason="again", actor="admin")):
        with pytest.raises(Conflict) as caught:
            again()
        assert caught.value.code == "punch_removed"
        db.session.rollback()
    assert revisions_of(lone) == [(0, IN, False, None), (1, IN, True, "test badge")]
