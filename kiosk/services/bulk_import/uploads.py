"""The admin console's uploads: a ZIP, or a CSV with its photos, kept until its import finishes.

An upload is checked in full before anything is imported (:func:`stage_upload`) and kept in
``imports/<id>/`` in the data dir, so an interrupted import can be resumed
(:func:`staged_import`) or discarded.
"""

from __future__ import annotations

import json
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ...errors import InvalidInput, NotFound
from ..import_sources import IMAGE_SUFFIXES, ImportSource, SourceRefused, nfc, read_csv_with_photos, read_zip
from .lock import import_running, imports_dir

STAGED_MAX_AGE_S = 7 * 24 * 3600  # an interrupted import's upload, kept for resuming
MAX_UPLOADED_FILES = 5000  # a CSV with its photos through the console; larger sets go in a ZIP


@dataclass
class StagedImport:
    """An upload kept in ``imports/<id>/`` until its import finishes, the admin discards it, or it
    is a week old (the next upload removes it: it holds photos)."""

    id: str
    folder: Path
    kind: str  # zip | csv
    label: str

    def open(self) -> ImportSource:
        manifest = json.loads((self.folder / "manifest.json").read_text())
        if self.kind == "zip":
            return read_zip(self.folder / "source.zip", self.label)
        photos = {name: self.folder / "photos" / stored for name, stored in manifest["photos"].items()}
        return read_csv_with_photos(self.folder / "source.csv", photos, self.label)

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _staging_folder(staged_id: str) -> Path:
    if not staged_id.isalnum():
        raise NotFound("No such import.")
    return imports_dir() / staged_id


def stage_upload(source_file: Any, photo_files: list[Any] = ()) -> StagedImport:
    """Keep an uploaded ZIP, or a CSV with its photos, and check it; raises SourceRefused or
    InvalidInput (and keeps nothing) when it cannot be imported. ``source_file`` and
    ``photo_files`` are uploaded files (``.filename`` and ``.save(path)``)."""
    label = nfc(PurePosixPath((source_file.filename or "").replace("\\", "/")).name) or "the upload"
    suffix = PurePosixPath(label).suffix.lower()
    if suffix not in (".zip", ".csv"):
        raise InvalidInput(
            f"{label} is not a ZIP archive or a CSV file: upload a .zip of one folder per person, or a .csv "
            "(name,external_id,photo_path...) with its photos.",
            code="bad_source",
        )
    if suffix == ".zip" and any(getattr(f, "filename", "") for f in photo_files):
        raise InvalidInput("Photos go inside the ZIP: upload photos beside a CSV only.", code="bad_source")
    _forget_old_uploads()
    staged_id = secrets.token_hex(8)
    staged = StagedImport(staged_id, _staging_folder(staged_id), suffix[1:], label)
    staged.folder.mkdir()
    try:
        manifest: dict[str, Any] = {"kind": staged.kind, "label": label, "photos": {}}
        source_file.save(str(staged.folder / f"source{suffix}"))
        if staged.kind == "csv":
            _stage_photos(staged.folder / "photos", photo_files, manifest["photos"])
        (staged.folder / "manifest.json").write_text(json.dumps(manifest))
        source = staged.open()  # every check of the source, before anything is imported
        source.close()
    except BaseException:
        staged.discard()
        raise
    return staged


def _forget_old_uploads() -> None:
    """Uploads of interrupted imports hold photos: they go after STAGED_MAX_AGE_S if nobody resumed them."""
    if import_running():  # its upload may be an old one, resumed
        return
    cutoff = time.time() - STAGED_MAX_AGE_S
    for folder in imports_dir().iterdir():
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


def _stage_photos(folder: Path, photo_files: list[Any], names: dict[str, str]) -> None:
    folder.mkdir()
    others = []
    if len(photo_files) > MAX_UPLOADED_FILES:
        raise InvalidInput(f"At most {MAX_UPLOADED_FILES} photos beside a CSV; put more in a ZIP.", code="too_many")
    for index, upload in enumerate(photo_files):
        if not getattr(upload, "filename", ""):
            continue
        name = nfc(PurePosixPath(upload.filename.replace("\\", "/")).name)
        if PurePosixPath(name).suffix.lower() not in IMAGE_SUFFIXES:
            others.append(name)
            continue
        if name in names:
            raise InvalidInput(f"Two uploaded photos are both named {name}: rename one.", code="duplicate_name")
        stored = f"{index}{PurePosixPath(name).suffix.lower()}"
        upload.save(str(folder / stored))
        names[name] = stored
    if others:
        raise SourceRefused(
            f"These uploads are not photos: {', '.join(others[:5])}. Upload JPEG, PNG, WebP, BMP or TIFF photos.",
            code="not_photos",
        )


def staged_import(staged_id: str) -> StagedImport:
    folder = _staging_folder(staged_id)
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        raise NotFound("This import's upload is gone; upload the file again.") from None
    return StagedImport(staged_id, folder, manifest["kind"], manifest["label"])
