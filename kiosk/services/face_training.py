"""Training the face model on the enrolled faces, and keeping the saved model in line with them.

:func:`train_faces` re-embeds what needs it and fits :class:`~kiosk.vision.face_model.FaceModel`
(pure code in :mod:`kiosk.vision.face_model`); :func:`sync_model_with_samples` removes deleted
people and samples from the saved model at once, and adds learned ones, without retraining.
The file and its lock are :mod:`kiosk.services.face_model_file`.

Errors (``kiosk.errors``): :class:`~kiosk.vision.face_model.NotEnoughData` (409) when nobody is
enrolled; a missing embedder file is :class:`~kiosk.vision.lazy.ModelUnavailable` (503).

Nothing here logs embeddings, crops or names.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from sqlalchemy import select

from .. import storage
from ..extensions import db
from ..models import FaceSample, Person, SampleKind
from ..vision.embedders import get_embedder, resolve_embedder_id
from ..vision.face_model import (
    AUGMENT_VERSION,
    NOBODY_ENROLLED_MESSAGE,
    NotEnoughData,
    TrainingSample,
    augment_crop,
    build_face_model,
    training_augmentations,
)
from ..vision.image import load_image
from .face_model_file import ModelNotTrained, load_model, model_update_lock, save_model
from .job_stages import DONE, EMBEDDING_PHOTO, FITTING_CLASSIFIER, UPDATING_CLASSIFIER, stage

log = logging.getLogger(__name__)

ProgressFn = Callable[[float, str], None]


def _report(progress: ProgressFn | None, fraction: float, stage: str) -> None:
    if progress is not None:
        progress(fraction, stage)


def train_faces(progress: ProgressFn | None = None, *, full: bool = False) -> dict[str, Any]:
    """Re-embed what needs it, fit, save atomically; returns the summary ``kiosk train faces`` prints.

    Stored embeddings made by another embedder are recomputed from the stored crops (and saved);
    augmented copies are reused from the previous model file when it used the same embedder and
    augmentation recipe, so a retrain after enrolling one person only embeds that person's copies.
    When few people gained photos since the previous model (at most one in INCREMENTAL_SHARE of
    its people) and nothing else changed, the previous model is updated instead of refitted
    (:meth:`~kiosk.vision.face_model.FaceModel.with_new_samples`: seconds, not minutes, on a large
    site); ``full`` refits everyone (and learns the threshold again) regardless. The summary's
    ``mode`` says which ran.
    """


    started = time.perf_counter()
    embedder_name = resolve_embedder_id()  # with the weights key: a new key re-embeds like a new embedder
    embedder = get_embedder(embedder_name)
    rows = db.session.scalars(
        select(FaceSample).join(Person).where(Person.active.is_(True)).order_by(FaceSample.person_id, FaceSample.id)
    ).all()
    if not rows:
        raise NotEnoughData(NOBODY_ENROLLED_MESSAGE)

    cache: dict[int, np.ndarray] = {}
    previous = None
    try:
        previous = load_model()
        if previous.embedder == embedder_name and previous.augment_version == AUGMENT_VERSION:
            cache = previous.augmented_cache
        else:
            previous = None
    except ModelNotTrained:
        pass

    copies = training_augmentations(embedder_name)
    samples: list[TrainingSample] = []
    to_embed: list[_PendingEmbedding] = []
    skipped = 0
    for row in rows:
        # A learned sample is a real face from the kiosk's own camera: no augmented copies.
        learned = row.kind is SampleKind.learned
        vector = row.embedding_array() if row.embedder == embedder_name else None
        augmented = None if learned else cache.get(row.id)
        needs_copies = not learned and bool(copies) and (augmented is None or len(augmented) != len(copies))
        sample = TrainingSample(row.id, row.person_id, vector, augmented if copies else None, learned)
        if vector is None or needs_copies:
            to_embed.append(_PendingEmbedding(sample, row, vector is None, copies if needs_copies else ()))
        samples.append(sample)
    re_embedded, unreadable = _embed_pending(embedder, embedder_name, to_embed, progress)
    if unreadable:
        skipped = len(unreadable)
        samples = [s for s in samples if s.sample_id not in unreadable]
    if re_embedded:
        db.session.commit()
    update = None if full or re_embedded else _incremental_update(previous, samples)
    if update is not None:
        _report(progress, 0.88, stage(UPDATING_CLASSIFIER))
        model, mode = previous.with_new_samples(update), "incremental"
    else:
        _report(progress, 0.88, stage(FITTING_CLASSIFIER))
        model, mode = build_face_model(samples, embedder_name), "full"
    with model_update_lock():
        save_model(model)
        # Someone deleted while this training ran (here or on another app host) must not come back
        # with the new model: their deletion may have pruned the previous one before this was saved.
        # A sample learned meanwhile is added to it the same way.
        sync_model_with_samples_locked()
    summary = model.summary()
    summary.update(
        mode=mode,
        re_embedded=re_embedded,
        skipped_crops=skipped,
        seconds=round(time.perf_counter() - started, 1),
    )
    _report(progress, 1.0, stage(DONE))
    return summary


# A training updates the previous model (instead of refitting everyone) when the people who gained
# photos are at most one in this many of its people: a person's row sees only its nearest people's
# samples and a random 200 of the rest, so a few newcomers change nobody else's much. A bulk import
# of a new department refits everyone.
INCREMENTAL_SHARE = 20


def _incremental_update(previous: Any, samples: list[TrainingSample]) -> list[TrainingSample] | None:
    """The enrollment samples to add to ``previous`` for an incremental update, or None for a full training:
    no previous model of two people or more, nothing new, too many people changed, or a sample of the
    previous model is no longer there (a deletion's prune is a full training's job here)."""
    if previous is None or previous.weights is None:
        return None
    present = set(previous.gallery_sample_ids.tolist())
    new = [s for s in samples if s.sample_id not in present and not s.learned]
    current = {s.sample_id for s in samples}
    if not new or not present <= current:
        return None
    changed = {s.person_id for s in new}
    return new if len(changed) * INCREMENTAL_SHARE <= previous.people else None


@dataclass
class _PendingEmbedding:
    """An enrollment photo whose embedding (made by another embedder) or augmented copies training needs."""

    sample: TrainingSample
    row: Any  # its FaceSample row, which keeps the new embedding
    needs_vector: bool
    copies: tuple[str, ...]  # the augmented copies it needs (none when its cached ones serve)

    @property
    def crop_count(self) -> int:
        return int(self.needs_vector) + len(self.copies)

    def crops(self) -> list[np.ndarray]:
        """Read from disk only now, a batch at a time: a large site's crops do not fit in memory at once."""

        crop = load_image(storage.resolve(self.row.crop_path))
        return ([crop] if self.needs_vector else []) + augment_crop(crop, self.copies)


def _embed_pending(embedder, embedder_name: str, pending: list[_PendingEmbedding],
                   progress: ProgressFn | None) -> tuple[int, set[int]]:
    """Embed what ``pending`` needs, the crops of several photos in each embedder call (each call a
    full ``batch_size``: FaceNet costs about half per face in a batch of 8 as one at a time), and
    fill in their samples. Returns (how many stored embeddings were made again, the sample ids
    whose crop could not be read)."""
    re_embedded, unreadable = 0, set()
    size = max(1, embedder.batch_size)
    batch: list[tuple[_PendingEmbedding, list[np.ndarray]]] = []
    for done, item in enumerate(pending, 1):
        try:
            batch.append((item, item.crops()))
        except Exception:  # a missing or damaged crop must not stop the whole training
            unreadable.add(item.sample.sample_id)
        if batch and (sum(b.crop_count for b, _ in batch) >= size or done == len(pending)):
            _report(progress, 0.05 + 0.8 * done / len(pending), stage(EMBEDDING_PHOTO, done=done, total=len(pending)))
            vectors = embedder.embed_crops([crop for _, crops in batch for crop in crops])
            at = 0
            for b, _ in batch:
                if b.needs_vector:
                    b.sample.embedding = np.asarray(vectors[at], dtype=np.float32)
                    b.row.set_embedding(b.sample.embedding, embedder_name)
                    re_embedded += 1
                    at += 1
                if b.copies:
                    b.sample.augmented = vectors[at : at + len(b.copies)]
                    at += len(b.copies)
            batch = []
    return re_embedded, unreadable


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


    _forget_the_loaded_model()
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
    _forget_the_loaded_model()


def _forget_the_loaded_model() -> None:
    """This process's recognizer reloads the model (and the active people) on its next use."""
    from .recognition import get_recognizer  # noqa: PLC0415 - recognition imports this module

    get_recognizer().invalidate()
