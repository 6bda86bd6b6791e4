"""The working day a punch belongs to: it follows the person's schedule, not midnight.

A punch belongs to the working day of the planned shift it falls in, or is nearest to within
:data:`WORKDAY_MARGIN` before its start or after its end: the "out" at 06:05 of a night shift that
began at 22:00 the day before belongs to the day before. A punch near no shift (a person without
a schedule, a day off) belongs to its local calendar day. Punches are the effective ones: a punch
a correction removed counts nowhere (``AttendanceEvent.removed``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import AttendanceEvent
from ..sitetime import to_local, utc_bounds
from .schedules import ScheduleBook, Shift

# How far before a shift's start and after its end a punch still belongs to it: an early arrival,
# overtime. Shifts closer to each other than twice this share the punches between them by distance.
WORKDAY_MARGIN = timedelta(hours=6)


def shift_for(book: ScheduleBook, person_id: int, moment: datetime) -> Shift | None:
    """The planned shift ``moment`` belongs to, if any."""
    local_day = to_local(moment, book.tz).date()
    best, best_distance = None, None
    for day in (local_day - timedelta(days=1), local_day, local_day + timedelta(days=1)):
        shift = book.planned_shift(person_id, day)
        if shift is None or not shift.start - WORKDAY_MARGIN <= moment <= shift.end + WORKDAY_MARGIN:
            continue
        distance = timedelta(0) if shift.start <= moment <= shift.end else min(
            abs(moment - shift.start), abs(moment - shift.end))
        if best_distance is None or distance < best_distance:
            best, best_distance = shift, distance
    return best


def working_day(book: ScheduleBook, person_id: int, moment: datetime) -> date:
    shift = shift_for(book, person_id, moment)
    return shift.day if shift is not None else to_local(moment, book.tz).date()


def effective_punches(lower: datetime, upper: datetime, person_ids: list[int] | None = None) -> list[AttendanceEvent]:
    """Punches in ``[lower, upper)`` that count (not removed), oldest first."""
    query = (
        select(AttendanceEvent)
        .options(joinedload(AttendanceEvent.person))
        .where(AttendanceEvent.timestamp >= lower, AttendanceEvent.timestamp < upper)
        .where(AttendanceEvent.removed.is_(False))
        .order_by(AttendanceEvent.timestamp, AttendanceEvent.id)
    )
    if person_ids is not None:
        query = query.where(AttendanceEvent.person_id.in_(person_ids))
    return list(db.session.scalars(query))


def punches_by_day(book: ScheduleBook, punches: list[AttendanceEvent]) -> dict[tuple[int, date], list[AttendanceEvent]]:
    """(person id, working day) -> that day's punches, oldest first."""
    days: dict[tuple[int, date], list[AttendanceEvent]] = defaultdict(list)
    for punch in punches:
        days[(punch.person_id, working_day(book, punch.person_id, punch.timestamp))].append(punch)
    return days


def punches_of_day(book: ScheduleBook, person_id: int, day: date, *, exclude_id: int | None = None
                   ) -> list[AttendanceEvent]:
    """The person's effective punches of working day ``day`` (a day and a half either side is
    read: a working day is never longer than its shift and the margins)."""
    lower, upper = utc_bounds(day - timedelta(days=1), day + timedelta(days=1), book.tz)
    return [p for p in effective_punches(lower, upper, [person_id])
            if p.id != exclude_id and working_day(book, person_id, p.timestamp) == day]
