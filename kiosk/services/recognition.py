"""Face recognition as a service: identifying faces with the site's face model.

The model itself (augmentation, the one-vs-rest SVM, the unknown threshold, :class:`FaceModel`)
is pure code in :mod:`kiosk.vision.face_model`; its file and lock are
:mod:`kiosk.services.face_model_file`, training it :mod:`kiosk.services.face_training`.

The :class:`FaceRecognizer` reloads the model file when its mtime changes, so running servers
pick up a retrain (other app hosts once their copy follows the stored version). The file keys
embeddings by person id, never names; names come from the database at identification time,
which also skips inactive or deleted people.

Errors (``kiosk.errors``): :class:`ModelNotTrained` (503) when there is no usable model file; a
missing embedder file is :class:`~kiosk.vision.lazy.ModelUnavailable` (503).

Nothing here logs embeddings, crops or names.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import select

from ..extensions import db
from ..models import Person
from ..vision.embedders import get_embedder, resolve_embedder_id
from ..vision.face_crop import canonical_crop
from ..vision.face_model import (
    FaceModel,  # also what model files pickled before the split name as kiosk.services.recognition.FaceModel
    default_threshold,
)
from ..vision.faces import Face, FrameAnalysis, analyze_frame
from ..vision.model_file import ReloadingFile
from . import model_store
from .database import retry_on_disconnect

# What kiosk.services.learning and kiosk.services.checkin (being changed by others now) still
# reach through this module; new code imports them from their homes.
from .face_model_file import (
    NO_MODEL_MESSAGE,
    ModelNotTrained,
    load_model,
    model_path,
    model_update_lock,  # noqa: F401
)
from .face_training import sync_model_with_samples, sync_model_with_samples_locked  # noqa: F401


class FaceMatch(NamedTuple):
    person_id: int | None
    person: str | None  # the person's name, None when unknown
    score: float | None
    embedding: np.ndarray | None
    distance: float | None = None  # to the named person's nearest sample (FaceModel.classify)
    crop: np.ndarray | None = None  # the canonical crop the embedding was made from
    embedder: str | None = None  # the embedder id (with its weights key) that made ``embedding``


@dataclass
class Identification:
    status: str  # ok | unknown | no_face | multiple_faces | face_too_small
    person: str | None
    person_id: int | None
    score: float | None
    analysis: FrameAnalysis

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "person": self.person, "score": self.score}


class FaceRecognizer:
    """The loaded face model, reloaded when the file changes (``kiosk.vision.model_file``); the
    active people, briefly cached."""

    ACTIVE_PEOPLE_TTL_SECONDS = 2.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._file: ReloadingFile[FaceModel] = ReloadingFile(load_model)
        self._people: dict[int, str] | None = None
        self._people_at = 0.0
        self._people_db = ""

    def invalidate(self) -> None:
        self._file.forget()
        with self._lock:
            self._people = None

    def model(self) -> FaceModel:
        path = model_path()
        model_store.pull(model_store.FACE_MODEL, path)  # a cheap version check every couple of seconds
        if not path.is_file():
            raise ModelNotTrained(NO_MODEL_MESSAGE)
        return self._file.get(path)

    def active_people(self) -> dict[int, str]:
        """id -> name of the active people, cached for a couple of seconds per database."""

        database = str(db.engine.url)
        now = time.monotonic()
        with self._lock:
            fresh = now - self._people_at < self.ACTIVE_PEOPLE_TTL_SECONDS
            if self._people is not None and self._people_db == database and fresh:
                return self._people
        people = retry_on_disconnect(
            lambda: dict(db.session.execute(select(Person.id, Person.name).where(Person.active.is_(True))).all()),
            "loading the enrolled people",
        )
        with self._lock:
            self._people, self._people_at, self._people_db = people, now, database
        return people

    def match(self, embedding: np.ndarray) -> FaceMatch:
        model = self.model()
        people = self.active_people()
        person_id, score, distance = model.classify(embedding[None, :], allowed=set(people))[0]
        if person_id is not None and not _still_active(person_id):
            # The cached list is a few seconds old and this person was just deactivated or
            # deleted: ask again with a fresh list (one retry is enough, the list is now exact).
            with self._lock:
                self._people = None
            people = self.active_people()
            person_id, score, distance = model.classify(embedding[None, :], allowed=set(people))[0]
        name = people.get(person_id) if person_id is not None else None
        return FaceMatch(person_id if name else None, name, round(score, 4), embedding, distance)


def _still_active(person_id: int) -> bool:
    """An uncached check of the one person about to be named (cheap: a primary-key lookup)."""

    return bool(retry_on_disconnect(
        lambda: db.session.scalar(select(Person.active).where(Person.id == person_id)), "checking a person is active"
    ))


_recognizer = FaceRecognizer()


def get_recognizer() -> FaceRecognizer:
    return _recognizer


def identify_face(bgr: np.ndarray, face: Face) -> FaceMatch:
    """Who ``face`` (found in ``bgr``) is: a :class:`FaceMatch` (person_id, person, score, embedding).

    Raises :class:`ModelNotTrained` when there is no model. The embedder is the one the model
    was trained with, whatever ``KIOSK_EMBEDDER`` says now (embeddings of two embedders do not mix).
    """
    model = _recognizer.model()
    crop = canonical_crop(bgr, face)
    embedding = get_embedder(model.embedder).embed_crops([crop])[0]
    return _recognizer.match(embedding)._replace(crop=crop, embedder=model.embedder)


def identify_image(bgr: np.ndarray) -> Identification:
    """The frame's verdict, then, for a usable face, who it is (``ok``) or ``unknown``."""
    _recognizer.model()  # fail early and clearly when nothing is trained
    analysis = analyze_frame(bgr)
    if analysis.status != "ok":
        return Identification(analysis.status, None, None, None, analysis)
    match = identify_face(bgr, analysis.face)
    if match.person_id is None:
        return Identification("unknown", None, None, match.score, analysis)
    return Identification("ok", match.person, match.person_id, match.score, analysis)


def same_person_threshold() -> float:
    """The distance under which two embeddings are taken to be the same person (the model's threshold)."""
    try:
        return float(_recognizer.model().threshold)
    except ModelNotTrained:
        return default_threshold(resolve_embedder_id())


def duplicate_threshold(embedder: str) -> float:
    """The distance under which a new enrollment is flagged as looking like someone already enrolled."""
    try:
        model = _recognizer.model()
        if model.embedder == embedder:
            return float(model.threshold)
    except ModelNotTrained:
        pass
    return default_threshold(embedder)


def model_info() -> dict[str, Any]:
    """For the admin pages: the current model's summary, or why there is none."""
    try:
        model = _recognizer.model()
    except ModelNotTrained as err:
        return {"trained": False, "message": str(err)}
    return {"trained": True, **model.summary()}
