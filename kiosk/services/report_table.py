"""A report's columns as one table, and the CSV and XLSX files made from it.

Each :class:`Column` says everything about one column: its header, how to read its value from a
row's item, its width and number format in XLSX. A report is a tuple of columns; inserting one
in the middle moves its header, its values, its width and its format together, so no format
lands on the wrong column.

Files: CSV is UTF-8 with a byte-order mark (Excel otherwise mangles non-Latin names) and CRLF
line ends (RFC 4180); XLSX has typed cells (dates, times, numbers). Text that a spreadsheet would
run as a formula (starting with = + - @ or a tab/CR) is prefixed with an apostrophe in both:
names and memos are typed by people. Both are deterministic: the same rows give the same bytes
(the XLSX's document times and the zip entries' stamps are fixed), so the console's download and
the command line's file are one file.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
FIXED_TIME = datetime(2000, 1, 1)


def safe_text(value: str | None) -> str:
    if not value:
        return ""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


@dataclass(frozen=True)
class Column:
    name: str
    value: Callable[[Any], Any]  # the row's item -> a typed value (int, float, date, time, text, None)
    width: int = 12
    number_format: str | None = None  # XLSX, e.g. "yyyy-mm-dd", "0.00"
    decimals: int = 2  # CSV: how a float is written


def header(columns: tuple[Column, ...]) -> tuple[str, ...]:
    return tuple(column.name for column in columns)


def rows(columns: tuple[Column, ...], items: Iterable[Any]) -> list[tuple]:
    """The typed values of each item; text is guarded against formulas here, whatever the column."""
    return [tuple(_guarded(column.value(item)) for column in columns) for item in items]


def _guarded(value: Any) -> Any:
    return safe_text(value) if isinstance(value, str) else value


def _csv_cell(column: Column, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{column.decimals}f}"
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)


def to_csv(columns: tuple[Column, ...], table_rows: list[tuple]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header(columns))
    for row in table_rows:
        writer.writerow([_csv_cell(column, value) for column, value in zip(columns, row)])
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


def to_xlsx(columns: tuple[Column, ...], table_rows: list[tuple], *, title: str) -> bytes:
    from openpyxl import Workbook  # noqa: PLC0415 - openpyxl loads lazily, only for an XLSX report
    from openpyxl.cell.cell import TYPE_STRING  # noqa: PLC0415 - openpyxl loads lazily, only for an XLSX report
    from openpyxl.styles import Font  # noqa: PLC0415 - openpyxl loads lazily, only for an XLSX report
    from openpyxl.utils import get_column_letter  # noqa: PLC0415 - openpyxl loads lazily, only for an XLSX report

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title[:31]
    sheet.append(list(header(columns)))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in table_rows:
        sheet.append(list(row))
        for column, cell in zip(columns, sheet[sheet.max_row]):
            if column.number_format is not None and cell.value is not None:
                cell.number_format = column.number_format
            elif isinstance(cell.value, str):
                # openpyxl treats any text starting with "=" as a formula; these are data.
                cell.data_type = TYPE_STRING
    for index, column in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    sheet.freeze_panes = "A2"
    workbook.properties.created = workbook.properties.modified = FIXED_TIME
    out = io.BytesIO()
    workbook.save(out)
    return _fixed_zip_stamps(out.getvalue())


def _fixed_zip_stamps(data: bytes) -> bytes:
    """The same workbook with every zip entry stamped 2000-01-01 and the document's "modified"
    time too (openpyxl stamps both with the time of writing, whatever the properties say), so two
    exports of the same rows are the same bytes."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            fixed.compress_type, fixed.external_attr = zipfile.ZIP_DEFLATED, info.external_attr
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _MODIFIED.sub(rb"\g<1>2000-01-01T00:00:00Z\g<2>", content)
            target.writestr(fixed, content)
    return out.getvalue()


_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")


def read_xlsx_rows(data: bytes) -> list[tuple]:
    """The rows of an export workbook (header first), for tests and for checking a download."""
    from openpyxl import load_workbook  # noqa: PLC0415 - openpyxl loads lazily, only for an XLSX report

    sheet = load_workbook(io.BytesIO(data), read_only=True).active
    return [tuple(row) for row in sheet.iter_rows(values_only=True)]
