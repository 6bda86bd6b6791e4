"""A report's columns are one table: a column inserted in the middle takes its header, values,
width and number format along, so no XLSX format lands on its neighbour; files are the same bytes
every time they are made."""

from __future__ import annotations

import io
import time as time_module
from datetime import date, time

from openpyxl import load_workbook

from kiosk.services.report_table import Column, rows, to_csv, to_xlsx

ITEMS = [{"day": date(2026, 3, 2), "at": time(9, 5), "hours": 7.5, "name": "=Ada"}]
BASE = (Column("date", lambda r: r["day"], 12, "yyyy-mm-dd"), Column("time", lambda r: r["at"], 9, "hh:mm"),
        Column("hours", lambda r: r["hours"], 8, "0.00"), Column("person", lambda r: r["name"], 30))


def cells(columns) -> dict:
    sheet = load_workbook(io.BytesIO(to_xlsx(columns, rows(columns, ITEMS), title="T"))).active
    header = [c.value for c in sheet[1]]
    widths = {name: sheet.column_dimensions[chr(ord("A") + i)].width for i, name in enumerate(header)}
    return {name: (cell.value, cell.number_format, widths[name]) for name, cell in zip(header, sheet[2])}


def test_a_column_inserted_in_the_middle_keeps_every_format_on_its_own_column():
    before = cells(BASE)
    inserted = BASE[:2] + (Column("time_zone", lambda r: "Europe/Berlin", 16),) + BASE[2:]
    after = cells(inserted)
    assert after["time_zone"] == ("Europe/Berlin", "General", 16)
    assert {k: v for k, v in after.items() if k != "time_zone"} == before
    assert before["hours"] == (7.5, "0.00", 8) and before["person"][0] == "'=Ada"  # a formula stays text


def test_files_are_the_same_bytes_each_time():
    table = rows(BASE, ITEMS)
    first = to_xlsx(BASE, table, title="T")
    time_module.sleep(1.1)  # openpyxl stamps the time of writing, to the second
    assert to_xlsx(BASE, table, title="T") == first
    assert to_csv(BASE, table) == b"\xef\xbb\xbfdate,time,hours,person\r\n2026-03-02,09:05:00,7.50,'=Ada\r\n"
