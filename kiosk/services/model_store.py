"""Trained models kept in the database, so that every app host sharing it serves the same ones.

On one box (SQLite) a trained model is a file in the data dir and that is all. With several app
hosts on one PostgreSQL database (``KIOSK_MODELS_IN_DATABASE=auto``, the default, turns this on
for PostgreSQL), the database holds each model's bytes with a version (table ``stored_model``),
and each host's data dir keeps a copy (the file the model wrappers read, as on one box):

* :func:`push` after a host saved a model file (a retrain, a deleted person removed from the face
  model): the file's bytes go to the database with ``version + 1``.
* :func:`pull` before a host uses a model: at most every ``KIOSK_MODEL_CHECK_SECONDS`` (2 s) per
  process, one primary-key lookup asks for the stored version; when it differs from the local
  copy's, the bytes are fetched, checked against their SHA-256 and written atomically over the
  local file. The model wrappers reload on the file's change, so every host serves a new model
  within a couple of seconds of a retrain anywhere, and a host with an empty data dir gets the
  site's models on its first use (``kiosk identify`` included).
* :func:`remove` when a model is dropped (the site's gesture model, back to the shipped one).

Which version a local file holds is written beside it (``<file>.version``) after the file, so a
file without one is never mistaken for a stored version. A database that cannot be reached leaves
the local copy in service (logged); the next check tries again.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from pathlib import Path

from flask import current_app
from sqlalchemy import delete as sa_delete
from sqlalchemy import insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from .. import storage
from ..extensions import db
from ..models import StoredModel, utcnow
from . import database

log = logging.getLogger(__name__)

FACE_MODEL = "faces"
GESTURE_MODEL = "gesture"
VERSION_SUFFIX = ".version"

_checked_at: dict[tuple[str, str], float] = {}
_checked_lock = threading.Lock()
_sync_lock = threading.Lock()


def enabled() -> bool:
    """Whether trained models are kept in the database (``KIOSK_MODELS_IN_DATABASE``)."""
    setting = str(current_app.config.get("KIOSK_MODELS_IN_DATABASE", "auto")).strip().lower()
    if setting == "auto":
        return database.is_postgresql()
    return setting in ("1", "true", "yes", "on")


def _version_file(path: Path) -> Path:
    return path.with_name(path.name + VERSION_SUFFIX)


def local_version(path: Path) -> int | None:
    """The stored version the local file ``path`` is a copy of (None: not known to be one)."""
    try:
        return int(_version_file(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _write_version(path: Path, version: int | None) -> None:
    marker = _version_file(path)
    if version is None:
        marker.unlink(missing_ok=True)
    else:
        storage.atomic_write(marker, f"{version}\n".encode())


# The store talks to the database on connections of its own, never through the request's session:
# a model check in the middle of a request must not commit or roll back what the request is doing.


def stored_version(name: str) -> int | None:
    with db.engine.connect() as connection:
        return connection.scalar(select(StoredModel.version).where(StoredModel.name == name))


def push(name: str, path: Path) -> int | None:
    """Store the model file ``path`` as the newest version of ``name``; returns that version
    (None when models are not kept in the database)."""
    if not enabled():
        return None
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()

    def store() -> int:
        values = {"data": data, "sha256": digest, "saved_at": utcnow()}
        with db.engine.begin() as connection:
            version = connection.scalar(
                update(StoredModel)
                .where(StoredModel.name == name)
                .values(version=StoredModel.version + 1, **values)
                .returning(StoredModel.version)
            )
            if version is not None:
                return int(version)
        try:
            with db.engine.begin() as connection:
                connection.execute(insert(StoredModel).values(name=name, version=1, **values))
        except IntegrityError:  # another host stored the first version at the same moment
            return store()
        return 1

    version = database.retry_on_disconnect(store, f"storing the {name} model", rollback_session=False)
    _write_version(Path(path), version)
    _mark_checked(name, Path(path))
    log.info("Stored the %s model in the database as version %d (%d bytes).", name, version, len(data))
    return version


def remove(name: str, path: Path) -> bool:
    """Drop ``name`` from the database (every host then drops its local copy on its next check);
    True if it was there. The caller removes the local file ``path``."""
    if not enabled():
        return False

    def delete() -> bool:
        with db.engine.begin() as connection:
            return connection.execute(sa_delete(StoredModel).where(StoredModel.name == name)).rowcount > 0

    removed = database.retry_on_disconnect(delete, f"removing the {name} model", rollback_session=False)
    _write_version(Path(path), None)
    return removed


def _mark_checked(name: str, path: Path) -> None:
    with _checked_lock:
        _checked_at[(name, str(path))] = time.monotonic()


def _due(name: str, path: Path) -> bool:
    interval = float(current_app.config.get("KIOSK_MODEL_CHECK_SECONDS", 2.0))
    now = time.monotonic()
    key = (name, str(path))
    with _checked_lock:
        if now - _checked_at.get(key, float("-inf")) < interval:
            return False
        _checked_at[key] = now
        return True


def pull(name: str, path: Path, *, force: bool = False) -> bool:
    """Bring the local copy ``path`` of ``name`` up to the stored version; True if it changed.

    Checks at most every ``KIOSK_MODEL_CHECK_SECONDS`` unless ``force``. Never raises for an
    unreachable database: the local copy stays in service until the next check."""
    if not enabled():
        return False
    path = Path(path)
    if not force and not _due(name, path):
        return False
    try:
        version = stored_version(name)
        if version == local_version(path) and (version is None or path.is_file()):
            return False
        with _sync_lock:
            return _sync(name, path)
    except DBAPIError as err:
        log.warning("Could not check the stored %s model (%s); serving the local copy.", name, type(err.orig).__name__)
        return False


def _sync(name: str, path: Path) -> bool:
    with db.engine.connect() as connection:
        row = connection.execute(
            select(StoredModel.version, StoredModel.data, StoredModel.sha256).where(StoredModel.name == name)
        ).first()
    if row is None:
        if local_version(path) is None:
            return False  # a local file the database never had (made before models moved there): left alone
        path.unlink(missing_ok=True)  # removed on another host
        _write_version(path, None)
        log.info("The %s model was removed from the database; removed the local copy.", name)
        return True
    if row.version == local_version(path) and path.is_file():
        return False
    data, version = bytes(row.data), int(row.version)
    if hashlib.sha256(data).hexdigest() != row.sha256:
        log.error(
            "The stored %s model (version %d) does not match its checksum; keeping the local copy.", name, version
        )
        return False
    storage.atomic_write(path, data)
    _write_version(path, version)
    log.info("Loaded version %d of the %s model from the database.", version, name)
    return True
