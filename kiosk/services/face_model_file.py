"""The site's face model file: where it is, saving and loading it, and the lock changes to it take.

The model file ``<data dir>/models/faces.joblib`` is written atomically
(``kiosk.vision.model_file``) and records the embedder, threshold and training date. With several app hosts on
PostgreSQL the file is also kept in the database (``kiosk.services.model_store``), and each host's
copy follows the stored version. It stores embeddings keyed by person id, never names.

Training it is :mod:`kiosk.services.face_training`; identifying with it
:mod:`kiosk.services.recognition`.

Errors (``kiosk.errors``): :class:`ModelNotTrained` (503) when there is no usable model file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import joblib

from .. import storage
from ..errors import KioskError
from ..vision.face_model import MODEL_VERSION, FaceModel
from ..vision.facenet_weights import LEGACY_KEY
from ..vision.model_file import save_joblib
from . import model_store
from .site_lock import site_lock

MODEL_FILENAME = "faces.joblib"
NO_MODEL_MESSAGE = "No face model has been trained yet: enroll people, then run `kiosk train faces`."


class ModelNotTrained(KioskError):
    """No usable face model: nobody enrolled yet, or ``kiosk train faces`` never ran."""

    status = 503
    code = "model_not_trained"


def model_path() -> Path:
    return storage.data_dir() / "models" / MODEL_FILENAME


def save_model(model: FaceModel, path: Path | None = None) -> Path:
    """Written atomically (``kiosk.vision.model_file``): readers never see half a file. The site's
    model (no ``path``) also goes to the database for the other app hosts (model_store)."""
    site_model = path is None
    path = path or model_path()
    save_joblib(model, path)
    if site_model:
        model_store.push(model_store.FACE_MODEL, path)
    return path


def load_model(path: Path | None = None) -> FaceModel:
    if path is None:
        path = model_path()
        model_store.pull(model_store.FACE_MODEL, path, force=True)  # another host may have retrained
    if not path.is_file():
        raise ModelNotTrained(NO_MODEL_MESSAGE)
    try:
        model = joblib.load(path)
    except Exception as err:  # a damaged file: joblib/pickle raise many types
        raise ModelNotTrained(
            f"The face model file {path} is unreadable ({type(err).__name__}); run `kiosk train faces` again."
        ) from err
    if not isinstance(model, FaceModel) or model.version != MODEL_VERSION:
        raise ModelNotTrained(
            "The face model file is from another version of the kiosk; run `kiosk train faces` again."
        )
    if model.embedder == "facenet":  # trained before weights keys were recorded: the fetched weights
        model.embedder = f"facenet:{LEGACY_KEY}"
    return model


@contextmanager
def model_update_lock(timeout_s: float | None = None) -> Iterator[bool]:
    """Changes to the saved face model (load, change, save) one at a time, across the threads and
    processes of this host and, on PostgreSQL, across app hosts (the site lock ``face_model``).
    Yields True once held; with ``timeout_s``, False if it could not be had in that time (the
    caller leaves its change for the next
    :func:`~kiosk.services.face_training.sync_model_with_samples`). Never held through
    a training's fitting: only around saves and the cheap updates here, so waits are short."""
    with site_lock("face_model", timeout_s) as held:
        yield held
