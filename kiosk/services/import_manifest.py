"""When a CSV is a bulk import's manifest (its list of people and photos), and when it is a stray file.

A CSV given on its own (``kiosk people import staff.csv``, or uploaded as the import) is read as a
manifest, header or not. A CSV found *inside* a folder or a ZIP is one only when its header says
so: a first column ``name`` (or ``full name``, ``person``) and a photo column after the external
id (``photo_path``, ``photo``, ``image``, ``file``, ``path``...). Anything else (a ``labels.csv``
left by another tool, a spreadsheet of phone numbers) is skipped with a note naming it, instead of
being read as a list of photos that are all "missing".
"""

from __future__ import annotations

import csv
import io

NAME_COLUMNS = frozenset({"name", "full name", "person"})
PHOTO_COLUMNS = frozenset({"photo_path", "photo", "photos", "photo_file", "image", "image_path", "file", "path",
                           "picture"})
MANIFEST_COLUMNS = "name,external_id,photo_path"
HEADER_BYTES = 4096  # enough for any header row; the rest of the file is not read here


def _column(cell: str) -> str:
    return cell.strip().lower().replace("-", "_").replace(" ", "_")


def is_name_column(cell: str) -> bool:
    return cell.strip().lower() in NAME_COLUMNS


def _first_row(first_bytes: bytes) -> list[str]:
    text = first_bytes[:HEADER_BYTES].decode("utf-8-sig", errors="replace")
    first_line = text.splitlines()[0] if text else ""
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    try:
        return next(csv.reader(io.StringIO(first_line), delimiter=delimiter), [])
    except csv.Error:
        return []


def is_manifest_header(first_bytes: bytes) -> bool:
    """Does this CSV's first row name a person column first and a photo column (from the third on)?"""
    row = _first_row(first_bytes)
    if len(row) < 3 or not is_name_column(row[0]):
        return False
    return any(_column(cell) in PHOTO_COLUMNS or _column(cell).startswith("photo") for cell in row[2:])


def looks_like_list_without_header(first_bytes: bytes, photo_suffixes: frozenset[str]) -> bool:
    """A first row such as ``Ada Lovelace,E-1,photos/ada.jpg``: a list of people that lost its header.
    Skipping it would import its photo folder as one person, so the import is refused instead."""
    row = _first_row(first_bytes)
    return len(row) >= 3 and any(cell.strip().lower().endswith(tuple(photo_suffixes)) for cell in row[2:])


Refusal = tuple[str, str]  # (code, message) of a source refused because of its CSVs


def triage_csvs(heads: list[tuple[str, bytes]], photo_suffixes: frozenset[str]) -> tuple[str | None, list[str],
                                                                                         Refusal | None]:
    """The CSVs at the top of a folder or a ZIP, as (name, first bytes) -> (the one that lists people,
    or None; a note for each one skipped; why the whole source is refused, or None)."""
    manifests = [name for name, head in heads if is_manifest_header(head)]
    if len(manifests) > 1:
        return None, [], ("several_csv", f"There are several lists of people ({', '.join(manifests)}); keep exactly "
                                         "one at the top.")
    notes = []
    for name, head in heads:
        if name in manifests:
            continue
        if looks_like_list_without_header(head, photo_suffixes):
            return None, [], ("csv_without_header", f"{name} looks like a list of people without its header row: add "
                                                    f"the line {MANIFEST_COLUMNS} at its top (or remove the file) and "
                                                    "import again.")
        notes.append(f"{name} was skipped: it is not a list of people (such a list's header is {MANIFEST_COLUMNS}).")
    return (manifests[0] if manifests else None), notes, None
