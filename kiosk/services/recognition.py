"""Face recognition as a service: the model file, training on the enrolled faces, identifying faces.

The model itself (augmentation, the one-vs-rest SVM, the unknown threshold, :class:`FaceModel`)
is pure code in :mod:`kiosk.vision.face_model`; this module gives it the database and the disk.

The model file ``<data dir>/models/faces.joblib`` is written atomically (joblib to a temp file +
``os.replace``) and records the embedder, threshold and training date. The
:class:`FaceRecognizer` reloads it when its mtime changes, so running servers pick up a retrain.
With several app hosts on PostgreSQL the file is also kept in the database
(``kiosk.services.model_store``), and each host's copy follows the stored version.
It stores embeddings keyed by person id, never names; names come from the database at
identification time, which also skips inactive or deleted people. Deleting a person
(:func:`on_people_changed`) removes their rows from the model file at once.

Errors (``kiosk.errors``): :class:`ModelNotTrained` (503) when there is no usable model file,
:class:`~kiosk.vision.face_model.NotEnoughData` (409) when nobody is enrolled; a missing embedder
file is :class:`~kiosk.vision.lazy.ModelUnavailable` (503).

Nothing here logs embeddings, crops or names.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

from ..errors import KioskError
from ..vision.face_model import (
    AUGMENT_VERSION,
    AUGMENTATIONS,
    MODEL_VERSION,
    NOBODY_ENROLLED_MESSAGE,
    FaceModel,  # also what model files pickled before the split name as kiosk.services.recognition.FaceModel
    NotEnoughData,
    TrainingSample,
    augment_crop,
    build_face_model,
    default_threshold,
    embed_with_augmentations,
    embedding_distance,
)
from ..vision.facenet_weights import LEGACY_KEY
from ..vision.faces import Face, FrameAnalysis, analyze_frame, canonical_crop
from . import model_store
from .site_lock import site_lock

log = logging.getLogger(__name__)

MODEL_FILENAME = "faces.joblib"

ProgressFn = Callable[[float, str], None]
NO_MODEL_MESSAGE = "No face model has been trained yet: enroll people, then run `kiosk train faces`."

class ModelNotTrained(KioskError):
    """No usable face model: nobody enrolled yet, or ``kiosk train faces`` never ran."""

    status = 503
    code = "model_not_trained"


# --------------------------------------------------------------------------- model file


def model_path() -> Path:
    from .. import storage

    return storage.data_dir() / "models" / MODEL_FILENAME


def save_model(model: FaceModel, path: Path | None = None) -> Path:
    """joblib to a temp file in the same folder, then ``os.replace``: readers never see half a file.
    The site's model (no ``path``) also goes to the database for the other app hosts (model_store)."""
    import joblib

    site_model = path is None
    path = path or model_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-faces-", suffix=".joblib", dir=path.parent)
    os.close(fd)
    try:
        joblib.dump(model, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if site_model:
        model_store.push(model_store.FACE_MODEL, path)
    return path


def load_model(path: Path | None = None) -> FaceModel:
    import joblib

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


# --------------------------------------------------------------------------- training service


def _report(progress: ProgressFn | None, fraction: float, stage: str) -> None:
    if progress is not None:
        progress(fraction, stage)


def train_faces(progress: ProgressFn | None = None) -> dict[str, Any]:
    """Re-embed what needs it, fit, save atomically; returns the summary ``kiosk train faces`` prints.

    Stored embeddings made by another embedder are recomputed from the stored crops (and saved);
    augmented copies are reused from the previous model file when it used the same embedder and
    augmentation recipe, so a retrain after enrolling one person only embeds that person's copies.
    """
    from sqlalchemy import select

    from .. import storage
    from ..extensions import db
    from ..models import FaceSample, Person, SampleKind
    from ..vision.embedders import get_embedder, resolve_embedder_id
    from ..vision.image import load_image

    started = time.perf_counter()
    embedder_name = resolve_embedder_id()  # with the weights key: a new key re-embeds like a new embedder
    embedder = get_embedder(embedder_name)
    rows = db.session.scalars(
        select(FaceSample).join(Person).where(Person.active.is_(True)).order_by(FaceSample.person_id, FaceSample.id)
    ).all()
    if not rows:
        raise NotEnoughData(NOBODY_ENROLLED_MESSAGE)

    cache: dict[int, np.ndarray] = {}
    try:
        previous = load_model()
        if previous.embedder == embedder_name and previous.augment_version == AUGMENT_VERSION:
            cache = previous.augmented_cache
    except ModelNotTrained:
        pass

    samples: list[TrainingSample] = []
    re_embedded = skipped = 0
    for i, row in enumerate(rows):
        _report(progress, 0.05 + 0.8 * i / len(rows), f"Embedding enrollment photo {i + 1} of {len(rows)}")
        # A learned sample is a real face from the kiosk's own camera: no augmented copies.
        learned = row.kind is SampleKind.learned
        vector = row.embedding_array() if row.embedder == embedder_name else None
        augmented = None if learned else cache.get(row.id)
        if vector is None or (not learned and (augmented is None or len(augmented) != len(AUGMENTATIONS))):
            try:
                crop = load_image(storage.resolve(row.crop_path))
            except Exception:  # a missing or damaged crop must not stop the whole training
                skipped += 1
                continue
            if vector is None:
                if learned:
                    vector = embedder.embed_crops([crop])[0]
                else:
                    vector, augmented = embed_with_augmentations(embedder, crop)
                row.set_embedding(vector, embedder_name)
                re_embedded += 1
            else:
                augmented = embedder.embed_crops(augment_crop(crop))
        samples.append(
            TrainingSample(row.id, row.person_id, np.asarray(vector, dtype=np.float32), augmented, learned)
        )
    if re_embedded:
        db.session.commit()
    _report(progress, 0.88, "Fitting the classifier")
    model = build_face_model(samples, embedder_name)
    with model_update_lock():
        save_model(model)
        # Someone deleted while this training ran (here or on another app host) must not come back
        # with the new model: their deletion may have pruned the previous one before this was saved.
        # A sample learned meanwhile is added to it the same way.
        sync_model_with_samples_locked()
    summary = model.summary()
    summary.update(
        re_embedded=re_embedded,
        skipped_crops=skipped,
        seconds=round(time.perf_counter() - started, 1),
    )
    _report(progress, 1.0, "Done")
    return summary


# --------------------------------------------------------------------------- identification


class FaceMatch(NamedTuple):
    person_id: int | None
    person: str | None  # the person's name, None when unknown
    score: float | None
    embedding: np.ndarray | None
    distance: float | None = None  # to the named person's nearest sample (FaceModel.classify)
    crop: np.ndarray | None = None  # the canonical crop the embedding was made from
    embedder: str | None = None  # the embedder id (with its weights key) that made ``embedding``

    @property
    def name(self) -> str | None:
        return self.person


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
    """The loaded face model, reloaded when the file's mtime changes; the active people, briefly cached."""

    ACTIVE_PEOPLE_TTL_SECONDS = 2.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model: FaceModel | None = None
        self._key: tuple[str, float, int] | None = None
        self._people: dict[int, str] | None = None
        self._people_at = 0.0
        self._people_db = ""

    def invalidate(self) -> None:
        with self._lock:
            self._key = None
            self._model = None
            self._people = None

    def model(self) -> FaceModel:
        path = model_path()
        model_store.pull(model_store.FACE_MODEL, path)  # a cheap version check every couple of seconds
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise ModelNotTrained(NO_MODEL_MESSAGE) from None
        key = (str(path), stat.st_mtime, stat.st_size)
        with self._lock:
            if self._model is None or self._key != key:
                self._model = load_model(path)
                self._key = key
            return self._model

    def active_people(self) -> dict[int, str]:
        """id -> name of the active people, cached for a couple of seconds per database."""
        from sqlalchemy import select

        from ..extensions import db
        from ..models import Person
        from .database import retry_on_disconnect

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
    from sqlalchemy import select

    from ..extensions import db
    from ..models import Person
    from .database import retry_on_disconnect

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
    from ..vision.embedders import get_embedder

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
        from ..vision.embedders import resolve_embedder_id

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


def is_same_person(a: np.ndarray, b: np.ndarray) -> bool:
    return embedding_distance(a, b) <= same_person_threshold()


def model_info() -> dict[str, Any]:
    """For the admin pages: the current model's summary, or why there is none."""
    try:
        model = _recognizer.model()
    except ModelNotTrained as err:
        return {"trained": False, "message": str(err)}
    return {"trained": True, **model.summary()}


@contextmanager
def model_update_lock(timeout_s: float | None = None) -> Iterator[bool]:
    """Changes to the saved face model (load, change, save) one at a time, across the threads and
    processes of this host and, on PostgreSQL, across app hosts (the site lock ``face_model``).
    Yields True once held; with ``timeout_s``, False if it could not be had in that time (the
    caller leaves its change for the next :func:`sync_model_with_samples`). Never held through
    a training's fitting: only around saves and the cheap updates here, so waits are short."""
    with site_lock("face_model", timeout_s) as held:
        yield held


def on_people_changed() -> None:
    """Called after people or face samples are deleted (``kiosk.services.people``) or learned
    samples change (``kiosk.services.learning``): :func:`sync_model_with_samples`, waiting for the lock."""
    sync_model_with_samples()


def sync_model_with_samples(timeout_s: float | None = None) -> bool:
    """Bring the saved face model in line with the face samples in the database, without retraining.

    * Drops the rows of every person and sample that no longer exists (SVM row, enrolled
      embeddings, cached augmented copies) and refits the SVM rows of the people who lost a
      sample, so a deleted person or face can never be recognised again, in this process or in
      any other (they reload on the file's change, other app hosts on the stored version).
      Inactive people stay in the file and are skipped at identification time. The other
      people's rows were fitted with the deleted faces among their negatives; they hold no copy
      of them, and the next retraining refits them without.
    * Adds the learned samples (``kiosk.services.learning``) that the model lacks, made by its
      embedder, and refits their people's SVM rows (:meth:`FaceModel.with_learned`).

    Returns False when ``timeout_s`` passed before the model could be locked (nothing changed)."""
    with model_update_lock(timeout_s) as locked:
        if locked:
            sync_model_with_samples_locked()
        return locked


def sync_model_with_samples_locked() -> None:
    """:func:`sync_model_with_samples` for a caller that holds :func:`model_update_lock`."""
    from sqlalchemy import select

    from ..extensions import db
    from ..models import FaceSample, Person, SampleKind

    _recognizer.invalidate()
    try:
        model = load_model()
    except ModelNotTrained:
        return
    existing_people = set(db.session.scalars(select(Person.id)).all())
    existing_samples = dict(db.session.execute(select(FaceSample.id, FaceSample.kind)).all())
    gone_people = (set(model.person_ids.tolist()) | set(model.gallery_person_ids.tolist())) - existing_people
    gone_samples = set(model.gallery_sample_ids.tolist()) - set(existing_samples)
    learned_missing = {
        sample_id for sample_id, kind in existing_samples.items() if kind is SampleKind.learned
    } - set(model.gallery_sample_ids.tolist())
    if not (gone_people or gone_samples or learned_missing):
        return
    updated = model
    if gone_people or gone_samples:
        lost = set(model.gallery_person_ids[np.isin(model.gallery_sample_ids, list(gone_samples))].tolist())
        updated = model.without(people=gone_people, samples=gone_samples).refit(lost - gone_people)
    if learned_missing:
        rows = db.session.execute(
            select(FaceSample.id, FaceSample.person_id, FaceSample.embedding)
            .where(FaceSample.id.in_(learned_missing), FaceSample.embedder == model.embedder)
        ).all()
        updated = updated.with_learned([
            TrainingSample(sample_id, person_id, np.frombuffer(vector, dtype=np.float32), learned=True)
            for sample_id, person_id, vector in rows if vector is not None
        ])
    if updated is not model:
        save_model(updated)
        log.info(
            "Updated the face model: %d deleted person(s) and %d sample(s) removed, %d learned sample(s) added.",
            len(gone_people), len(gone_samples), len(updated.learned_sample_ids - model.learned_sample_ids),
        )
    _recognizer.invalidate()
