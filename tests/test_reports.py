"""Reports: local days in the site's time zone, day/person views, monthly summary, exports, chart."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timezone

import factories
import pytest

from kiosk import sitetime
from kiosk.errors import InvalidInput, NotFound
from kiosk.models import EventKind
from kiosk.services import reports

pytestmark = pytest.mark.both_databases


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.fixture
def seoul(app):
    app.config["KIOSK_TIMEZONE"] = "Asia/Seoul"  # UTC+9, no DST
    return app


def test_a_local_day_is_a_calendar_day_in_the_site_time_zone(seoul, make_person):
    ada = make_person("Ada")
    # 23:30 UTC on the 1st is 08:30 on the 2nd in Seoul.
    late = factories.event(ada, utc(2025, 3, 1, 23, 30))
    factories.event(ada, utc(2025, 3, 1, 14, 0))  # 23:00 on the 1st in Seoul
    assert [e.id for e in reports.events_between(date(2025, 3, 2), date(2025, 3, 2))] == [late.id]
    (day,) = reports.attendance_days(date(2025, 3, 2), date(2025, 3, 2))
    assert day.day == date(2025, 3, 2)
    assert day.time_in.strftime("%H:%M") == "08:30"
    assert day.time_in.utcoffset().total_seconds() == 9 * 3600


def test_bounds_follow_daylight_saving(app):
    app.config["KIOSK_TIMEZONE"] = "Europe/Paris"
    # 30 March 2025 is 23 hours long in Paris (clocks jump at 02:00 CET).
    lower, upper = sitetime.utc_bounds(date(2025, 3, 30), date(2025, 3, 30))
    assert lower == utc(2025, 3, 29, 23, 0)
    assert upper == utc(2025, 3, 30, 22, 0)


def test_time_in_and_time_out(seoul, make_person):
    ada, bob, cy = make_person("Ada"), make_person("Bob"), make_person("Cy")
    factories.event(ada, utc(2025, 3, 3, 0, 2))  # 09:02
    factories.event(ada, utc(2025, 3, 3, 9, 0), kind=EventKind.check_out)  # 18:00
    factories.event(ada, utc(2025, 3, 3, 9, 30))  # a later check-in does not override an explicit check-out
    factories.event(bob, utc(2025, 3, 3, 0, 10))
    factories.event(bob, utc(2025, 3, 3, 8, 0))  # no check-out rule: the last later event is "out"
    factories.event(cy, utc(2025, 3, 3, 1, 0))  # just one event: no time out
    days = {d.person_name: d for d in reports.attendance_days(date(2025, 3, 3), date(2025, 3, 3))}
    assert days["Ada"].time_in.strftime("%H:%M") == "09:02"
    assert days["Ada"].time_out.strftime("%H:%M") == "18:00"
    assert days["Bob"].time_out.strftime("%H:%M") == "17:00"
    assert days["Cy"].time_out is None
    assert [d.person_name for d in reports.attendance_days(date(2025, 3, 3), date(2025, 3, 3))] == ["Ada", "Bob", "Cy"]


def test_person_filter_and_unknown_person(seoul, make_person):
    ada, bob = make_person("Ada"), make_person("Bob")
    factories.event(ada, utc(2025, 3, 3, 0, 0))
    factories.event(bob, utc(2025, 3, 3, 0, 5))
    assert [e.person_id for e in reports.events_between(date(2025, 3, 3), date(2025, 3, 3), bob.id)] == [bob.id]
    with pytest.raises(NotFound):
        reports.parse_person_id("999")
    with pytest.raises(InvalidInput):
        reports.parse_person_id("bob")


def test_monthly_summary(seoul, make_person):
    ada, bob = make_person("Ada"), make_person("Bob")
    make_person("Absent Al")
    for day, hour_utc in ((3, 0), (4, 1), (5, 23)):  # 09:00, 10:00 and (6th) 08:00 local
        factories.event(ada, utc(2025, 3, day, hour_utc, 0))
    factories.event(ada, utc(2025, 3, 4, 9, 15), kind=EventKind.check_out)  # 18:15 on the 4th
    factories.event(bob, utc(2025, 2, 28, 0, 0))  # February: not in March
    factories.event(bob, utc(2025, 3, 31, 14, 59))  # 23:59 on 31 March: in March
    factories.event(bob, utc(2025, 3, 31, 15, 0))  # 00:00 on 1 April: not in March
    summary = {m.name: m for m in reports.monthly_summary(date(2025, 3, 1))}
    assert summary["Ada"].days_present == 3
    assert summary["Ada"].first_in_earliest == time(8, 0)
    assert summary["Ada"].first_in_typical == time(9, 0)
    assert summary["Ada"].last_out_latest == time(18, 15)
    assert summary["Bob"].days_present == 1
    assert summary["Absent Al"].days_present == 0
    assert summary["Absent Al"].first_in_typical is None
    assert summary["Ada"].as_dict()["days"][0] == {"date": "2025-03-03", "time_in": "09:00:00", "time_out": None}


def test_daily_counts_count_people_not_events(seoul, make_person):
    ada, bob = make_person("Ada"), make_person("Bob")
    factories.event(ada, utc(2025, 3, 3, 0, 0))
    factories.event(ada, utc(2025, 3, 3, 5, 0))
    factories.event(bob, utc(2025, 3, 3, 1, 0))
    factories.event(bob, utc(2025, 3, 5, 1, 0))
    assert reports.daily_counts(date(2025, 3, 2), date(2025, 3, 5)) == [
        (date(2025, 3, 2), 0),
        (date(2025, 3, 3), 2),
        (date(2025, 3, 4), 0),
        (date(2025, 3, 5), 1),
    ]


def test_chart_is_accessible_svg_with_one_bar_per_day():
    counts = [(date(2025, 3, d), n) for d, n in ((1, 0), (2, 3), (3, 7))]
    svg = reports.daily_chart_svg(counts)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert 'role="img"' in svg and "aria-label=" in svg
    assert svg.count('<rect class="bar"') == 3
    assert "2025-03-03: 7" in svg
    assert "http://" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing fetched


def test_parsing_errors_are_specific():
    with pytest.raises(InvalidInput) as missing:
        reports.parse_date("", "from")
    assert missing.value.code == "missing_date"
    with pytest.raises(InvalidInput) as bad:
        reports.parse_date("2025-13-01", "to")
    assert bad.value.code == "bad_date"
    with pytest.raises(InvalidInput) as backwards:
        reports.check_range(date(2025, 3, 2), date(2025, 3, 1))
    assert backwards.value.code == "bad_range"
    with pytest.raises(InvalidInput) as long_range:
        reports.check_range(date(2020, 1, 1), date(2025, 1, 1))
    assert long_range.value.code == "range_too_long"
    with pytest.raises(InvalidInput):
        reports.parse_month("March")
    with pytest.raises(InvalidInput):
        reports.parse_format("pdf")
    assert reports.parse_month("2025-02") == date(2025, 2, 1)
    assert reports.month_range(date(2024, 2, 1)) == (date(2024, 2, 1), date(2024, 2, 29))


def test_csv_export_columns_quoting_and_formula_guard(seoul, make_person):
    mallory = make_person("=HYPERLINK(\"http://evil\")", external_id="+1")
    kim = make_person("김민수")
    factories.event(mallory, utc(2025, 3, 3, 0, 0, 5), memo='said "hi", then left', happy_score=0.91234,
              identification_score=0.8)
    factories.event(kim, utc(2025, 3, 3, 0, 1), memo="@everyone")
    data = reports.export_attendance(date(2025, 3, 3), date(2025, 3, 3), "csv").data
    assert data.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8 names correctly
    assert b"\r\n" in data
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == reports.EXPORT_COLUMNS
    first = dict(zip(rows[0], rows[1]))
    assert first["date"] == "2025-03-03" and first["time"] == "09:00:05" and first["time_zone"] == "Asia/Seoul"
    assert first["timestamp_utc"] == "2025-03-03T00:00:05Z"
    assert first["person"] == "'=HYPERLINK(\"http://evil\")"
    assert first["external_id"] == "'+1"
    assert first["memo"] == 'said "hi", then left'
    assert first["happy_score"] == "0.9123" and first["identification_score"] == "0.8000"
    second = dict(zip(rows[0], rows[2]))
    assert second["person"] == "김민수" and second["memo"] == "'@everyone"
    assert second["happy_score"] == ""


def test_xlsx_export_has_typed_cells_and_no_formulas(seoul, make_person):
    from openpyxl import load_workbook

    mallory = make_person("=1+1")
    factories.event(mallory, utc(2025, 3, 3, 0, 0), happy_score=0.5)
    export = reports.export_attendance(date(2025, 3, 3), date(2025, 3, 3), "xlsx")
    assert export.filename == "attendance_2025-03-03_2025-03-03.xlsx"
    sheet = load_workbook(io.BytesIO(export.data)).active
    assert [c.value for c in sheet[1]] == list(reports.EXPORT_COLUMNS)
    row = dict(zip(reports.EXPORT_COLUMNS, sheet[2]))
    assert row["person"].value == "'=1+1" and row["person"].data_type == "s"
    assert row["date"].value.date() == date(2025, 3, 3) and row["date"].number_format == "yyyy-mm-dd"
    assert row["time"].value == time(9, 0) and row["time"].number_format == "hh:mm:ss"
    assert row["time_zone"].value == "Asia/Seoul"  # every export names the site's time zone
    assert row["happy_score"].value == 0.5 and row["happy_score"].number_format == "0.0000"
