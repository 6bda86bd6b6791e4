"""What a bulk import reads: a folder, a ZIP archive or a CSV, as one list of photos per person.

Layouts (the same for the command line and the admin console):

* **Folder** or **ZIP**: one sub-folder per person, named after them, holding their photos
  (``Ada Lovelace/1.jpg``). A ZIP made by zipping the folder itself (``staff/Ada Lovelace/1.jpg``)
  works too: one top-level folder holding everything is looked through. Photos deeper down
  belong to the person of their first folder (``Ada Lovelace/2019/1.jpg``).
* **CSV**: ``name,external_id,photo_path[,photo_path...]``, one row per person (a header row
  starting with ``name`` is optional; ``;`` works as the separator too, as some spreadsheets
  write it). Photo paths are relative to the CSV's folder. A ZIP holding one ``.csv`` at its
  top reads its photos from the archive, and the admin console takes a CSV with the photos
  uploaded beside it (matched by file name). A CSV inside a folder or a ZIP is that list only
  when its header says so (:mod:`.import_manifest`); another CSV there is skipped with a note.

Names come out NFC-normalised (macOS writes decomposed Unicode in ZIPs and folder names).

**Refused sources** (:class:`SourceRefused`, nothing is read further and nothing is written):
files that are not photos (``.jpg .jpeg .png .webp .bmp .tif .tiff``; system files such as
``.DS_Store``, ``Thumbs.db``, ``__MACOSX/`` and other hidden files are skipped), symbolic
links, and for archives: member paths that are absolute or climb out with ``..``, encrypted
members, more than :data:`MAX_MEMBERS` members, more than the upload limit compressed or
twice that uncompressed, and compression ratios only a zip bomb has (a member that expands
over :data:`MAX_MEMBER_RATIO` times, or the whole archive over :data:`MAX_ARCHIVE_RATIO`).
The archive is checked from its central directory before any member is read; reading is
bounded by the sizes checked there (Python's ``zipfile`` never returns more than a member's
declared size and fails on a CRC mismatch).

A photo that cannot be used (missing file, unreadable, too big) is not a refused source: it
becomes that photo's refusal in the import's outcome, and the import goes on.
"""

from __future__ import annotations

import csv
import io
import os
import stat
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from flask import current_app

from ..errors import KioskError
from .import_manifest import HEADER_BYTES, triage_csvs

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
SYSTEM_FILES = frozenset({"thumbs.db", "desktop.ini", "icon\r"})
MAX_MEMBERS = 20_000
MAX_MEMBER_RATIO = 100  # JPEG photos compress ~1:1, even a flat BMP far less than this
MAX_ARCHIVE_RATIO = 20
RATIO_CHECK_FROM_BYTES = 1 << 20  # a member smaller than 1 MB cannot be a bomb
MAX_CSV_BYTES = 20 * 1024 * 1024
MAX_LISTED_PROBLEMS = 5


class SourceRefused(KioskError):
    """The whole source is refused before anything is imported; ``code`` says why."""

    status = 422
    code = "bad_source"


@dataclass(frozen=True)
class SourcePhoto:
    """One photo to import: whose it is, how lines name it, and how to read it."""

    person: str  # the name as the source gives it (NFC)
    external_id: str | None
    label: str  # the path inside the source, or the path as the CSV wrote it
    read: Callable[[], bytes] | None = field(compare=False, repr=False)  # None: see ``problem``
    problem: tuple[str, str] | None = None  # (code, message) when it cannot be read at all


@dataclass
class ImportSource:
    kind: str  # folder | zip | csv
    name: str  # for messages: the folder, archive or CSV file name
    photos: list[SourcePhoto]
    notes: list[str] = field(default_factory=list)  # skipped system files, photos not in the CSV...
    close: Callable[[], None] = lambda: None


def max_archive_bytes() -> int:
    return int(current_app.config.get("KIOSK_IMPORT_MAX_MB", 1024)) * 1024 * 1024


def max_photo_bytes() -> int:
    return int(current_app.config.get("MAX_CONTENT_LENGTH") or 20 * 1024 * 1024)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB" if size >= 1024 * 1024 else f"{max(1, size // 1024)} KB"


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED_PROBLEMS])
    more = len(items) - MAX_LISTED_PROBLEMS
    return shown + (f" and {more} more" if more > 0 else "")


def is_system_file(parts: tuple[str, ...]) -> bool:
    """Files a computer adds to folders and archives by itself, never someone's photo."""
    return any(p.startswith(".") or p == "__MACOSX" for p in parts) or parts[-1].lower() in SYSTEM_FILES


def is_photo_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES


def _bounded(read: Callable[[], bytes], size: int, label: str) -> Callable[[], bytes]:
    limit = max_photo_bytes()

    def read_checked() -> bytes:
        if size > limit:
            raise PhotoUnreadable("bad_image", f"{label} is {_mb(size)}; a photo may be at most {_mb(limit)}.")
        return read()

    return read_checked


class PhotoUnreadable(Exception):
    """Raised by a photo's ``read``: this photo is refused with ``code`` and ``message``; the import goes on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------------------- the folder layout


PhotoEntry = tuple[tuple[str, ...], int, Callable[[], bytes]]  # path parts, size, reader


def _people_layout(entries: list[PhotoEntry], source_name: str) -> list[SourcePhoto]:
    """Photos from (path parts, size, reader) of a folder or an archive laid out as Person/photo."""
    entries = sorted(entries, key=lambda e: e[0])
    # A ZIP of the folder itself holds one top-level folder: look through it.
    tops = {parts[0] for parts, _, _ in entries}
    if len(tops) == 1 and all(len(parts) >= 3 for parts, _, _ in entries):
        entries = [(parts[1:], size, read) for parts, size, read in entries]
    loose = [parts[-1] for parts, _, _ in entries if len(parts) < 2]
    if loose:
        raise SourceRefused(
            f"{source_name} has photos that are not in a person's folder ({_listed(loose)}): put each person's "
            "photos in a folder named after them, or list them in a CSV (name,external_id,photo_path...).",
            code="photos_outside_folders",
        )
    photos = [
        SourcePhoto(nfc(parts[0]), None, "/".join(parts), _bounded(read, size, "/".join(parts)))
        for parts, size, read in entries
    ]
    if not photos:
        raise SourceRefused(f"{source_name} holds no photos.", code="no_photos")
    return photos


def _refuse_non_photos(names: list[str], source_name: str) -> None:
    if names:
        raise SourceRefused(
            f"{source_name} holds files that are not photos ({_listed(names)}): only JPEG, PNG, WebP, BMP and TIFF "
            "photos (and one CSV at the top) can be imported. Remove them and try again.",
            code="not_photos",
        )


def read_folder(folder: Path) -> ImportSource:
    """A folder of ``Person Name/photo.jpg``; a CSV at its top whose header says it lists people is read instead."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceRefused(f"{folder} is not a folder.", code="not_found", status=404)
    top_csvs = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
    manifest, stray = _triage([(p.name, _file_head(p)) for p in top_csvs], str(folder))
    if manifest is not None:
        source = read_csv_file(folder / manifest)
        source.notes += stray
        return source
    entries, others, links, skipped = [], [], [], 0
    for root, dirs, files in os.walk(folder, followlinks=False):
        here = Path(root)
        for name in sorted(dirs):
            if (here / name).is_symlink():
                links.append(str((here / name).relative_to(folder)))
        for name in sorted(files):
            path = here / name
            parts = tuple(nfc(p) for p in path.relative_to(folder).parts)
            if here == folder and path in top_csvs:
                continue  # a stray CSV, in the notes
            if is_system_file(parts):
                skipped += 1
            elif path.is_symlink():
                links.append("/".join(parts))
            elif not is_photo_name(name):
                others.append("/".join(parts))
            else:
                entries.append((parts, path.stat().st_size, path.read_bytes))
        dirs[:] = [d for d in dirs if not (here / d).is_symlink() and not d.startswith(".") and d != "__MACOSX"]
    if links:
        raise SourceRefused(
            f"{folder} holds symbolic links ({_listed(links)}): copy the photos themselves into the folder.",
            code="symlinks",
        )
    _refuse_non_photos(others, str(folder))
    if len(entries) > MAX_MEMBERS:
        raise SourceRefused(f"{folder} holds {len(entries)} photos; at most {MAX_MEMBERS} at once.", code="too_many")
    notes = [f"{skipped} system file(s) (such as .DS_Store or Thumbs.db) were skipped."] if skipped else []
    return ImportSource("folder", str(folder), _people_layout(entries, str(folder)), notes + stray)


def _file_head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(HEADER_BYTES)


def _triage(heads: list[tuple[str, bytes]], label: str) -> tuple[str | None, list[str]]:
    manifest, notes, refusal = triage_csvs(heads, IMAGE_SUFFIXES)
    if refusal is not None:
        raise SourceRefused(f"{label}: {refusal[1]}", code=refusal[0])
    return manifest, notes


# ---------------------------------------------------------------------------- ZIP archives


def _path_parts(name: str) -> tuple[str, ...]:
    """``a\\b/./c`` -> (a, b, c): a path as archives and spreadsheets write it, without empty or ``.`` parts."""
    return tuple(p for p in name.replace("\\", "/").split("/") if p not in ("", "."))


def _member_name(info: zipfile.ZipInfo) -> str:
    name = info.filename
    if not info.flag_bits & 0x800:
        # Without the UTF-8 flag zipfile decodes names as cp437; many tools write UTF-8 anyway
        # (Korean or accented names would come out garbled).
        try:
            name = name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return nfc(name)


def _unsafe(name: str) -> bool:
    path = name.replace("\\", "/")
    parts = path.split("/")
    return (
        path.startswith("/")
        or "\x00" in path
        or (len(parts[0]) >= 2 and parts[0][1] == ":")  # C:/...
        or any(p == ".." for p in parts)
    )


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


def check_archive(archive: zipfile.ZipFile, label: str, archive_bytes: int) -> list[tuple[zipfile.ZipInfo, str]]:
    """The archive's file members with their decoded names, or :class:`SourceRefused` (nothing read yet)."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise SourceRefused(f"{label} has {len(infos)} entries; at most {MAX_MEMBERS} at once.", code="too_many")
    unsafe, links, encrypted, bombs = [], [], [], []
    members = []
    total = 0
    for info in infos:
        name = _member_name(info)
        if _unsafe(name):
            unsafe.append(name)
            continue
        if _is_symlink(info):
            links.append(name)
            continue
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            encrypted.append(name)
        total += info.file_size
        if info.file_size >= RATIO_CHECK_FROM_BYTES and info.file_size > MAX_MEMBER_RATIO * max(info.compress_size, 1):
            bombs.append(name)
        members.append((info, name))
    if unsafe:
        raise SourceRefused(
            f"{label} has entries whose paths lead outside the archive ({_listed(unsafe)}); it was not read.",
            code="unsafe_paths",
        )
    if links:
        raise SourceRefused(
            f"{label} holds symbolic links ({_listed(links)}); zip the photos themselves.", code="symlinks"
        )
    if encrypted:
        raise SourceRefused(
            f"{label} is password-protected ({_listed(encrypted)}); zip the photos without a password.",
            code="encrypted",
        )
    limit = 2 * max_archive_bytes()
    if bombs or total > max(MAX_ARCHIVE_RATIO * archive_bytes, RATIO_CHECK_FROM_BYTES):
        raise SourceRefused(
            f"{label} expands far more than photos do ({_mb(archive_bytes)} packed, {_mb(total)} unpacked): it looks "
            "like a zip bomb and was not read.",
            code="zip_bomb",
        )
    if total > limit:
        raise SourceRefused(
            f"{label} unpacks to {_mb(total)}; an import may unpack to at most {_mb(limit)}. Split it in parts.",
            code="too_large",
            status=413,
        )
    return members


def read_zip(path: Path, label: str | None = None) -> ImportSource:
    """A ZIP of ``Person Name/photo.jpg``, or of one ``.csv`` at its top with the photos it lists."""
    path = Path(path)
    label = label or path.name
    size = path.stat().st_size
    if size > max_archive_bytes():
        raise SourceRefused(
            f"{label} is {_mb(size)}; an archive may be at most {_mb(max_archive_bytes())}. Split it in parts.",
            code="too_large",
            status=413,
        )
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise SourceRefused(f"{label} is not a ZIP archive that can be read ({err}).", code="not_a_zip") from err
    try:
        members = check_archive(archive, label, size)
        return _archive_source(archive, members, label)
    except BaseException:
        archive.close()
        raise


def _archive_source(archive: zipfile.ZipFile, members: list[tuple[zipfile.ZipInfo, str]], label: str) -> ImportSource:
    entries, others, csvs, skipped = [], [], [], 0
    by_name: dict[str, tuple[zipfile.ZipInfo, str]] = {}
    named = [(info, _path_parts(name)) for info, name in members]
    named = [(info, parts) for info, parts in named if parts]
    tops = {parts[0] for _, parts in named if len(parts) > 1}
    wrapper = next(iter(tops)) if len(tops) == 1 and all(len(parts) > 1 for _, parts in named) else None
    for info, parts in named:
        if is_system_file(parts):
            skipped += 1
        elif parts[-1].lower().endswith(".csv") and (len(parts) == 1 or (len(parts) == 2 and parts[0] == wrapper)):
            csvs.append((info, parts))
        elif not is_photo_name(parts[-1]):
            others.append("/".join(parts))
        else:
            entries.append((parts, info.file_size, _member_reader(archive, info)))
            by_name["/".join(parts)] = (info, "/".join(parts))
    _refuse_non_photos(others, label)
    manifest, stray = _triage([("/".join(parts), _member_head(archive, info)) for info, parts in csvs], label)
    csvs = [(info, parts) for info, parts in csvs if "/".join(parts) == manifest]
    notes = [f"{skipped} system file(s) (such as .DS_Store or __MACOSX) were skipped."] if skipped else []
    notes += stray
    if csvs:
        info, parts = csvs[0]
        if info.file_size > MAX_CSV_BYTES:
            raise SourceRefused(f"The CSV in {label} is {_mb(info.file_size)}; at most {_mb(MAX_CSV_BYTES)}.",
                                code="too_large", status=413)
        base = parts[:-1]

        def open_listed(written: str):
            key = "/".join(base + _path_parts(written))
            found = by_name.get(nfc(key))
            if found is None:
                return None, key
            member, member_name = found
            return _bounded(_member_reader(archive, member), member.file_size, member_name), key

        photos, used = parse_csv(archive.read(info), "/".join(parts), open_listed)
        unlisted = len(by_name) - len(used & set(by_name))
        if unlisted:
            notes.append(f"{unlisted} photo(s) in the archive are not listed in the CSV and were not imported.")
        return ImportSource("csv", label, photos, notes, archive.close)
    if len(entries) > MAX_MEMBERS:
        raise SourceRefused(f"{label} holds {len(entries)} photos; at most {MAX_MEMBERS} at once.", code="too_many")
    return ImportSource("zip", label, _people_layout(entries, label), notes, archive.close)


def _member_head(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    try:
        with archive.open(info) as handle:
            return handle.read(HEADER_BYTES)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return b""


def _member_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            return archive.read(info)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as err:
            raise PhotoUnreadable("bad_image", f"This archive entry cannot be unpacked ({err}).") from err

    return read


# ---------------------------------------------------------------------------- CSV


def _decode_csv(data: bytes, label: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise SourceRefused(
            f"{label} is not UTF-8 text (byte {err.start} cannot be read): save it as \"CSV UTF-8\" and try again.",
            code="bad_csv",
        ) from err


OpenListed = Callable[[str], tuple[Callable[[], bytes] | None, str]]


def parse_csv(data: bytes, label: str, open_listed: OpenListed) -> tuple[list[SourcePhoto], set[str]]:
    """Rows ``name,external_id,photo_path[,photo_path...]`` -> photos; ``open_listed(path as written)``
    gives (a reader, or None when there is no such photo; the key it was looked up by)."""
    if len(data) > MAX_CSV_BYTES:
        raise SourceRefused(f"{label} is {_mb(len(data))}; a CSV may be at most {_mb(MAX_CSV_BYTES)}.",
                            code="too_large", status=413)
    text = _decode_csv(data, label)
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as err:
        raise SourceRefused(f"{label} is not a CSV file that can be read ({err}).", code="bad_csv") from err
    header = bool(rows and rows[0] and rows[0][0].strip().lower() in ("name", "full name", "person"))
    photos: list[SourcePhoto] = []
    used: set[str] = set()
    for number, row in enumerate(rows[1:] if header else rows, start=2 if header else 1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        name = nfc(cells[0])
        external_id = nfc(cells[1]) if len(cells) > 1 and cells[1] else None
        written = [c for c in cells[2:] if c]
        if not written:
            photos.append(SourcePhoto(name, external_id, f"{label} row {number}", None,
                                      ("no_photo", f"Row {number} lists no photo for {name or 'this person'}.")))
            continue
        for path in written:
            reader, key = open_listed(path)
            used.add(key)
            problem = None if reader is not None else ("missing_file", f"{path} is not there (row {number}).")
            photos.append(SourcePhoto(name, external_id, path, reader, problem))
    if not photos:
        raise SourceRefused(f"{label} lists no photos.", code="no_photos")
    return photos, used


def read_csv_file(path: Path) -> ImportSource:
    """A CSV on this machine; relative photo paths are relative to the CSV's folder."""
    path = Path(path)
    base = path.parent

    def open_listed(written: str):
        candidate = Path(written).expanduser()
        candidate = candidate if candidate.is_absolute() else base / candidate
        if not candidate.is_file():
            return None, str(candidate)
        return _bounded(candidate.read_bytes, candidate.stat().st_size, written), str(candidate)

    try:
        data = path.read_bytes()
    except OSError as err:
        raise SourceRefused(f"Cannot read {path}: {err.strerror or err}.", code="not_found", status=404) from err
    photos, _ = parse_csv(data, path.name, open_listed)
    return ImportSource("csv", str(path), photos)


def read_csv_with_photos(csv_path: Path, photos: dict[str, Path], label: str) -> ImportSource:
    """An uploaded CSV with its photos uploaded beside it: a listed path is matched by its file name."""

    def open_listed(written: str):
        key = nfc(PurePosixPath(written.replace("\\", "/")).name)
        path = photos.get(key)
        if path is None:
            return None, key
        return _bounded(path.read_bytes, path.stat().st_size, key), key

    listed, used = parse_csv(csv_path.read_bytes(), label, open_listed)
    unlisted = len(set(photos) - used)
    notes = [f"{unlisted} uploaded photo(s) are not listed in the CSV and were not imported."] if unlisted else []
    return ImportSource("csv", label, listed, notes)


def open_source(path: Path) -> ImportSource:
    """A folder, a ``.zip`` or a ``.csv`` given on the command line."""
    path = Path(path)
    if path.is_dir():
        return read_folder(path)
    if not path.exists():
        raise SourceRefused(f"{path} does not exist.", code="not_found", status=404)
    if path.suffix.lower() == ".csv":
        return read_csv_file(path)
    if path.suffix.lower() == ".zip" or zipfile.is_zipfile(path):
        return read_zip(path)
    raise SourceRefused(
        f"{path} is not a folder, a ZIP archive or a CSV file (name,external_id,photo_path...).", code="bad_source"
    )
