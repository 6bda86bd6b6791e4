"""A model kept in a joblib file that other processes replace while the kiosk runs (a retraining,
another app host's model arriving from the database): the one way to write such a file and to
keep it loaded.

* :func:`save_joblib` writes to a temporary file in the same folder, flushes it to disk, then
  renames it over the old one: a reader sees the old file or the new one, never half of either.
* :class:`ReloadingFile` keeps what was loaded from a path and loads it again when the file's
  stamp (modification time in ns, size) changes: one ``stat`` per use, so every worker picks up a
  new model on its next request without a restart.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import joblib

Loaded = TypeVar("Loaded")
Stamp = tuple[int, int]


def save_joblib(obj: Any, path: Path, *, compress: int = 0) -> None:
    """Write ``obj`` with joblib at ``path`` atomically (see the module docstring)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.stem}-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            joblib.dump(obj, handle, compress=compress)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_stamp(path: Path) -> Stamp | None:
    """(mtime in ns, size) of ``path``; None when it is not there."""
    try:
        stat = Path(path).stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


class ReloadingFile(Generic[Loaded]):
    """What ``load(path)`` made of a file, made again when the file (or the path asked for) changes."""

    def __init__(self, load: Callable[[Path], Loaded]) -> None:
        self._load = load
        self._lock = threading.Lock()
        self._loaded: tuple[Path, Stamp | None, Loaded] | None = None

    def get(self, path: Path) -> Loaded:
        """The loaded file at ``path``; ``load`` raises what it raises for a missing or broken file."""
        path = Path(path)
        stamp = file_stamp(path)  # before loading: a file replaced meanwhile is loaded again next time
        loaded = self._loaded
        if loaded is not None and loaded[0] == path and loaded[1] == stamp:
            return loaded[2]
        with self._lock:
            loaded = self._loaded
            if loaded is not None and loaded[0] == path and loaded[1] == stamp:  # another thread loaded it
                return loaded[2]
            value = self._load(path)
            self._loaded = (path, stamp, value)
            return value

    def forget(self) -> None:
        """Load again on the next use, whatever the file's stamp."""
        with self._lock:
            self._loaded = None
