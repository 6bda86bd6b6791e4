"""`kiosk export` writes what the admin console downloads: same CSV bytes, same XLSX rows.

The data is a generated month of attendance (several people, random arrival and leaving
times, some check-outs, a non-Latin name, memos with commas and quotes, a name that looks
like a spreadsheet formula) in a time zone far from UTC, so that local days matter.
"""

from __future__ import annotations

import random
import re
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from kiosk import sitetime
from kiosk.extensions import db
from kiosk.models import AttendanceEvent, EventKind
from kiosk.services import reports
from kiosk.services.accounts import create_admin

pytestmark = pytest.mark.both_databases

PASSWORD = "export test password"
MONTH_START, MONTH_END = date(2025, 3, 1), date(2025, 3, 31)


@pytest.fixture
def month_of_events(app, make_person):
    app.config["KIOSK_TIMEZONE"] = "America/Los_Angeles"  # UTC-8/-7, with a DST change on 9 March
    tz = ZoneInfo("America/Los_Angeles")
    rng = random.Random(20250301)
    people = [make_person(n) for n in ("Ada Lovelace", "Grace Hopper", "김민수", "=cmd|' /C calc'!A0", "Zoë Ñúñez")]
    people[0].external_id = "E-001"
    db.session.commit()
    events = 0
    # From the last days of February to the first of April: the edges must be cut by local date.
    day = date(2025, 2, 27)
    while day <= date(2025, 4, 2):
        if day.weekday() < 5:
            for person in people:
                if rng.random() < 0.15:
                    continue  # absent
                arrive = datetime.combine(day, time(7, 0), tzinfo=tz) + timedelta(minutes=rng.randint(0, 180))
                db.session.add(
                    AttendanceEvent(
                        person_id=person.id,
                        timestamp=arrive.astimezone(timezone.utc),
                        kind=EventKind.check_in,
                        kiosk_id=rng.choice(["kiosk-1", "lobby"]),
                        happy_score=round(rng.random(), 6),
                        identification_score=round(0.5 + rng.random() / 2, 6),
                        memo=rng.choice([None, "Good morning!", 'late, "traffic"', "출근"]),
                    )
                )
                events += 1
                if rng.random() < 0.6:
                    leave = arrive + timedelta(hours=8, minutes=rng.randint(0, 120))
                    db.session.add(
                        AttendanceEvent(
                            person_id=person.id,
                            timestamp=leave.astimezone(timezone.utc),
                            kind=EventKind.check_out,
                            kiosk_id="kiosk-1",
                        )
                    )
                    events += 1
        day += timedelta(days=1)
    db.session.commit()
    return events


@pytest.fixture
def admin_client(app, client):
    create_admin("exporter", PASSWORD)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/auth/login").text).group(1)
    response = client.post("/auth/login", data={"username": "exporter", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 303
    return client


def web_export(client, fmt: str) -> bytes:
    response = client.get(f"/admin/attendance/export?from={MONTH_START}&to={MONTH_END}&format={fmt}")
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["Content-Disposition"]
    return response.data


def cli_export(runner, tmp_path, fmt: str) -> bytes:
    output = tmp_path / f"march.{fmt}"
    result = runner.invoke(
        args=["export", "--from", str(MONTH_START), "--to", str(MONTH_END), "--format", fmt, "--output", str(output)]
    )
    assert result.exit_code == 0, result.output
    return output.read_bytes()


def test_cli_csv_matches_web_csv_byte_for_byte(month_of_events, admin_client, runner, tmp_path):
    web = web_export(admin_client, "csv")
    cli = cli_export(runner, tmp_path, "csv")
    assert cli == web
    lines = web.decode("utf-8-sig").splitlines()
    in_month = [e for e in db.session.scalars(db.select(AttendanceEvent))
                if MONTH_START <= sitetime.to_local(e.timestamp).date() <= MONTH_END]
    assert len(lines) - 1 == len(in_month) < month_of_events  # the edges of the generated range were cut
    assert len(in_month) > 100


def test_cli_xlsx_matches_web_xlsx_row_for_row(month_of_events, admin_client, runner, tmp_path):
    web_rows = reports.read_xlsx_rows(web_export(admin_client, "xlsx"))
    cli_rows = reports.read_xlsx_rows(cli_export(runner, tmp_path, "xlsx"))
    assert cli_rows == web_rows
    assert web_rows[0] == reports.EXPORT_COLUMNS
    # The same events, in the same order, as the CSV.
    csv_lines = cli_export(runner, tmp_path, "csv").decode("utf-8-sig").splitlines()[1:]
    csv_ids = [line.split(",", 1)[0] for line in csv_lines]
    assert [str(r[0]) for r in web_rows[1:]] == csv_ids


def test_rows_match_the_database(month_of_events, runner, tmp_path):
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(cli_export(runner, tmp_path, "csv").decode("utf-8-sig"))))
    tz = ZoneInfo("America/Los_Angeles")
    for row in rows:
        event = db.session.get(AttendanceEvent, int(row["event_id"]))
        local = event.timestamp.astimezone(tz)
        assert row["date"] == local.date().isoformat()
        assert row["time"] == local.strftime("%H:%M:%S")
        assert row["kind"] == event.kind.value
        assert row["person"].lstrip("'") == event.person.name
        assert row["memo"] == (event.memo or "")


def test_cli_person_filter_and_stdout(month_of_events, runner):
    result = runner.invoke(args=["export", "--from", "2025-03-03", "--to", "2025-03-07", "--output", "-",
                                 "--person", "Grace Hopper"])
    assert result.exit_code == 0, result.output
    lines = result.stdout_bytes.decode("utf-8-sig").splitlines()
    assert len(lines) > 1 and all(",Grace Hopper," in line for line in lines[1:])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--from", "2025-03-31", "--to", "2025-03-01"], "before it starts"),
        (["--from", "03/01/2025", "--to", "2025-03-31"], "YYYY-MM-DD"),
        (["--from", "2025-03-01", "--to", "2025-03-31", "--person", "Nobody"], "No person named"),
        (["--from", "2025-03-01", "--to", "2025-03-31", "--format", "pdf"], "pdf"),
    ],
)
def test_cli_errors_are_clear_and_non_zero(app, runner, tmp_path, args, message):
    result = runner.invoke(args=["export", *args, "--output", str(tmp_path / "out.csv")])
    assert result.exit_code != 0
    assert message in result.output
    assert not (tmp_path / "out.csv").exists()
