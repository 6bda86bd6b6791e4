"""The face model: augmentation, the one-vs-rest SVM classifier and the unknown threshold.

Pure: numpy, OpenCV and scikit-learn only; no database, no files, no Flask. The recognition
service (``kiosk.services.recognition``) feeds it the enrolled embeddings and keeps the file;
``training/evaluate_faces.py`` and ``kiosk bench`` build the same model from photos.

* **Classifier**: one linear SVM per enrolled person (``sklearn.svm.SVC(kernel="linear")``, one vs
  rest) over L2-normalised embeddings of the enrollment crops and their augmented copies
  (:func:`training_augmentations`: none for FaceNet). C=10: C=1 underfits these tightly clustered
  embeddings. Each person's SVM is trained against the samples of the ``HARD_NEGATIVE_PEOPLE``
  nearest other people (by centroid) plus a random sample of everyone else: with a few dozen people
  that is everyone (an exact one-vs-rest SVM); with 1,000 people it keeps training under a minute,
  where sklearn's multi-class SVC (one-vs-one, 500,000 pairs) took 133 s to fit and 14 s per
  decision_function. Classifying is one matrix product (:attr:`FaceModel.weights`), well under 1 ms.
* **Unknown rejection**: an SVM always names *someone*. The named person is accepted only if the
  face's embedding lies within :attr:`FaceModel.threshold` (euclidean, on unit vectors) of one of
  that person's *enrolled* embeddings (the originals, not the augmented copies, which made
  strangers look closer). The threshold is learned from the enrolled data: halfway between the
  90th percentile of each photo's distance to the same person's other photos and the 5th
  percentile of its distance to the nearest other person's photo, kept inside the embedder's sane
  range; with too little data (one person, one photo each) the embedder's default is used.
* **Score**: ``sigmoid(slope * (threshold - distance))``, 0.5 at the threshold, slope fitted by a
  logistic regression of genuine vs impostor distances (SVC(probability=True) is deprecated in
  scikit-learn 1.9, and Platt scaling on three photos per person would be noise anyway).

A :class:`FaceModel` stores embeddings keyed by person id, never names.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import KioskError
from .embedders import split_embedder_id
from .face_augment import (  # noqa: F401
    AUGMENT_VERSION,
    augment_crop,
    embed_with_augmentations,
    training_augmentations,
)
from .face_svm import HARD_NEGATIVE_PEOPLE, class_centroids, fit_one_vs_rest, nearest_classes, rows_by_class
from .face_threshold import DEFAULT_SCORE_SLOPE, THRESHOLD_RANGES, learn_threshold  # noqa: F401

#: Version of :class:`FaceModel`'s fields; a saved model of another version is refused ("retrain").
MODEL_VERSION = 1
CV_MAX_FOLDS = 3
CV_MAX_PEOPLE = 300
# A face is accepted by a learned sample only within this fraction of the threshold, and never
# farther than the embedder's default threshold (enrollment photos: the whole threshold). Every
# sample added to a gallery widens the region that accepts faces as that person: a site with few
# people enrolled has its threshold at the range's cap, and its learned samples must not accept as
# loosely. The ratio itself is 1: on faces-dev (training/evaluate_learning.py, FaceNet, 10 seeds) 0.9
# kept false rejects at 11.6% where 1.0 reached 6.0%, and neither let a test stranger in at the learned
# threshold or raised the false accepts at the cap (3.2% before, 2.7% after). The distance
# :meth:`FaceModel.classify` reports for a learned sample is scaled by threshold / learned_accept_distance(),
# so the threshold and the score apply unchanged.
LEARNED_ACCEPT_RATIO = 1.0
NOBODY_ENROLLED_MESSAGE = "No one is enrolled yet: enroll people with `kiosk people enroll NAME PHOTO...` first."


class NotEnoughData(KioskError):
    status = 409
    code = "not_enough_faces"


def default_threshold(embedder: str) -> float:
    """The embedder's threshold for when no model has learned one."""
    return THRESHOLD_RANGES.get(embedder, (0.0, 0.0, 0.5))[2]


# --------------------------------------------------------------------------- model building


@dataclass
class TrainingSample:
    """One enrollment photo as the trainer sees it: whose it is, its embedding, its augmented copies."""

    sample_id: int
    person_id: int
    embedding: NDArray[Any]  # (dim,)
    augmented: NDArray[Any] | None = None  # (n_aug, dim)
    learned: bool = False  # from a confirmed check-in (kiosk.vision.face_learning), not an enrollment photo


@dataclass
class FaceModel:
    embedder: str  # the embedder id: "dlib", "facenet:<weights key>", "facenet+dlib:<weights key>"
    dim: int
    person_ids: NDArray[Any]  # (k,) int64, one per SVM row
    weights: NDArray[Any] | None  # (k, dim) float32; None when a single person is enrolled
    bias: NDArray[Any] | None  # (k,)
    gallery: NDArray[Any]  # (n, dim) float32: the enrolled embeddings, grouped by person
    gallery_person_ids: NDArray[Any]  # (n,) int64
    gallery_sample_ids: NDArray[Any]  # (n,) int64
    threshold: float
    score_slope: float
    trained_at: str
    cv_accuracy: float | None = None
    threshold_source: str = "default"
    augmentations: int = 0
    augment_version: int = AUGMENT_VERSION
    augmented_cache: dict[int, NDArray[Any]] = field(default_factory=dict)  # sample id -> (n_aug, dim)
    version: int = MODEL_VERSION
    # Gallery samples learned from confirmed check-ins: they name and accept like the others, but
    # never set the threshold and never anchor further learning (kiosk.vision.face_learning).
    # A class attribute too, so a model file saved before learning existed loads with none.
    learned_sample_ids: frozenset[int] = frozenset()
    learned_accept_ratio: float = LEARNED_ACCEPT_RATIO

    @property
    def people(self) -> int:
        return int(len(self.person_ids))

    @property
    def samples(self) -> int:
        return int(len(self.gallery))

    def summary(self) -> dict[str, Any]:
        return {
            "people": self.people,
            "samples": self.samples,
            "augmented_samples": int(sum(len(v) for v in self.augmented_cache.values())),
            "learned_samples": len(self.learned_sample_ids),
            "embedder": split_embedder_id(self.embedder)[0],
            "weights": split_embedder_id(self.embedder)[1],
            "cv_accuracy": None if self.cv_accuracy is None else round(float(self.cv_accuracy), 4),
            "threshold": round(float(self.threshold), 4),
            "threshold_source": self.threshold_source,
            "trained_at": self.trained_at,
        }

    def classify(
        self, embeddings: NDArray[Any], allowed: set[int] | None = None
    ) -> list[tuple[int | None, float, float]]:
        """For each embedding: (person id or None for unknown, score 0..1, distance to that person).

        ``allowed``: the person ids that may be named (active people); others are masked out."""
        embeddings = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        columns = np.arange(len(self.person_ids))
        if allowed is not None:
            columns = columns[np.isin(self.person_ids, list(allowed))]
        results: list[tuple[int | None, float, float]] = []
        if len(columns) == 0:
            return [(None, 0.0, float("inf")) for _ in embeddings]
        for vector in embeddings:
            if self.weights is None:
                best = columns[0]
            else:
                decision = self.weights[columns] @ vector + self.bias[columns]  # type: ignore[index]  # set together
                best = columns[int(np.argmax(decision))]
            person_id = int(self.person_ids[best])
            mine = self.gallery_person_ids == person_id
            rows = self.gallery[mine]
            enrolled_distance = distance = float("inf")
            if len(rows):
                distances = np.sqrt(np.sum((rows - vector) ** 2, axis=1))
                learned = np.zeros(len(rows), dtype=bool)
                if self.learned_sample_ids:
                    # A learned sample counts only within learned_accept_distance(): see LEARNED_ACCEPT_RATIO.
                    learned = np.isin(self.gallery_sample_ids[mine], list(self.learned_sample_ids))
                    distances = np.where(learned, distances * self._learned_distance_scale(), distances)
                distance = float(np.min(distances))
                if (~learned).any():
                    enrolled_distance = float(np.min(distances[~learned]))
            score = _score(distance, self.threshold, self.score_slope)
            # Learned samples may name and score a face, never admit one: a face farther than the
            # threshold from every enrollment photo of the person is unknown, however close it is to
            # what was learned. Otherwise a look-alike accepted near the threshold is learned, and
            # the next, farther look-alike is accepted through it (a drift, measured with blended faces).
            accepted = distance <= self.threshold and enrolled_distance <= self.threshold
            results.append((person_id if accepted else None, score, distance))
        return results

    def learned_accept_distance(self) -> float:
        """How close a face must be to a learned sample to be accepted (see LEARNED_ACCEPT_RATIO)."""
        return self.learned_accept_ratio * min(float(self.threshold), default_threshold(self.embedder))

    def _learned_distance_scale(self) -> float:
        return float(self.threshold) / self.learned_accept_distance()

    def without(
        self, people: frozenset[int] | set[int] = frozenset(), samples: frozenset[int] | set[int] = frozenset()
    ) -> FaceModel:
        """A copy without these people (their SVM row, embeddings and cached copies) and these samples.

        A person left with no enrolled sample is removed too: nobody is accepted without one."""
        keep_gal = ~np.isin(self.gallery_person_ids, list(people)) & ~np.isin(self.gallery_sample_ids, list(samples))
        remaining = set(self.gallery_person_ids[keep_gal].tolist())
        keep_cls = np.isin(self.person_ids, list(remaining))
        removed_samples = set(self.gallery_sample_ids[~keep_gal].tolist())
        return FaceModel(
            embedder=self.embedder,
            dim=self.dim,
            person_ids=self.person_ids[keep_cls],
            weights=None if self.weights is None else self.weights[keep_cls],
            bias=None if self.bias is None else self.bias[keep_cls],
            gallery=self.gallery[keep_gal],
            gallery_person_ids=self.gallery_person_ids[keep_gal],
            gallery_sample_ids=self.gallery_sample_ids[keep_gal],
            threshold=self.threshold,
            score_slope=self.score_slope,
            trained_at=self.trained_at,
            cv_accuracy=self.cv_accuracy,
            threshold_source=self.threshold_source,
            augmentations=self.augmentations,
            augment_version=self.augment_version,
            augmented_cache={k: v for k, v in self.augmented_cache.items() if k not in removed_samples},
            learned_sample_ids=frozenset(self.learned_sample_ids - removed_samples),
        )

    def enrolled_rows(self, person_id: int) -> NDArray[Any]:
        """The gallery embeddings of ``person_id``'s enrollment photos (not the learned samples)."""
        rows = (self.gallery_person_ids == person_id) & ~np.isin(self.gallery_sample_ids, list(self.learned_sample_ids))
        return self.gallery[rows]  # type: ignore[no-any-return]

    def with_learned(self, samples: list[TrainingSample], *, seed: int = 0) -> FaceModel:
        """A copy with these learned samples added to the gallery and the SVM rows of their people
        refitted (:meth:`refit`): the cheap update a confirmed check-in makes, no full retrain.
        Samples of people the model does not know, or already in it, are left out; the threshold
        and the other people's rows stay as they are (the next full training refits everything)."""
        known = set(self.person_ids.tolist()) | set(self.gallery_person_ids.tolist())
        present = set(self.gallery_sample_ids.tolist())
        new = [s for s in samples if s.person_id in known and s.sample_id not in present]
        if not new:
            return self
        model = copy.copy(self)
        model.gallery = np.concatenate([self.gallery, np.stack([s.embedding for s in new]).astype(np.float32)])
        model.gallery_person_ids = np.concatenate(
            [self.gallery_person_ids, [s.person_id for s in new]]).astype(np.int64)
        model.gallery_sample_ids = np.concatenate(
            [self.gallery_sample_ids, [s.sample_id for s in new]]).astype(np.int64)
        model.learned_sample_ids = frozenset(self.learned_sample_ids | {s.sample_id for s in new})
        return model.refit({s.person_id for s in new}, seed=seed)

    def with_new_samples(self, samples: list[TrainingSample], *, seed: int = 0) -> FaceModel:
        """A copy with these enrollment samples added (new people, or new photos of known ones): the
        incremental update a training makes when few people changed, instead of refitting everyone.

        The SVM rows of the people who gained a sample are fitted, and so are the rows of the
        ``HARD_NEGATIVE_PEOPLE`` people nearest each of them (a newcomer is among their hardest
        negatives); every other row keeps the newcomer only among its random negatives at the next
        full training. The threshold and the cross-validated accuracy stay those of the last full
        training: one person more moves neither. Seconds with 10,000 people, where a full training
        takes minutes. Needs a model of two people or more (``weights``)."""
        present = set(self.gallery_sample_ids.tolist())
        new = [s for s in samples if s.sample_id not in present and not s.learned]
        if not new or self.weights is None:
            return self
        model = copy.copy(self)
        known = set(self.person_ids.tolist())
        newcomers = sorted({s.person_id for s in new} - known)
        model.person_ids = np.concatenate([self.person_ids, np.asarray(newcomers, dtype=np.int64)])
        model.weights = np.concatenate([self.weights, np.zeros((len(newcomers), self.dim), dtype=np.float32)])
        model.bias = np.concatenate([self.bias, np.zeros(len(newcomers), dtype=np.float32)])
        model.gallery = np.concatenate([self.gallery, np.stack([s.embedding for s in new]).astype(np.float32)])
        model.gallery_person_ids = np.concatenate(
            [self.gallery_person_ids, [s.person_id for s in new]]).astype(np.int64)
        model.gallery_sample_ids = np.concatenate(
            [self.gallery_sample_ids, [s.sample_id for s in new]]).astype(np.int64)
        model.augmented_cache = {**self.augmented_cache, **{s.sample_id: s.augmented for s in new
                                                            if s.augmented is not None}}
        model.trained_at = datetime.now(timezone.utc).isoformat(timespec="microseconds")
        changed = {s.person_id for s in new}
        classes, row_class = np.unique(model.gallery_person_ids, return_inverse=True)
        centroids = class_centroids(model.gallery, rows_by_class(row_class, len(classes)))
        wanted = np.searchsorted(classes, sorted(changed))
        near = {int(classes[c]) for rows in nearest_classes(centroids, wanted, HARD_NEGATIVE_PEOPLE) for c in rows}
        return model.refit(changed | near, seed=seed)

    def refit(self, people: set[int], *, seed: int = 0) -> FaceModel:
        """A copy whose SVM rows of ``people`` are fitted again on the gallery as it is now (their
        samples, enrolled and learned, plus the cached augmented copies) against the same kind of
        negatives as a full training: milliseconds per person, so a check-in can afford it."""
        model = copy.copy(self)
        if self.weights is None or not people:
            return model
        X, y = _training_matrix(self.training_samples())
        rows = {int(p): i for i, p in enumerate(self.person_ids)}
        wanted = [p for p in sorted(people) if p in rows and np.any(y == p)]
        if not wanted or len(np.unique(y)) < 2:
            return model
        fitted = fit_one_vs_rest(X, y, np.random.default_rng(seed), only=wanted)
        assert isinstance(fitted, dict) and self.weights is not None and self.bias is not None  # only= gives a dict
        model.weights, model.bias = self.weights.copy(), self.bias.copy()
        for person_id, (w, b) in fitted.items():
            model.weights[rows[person_id]] = w
            model.bias[rows[person_id]] = b
        return model

    def training_samples(self) -> list[TrainingSample]:
        """The gallery as training samples (with their cached augmented copies), as a full training sees it."""
        return [
            TrainingSample(
                int(sid), int(pid), vector, self.augmented_cache.get(int(sid)), int(sid) in self.learned_sample_ids
            )
            for sid, pid, vector in zip(self.gallery_sample_ids, self.gallery_person_ids, self.gallery)
        ]


def _score(distance: float, threshold: float, slope: float) -> float:
    if not np.isfinite(distance):
        return 0.0
    return float(1.0 / (1.0 + np.exp(-slope * (threshold - distance))))


def embedding_distance(a: NDArray[Any], b: NDArray[Any]) -> float:
    """Euclidean distance between two embeddings (both L2-normalised by the embedders)."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float32) - np.asarray(b, dtype=np.float32)))


def _training_matrix(samples: list[TrainingSample], use_augmented: bool = True) -> tuple[NDArray[Any], NDArray[Any]]:
    rows, labels = [], []
    for s in samples:
        rows.append(s.embedding[None, :])
        labels.append(s.person_id)
        if use_augmented and s.augmented is not None and len(s.augmented):
            rows.append(s.augmented)
            labels.extend([s.person_id] * len(s.augmented))
    return np.concatenate(rows).astype(np.float32), np.asarray(labels, dtype=np.int64)


def _cross_validate(samples: list[TrainingSample], rng: np.random.Generator) -> float | None:
    """Top-1 accuracy (the SVM's name, no rejection) on held-out enrollment photos, folds by photo."""
    by_person: dict[int, list[TrainingSample]] = {}
    for s in samples:
        if not s.learned:  # only enrollment photos are held out; learned samples always train
            by_person.setdefault(s.person_id, []).append(s)
    learned = [s for s in samples if s.learned]
    people = list(by_person)
    if len(people) < 2:
        return None
    if len(people) > CV_MAX_PEOPLE:  # keep retraining of large sites fast; a sample of people is enough
        people = list(rng.choice(people, CV_MAX_PEOPLE, replace=False))
    chosen = set(people)
    most = max(len(by_person[p]) for p in people)
    folds = min(CV_MAX_FOLDS, most)
    if folds < 2:
        return None
    correct = total = 0
    for fold in range(folds):
        train: list[Any] = []
        held: list[Any] = []
        for p in people:
            for j, s in enumerate(by_person[p]):
                # people with a single photo stay in training (they cannot be held out)
                (held if len(by_person[p]) > 1 and j % folds == fold else train).append(s)
        train.extend(s for s in learned if s.person_id in chosen)
        if not held or len({s.person_id for s in train}) < 2:
            continue
        X, y = _training_matrix(train)
        weights, bias = fit_one_vs_rest(X, y, rng)
        classes = np.unique(y)
        for s in held:
            guess = classes[int(np.argmax(weights @ s.embedding + bias))]
            correct += int(guess == s.person_id)
            total += 1
    return correct / total if total else None


def build_face_model(
    samples: list[TrainingSample],
    embedder: str,
    *,
    cross_validate: bool = True,
    seed: int = 0,
) -> FaceModel:
    """Fit the classifier and learn the unknown threshold. Pure: no database, no files."""
    if not samples:
        raise NotEnoughData(NOBODY_ENROLLED_MESSAGE)
    rng = np.random.default_rng(seed)
    samples = sorted(samples, key=lambda s: (s.person_id, s.sample_id))
    dim = int(samples[0].embedding.shape[0])
    X, y = _training_matrix(samples)
    classes = np.unique(y)
    if len(classes) >= 2:
        weights, bias = fit_one_vs_rest(X, y, rng)
    else:
        weights = bias = None  # type: ignore[assignment]
    gallery = np.stack([s.embedding for s in samples]).astype(np.float32)
    gallery_person_ids = np.array([s.person_id for s in samples], dtype=np.int64)
    # Enrollment photos alone set the threshold: learned samples sit close to them by construction
    # and would pull the same-person distances (hence the threshold) down with every check-in.
    enrolled = np.array([not s.learned for s in samples])
    threshold, slope, source = learn_threshold(gallery[enrolled], gallery_person_ids[enrolled], embedder)
    return FaceModel(
        embedder=embedder,
        dim=dim,
        person_ids=classes.astype(np.int64),
        weights=weights,  # type: ignore[arg-type]
        bias=bias,  # type: ignore[arg-type]
        gallery=gallery,
        gallery_person_ids=gallery_person_ids,
        gallery_sample_ids=np.array([s.sample_id for s in samples], dtype=np.int64),
        threshold=threshold,
        score_slope=slope,
        # As precise as the sample times "stale" compares it with (model_status).
        trained_at=datetime.now(timezone.utc).isoformat(timespec="microseconds"),
        cv_accuracy=_cross_validate(samples, rng) if cross_validate else None,
        threshold_source=source,
        augmentations=len(training_augmentations(embedder)),
        augmented_cache={s.sample_id: s.augmented for s in samples if s.augmented is not None},
        learned_sample_ids=frozenset(s.sample_id for s in samples if s.learned),
    )
