"""``kiosk export``: the attendance export, the same file the admin console downloads.

Both call :func:`kiosk.services.reports.export_attendance`, so a CSV written here is byte
for byte the web's CSV for the same range, and an XLSX has the same rows.
"""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask

from ..errors import KioskError
from ..services import audit, reports
from ..services.audit_actions import EXPORT_DOWNLOADED


@click.command("export")
@click.option("--from", "start_text", required=True, metavar="YYYY-MM-DD",
              help="First day (site time zone), inclusive.")
@click.option("--to", "end_text", required=True, metavar="YYYY-MM-DD", help="Last day (site time zone), inclusive.")
@click.option("--format", "fmt", type=click.Choice(reports.EXPORT_FORMATS), default="csv", show_default=True)
@click.option("--output", "output", required=True, type=click.Path(dir_okay=False, writable=True),
              help="File to write ('-' for standard output, CSV only).")
@click.option("--person", "person_name", default=None, help="Only this person (by name).")
def export(start_text: str, end_text: str, fmt: str, output: str, person_name: str | None) -> None:
    """Export attendance events between two dates as CSV or XLSX (columns: see kiosk.services.reports)."""
    from .. import storage
    from ..services import people

    try:
        start, end = reports.parse_date(start_text, "from"), reports.parse_date(end_text, "to")
        person_id = people.get_person_by_name(person_name).id if person_name else None
        result = reports.export_attendance(start, end, fmt, person_id)
    except KioskError as err:
        raise click.ClickException(str(err)) from err
    audit.record_now(EXPORT_DOWNLOADED, audit.Target("export", None, result.filename), actor=audit.cli_actor(),
                     after={"from": start.isoformat(), "to": end.isoformat(), "format": fmt, "person_id": person_id,
                            "rows": result.rows})
    if output == "-":
        if fmt != "csv":
            raise click.ClickException("Only CSV can go to standard output; give --output FILE.xlsx.")
        click.echo(result.data, nl=False)  # bytes go to the binary stream untouched
        return
    storage.atomic_write(Path(output).resolve(), result.data)
    click.echo(f"Wrote {result.rows} event(s) from {start} to {end} to {output} ({fmt}).", err=True)


def register(app: Flask) -> None:
    app.cli.add_command(export)
