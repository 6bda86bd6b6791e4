"""Files under the data dir: unguessable names, atomic writes, safe deletion.

Photos and face crops are biometric data. They live under the media dir (``KIOSK_MEDIA_DIR``,
by default ``KIOSK_DATA_DIR``) with random names (no person name, no sequential id), are
written through a temp file and ``os.replace`` so a crash never leaves a half-written file
under the final name, and are only ever addressed by paths *relative* to the media dir
(stored in the database), which :func:`resolve` refuses to let escape it.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
import time
from collections.abc import Collection
from pathlib import Path

from flask import current_app

log = logging.getLogger(__name__)


class UnsafePath(ValueError):
    """A stored or requested path points outside the data dir."""


def data_dir() -> Path:
    return Path(current_app.config["KIOSK_DATA_DIR"])


def media_dir() -> Path:
    """Where photos and face crops live: ``KIOSK_MEDIA_DIR``, by default the data dir itself.
    Several app hosts on one database mount one shared folder here (docs/deployment.md)."""
    return Path(current_app.config.get("KIOSK_MEDIA_DIR") or current_app.config["KIOSK_DATA_DIR"])


def random_name(suffix: str) -> str:
    """A 128-bit random file name; ``suffix`` includes the dot (".png")."""
    return secrets.token_urlsafe(16) + suffix


def resolve(relative: str, root: Path | None = None) -> Path:
    """The absolute path of a stored relative path, refusing anything outside ``root`` (the media dir)."""
    root = (root or media_dir()).resolve()
    candidate = (root / relative).resolve()
    if root != candidate and root not in candidate.parents:
        raise UnsafePath(f"{relative!r} is outside the data directory")
    return candidate


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either nothing or the whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def new_relative_path(folder: str, suffix: str) -> str:
    """A fresh random relative path under ``folder`` (nothing is written)."""
    return f"{folder}/{random_name(suffix)}"


def write_relative(relative: str, data: bytes, root: Path | None = None) -> None:
    """Write ``data`` atomically at a relative path (checked to stay inside the data dir)."""
    atomic_write(resolve(relative, root), data)


def store_bytes(folder: str, data: bytes, suffix: str, root: Path | None = None) -> str:
    """Store ``data`` under ``folder`` with a random name; returns the relative path."""
    relative = new_relative_path(folder, suffix)
    write_relative(relative, data, root)
    return relative


def remove(relative: str | None, root: Path | None = None) -> None:
    """Delete a stored file if it exists (idempotent)."""
    if relative:
        resolve(relative, root).unlink(missing_ok=True)


def remove_unreferenced(folder: str, referenced: Collection[str], min_age_s: float) -> int:
    """Remove the files directly under ``folder`` (relative to the media dir) whose relative path is
    not in ``referenced``, and leftover temp files. Only files older than ``min_age_s`` go, so a
    writer that has stored its file but not yet committed the row pointing at it is never raced.
    Returns the number of files removed; names are never logged (they belong to people's data)."""
    path = resolve(folder)
    if not path.is_dir():
        return 0
    cutoff = time.time() - min_age_s
    removed = 0
    with os.scandir(path) as entries:
        for entry in entries:
            if not entry.is_file(follow_symlinks=False) or f"{folder}/{entry.name}" in referenced:
                continue
            try:
                if entry.stat(follow_symlinks=False).st_mtime > cutoff:
                    continue
                os.unlink(entry.path)
                removed += 1
            except FileNotFoundError:
                continue
            except OSError:
                log.error("An unreferenced file under %s/ could not be removed.", folder)
    if removed:
        log.info("Removed %d unreferenced file(s) under %s/.", removed, folder)
    return removed
