"""Reading attendance page by page, and only what changed: what ``GET /api/v1/attendance`` offers
a payroll or HR system that keeps its own copy.

- **Pages**: ``limit`` (1..1000, default 500) and ``offset``; every answer says the ``total`` and
  the ``next_offset`` (None on the last page).
- **Incremental sync**: ``updated_since`` (ISO 8601 with its offset, e.g. ``2026-12-07T08:00:00Z``)
  lists the events recorded or changed strictly after that instant, oldest change first; the answer's
  ``updated_until`` is the instant to send as ``updated_since`` next time (once ``next_offset`` is
  None). Deleted events are not listed (the ``person.deleted`` webhook and the audit log say so).

Errors: ``InvalidInput`` codes ``bad_limit``, ``bad_offset``, ``bad_updated_since``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from ..errors import InvalidInput
from ..extensions import db
from ..models import AttendanceEvent, Person
from ..sitetime import utc_bounds

# RFC 3339 (what OpenAPI's date-time means), the offset already written as +00:00 for Z.
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d")
DEFAULT_LIMIT = 500
MAX_LIMIT = 1000
MAX_OFFSET = 10**9


@dataclass
class Page:
    items: list
    total: int
    limit: int
    offset: int

    @property
    def next_offset(self) -> int | None:
        following = self.offset + len(self.items)
        return following if following < self.total else None


def _whole_number(text: str | None, name: str, code: str, default: int, lowest: int, highest: int) -> int:
    if text in (None, ""):
        return default
    try:
        value = int(text.strip())
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number.", code=code) from None
    if not lowest <= value <= highest:
        raise InvalidInput(f"{name} is between {lowest} and {highest}.", code=code)
    return value


def parse_paging(limit: str | None, offset: str | None) -> tuple[int, int]:
    return (_whole_number(limit, "limit", "bad_limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
            _whole_number(offset, "offset", "bad_offset", 0, 0, MAX_OFFSET))


def parse_since(text: str | None) -> datetime | None:
    """An ISO 8601 instant with its offset (``Z`` too), as UTC; None when not given."""
    if text in (None, ""):
        return None
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        if not _RFC3339.fullmatch(value):  # fromisoformat alone would also take 20261207T08
            raise ValueError(value)
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput("updated_since is an ISO 8601 date and time with its offset, "
                           "for example 2026-12-07T08:00:00Z.", code="bad_updated_since") from None
    if instant.tzinfo is None:
        raise InvalidInput("updated_since needs its offset (Z for UTC): 2026-12-07T08:00:00Z.",
                           code="bad_updated_since")
    return instant.astimezone(timezone.utc)


def events_page(start: date | None, end: date | None, person_id: int | None, since: datetime | None,
                limit: int, offset: int, group_id: int | None = None) -> Page:
    """Events of the local dates [start, end] (all dates when None), of one person, of one group's
    people, or all, changed after ``since`` (when given; then ordered by change, else by time).

    A punch a correction removed is listed only to a sync (``since`` given), marked ``removed``, so
    a copy kept elsewhere learns of the removal; a plain listing leaves it out, as every report does."""
    conditions = []
    if since is None:
        conditions.append(AttendanceEvent.removed.is_(False))
    if group_id is not None:
        conditions.append(AttendanceEvent.person_id.in_(select(Person.id).where(Person.group_id == group_id)))
    if start is not None and end is not None:
        lower, upper = utc_bounds(start, end)
        conditions += [AttendanceEvent.timestamp >= lower, AttendanceEvent.timestamp < upper]
    if person_id is not None:
        conditions.append(AttendanceEvent.person_id == person_id)
    if since is not None:
        conditions.append(AttendanceEvent.updated_at > since)
        order = (AttendanceEvent.updated_at, AttendanceEvent.id)
    else:
        order = (AttendanceEvent.timestamp, AttendanceEvent.id)
    total = db.session.scalar(select(func.count(AttendanceEvent.id)).where(*conditions)) or 0
    items = list(db.session.scalars(select(AttendanceEvent).options(joinedload(AttendanceEvent.person))
                                    .where(*conditions).order_by(*order).offset(offset).limit(limit)))
    return Page(items, total, limit, offset)


def page_of(items: list, limit: int, offset: int) -> Page:
    """A page of a list already in memory (the per-day view)."""
    return Page(items[offset:offset + limit], len(items), limit, offset)


def updated_until(events: list[AttendanceEvent], since: datetime | None) -> str | None:
    """What to send as ``updated_since`` next: the latest change listed (or ``since`` again)."""
    latest = max((e.updated_at for e in events), default=since)
    return latest.isoformat() if latest is not None else None
