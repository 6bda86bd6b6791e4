"""Weekly schedules and the site's holidays: who is expected when.

A week belongs to one person, one group, or the whole site. The week that applies to a person is
their own if they have one, else their group's, else the site's; a weekday without a shift in that
week is a day off. A holiday is a day off for everyone. Times are the site's local clock
(``kiosk.sitetime``); a :class:`Shift` holds real instants, so a shift on a daylight-saving day
lasts what the clock says it does (22:00-06:00 across the spring change is 7 hours).

Errors: ``InvalidInput`` ``bad_time`` (not HH:MM), ``bad_weekday``, ``bad_grace``,
``schedule_ends_before_start`` (an end before its start without "ends the next day"),
``bad_holiday``; ``Conflict`` ``holiday_exists``; ``NotFound``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ..errors import Conflict, InvalidInput, NotFound
from ..extensions import db
from ..languages import mark
from ..models import Person, PersonGroup, SiteHoliday, WorkSchedule
from ..sitetime import site_timezone
from . import audit
from .audit_actions import HOLIDAY_ADDED, HOLIDAY_REMOVED, SCHEDULE_CHANGED

# English, as the audit log and the command line write them; the console translates them where it shows them.
WEEKDAYS = (mark("Monday"), mark("Tuesday"), mark("Wednesday"), mark("Thursday"), mark("Friday"), mark("Saturday"),
            mark("Sunday"))
MAX_GRACE_MINUTES = 240


@dataclass(frozen=True)
class Shift:
    """One expected stretch of work. ``day`` is the working day it belongs to (the date it starts)."""

    day: date
    start: datetime  # aware, site time zone
    end: datetime
    grace: timedelta

    @property
    def expected(self) -> timedelta:
        return self.end.astimezone(timezone.utc) - self.start.astimezone(timezone.utc)


@dataclass(frozen=True)
class ShiftTimes:
    """A weekday of a week as entered: minutes after local midnight."""

    start_minute: int
    end_minute: int
    overnight: bool = False
    grace_minutes: int = 0

    def label(self) -> str:
        text = f"{clock(self.start_minute)}-{clock(self.end_minute)}"
        return text + (" (next day)" if self.overnight else "")


def clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_clock(text: str | None, field: str) -> int:
    """``"09:00"`` as minutes after midnight; InvalidInput ``bad_time`` otherwise."""
    try:
        parsed = time.fromisoformat(str(text or "").strip())
    except ValueError as err:
        raise InvalidInput(f"The {field} time {text!r} is not a time in the form HH:MM.", code="bad_time",
                           field=field) from err
    return parsed.hour * 60 + parsed.minute


def shift_times(start: str, end: str, *, overnight: bool = False, grace: int | str = 0,
                weekday: str = "") -> ShiftTimes:
    """A weekday's shift from text, checked: the end must come after the start unless the shift
    ends the next day."""
    start_minute, end_minute = parse_clock(start, "start"), parse_clock(end, "end")
    try:
        grace_minutes = int(str(grace).strip() or 0)
    except ValueError as err:
        raise InvalidInput(f"The grace time {grace!r} is not a whole number of minutes.", code="bad_grace",
                           max_minutes=MAX_GRACE_MINUTES) from err
    if not 0 <= grace_minutes <= MAX_GRACE_MINUTES:
        raise InvalidInput(f"The grace time is 0 to {MAX_GRACE_MINUTES} minutes.", code="bad_grace",
                           max_minutes=MAX_GRACE_MINUTES)
    if end_minute <= start_minute and not overnight:
        where = f" on {weekday}" if weekday else ""
        raise InvalidInput(
            f"The schedule{where} ends ({clock(end_minute)}) before it starts ({clock(start_minute)}). "
            "For a night shift, say that it ends the next day.", code="schedule_ends_before_start",
            start=clock(start_minute), end=clock(end_minute))
    return ShiftTimes(start_minute, end_minute, overnight and end_minute <= start_minute, grace_minutes)


def _local(day: date, minute: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=tz)


class ScheduleBook:
    """The site's weeks and holidays, read once for a report or a decision."""

    def __init__(self, rows: Iterable[WorkSchedule], holidays: dict[date, str], group_of: dict[int, int | None],
                 tz: ZoneInfo) -> None:
        self.tz = tz
        self.holidays = holidays
        self.group_of = group_of
        self._weeks: dict[tuple[str, int | None], dict[int, ShiftTimes]] = {}
        for row in rows:
            owner = ("person", row.person_id) if row.person_id else ("group", row.group_id) if row.group_id \
                else ("site", None)
            self._weeks.setdefault(owner, {})[row.weekday] = ShiftTimes(
                row.start_minute, row.end_minute, row.overnight, row.grace_minutes)

    def week(self, person_id: int) -> dict[int, ShiftTimes]:
        """The week that applies to the person (weekday -> shift); empty: no schedule at all."""
        for owner in (("person", person_id), ("group", self.group_of.get(person_id)), ("site", None)):
            if owner[1] is None and owner[0] != "site":
                continue
            if owner in self._weeks:
                return self._weeks[owner]
        return {}

    def owner_week(self, kind: str, owner_id: int | None) -> dict[int, ShiftTimes]:
        return self._weeks.get((kind, owner_id), {})

    def has_schedule(self, person_id: int) -> bool:
        return bool(self.week(person_id))

    def planned_shift(self, person_id: int, day: date) -> Shift | None:
        """The shift the week plans for ``day`` (holidays included: a night shift on a holiday
        still tells which working day a punch belongs to)."""
        times = self.week(person_id).get(day.weekday())
        if times is None:
            return None
        end_day = day + timedelta(days=1) if times.overnight else day
        return Shift(day, _local(day, times.start_minute, self.tz), _local(end_day, times.end_minute, self.tz),
                     timedelta(minutes=times.grace_minutes))

    def shift(self, person_id: int, day: date) -> Shift | None:
        """The shift the person is expected to work on ``day``: None on a day off or a holiday."""
        return None if day in self.holidays else self.planned_shift(person_id, day)


def load_book(person_ids: Iterable[int] | None = None) -> ScheduleBook:
    people = select(Person.id, Person.group_id)
    if person_ids is not None:
        people = people.where(Person.id.in_(list(person_ids)))
    group_of = {row.id: row.group_id for row in db.session.execute(people)}
    holidays = {row.day: row.name for row in db.session.scalars(select(SiteHoliday))}
    return ScheduleBook(db.session.scalars(select(WorkSchedule)), holidays, group_of, site_timezone())


# ---------------------------------------------------------------------------- changing weeks


def _owner(person: Person | None, group: PersonGroup | None) -> tuple[str, int | None, audit.Target]:
    if person is not None and group is not None:
        raise InvalidInput("A schedule belongs to a person or a group, not both.", code="bad_owner")
    if person is not None:
        return "person", person.id, audit.Target("schedule", f"person:{person.id}", person.name)
    if group is not None:
        return "group", group.id, audit.Target("schedule", f"group:{group.id}", group.name)
    return "site", None, audit.Target("schedule", "site", "the whole site")


def week_facts(week: dict[int, ShiftTimes]) -> dict[str, dict]:
    return {WEEKDAYS[d]: {"start": clock(t.start_minute), "end": clock(t.end_minute), "overnight": t.overnight,
                          "grace_minutes": t.grace_minutes} for d, t in sorted(week.items())}


def set_week(week: dict[int, ShiftTimes], *, person: Person | None = None, group: PersonGroup | None = None,
             actor: audit.Actor | str | None, reason: str | None = None) -> None:
    """Replace the week of a person, a group or (neither) the site; an empty week removes it (the
    person then follows their group's, the group the site's). One audit entry, before and after."""
    kind, owner_id, target = _owner(person, group)
    for weekday in week:
        if weekday not in range(7):
            raise InvalidInput(f"{weekday!r} is not a weekday (0 Monday .. 6 Sunday).", code="bad_weekday")
    column = {"person": WorkSchedule.person_id, "group": WorkSchedule.group_id}.get(kind)
    query = select(WorkSchedule)
    query = query.where(column == owner_id) if column is not None else query.where(
        WorkSchedule.person_id.is_(None), WorkSchedule.group_id.is_(None))
    old_rows = list(db.session.scalars(query))
    before = week_facts({r.weekday: ShiftTimes(r.start_minute, r.end_minute, r.overnight, r.grace_minutes)
                         for r in old_rows})
    after = week_facts(week)
    if before == after:
        return
    for row in old_rows:
        db.session.delete(row)
    db.session.flush()
    for weekday, times in week.items():
        db.session.add(WorkSchedule(
            person_id=owner_id if kind == "person" else None, group_id=owner_id if kind == "group" else None,
            weekday=weekday, start_minute=times.start_minute, end_minute=times.end_minute,
            overnight=times.overnight, grace_minutes=times.grace_minutes))
    audit.record(SCHEDULE_CHANGED, target, actor=actor, reason=reason, before=before or None, after=after or None)
    db.session.commit()


# ---------------------------------------------------------------------------- holidays


def holidays(start: date | None = None, end: date | None = None) -> list[SiteHoliday]:
    query = select(SiteHoliday).order_by(SiteHoliday.day)
    if start is not None:
        query = query.where(SiteHoliday.day >= start)
    if end is not None:
        query = query.where(SiteHoliday.day <= end)
    return list(db.session.scalars(query))


def add_holiday(day_text: str, name: str, *, actor: audit.Actor | str | None) -> SiteHoliday:
    try:
        day = date.fromisoformat(str(day_text or "").strip())
    except ValueError as err:
        raise InvalidInput(f"The holiday date {day_text!r} is not a date in the form YYYY-MM-DD.",
                           code="bad_holiday", field="day") from err
    name = " ".join(str(name or "").split())
    if not name or len(name) > 120:
        raise InvalidInput("A holiday needs a name of at most 120 characters.", code="bad_holiday", field="name")
    if db.session.scalar(select(SiteHoliday).where(SiteHoliday.day == day)) is not None:
        raise Conflict(f"{day} is already a holiday.", code="holiday_exists", day=day.isoformat())
    holiday = SiteHoliday(day=day, name=name)
    db.session.add(holiday)
    db.session.flush()
    audit.record(HOLIDAY_ADDED, audit.Target("holiday", holiday.id, f"{day} {name}"), actor=actor,
                 after={"day": day.isoformat(), "name": name})
    db.session.commit()
    return holiday


def remove_holiday(holiday_id: int, *, actor: audit.Actor | str | None) -> None:
    holiday = db.session.get(SiteHoliday, holiday_id)
    if holiday is None:
        raise NotFound("No such holiday.")
    audit.record(HOLIDAY_REMOVED, audit.Target("holiday", holiday.id, f"{holiday.day} {holiday.name}"),
                 actor=actor, before={"day": holiday.day.isoformat(), "name": holiday.name})
    db.session.delete(holiday)
    db.session.commit()
