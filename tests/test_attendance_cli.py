"""``kiosk attendance add`` and ``kiosk report hours|timesheet`` as payroll's scripts call them:
exact JSON shapes, exit 2 with nothing written for bad input, and files that openpyxl opens and
that are the same bytes as the console's downloads (the same service)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import factories
import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from kiosk.extensions import db
from kiosk.models import AttendanceEvent, AuditEntry, EventKind, PunchRevision
from kiosk.services import hours_exports, schedules

pytestmark = pytest.mark.both_databases

@pytest.fixture
def site(app):
    app.config["KIOSK_TIMEZONE"] = "Europe/Berlin"
    factories.person("Ada Lovelace")
    factories.person("Grace Hopper")
    schedules.set_week({d: schedules.shift_times("09:00", "17:00", grace=5) for d in range(5)}, actor="test")
    return app


def add(runner, *args):
    return runner.invoke(args=["attendance", "add", *args])


def written() -> tuple[int, int, int]:
    return tuple(db.session.scalar(select(func.count()).select_from(t))
                 for t in (AttendanceEvent, PunchRevision, AuditEntry))


def test_attendance_add_prints_the_punch_in_local_time(site, runner):
    result = add(runner, "Ada Lovelace", "--at", "2026-03-02T09:00", "--kind", "in", "--reason", "badge at home",
                 "--json")
    assert result.exit_code == 0, result.output
    punch = json.loads(result.output)
    assert punch == {"id": punch["id"], "person": "Ada Lovelace", "kind": "in", "at": "2026-03-02T09:00+01:00",
                     "time_zone": "Europe/Berlin", "timestamp_utc": "2026-03-02T08:00:00Z", "source": "manual",
                     "removed": False}
    (revision,) = db.session.scalars(select(PunchRevision))
    assert revision.reason == "badge at home" and revision.actor.startswith("cli:")
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "punch.added"))
    assert entry.reason == "badge at home" and entry.actor.startswith("cli:")


@pytest.mark.parametrize("args", [
    ("--at", "2026-03-02T08:00", "--kind", "out", "--reason", "x"),  # an out before its in
    ("--at", "2026-03-02T12:00", "--kind", "out", "--reason", "x"),  # overlapping the 09:00-17:00 pair
    ("--at", "2026-03-02T12:00", "--kind", "in", "--reason", "x"),
    ("--at", "2099-01-01T09:00", "--kind", "in", "--reason", "x"),  # in the future
    ("--at", "2026-03-03T09:00", "--kind", "in"),  # no reason
    ("--at", "2026-03-03T09:00", "--kind", "in", "--reason", "   "),
    ("--at", "2026-03-03T09:00", "--kind", "sideways", "--reason", "x"),
    ("--at", "yesterday", "--kind", "in", "--reason", "x"),
])
def test_bad_punches_exit_2_and_write_nothing(site, runner, args):
    assert add(runner, "Ada Lovelace", "--at", "2026-03-02T09:00", "--kind", "in", "--reason", "r").exit_code == 0
    assert add(runner, "Ada Lovelace", "--at", "2026-03-02T17:00", "--kind", "out", "--reason", "r").exit_code == 0
    before = written()
    result = add(runner, "Ada Lovelace", *args)
    assert result.exit_code == 2, result.output
    assert "Error:" in result.output and "Traceback" not in result.output
    assert written() == before


def test_an_unknown_person_exits_2(site, runner):
    result = add(runner, "Nobody Atall", "--at", "2026-03-02T09:00", "--kind", "in", "--reason", "x")
    assert result.exit_code == 2 and "There is no person named 'Nobody Atall'" in result.output


def test_report_hours_json_is_one_object_per_person(site, runner):
    for when, kind in (("2026-03-02T08:58", "in"), ("2026-03-02T12:00", "out"), ("2026-03-02T12:30", "in"),
                       ("2026-03-02T17:10", "out"), ("2026-03-03T09:30", "in"), ("2026-03-03T17:00", "out")):
        assert add(runner, "Ada Lovelace", "--at", when, "--kind", kind, "--reason", "from paper").exit_code == 0
    result = runner.invoke(args=["report", "hours", "--from", "2026-03-02", "--to", "2026-03-06", "--json"])
    assert result.exit_code == 0, result.output
    # 3:02 + 4:40 on Monday, 7:30 on Tuesday; late on Tuesday; Wednesday to Friday have passed, absent.
    assert json.loads(result.output) == [
        {"person": "Ada Lovelace", "days": 2, "hours": 15.2, "late": 1, "absent": 3},
        {"person": "Grace Hopper", "days": 0, "hours": 0.0, "late": 0, "absent": 5},
    ]
    bad = runner.invoke(args=["report", "hours", "--from", "2026-03-06", "--to", "2026-03-02", "--json"])
    assert bad.exit_code == 2 and "ends (2026-03-02) before it starts" in bad.output


def test_hours_and_timesheet_files_open_in_openpyxl_and_name_the_time_zone(site, runner, tmp_path):
    for when, kind in (("2026-03-02T09:20", "in"), ("2026-03-02T17:00", "out"), ("2026-03-03T09:00", "in")):
        assert add(runner, "Grace Hopper", "--at", when, "--kind", kind, "--reason", "from paper").exit_code == 0
    for report in ("hours", "timesheet"):
        for fmt in ("csv", "xlsx"):
            target = tmp_path / f"{report}.{fmt}"
            result = runner.invoke(args=["report", report, "--from", "2026-03-02", "--to", "2026-03-03",
                                         "--format", fmt, "--output", str(target)])
            assert result.exit_code == 0, result.output
            # The console's download is the same service: the same bytes.
            assert target.read_bytes() == hours_exports.export_hours(report, date(2026, 3, 2), date(2026, 3, 3),
                                                                     fmt).data
    sheet = load_workbook(tmp_path / "timesheet.xlsx").active
    header = [c.value for c in sheet[1]]
    grace = [dict(zip(header, row)) for row in sheet.iter_rows(min_row=2) if row[1].value == "Grace Hopper"]
    monday, tuesday = grace
    assert monday["date"].value.date() == date(2026, 3, 2) and monday["date"].number_format == "yyyy-mm-dd"
    assert monday["time_zone"].value == "Europe/Berlin" and monday["scheduled"].value == "09:00-17:00"
    assert monday["hours"].value == 7.67 and monday["hours"].number_format == "0.00"
    assert monday["late_minutes"].value == 20 and monday["punches"].value == "09:20 in (added), 17:00 out (added)"
    assert tuesday["missing_out"].value is True and tuesday["hours"].value == 0
    summary = load_workbook(tmp_path / "hours.xlsx").active
    rows = [[c.value for c in row] for row in summary.iter_rows()]
    assert rows[0][:7] == ["person", "group", "from", "to", "time_zone", "days", "hours"]
    assert rows[2][0] == "Grace Hopper" and rows[2][4] == "Europe/Berlin" and rows[2][6] == 7.67
    text = (tmp_path / "hours.csv").read_bytes().decode("utf-8-sig")
    grace_line = [r for r in csv.DictReader(io.StringIO(text)) if r["person"] == "Grace Hopper"][0]
    assert grace_line["time_zone"] == "Europe/Berlin" and grace_line["hours"] == "7.67"
    assert grace_line["missing_outs"] == "1" and grace_line["late"] == "1"
    kinds = db.session.scalars(select(AttendanceEvent.kind).order_by(AttendanceEvent.timestamp)).all()
    assert kinds == [EventKind.check_in, EventKind.check_out, EventKind.check_in]


def test_schedules_holidays_and_groups_on_the_command_line(site, runner):
    def kiosk(*args):
        return runner.invoke(args=list(args))

    before = written()
    bad = kiosk("schedule", "set", "--days", "mon", "--start", "17:00", "--end", "09:00")
    assert bad.exit_code == 2 and "ends (09:00) before it starts (17:00)" in bad.output
    assert kiosk("schedule", "set", "--days", "fri-mon", "--start", "09:00", "--end", "17:00").exit_code == 2
    assert kiosk("group", "assign", "Ada Lovelace", "Nights").exit_code == 2  # no such group yet
    assert written() == before
    assert kiosk("group", "add", "Nights").exit_code == 0
    assert kiosk("group", "add", "nights").exit_code == 2  # the same name, up to case
    night = kiosk("schedule", "set", "--group", "Nights", "--days", "mon-fri", "--start", "22:00", "--end", "06:00",
                  "--overnight", "--grace", "10", "--reason", "night team")
    assert night.exit_code == 0, night.output
    assert kiosk("group", "assign", "Ada Lovelace", "Nights").exit_code == 0
    assert json.loads(kiosk("schedule", "show", "--person", "Ada Lovelace").output)["Monday"] == {
        "start": "22:00", "end": "06:00", "overnight": True, "grace_minutes": 10}
    assert kiosk("holiday", "add", "2026-03-04", "Founders' day").exit_code == 0
    for when, kind in (("2026-03-02T21:58", "in"), ("2026-03-03T06:01", "out")):
        assert add(runner, "Ada Lovelace", "--at", when, "--kind", kind, "--reason", "paper").exit_code == 0
    report = json.loads(kiosk("report", "hours", "--from", "2026-03-02", "--to", "2026-03-04", "--group", "Nights",
                              "--json").output)
    # One night shift worked (8:03), Tuesday night absent, Wednesday a holiday.
    assert report == [{"person": "Ada Lovelace", "days": 1, "hours": 8.05, "late": 0, "absent": 1}]
    actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions[-6:] == ["group.created", "schedule.changed", "person.group_changed", "holiday.added",
                            "punch.added", "punch.added"]
