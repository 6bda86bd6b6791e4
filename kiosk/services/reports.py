"""Attendance reports: day and person views, monthly summaries, exports and the dashboard chart.

Times are stored in UTC and shown in the site's time zone (``KIOSK_TIMEZONE``, an IANA
name such as ``Asia/Seoul``). The day and person views, the monthly summary and the counts of
people present group punches by *working day* (kiosk.services.workday), as the hours do: a night
shift's out at 06:00 belongs to the day its in began; without a shift nearby a working day is the
calendar day in the site's time zone (a check-in at 00:30 local time belongs to that day even
though it is the previous day in UTC). The raw export lists punches by their local calendar date.
Date filters are converted to UTC bounds with :mod:`zoneinfo` (DST-safe).

The raw export (the web's CSV/XLSX downloads and ``kiosk export``) is built by the same
functions here, so both give the same bytes. Its columns are one table (``_raw_columns``, see
kiosk.services.report_table for the file rules):

``EXPORT_COLUMNS`` = event_id, date, time, time_zone, person, external_id, kind, source,
kiosk_id, identification_score, happy_score, memo, timestamp_utc — one row per punch that counts
(a punch a correction removed is left out), ordered by time then id; date and time are local in
``time_zone`` (the site's), ``timestamp_utc`` is ISO 8601 with ``Z``.

Errors: :class:`kiosk.errors.InvalidInput` for bad dates, ranges, months or formats;
:class:`kiosk.errors.NotFound` for an unknown person.
"""

from __future__ import annotations

import logging
import re
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from html import escape

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..errors import InvalidInput, NotFound
from ..extensions import db
from ..models import AttendanceEvent, EventKind, Person, is_row_id
from ..sitetime import local_today, site_timezone, to_local, utc_bounds
from .report_table import Column, header, read_xlsx_rows, safe_text, to_csv, to_xlsx  # noqa: F401
from .report_table import rows as table_rows
from .schedules import load_book
from .workday import effective_punches, punches_by_day

log = logging.getLogger(__name__)

EXPORT_FORMATS = ("csv", "xlsx")
MIME_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# A year and a day: enough for any report people ask for, small enough to stay fast.
MAX_RANGE_DAYS = 367
# The dates a filter may name. Python's dates end at 9999-12-31 and begin at 0001-01-01, and
# a day's bounds reach one day past it in UTC (and a month view shows the next month): keeping
# a year clear on both sides means no date arithmetic here can overflow.
FIRST_DATE, LAST_DATE = date(1900, 1, 1), date(9998, 12, 31)


# ---------------------------------------------------------------------------- input parsing


_DATE_FORM = re.compile(r"\d{4}-\d\d-\d\d")


def parse_date(text: str | None, field_name: str) -> date:
    """A YYYY-MM-DD date, or InvalidInput naming the field."""
    if not text or not str(text).strip():
        raise InvalidInput(f"The {field_name} date is missing (YYYY-MM-DD).", code="missing_date", field=field_name)
    value = str(text).strip()
    try:
        if not _DATE_FORM.fullmatch(value):  # fromisoformat alone would also take 20261207 and 2026-W49-1
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError as err:
        raise InvalidInput(
            f"The {field_name} date {text!r} is not a date in the form YYYY-MM-DD.", code="bad_date", field=field_name
        ) from err
    return _supported(day, f"The {field_name} date {day}", field_name)


def _supported(day: date, what: str, field_name: str) -> date:
    if not FIRST_DATE <= day <= LAST_DATE:
        raise InvalidInput(
            f"{what} is outside the dates the kiosk reports on ({FIRST_DATE} to {LAST_DATE}).",
            code="date_out_of_range",
            field=field_name,
        )
    return day


def parse_range(start_text: str | None, end_text: str | None, *, default_days: int | None = None) -> tuple[date, date]:
    """Parse a date range. With ``default_days``, missing ends default to the last N days (today included)."""
    if default_days is not None:
        end = parse_date(end_text, "to") if end_text else local_today()
        start = parse_date(start_text, "from") if start_text else end - timedelta(days=default_days - 1)
    else:
        start, end = parse_date(start_text, "from"), parse_date(end_text, "to")
    check_range(start, end)
    return start, end


def check_range(start: date, end: date) -> None:
    if end < start:
        raise InvalidInput(f"The range ends ({end}) before it starts ({start}).", code="bad_range")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise InvalidInput(
            f"A range is at most {MAX_RANGE_DAYS} days; split it into smaller ones.", code="range_too_long",
            max_days=MAX_RANGE_DAYS,
        )


def parse_month(text: str | None) -> date:
    """A YYYY-MM month as the date of its first day (the current month when empty)."""
    if not text:
        return local_today().replace(day=1)
    try:
        year, month = (int(part) for part in str(text).strip().split("-"))
        first_day = date(year, month, 1)
    except ValueError as err:
        raise InvalidInput(f"The month {text!r} is not in the form YYYY-MM.", code="bad_month") from err
    return _supported(first_day, f"The month {first_day.year:04d}-{first_day.month:02d}", "month")


def month_range(first_day: date) -> tuple[date, date]:
    next_month = (first_day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first_day, next_month - timedelta(days=1)


def parse_person_id(value: str | int | None) -> int | None:
    if value in (None, ""):
        return None
    try:
        person_id = int(value)
    except (TypeError, ValueError) as err:
        raise InvalidInput(f"The person id {value!r} is not a number.", code="bad_person") from err
    if not is_row_id(person_id) or db.session.get(Person, person_id) is None:
        raise NotFound("No such person.")
    return person_id


def parse_format(value: str | None) -> str:
    fmt = (value or "").strip().lower()
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"The format must be one of {', '.join(EXPORT_FORMATS)}.", code="bad_format")
    return fmt


# ---------------------------------------------------------------------------- queries


def events_between(start: date, end: date, person_id: int | None = None, group_id: int | None = None
                   ) -> list[AttendanceEvent]:
    """Events whose local date is within [start, end], oldest first (ties broken by id); of one
    person, or of the people of one group."""
    lower, upper = utc_bounds(start, end)
    query = (
        select(AttendanceEvent)
        .options(joinedload(AttendanceEvent.person))
        .where(AttendanceEvent.timestamp >= lower, AttendanceEvent.timestamp < upper)
        .where(AttendanceEvent.removed.is_(False))
        .order_by(AttendanceEvent.timestamp, AttendanceEvent.id)
    )
    if person_id is not None:
        query = query.where(AttendanceEvent.person_id == person_id)
    if group_id is not None:
        query = query.where(AttendanceEvent.person_id.in_(select(Person.id).where(Person.group_id == group_id)))
    return list(db.session.scalars(query))


@dataclass
class AttendanceDay:
    """One person on one working day: the first event is "in", the last later one is "out"."""

    day: date
    person_id: int
    person_name: str
    external_id: str | None
    events: list[AttendanceEvent] = field(default_factory=list)

    @property
    def first(self) -> AttendanceEvent:
        return self.events[0]

    @property
    def time_in(self) -> datetime:
        return to_local(self.first.timestamp)

    @property
    def out_event(self) -> AttendanceEvent | None:
        # An explicit check-out wins; otherwise the day's last later event (a second check-in
        # outside the duplicate window) marks the person as still present at that time.
        outs = [e for e in self.events[1:] if e.kind == EventKind.check_out]
        if outs:
            return outs[-1]
        return self.events[-1] if len(self.events) > 1 else None

    @property
    def time_out(self) -> datetime | None:
        out = self.out_event
        return to_local(out.timestamp) if out is not None else None

    @property
    def photo_event(self) -> AttendanceEvent | None:
        return next((e for e in self.events if e.photo_path), None)


def _working_days(start: date, end: date, person_id: int | None = None, group_id: int | None = None
                  ) -> dict[tuple[int, date], list[AttendanceEvent]]:
    """(person id, working day) -> its punches, for the working days in [start, end]. A day
    either side is read: a night shift's punches fall on the calendar day after its working day."""
    person_ids = None
    if person_id is not None:
        person_ids = [person_id]
    elif group_id is not None:
        person_ids = list(db.session.scalars(select(Person.id).where(Person.group_id == group_id)))
    book = load_book(person_ids)
    lower, upper = utc_bounds(start - timedelta(days=1), end + timedelta(days=1), book.tz)
    return {key: punches for key, punches in punches_by_day(book, effective_punches(lower, upper, person_ids)).items()
            if start <= key[1] <= end}


def attendance_days(start: date, end: date, person_id: int | None = None, group_id: int | None = None
                    ) -> list[AttendanceDay]:
    """Per person and working day, ordered by day, then time in."""
    days = [AttendanceDay(day, person, punches[0].person.name, punches[0].person.external_id, punches)
            for (person, day), punches in _working_days(start, end, person_id, group_id).items()]
    return sorted(days, key=lambda d: (d.day, d.first.timestamp, d.person_name.lower()))


def daily_counts(start: date, end: date) -> list[tuple[date, int]]:
    """Distinct people present on each working day of the range (days without anyone are 0)."""
    present: dict[date, set[int]] = {}
    for person, day in _working_days(start, end):
        present.setdefault(day, set()).add(person)
    return [
        (start + timedelta(days=i), len(present.get(start + timedelta(days=i), ())))
        for i in range((end - start).days + 1)
    ]


@dataclass
class PersonMonth:
    person_id: int
    name: str
    external_id: str | None
    days_present: int
    first_in_earliest: time | None
    first_in_typical: time | None  # median arrival: one very early day does not skew it
    last_out_latest: time | None
    days: list[AttendanceDay]

    def as_dict(self) -> dict:
        def fmt(value: time | None) -> str | None:
            return value.strftime("%H:%M") if value is not None else None

        return {
            "person_id": self.person_id,
            "name": self.name,
            "external_id": self.external_id,
            "days_present": self.days_present,
            "first_in_earliest": fmt(self.first_in_earliest),
            "first_in_typical": fmt(self.first_in_typical),
            "last_out_latest": fmt(self.last_out_latest),
            "days": [
                {
                    "date": d.day.isoformat(),
                    "time_in": d.time_in.strftime("%H:%M:%S"),
                    "time_out": d.time_out.strftime("%H:%M:%S") if d.time_out else None,
                }
                for d in self.days
            ],
        }


def _median_time(values: list[time]) -> time | None:
    if not values:
        return None
    seconds = statistics.median_low([t.hour * 3600 + t.minute * 60 + t.second for t in values])
    return time(seconds // 3600, seconds % 3600 // 60, seconds % 60)


def monthly_summary(first_day: date, *, include_absent: bool = True) -> list[PersonMonth]:
    """Per person for the month starting at ``first_day``: days present, arrival and leaving times.

    Active people who never came are listed with 0 days unless ``include_absent`` is False
    (an admin wants to see who is missing, not only who came)."""
    start, end = month_range(first_day)
    by_person: dict[int, list[AttendanceDay]] = {}
    for day in attendance_days(start, end):
        by_person.setdefault(day.person_id, []).append(day)
    people = {p.id: p for p in db.session.scalars(select(Person))}
    summary = []
    for person_id, person in people.items():
        days = by_person.get(person_id, [])
        if not days and not (include_absent and person.active):
            continue
        ins = [d.time_in.time().replace(microsecond=0) for d in days]
        outs = [d.time_out.time().replace(microsecond=0) for d in days if d.time_out is not None]
        summary.append(
            PersonMonth(
                person_id=person_id,
                name=person.name,
                external_id=person.external_id,
                days_present=len(days),
                first_in_earliest=min(ins) if ins else None,
                first_in_typical=_median_time(ins),
                last_out_latest=max(outs) if outs else None,
                days=days,
            )
        )
    return sorted(summary, key=lambda m: m.name.lower())


# ---------------------------------------------------------------------------- exports


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def _score(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def _raw_columns(tz_name: str) -> tuple[Column, ...]:
    """The raw export: one row per punch (an ``(event, local time)`` pair)."""
    return (
        Column("event_id", lambda r: r[0].id, 9),
        Column("date", lambda r: r[1].date(), 12, "yyyy-mm-dd"),
        Column("time", lambda r: r[1].time().replace(microsecond=0, tzinfo=None), 10, "hh:mm:ss"),
        Column("time_zone", lambda r: tz_name, 16),
        Column("person", lambda r: safe_text(r[0].person.name), 28),
        Column("external_id", lambda r: safe_text(r[0].person.external_id), 14),
        Column("kind", lambda r: r[0].kind.value, 10),
        Column("source", lambda r: r[0].source, 9),
        Column("kiosk_id", lambda r: safe_text(r[0].kiosk_id), 12),
        Column("identification_score", lambda r: _score(r[0].identification_score), 12, "0.0000", 4),
        Column("happy_score", lambda r: _score(r[0].happy_score), 10, "0.0000", 4),
        Column("memo", lambda r: safe_text(r[0].memo), 40),
        Column("timestamp_utc", lambda r: _utc_text(r[0].timestamp), 22),
    )


EXPORT_COLUMNS: tuple[str, ...] = header(_raw_columns(""))


def export_rows(start: date, end: date, person_id: int | None = None, group_id: int | None = None) -> list[tuple]:
    """The export's rows as typed values (ints, dates, times, floats, text), without the header."""
    tz = site_timezone()
    items = [(event, event.timestamp.astimezone(tz)) for event in events_between(start, end, person_id, group_id)]
    return table_rows(_raw_columns(tz.key), items)


def rows_to_csv(rows: list[tuple]) -> bytes:
    return to_csv(_raw_columns(""), rows)


def rows_to_xlsx(rows: list[tuple], *, title: str = "Attendance") -> bytes:
    return to_xlsx(_raw_columns(""), rows, title=title)


@dataclass
class ExportFile:
    data: bytes
    filename: str
    mimetype: str
    rows: int


def export_attendance(start: date, end: date, fmt: str, person_id: int | None = None,
                      group_id: int | None = None) -> ExportFile:
    """The attendance export for the web download and ``kiosk export`` (same bytes for CSV)."""
    fmt = parse_format(fmt)
    check_range(start, end)
    rows = export_rows(start, end, person_id, group_id)
    data = rows_to_csv(rows) if fmt == "csv" else rows_to_xlsx(rows)
    suffix = (f"_person{person_id}" if person_id is not None else "") + \
        (f"_group{group_id}" if group_id is not None else "")
    return ExportFile(data, f"attendance_{start}_{end}{suffix}.{fmt}", MIME_TYPES[fmt], len(rows))


# ---------------------------------------------------------------------------- chart


def daily_chart_svg(
    counts: list[tuple[date, int]], *, title: str = "People present per day",
    summary: str = "%(title)s: %(start)s to %(end)s, %(total)s person-days, peak %(peak)s",
    empty: str = "%(title)s: no data",
) -> str:
    """A bar chart as inline SVG (server-made: no script, no CDN, readable by screen readers).
    ``summary`` and ``empty`` are what a screen reader says of it (``%(name)s`` filled here), so
    the console can hand them over in its language."""
    width, height = 720, 220
    left, right, top, bottom = 36, 8, 16, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([n for _, n in counts] + [1])
    # Round the axis up to a "nice" number so gridlines land on integers.
    step = max(1, -(-peak // 4))
    axis_max = step * 4
    bar_w = plot_w / max(len(counts), 1)
    total = sum(n for _, n in counts)
    label = (
        summary % {"title": title, "start": counts[0][0], "end": counts[-1][0], "total": total, "peak": peak}
        if counts
        else empty % {"title": title}
    )
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(label)}</title>",
    ]
    for i in range(5):
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{step * i}</text>')
    label_every = max(1, len(counts) // 10)
    for i, (day, n) in enumerate(counts):
        bar_h = plot_h * n / axis_max
        x = left + i * bar_w
        parts.append(
            f'<rect class="bar" x="{x + bar_w * 0.15:.1f}" y="{top + plot_h - bar_h:.1f}" '
            f'width="{bar_w * 0.7:.1f}" height="{bar_h:.1f}"><title>{day.isoformat()}: {n}</title></rect>'
        )
        if i % label_every == 0:
            parts.append(
                f'<text class="axis" x="{x + bar_w / 2:.1f}" y="{height - bottom + 16}" '
                f'text-anchor="middle">{day.strftime("%m-%d")}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
