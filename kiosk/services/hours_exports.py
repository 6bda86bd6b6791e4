"""Payroll's files: the period summary (one row per person) and the timesheet (one row per person
per working day), as CSV or XLSX. The console's downloads and ``kiosk report hours|timesheet``
both call :func:`export_hours`, so they are the same bytes (kiosk.services.report_table).

Every file names the site's time zone (a ``time_zone`` column: the days and times in it are that
zone's). Hours are decimal hours, two places. Errors: ``InvalidInput`` (bad range or format).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from ..errors import InvalidInput
from ..sitetime import site_timezone, to_local
from .hours import DaySheet, PeriodSummary, day_sheets, period_summary
from .report_table import Column, rows, safe_text, to_csv, to_xlsx
from .reports import MIME_TYPES, check_range, parse_format

REPORTS = ("hours", "timesheet")


def _hours(delta) -> float:  # noqa: ANN001 - a timedelta
    return round(delta.total_seconds() / 3600, 2)


def summary_columns(tz_name: str, start: date, end: date) -> tuple[Column, ...]:
    return (
        Column("person", lambda s: safe_text(s.person), 28),
        Column("group", lambda s: safe_text(s.group), 16),
        Column("from", lambda s: start, 12, "yyyy-mm-dd"),
        Column("to", lambda s: end, 12, "yyyy-mm-dd"),
        Column("time_zone", lambda s: tz_name, 16),
        Column("days", lambda s: s.days, 7),
        Column("hours", lambda s: s.hours, 9, "0.00"),
        Column("overtime_hours", lambda s: s.overtime_hours, 10, "0.00"),
        Column("late", lambda s: s.late, 7),
        Column("early_leaves", lambda s: s.early_leaves, 8),
        Column("absent", lambda s: s.absent, 8),
        Column("missing_outs", lambda s: s.missing_outs, 8),
    )


def _clock(moment: datetime | None) -> str:
    return "" if moment is None else to_local(moment).strftime("%H:%M")


def punch_list(sheet: DaySheet) -> str:
    """``08:59 in, 12:00 out, ...``: the day's punches as the timesheet shows them."""
    return ", ".join(f"{_clock(p.timestamp)} {p.kind.word}" + (" (added)" if p.source == "manual" else "")
                     for p in sheet.punches)


def timesheet_columns(tz_name: str) -> tuple[Column, ...]:
    return (
        Column("date", lambda d: d.day, 12, "yyyy-mm-dd"),
        Column("person", lambda d: safe_text(d.person), 28),
        Column("group", lambda d: safe_text(d.group), 16),
        Column("time_zone", lambda d: tz_name, 16),
        Column("scheduled", lambda d: "" if d.shift is None else f"{_clock(d.shift.start)}-{_clock(d.shift.end)}", 13),
        Column("first_in", lambda d: _clock(d.first_in.timestamp) if d.first_in else "", 9),
        Column("last_out", lambda d: _clock(d.last_out.timestamp) if d.last_out else "", 9),
        Column("hours", lambda d: _hours(d.worked), 8, "0.00"),
        Column("overtime_hours", lambda d: _hours(d.overtime), 10, "0.00"),
        Column("late_minutes", lambda d: d.late_minutes, 8),
        Column("early_leave_minutes", lambda d: d.early_leave_minutes, 8),
        Column("absent", lambda d: d.absent, 8),
        Column("holiday", lambda d: safe_text(d.holiday), 16),
        Column("missing_out", lambda d: bool(d.missing_out or d.out_without_in), 8),
        Column("punches", lambda d: punch_list(d), 44),
    )


@dataclass
class HoursFile:
    data: bytes
    filename: str
    mimetype: str
    rows: int


def export_hours(report: str, start: date, end: date, fmt: str, *, group_id: int | None = None,
                 person_id: int | None = None, now: datetime | None = None) -> HoursFile:
    """``hours`` (the period summary) or ``timesheet`` over ``[start, end]`` as CSV or XLSX."""
    if report not in REPORTS:
        raise InvalidInput(f"The report must be one of {', '.join(REPORTS)}.", code="bad_report")
    fmt = parse_format(fmt)
    check_range(start, end)
    tz_name = site_timezone().key
    if report == "hours":
        summaries: list[PeriodSummary] = period_summary(start, end, group_id=group_id, now=now)
        if person_id is not None:
            summaries = [s for s in summaries if s.person_id == person_id]
        columns, table = summary_columns(tz_name, start, end), rows(summary_columns(tz_name, start, end), summaries)
    else:
        sheets = day_sheets(start, end, person_id=person_id, group_id=group_id, now=now)
        columns, table = timesheet_columns(tz_name), rows(timesheet_columns(tz_name), sheets)
    data = to_csv(columns, table) if fmt == "csv" else to_xlsx(columns, table, title=report.capitalize())
    return HoursFile(data, f"{report}_{start}_{end}.{fmt}", MIME_TYPES[fmt], len(table))
