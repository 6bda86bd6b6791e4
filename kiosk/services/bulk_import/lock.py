"""One import at a time on a site, and the data dir's folder of imports.

:func:`import_lock` is the site lock ``import`` (:mod:`kiosk.services.site_lock`): per data dir,
and on PostgreSQL per database; a second import gets :class:`~kiosk.errors.Conflict`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ... import storage
from ...errors import Conflict
from ..site_lock import site_lock

IMPORTS_FOLDER = "imports"


def imports_dir() -> Path:
    folder = storage.data_dir() / IMPORTS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def import_lock() -> Iterator[None]:
    """Held for a whole import; raises Conflict when another import (CLI or console) holds it.

    The site lock ``import``: an ``flock`` in the data dir covers the processes of one host; on
    PostgreSQL an advisory lock covers every app host on the database too. Both go with the
    process that holds them, whatever happens to it (a SIGKILL, a power cut)."""
    with site_lock("import", timeout_s=0) as held:
        if not held:
            raise another_import()
        yield


def another_import() -> Conflict:
    return Conflict(
        "Another import is running on this site; wait for it to finish (photos it imports are skipped "
        "if you then run yours again).",
        code="already_importing",
    )


def import_running() -> bool:
    try:
        with import_lock():
            return False
    except Conflict:
        return True
