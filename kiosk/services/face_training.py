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
from typing import Any, Callable

import numpy as np

from ..vision.face_model import (
    AUGMENT_VERSION,
    AUGMENTATIONS,
    NOBODY_ENROLLED_MESSAGE,
    NotEnoughData,
    TrainingSample,
    augment_crop,
    build_face_model,
    embed_with_augmentations,
)
from .face_model_file import ModelNotTrained, load_model, model_update_lock, save_model

log = logging.getLogger(__name__)

ProgressFn = Callable[[float, str], None]


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
    from .recognition import get_recognizer  # imported here: recognition imports this module

    get_recognizer().invalidate()
