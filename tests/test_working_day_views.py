"""The console's Attendance day view and monthly Reports page group punches by working day (as the
Hours page does): a night shift from Monday 22:00 to Tuesday 06:00 is one day, Monday's."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import factories
import pytest

from kiosk.models import EventKind
from kiosk.services import schedules

pytestmark = pytest.mark.both_databases
IN, OUT = EventKind.check_in, EventKind.check_out


@pytest.fixture
def night(app, client, sign_in_admin):
    """Nina works Monday night (22:00 to 06:00, Berlin); Ada, without a schedule, Tuesday by day."""
    app.config["KIOSK_TIMEZONE"] = "Europe/Berlin"
    sign_in_admin(client)
    nina, ada = factories.person("Nina Night"), factories.person("Ada Day")
    schedules.set_week({0: schedules.shift_times("22:00", "06:00", overnight=True, grace=5)}, person=nina,
                       actor="test")
    factories.event(nina, datetime(2026, 3, 2, 20, 55, tzinfo=timezone.utc), IN)  # Mon 21:55 in Berlin
    factories.event(nina, datetime(2026, 3, 3, 5, 5, tzinfo=timezone.utc), OUT)  # Tue 06:05
    factories.event(ada, datetime(2026, 3, 3, 8, 0, tzinfo=timezone.utc), IN)  # Tue 09:00
    factories.event(ada, datetime(2026, 3, 3, 16, 0, tzinfo=timezone.utc), OUT)  # Tue 17:00
    return client, nina


def day_sections(html: str) -> dict[str, list[tuple[str, str, str]]]:
    """day -> [(person, time in, time out with its day if another)] as the day view shows them."""
    sections = {}
    for day, body in re.findall(r'<h2 id="day-([\d-]+)">(.*?)</section>', html, re.S):
        rows = re.findall(r'<tr>.*?person/\d+[^>]*>([^<]+)</a></td>\s*<td><a[^>]*><time[^>]*>([\d:]+)</time></a></td>'
                          r'\s*<td>(.*?)</td>', body, re.S)
        sections[day] = [(name, time_in, re.sub(r"<[^>]+>", "", out).strip()) for name, time_in, out in rows]
    return sections


def test_the_day_view_shows_a_night_shift_as_one_day(night):
    night, nina = night
    html = night.get("/admin/attendance?from=2026-03-02&to=2026-03-03").get_data(as_text=True)
    assert day_sections(html) == {
        "2026-03-03": [("Ada Day", "09:00", "17:00")],
        "2026-03-02": [("Nina Night", "21:55", "06:05 (Tue)")],
    }
    # Tuesday alone: the night's out at 06:05 belongs to Monday, so Nina is not there.
    tuesday = night.get("/admin/attendance?from=2026-03-03&to=2026-03-03").get_data(as_text=True)
    assert day_sections(tuesday) == {"2026-03-03": [("Ada Day", "09:00", "17:00")]}
    person = night.get(f"/admin/attendance/person/{nina.id}?from=2026-03-01&to=2026-03-31").get_data(as_text=True)
    assert person.count("Mon 2026-03-02") == 1 and "Tue 2026-03-03" not in person


def test_the_monthly_report_counts_a_night_shift_once(night):
    night, _ = night
    html = night.get("/admin/reports?month=2026-03").get_data(as_text=True)
    rows = re.findall(r'<tr>\s*<td><a[^>]*>([^<]+)</a></td>\s*<td>[^<]*</td>\s*<td class="num">(\d+)</td>'
                           r'\s*<td>[^<]*</td>\s*<td>[^<]*</td>\s*<td>([^<]+)</td>', html)
    # (person, days present, latest out): calendar days would give Nina two days, one without an in
    assert rows == [("Ada Day", "1", "17:00"), ("Nina Night", "1", "06:05")]
    assert "2 days with check-ins this month" in html
    # The chart: one person on Monday (Nina's night), one on Tuesday (Ada), not two.
    assert "<title>2026-03-02: 1</title>" in html and "<title>2026-03-03: 1</title>" in html
