"""The console's attendance pages: the dashboard's Today lists, hours and timesheets, corrections
(always with a reason, refused ones write nothing), the site settings page, and the downloads
(the same bytes as the command line's files)."""

from __future__ import annotations

import io
import re
from datetime import date, datetime, timedelta, timezone

import factories
import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from kiosk.extensions import db
from kiosk.models import AttendanceEvent, AuditEntry, EventKind, PunchRevision, SiteHoliday, WorkSchedule
from kiosk.services import hours_exports, schedules, site_settings
from kiosk.sitetime import to_local

pytestmark = pytest.mark.both_databases
IN, OUT = EventKind.check_in, EventKind.check_out


class Admin:
    def __init__(self, client, token: str):
        self.client, self.token = client, token

    def get(self, url, **kw):
        return self.client.get(url, **kw)

    def post(self, url, data=None):
        return self.client.post(url, data={"csrf_token": self.token, **(data or {})})


@pytest.fixture
def admin(app, client, sign_in_admin):
    app.config["KIOSK_TIMEZONE"] = "Europe/Berlin"
    return Admin(client, sign_in_admin(client))


def counts() -> tuple[int, ...]:
    return tuple(db.session.scalar(select(func.count()).select_from(t))
                 for t in (AttendanceEvent, PunchRevision, AuditEntry, WorkSchedule, SiteHoliday))


def evening_zone() -> str:
    offset = 20 - datetime.now(timezone.utc).hour
    offset = offset - 24 if offset > 14 else offset + 24 if offset < -12 else offset
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def names_in(html: str, list_id: str) -> list[str]:
    block = re.search(rf'id="today-{list_id}">(.*?)</div>', html, re.S).group(1)
    return re.findall(r'<a href="[^"]+">([^<]+)</a>', block)


def test_the_dashboard_lists_present_late_absent_and_still_in(app, admin):
    app.config["KIOSK_TIMEZONE"] = evening_zone()  # about 20:00 there: the day's shift began hours ago
    now = datetime.now(timezone.utc)
    start = to_local(now - timedelta(hours=6)).strftime("%H:%M")
    schedules.set_week({d: schedules.shift_times(start, "23:59", grace=10) for d in range(7)}, actor="test")
    ada, bob, cy = (factories.person(n) for n in ("Ada", "Bob", "Cy"))
    factories.event(ada, now - timedelta(hours=6, minutes=-5), IN)  # on time (within the grace)
    factories.event(cy, now - timedelta(hours=5), IN)  # late by an hour
    factories.event(cy, now - timedelta(hours=1), OUT)
    html = admin.get("/admin/").get_data(as_text=True)
    assert names_in(html, "present") == ["Ada", "Cy"]
    assert names_in(html, "late") == ["Cy"] and "60 min late" in html
    assert names_in(html, "absent") == ["Bob"]
    assert names_in(html, "still_in") == ["Ada"]


def test_a_correction_on_the_timesheet_changes_the_hours_and_is_audited(admin):
    ada = factories.person("Ada Lovelace")
    factories.event(ada, datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc), IN)  # 09:00 in Berlin
    page = f"/admin/hours/person/{ada.id}?from=2026-03-02&to=2026-03-02"
    html = admin.get(page).get_data(as_text=True)
    assert 'id="total-hours">0.00<' in html and "no out" in html  # the missing out is flagged
    before = counts()
    refused = admin.post(f"/admin/hours/person/{ada.id}/punches",
                         {"at": "2026-03-02T17:30", "kind": "out", "reason": " ", "from": "2026-03-02",
                          "to": "2026-03-02"})
    assert refused.status_code == 400 and "needs a reason" in refused.get_data(as_text=True)
    assert counts() == before
    added = admin.post(f"/admin/hours/person/{ada.id}/punches",
                       {"at": "2026-03-02T17:30", "kind": "out", "reason": "left without checking out",
                        "from": "2026-03-02", "to": "2026-03-02"})
    assert added.status_code == 303
    assert 'id="total-hours">8.50<' in admin.get(page).get_data(as_text=True)
    out = db.session.scalar(select(AttendanceEvent).where(AttendanceEvent.kind == OUT))
    overlap = admin.post(f"/admin/punches/{out.id}/change", {"at": "2026-03-02T08:00", "kind": "out", "reason": "x"})
    assert overlap.status_code == 409 and "before any in" in overlap.get_data(as_text=True)
    assert admin.post(f"/admin/punches/{out.id}/change",
                      {"at": "2026-03-02T17:00", "kind": "out", "reason": "gate log"}).status_code == 303
    assert 'id="total-hours">8.00<' in admin.get(page).get_data(as_text=True)
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action.like("punch.%"))
                                 .order_by(AuditEntry.id)).all()
    assert [(e.action, e.actor, e.reason) for e in entries] == [
        ("punch.added", "admin", "left without checking out"), ("punch.changed", "admin", "gate log")]


def test_the_settings_page_checks_and_logs_every_change(admin):
    assert admin.get("/admin/settings").status_code == 200
    before = counts()
    bad = admin.post("/admin/settings/schedule", {"owner": "site", "start_0": "17:00", "end_0": "09:00"})
    assert bad.status_code == 400 and "ends (09:00) before it starts (17:00)" in bad.get_data(as_text=True)
    bad_rule = admin.post("/admin/settings/rules", {"repeat_rule": "sometimes"})
    assert bad_rule.status_code == 400 and counts() == before
    assert admin.post("/admin/settings/schedule", {"owner": "site", "start_0": "22:00", "end_0": "06:00",
                                                   "overnight_0": "1", "grace_0": "5"}).status_code == 303
    assert admin.post("/admin/settings/rules", {"repeat_rule": "in_out", "minimum_gap_minutes": "20",
                                                "rounding_minutes": "5", "reason": "works council"}).status_code == 303
    assert site_settings.current() == {"repeat_rule": "in_out", "minimum_gap_minutes": 20, "rounding_minutes": 5}
    assert admin.post("/admin/settings/holidays", {"day": "2026-12-25", "name": "Christmas"}).status_code == 303
    assert admin.post("/admin/settings/holidays", {"day": "2026-12-25", "name": "Again"}).status_code == 409
    assert admin.post("/admin/settings/groups", {"name": "Kitchen"}).status_code == 303
    actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions[-4:] == ["schedule.changed", "settings.changed", "holiday.added", "group.created"]
    html = admin.get("/admin/settings").get_data(as_text=True)
    assert 'value="22:00"' in html and "Christmas" in html and "Kitchen" in html


def test_hours_downloads_are_the_command_lines_bytes_and_open_in_openpyxl(admin):
    ada = factories.person("Ada Lovelace")
    factories.event(ada, datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc), IN)
    factories.event(ada, datetime(2026, 3, 2, 16, 15, tzinfo=timezone.utc), OUT)
    for report in ("hours", "timesheet"):
        response = admin.get(f"/admin/hours/export?report={report}&format=xlsx&from=2026-03-02&to=2026-03-06")
        assert response.status_code == 200
        assert response.data == hours_exports.export_hours(report, date(2026, 3, 2), date(2026, 3, 6), "xlsx").data
        sheet = load_workbook(io.BytesIO(response.data)).active
        header = [c.value for c in sheet[1]]
        row = dict(zip(header, [c.value for c in sheet[2]]))
        assert row["time_zone"] == "Europe/Berlin" and row["hours"] == 8.25
    assert admin.get("/admin/hours/export?report=payroll&format=csv").status_code == 400
    assert admin.get("/admin/hours/export?report=hours&format=pdf").status_code == 400
    summary = admin.get("/admin/hours?from=2026-03-02&to=2026-03-06").get_data(as_text=True)
    assert re.search(r'data-person="Ada Lovelace">.*?class="num hours">8.25<', summary, re.S)


def test_a_persons_own_week_replaces_the_sites_on_their_timesheet(admin):
    ada = factories.person("Ada Lovelace")
    factories.event(ada, datetime(2026, 3, 2, 21, 0, tzinfo=timezone.utc), IN)  # Monday 22:00 in Berlin
    factories.event(ada, datetime(2026, 3, 3, 5, 0, tzinfo=timezone.utc), OUT)  # Tuesday 06:00
    assert admin.post("/admin/settings/schedule", {"owner": "site", "start_0": "09:00", "end_0": "17:00"}
                      ).status_code == 303
    saved = admin.post("/admin/settings/schedule", {"owner": f"person:{ada.id}", "start_0": "22:00", "end_0": "06:00",
                                                    "overnight_0": "1", "grace_0": "0", "reason": "night porter"})
    assert saved.status_code == 303 and saved.headers["Location"].endswith(f"/admin/hours/person/{ada.id}")
    html = admin.get(f"/admin/hours/person/{ada.id}?from=2026-03-02&to=2026-03-03").get_data(as_text=True)
    rows = re.findall(r'<tr data-day="([^"]+)">.*?<td>([^<]*)</td>\s*<td>(.*?)</td>', html, re.S)
    assert [(day, scheduled) for day, _, scheduled in rows] == [("2026-03-02", "22:00-06:00")]  # one night, one day
    assert 'id="total-hours">8.00<' in html and 'value="22:00"' in html
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "schedule.changed")
                               .order_by(AuditEntry.id)).all()[-1]
    assert entry.target_label == "Ada Lovelace" and entry.reason == "night porter"


def test_the_attendance_view_and_its_export_filter_by_group(admin):
    from kiosk.services.groups import create_group, set_person_group

    kitchen = create_group("Kitchen", actor="test")
    ada, bob = factories.person("Ada Lovelace"), factories.person("Bob Builder")
    set_person_group(ada, kitchen, actor="test")
    for person in (ada, bob):
        factories.event(person, datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc), IN)
    page = admin.get(f"/admin/attendance?from=2026-03-02&to=2026-03-02&group_id={kitchen.id}").get_data(as_text=True)
    assert "Ada Lovelace" in page and "Bob Builder" not in page.split('id="f-person"')[1].split("</select>")[1]
    export = admin.get(f"/admin/attendance/export?from=2026-03-02&to=2026-03-02&format=csv&group_id={kitchen.id}")
    lines = export.data.decode("utf-8-sig").splitlines()
    assert len(lines) == 2 and "Ada Lovelace" in lines[1] and export.headers["X-Export-Rows"] == "1"
    assert admin.get("/admin/attendance?group_id=abc").status_code == 400
    assert admin.get("/admin/attendance?group_id=999").status_code == 404
    summary = admin.get(f"/admin/hours?from=2026-03-02&to=2026-03-02&group_id={kitchen.id}").get_data(as_text=True)
    assert 'data-person="Ada Lovelace"' in summary and 'data-person="Bob Builder"' not in summary


def test_the_people_list_shows_and_filters_by_group(admin):
    from kiosk.services.groups import create_group, set_person_group

    kitchen = create_group("Kitchen", actor="test")
    ada, _bob = factories.person("Ada Lovelace"), factories.person("Bob Builder")
    set_person_group(ada, kitchen, actor="test")
    everyone = admin.get("/admin/people").get_data(as_text=True)
    assert re.search(r"Ada Lovelace</a></td>\s*<td></td>\s*<td>Kitchen</td>", everyone) and "Bob Builder" in everyone
    kitchen_only = admin.get(f"/admin/people?group_id={kitchen.id}").get_data(as_text=True)
    assert "Ada Lovelace" in kitchen_only and "Bob Builder</a>" not in kitchen_only


def test_the_json_api_gives_the_hours_and_filters_by_group(admin):
    from kiosk.services.groups import create_group, set_person_group

    kitchen = create_group("Kitchen", actor="test")
    ada, bob = factories.person("Ada Lovelace"), factories.person("Bob Builder")
    set_person_group(ada, kitchen, actor="test")
    for person in (ada, bob):
        factories.event(person, datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc), IN)
        factories.event(person, datetime(2026, 3, 2, 12, 30, tzinfo=timezone.utc), OUT)
    body = admin.get(f"/api/v1/attendance/hours?from=2026-03-02&to=2026-03-02&group_id={kitchen.id}").get_json()
    assert body["timezone"] == "Europe/Berlin"
    assert body["people"] == [{"person": "Ada Lovelace", "days": 1, "hours": 4.5, "late": 0, "absent": 0,
                               "group": "Kitchen", "overtime_hours": 0.0, "early_leaves": 0, "missing_outs": 0}]
    events = admin.get(f"/api/v1/attendance?from=2026-03-02&to=2026-03-02&group_id={kitchen.id}").get_json()
    assert {e["person"] for e in events["events"]} == {"Ada Lovelace"}
    assert admin.get("/api/v1/attendance/hours?group_id=x").status_code == 400


def test_changing_only_the_kind_on_the_form_keeps_the_punchs_seconds(admin):
    ada = factories.person("Ada Lovelace")
    factories.event(ada, datetime(2026, 3, 2, 8, 0, 37, tzinfo=timezone.utc), IN)
    second = factories.event(ada, datetime(2026, 3, 2, 16, 0, 10, tzinfo=timezone.utc), IN)  # was the out
    same = admin.post(f"/admin/punches/{second.id}/change", {"at": "2026-03-02T17:00", "kind": "in", "reason": "x"})
    assert same.status_code == 400 and "nothing to change" in same.get_data(as_text=True)
    assert admin.post(f"/admin/punches/{second.id}/change",
                      {"at": "2026-03-02T17:00", "kind": "out", "reason": "pressed the wrong way"}).status_code == 303
    db.session.expire_all()
    assert db.session.get(AttendanceEvent, second.id).kind is OUT
    assert db.session.get(AttendanceEvent, second.id).timestamp == datetime(2026, 3, 2, 16, 0, 10, tzinfo=timezone.utc)
