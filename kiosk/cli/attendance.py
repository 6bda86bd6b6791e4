"""``kiosk attendance add`` (a punch the kiosk missed) and ``kiosk report hours|timesheet``
(what payroll reads), on the same services as the console.

Bad input (an unknown person, a time that is not a local date and time, an out before its in,
overlapping pairs, a punch in the future, a missing reason) exits with status 2 and a message;
nothing is written then.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import Flask

from ..errors import KioskError
from ..services import audit, corrections, hours, hours_exports, reports
from ..services.audit_actions import EXPORT_DOWNLOADED
from ..sitetime import site_timezone, to_local


def punch_dict(event) -> dict:  # noqa: ANN001 - an AttendanceEvent
    """A punch as ``kiosk attendance add --json`` prints it."""
    return {
        "id": event.id,
        "person": event.person.name,
        "kind": event.kind.word,
        "at": to_local(event.timestamp).isoformat(timespec="minutes"),
        "time_zone": site_timezone().key,
        "timestamp_utc": event.timestamp.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "source": event.source,
        "removed": event.removed,
    }


@click.group("attendance")
def attendance_group() -> None:
    """Punches: add one the kiosk missed (always with a reason; audit-logged)."""


@attendance_group.command("add")
@click.argument("name")
@click.option("--at", "at_text", required=True, metavar="YYYY-MM-DDTHH:MM", help="Local time (the site's time zone).")
@click.option("--kind", type=click.Choice(["in", "out"]), required=True, help="An in or an out punch.")
@click.option("--reason", required=True, help="Why it is added (kept with the punch and in the audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print the punch as JSON.")
def add_command(name: str, at_text: str, kind: str, reason: str, as_json: bool) -> None:
    """Add a punch for NAME at a local time, e.g. --at 2026-03-02T09:00 --kind in --reason "forgot"."""
    from ..services.people import find_person

    try:
        person = find_person(name)
        if person is None:
            raise click.UsageError(f"There is no person named {name!r} (kiosk people list shows who there is).")
        event = corrections.add_punch(person, corrections.parse_local_time(at_text), corrections.parse_kind(kind),
                                      reason=reason, actor=audit.cli_actor())
    except KioskError as err:
        raise click.UsageError(str(err)) from err
    if as_json:
        click.echo(json.dumps(punch_dict(event), ensure_ascii=False))
    else:
        click.echo(f"Added: {event.person.name}, {kind} at {to_local(event.timestamp):%Y-%m-%d %H:%M}.")


@click.group("report")
def report_group() -> None:
    """Payroll reports: hours per person over a period, and the timesheet per person per day."""


def _range(start_text: str, end_text: str):  # noqa: ANN202
    start, end = reports.parse_date(start_text, "from"), reports.parse_date(end_text, "to")
    reports.check_range(start, end)
    return start, end


def _group_id(group_name: str | None) -> int | None:
    from ..services.groups import group_named

    return group_named(group_name).id if group_name else None


def _write(report: str, start_text: str, end_text: str, fmt: str, output: str, group_name: str | None) -> None:
    from .. import storage

    try:
        start, end = _range(start_text, end_text)
        result = hours_exports.export_hours(report, start, end, fmt, group_id=_group_id(group_name))
    except KioskError as err:
        raise click.UsageError(str(err)) from err
    audit.record_now(EXPORT_DOWNLOADED, audit.Target("export", None, result.filename), actor=audit.cli_actor(),
                     after={"report": report, "from": start.isoformat(), "to": end.isoformat(), "format": fmt,
                            "group": group_name, "rows": result.rows})
    if output == "-":
        if fmt != "csv":
            raise click.UsageError("Only CSV can go to standard output; give --output FILE.xlsx.")
        click.echo(result.data, nl=False)
        return
    storage.atomic_write(Path(output).resolve(), result.data)
    click.echo(f"Wrote {result.rows} row(s) from {start} to {end} to {output} ({fmt}).", err=True)


_FROM = click.option("--from", "start_text", required=True, metavar="YYYY-MM-DD", help="First day, inclusive.")
_TO = click.option("--to", "end_text", required=True, metavar="YYYY-MM-DD", help="Last day, inclusive.")
_GROUP = click.option("--group", "group_name", default=None, help="Only the people of this group.")
_FORMAT = click.option("--format", "fmt", type=click.Choice(reports.EXPORT_FORMATS), default="csv", show_default=True)


@report_group.command("hours")
@_FROM
@_TO
@_GROUP
@click.option("--json", "as_json", is_flag=True, help='A JSON array: {"person", "days", "hours", "late", "absent"}.')
@_FORMAT
@click.option("--output", default=None, type=click.Path(dir_okay=False), help="Write the summary file (CSV/XLSX).")
def hours_command(start_text: str, end_text: str, group_name: str | None, as_json: bool, fmt: str,
                  output: str | None) -> None:
    """Days present, worked hours, late arrivals and absences per person over a period."""
    if output:
        _write("hours", start_text, end_text, fmt, output, group_name)
        return
    try:
        start, end = _range(start_text, end_text)
        summaries = hours.period_summary(start, end, group_id=_group_id(group_name))
    except KioskError as err:
        raise click.UsageError(str(err)) from err
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in summaries], ensure_ascii=False, indent=2))
        return
    click.echo(f"{'person':<28} {'days':>4} {'hours':>7} {'overtime':>8} {'late':>4} {'absent':>6}"
               f"  ({site_timezone().key})")
    for s in summaries:
        click.echo(f"{s.person[:28]:<28} {s.days:>4} {s.hours:>7.2f} {s.overtime_hours:>8.2f} {s.late:>4}"
                   f" {s.absent:>6}")


@report_group.command("timesheet")
@_FROM
@_TO
@_GROUP
@_FORMAT
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="File to write ('-': stdout, CSV).")
def timesheet_command(start_text: str, end_text: str, group_name: str | None, fmt: str, output: str) -> None:
    """One row per person per working day: schedule, first in, last out, hours, lateness, punches."""
    _write("timesheet", start_text, end_text, fmt, output, group_name)


def register(app: Flask) -> None:
    app.cli.add_command(attendance_group)
    app.cli.add_command(report_group)
