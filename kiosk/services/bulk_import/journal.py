"""The crop paths of the batch being stored, journalled before the crops are written.

Crop files are written before their rows are committed; the paths of the batch in progress are
journalled first (``imports/pending-crops.json`` in the data dir), and the next import removes
those of them that no row refers to, so a kill leaves no orphan crop behind.
"""

from __future__ import annotations

import json
import logging

from sqlalchemy import select

from ... import storage
from ...extensions import db
from ...models import FaceSample
from .lock import imports_dir

log = logging.getLogger(__name__)

JOURNAL_NAME = "pending-crops.json"


class CropJournal:
    """The crop paths of the batch being stored, on disk before the crops are."""

    def __init__(self) -> None:
        self.path = imports_dir() / JOURNAL_NAME

    def note(self, relatives: list[str]) -> None:
        storage.atomic_write(self.path, json.dumps(relatives).encode())

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def remove_unreferenced(self) -> int:
        """Remove the crops an interrupted import wrote but never committed; returns how many."""
        try:
            listed = json.loads(self.path.read_text())
        except FileNotFoundError:
            return 0
        except (OSError, ValueError):
            listed = []
        listed = [p for p in listed if isinstance(p, str) and p.startswith("faces/")]
        referenced = set(
            db.session.scalars(select(FaceSample.crop_path).where(FaceSample.crop_path.in_(listed))).all()
        ) if listed else set()
        removed = 0
        for relative in listed:
            if relative not in referenced and storage.resolve(relative).exists():
                storage.remove(relative)
                removed += 1
        self.clear()
        if removed:
            log.info("Removed %d face crop(s) left by an interrupted import.", removed)
        return removed
