"""Worked hours, lateness, early leaves, absences and overtime, per person per working day and
over a period.

A working day's punches (kiosk.services.workday) pair up in order: an "in" and the "out" after
it are one stretch of work; the gaps between stretches are breaks. Hours are the sum of the
stretches, measured between real instants (a daylight-saving night is an hour shorter or longer).
An "in" with no "out" is **flagged, never guessed**: it adds no hours, and the day lists it as a
missing out (or the person as still in, while their working day is not over); an "out" with no
"in" before it is flagged the same way. Against the person's shift (kiosk.services.schedules):

* late: the first "in" after the start plus the grace minutes (the minutes counted from the start);
* early leave: the last "out" before the end minus the grace minutes;
* absent: a shift (not a holiday) that has begun, plus its grace, with no punch at all;
* overtime: worked time beyond the shift's length; on a day off or a holiday every worked minute,
  for people who have a schedule (without one there is nothing to be over).

The site's rounding (``rounding_minutes``, off by default) rounds each day's worked time to the
nearest step. Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select

from ..extensions import db
from ..models import AttendanceEvent, EventKind, Person, PersonGroup, utcnow
from ..sitetime import to_local, utc_bounds
from . import site_settings
from .schedules import ScheduleBook, Shift, load_book
from .workday import WORKDAY_MARGIN, effective_punches, punches_by_day, working_day


@dataclass
class DaySheet:
    person_id: int
    person: str
    group: str | None
    day: date
    shift: Shift | None
    holiday: str | None
    punches: list[AttendanceEvent] = field(default_factory=list)
    pairs: list[tuple[AttendanceEvent, AttendanceEvent]] = field(default_factory=list)
    missing_out: list[AttendanceEvent] = field(default_factory=list)  # "in"s whose "out" is missing
    out_without_in: list[AttendanceEvent] = field(default_factory=list)
    still_in: bool = False  # the last "in" has no "out" yet and the working day is not over
    worked: timedelta = timedelta(0)
    late_minutes: int = 0
    early_leave_minutes: int = 0
    absent: bool = False
    overtime: timedelta = timedelta(0)

    @property
    def present(self) -> bool:
        return bool(self.punches)

    @property
    def late(self) -> bool:
        return self.late_minutes > 0

    @property
    def first_in(self) -> AttendanceEvent | None:
        return next((p for p in self.punches if p.kind is EventKind.check_in), None)

    @property
    def last_out(self) -> AttendanceEvent | None:
        return next((p for p in reversed(self.punches) if p.kind is EventKind.check_out), None)

    @property
    def flagged(self) -> bool:
        return bool(self.missing_out or self.out_without_in)


def rounded(worked: timedelta, step_minutes: int) -> timedelta:
    """``worked`` to the nearest multiple of the step (halves up); unchanged when the step is 0."""
    if step_minutes <= 0:
        return worked
    step = step_minutes * 60
    return timedelta(seconds=int((worked.total_seconds() + step / 2) // step * step))


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def build_day(person_id: int, person: str, day: date, punches: list[AttendanceEvent], *, shift: Shift | None,
              holiday: str | None, has_schedule: bool, now: datetime, rounding_minutes: int = 0,
              group: str | None = None, local_today: date | None = None) -> DaySheet:
    """One working day from its punches (oldest first) and its shift. Pure: no database."""
    sheet = DaySheet(person_id, person, group, day, shift, holiday, list(punches))
    open_in = None
    for punch in sheet.punches:
        if punch.kind is EventKind.check_in:
            if open_in is not None:
                sheet.missing_out.append(open_in)
            open_in = punch
        elif open_in is not None:
            sheet.pairs.append((open_in, punch))
            open_in = None
        else:
            sheet.out_without_in.append(punch)
    if open_in is not None:
        day_over = now > shift.end + WORKDAY_MARGIN if shift is not None else day < (local_today or day)
        if day_over:
            sheet.missing_out.append(open_in)
        else:
            sheet.still_in = True
    worked = sum((out.timestamp - start.timestamp for start, out in sheet.pairs), timedelta(0))
    sheet.worked = rounded(worked, rounding_minutes)
    if shift is not None:
        first_in, last_out = sheet.first_in, sheet.last_out
        if first_in is not None and first_in.timestamp > shift.start + shift.grace:
            sheet.late_minutes = _minutes(first_in.timestamp - shift.start)
        if last_out is not None and not sheet.still_in and open_in is None and \
                last_out.timestamp < shift.end - shift.grace:
            sheet.early_leave_minutes = _minutes(shift.end - last_out.timestamp)
        sheet.absent = not sheet.punches and now >= shift.start + shift.grace
    if has_schedule:
        expected = shift.expected if shift is not None else timedelta(0)
        sheet.overtime = max(timedelta(0), sheet.worked - expected)
    return sheet


def _people(person_id: int | None, group_id: int | None) -> list[Person]:
    query = select(Person).order_by(Person.name)
    if person_id is not None:
        query = query.where(Person.id == person_id)
    if group_id is not None:
        query = query.where(Person.group_id == group_id)
    return list(db.session.scalars(query))


def day_sheets(start: date, end: date, *, person_id: int | None = None, group_id: int | None = None,
               now: datetime | None = None, book: ScheduleBook | None = None) -> list[DaySheet]:
    """Every working day in ``[start, end]`` with a punch or an expected shift (an absence), per
    person, ordered by name then day. A shift that has not begun by ``now`` is not listed."""
    now = now or utcnow()
    people = _people(person_id, group_id)
    ids = [p.id for p in people]
    book = book or load_book(ids)
    groups = {g.id: g.name for g in db.session.scalars(select(PersonGroup))}
    lower, upper = utc_bounds(start - timedelta(days=1), end + timedelta(days=1), book.tz)
    days = punches_by_day(book, effective_punches(lower, upper, ids))
    rounding = site_settings.value("rounding_minutes")
    today = to_local(now, book.tz).date()
    sheets = []
    for person in people:
        has_schedule = book.has_schedule(person.id)
        for offset in range((end - start).days + 1):
            day = start + timedelta(days=offset)
            punches = days.get((person.id, day), [])
            shift = book.shift(person.id, day)
            if not punches and (shift is None or not person.active or now < shift.start):
                continue
            sheets.append(build_day(person.id, person.name, day, punches, shift=shift, holiday=book.holidays.get(day),
                                    has_schedule=has_schedule, now=now, rounding_minutes=rounding,
                                    group=groups.get(person.group_id), local_today=today))
    return sheets


@dataclass
class PeriodSummary:
    """One person over a period: what payroll reads."""

    person_id: int
    person: str
    group: str | None
    days: int = 0  # working days with at least one punch
    worked: timedelta = timedelta(0)
    late: int = 0
    absent: int = 0
    early_leaves: int = 0
    overtime: timedelta = timedelta(0)
    missing_outs: int = 0

    @property
    def hours(self) -> float:
        return round(self.worked.total_seconds() / 3600, 2)

    @property
    def overtime_hours(self) -> float:
        return round(self.overtime.total_seconds() / 3600, 2)

    def as_dict(self) -> dict:
        """The ``kiosk report hours --json`` object."""
        return {"person": self.person, "days": self.days, "hours": self.hours, "late": self.late,
                "absent": self.absent}


def summarize(sheets: list[DaySheet], people: list[Person] | None = None) -> list[PeriodSummary]:
    """Per person, ordered by name; ``people`` adds those without any day (all zeros)."""
    summaries: dict[int, PeriodSummary] = {}
    for person in people or []:
        summaries[person.id] = PeriodSummary(person.id, person.name, None)
    for sheet in sheets:
        summary = summaries.setdefault(sheet.person_id, PeriodSummary(sheet.person_id, sheet.person, sheet.group))
        summary.group = sheet.group
        summary.days += sheet.present
        summary.worked += sheet.worked
        summary.late += sheet.late
        summary.absent += sheet.absent
        summary.early_leaves += sheet.early_leave_minutes > 0
        summary.overtime += sheet.overtime
        summary.missing_outs += len(sheet.missing_out) + len(sheet.out_without_in)
    return sorted(summaries.values(), key=lambda s: (s.person.lower(), s.person_id))


def period_summary(start: date, end: date, *, group_id: int | None = None, now: datetime | None = None
                   ) -> list[PeriodSummary]:
    """Every active person (and anyone who punched) over ``[start, end]``."""
    sheets = day_sheets(start, end, group_id=group_id, now=now)
    return summarize(sheets, [p for p in _people(None, group_id) if p.active])


def worked_on_working_day(person_id: int, moment: datetime) -> timedelta:
    """The person's worked time on the working day ``moment`` falls in (the kiosk's goodbye)."""
    book = load_book([person_id])
    day = working_day(book, person_id, moment)
    sheets = day_sheets(day, day, person_id=person_id, now=moment, book=book)
    return sheets[0].worked if sheets else timedelta(0)


@dataclass
class TodayLists:
    """The dashboard's "Today": who came, who came late, who is expected and not in, who is still in."""

    present: list[DaySheet]
    late: list[DaySheet]
    absent: list[DaySheet]
    still_in: list[DaySheet]


def today_lists(now: datetime | None = None) -> TodayLists:
    """Today's working days; yesterday's too for those still in (a night shift not over yet)."""
    now = now or utcnow()
    book = load_book()
    today = to_local(now, book.tz).date()
    sheets = day_sheets(today - timedelta(days=1), today, now=now, book=book)
    todays = [s for s in sheets if s.day == today]
    by_arrival = lambda s: s.first_in.timestamp if s.first_in else s.punches[0].timestamp  # noqa: E731
    return TodayLists(
        present=sorted((s for s in todays if s.present), key=by_arrival),
        late=sorted((s for s in todays if s.late), key=by_arrival),
        absent=[s for s in todays if s.absent],
        still_in=sorted((s for s in sheets if s.still_in), key=by_arrival),
    )
