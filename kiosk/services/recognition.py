"""Face recognition: training the classifier on the enrolled faces, and identifying faces.

Model (:class:`FaceModel`, built by :func:`build_face_model`, which the service and
``training/evaluate_faces.py`` share):

* **Classifier**: one linear SVM per enrolled person (``sklearn.svm.SVC(kernel="linear")``, one
  vs rest) over L2-normalised embeddings of the enrollment crops and their augmented copies
  (:data:`AUGMENTATIONS`). C=10: C=1 underfits these tightly clustered embeddings. Each person's
  SVM is trained against the samples of the ``HARD_NEGATIVE_PEOPLE`` nearest other people (by
  centroid) plus a random sample of everyone else: with a few dozen people that is everyone (an
  exact one-vs-rest SVM); with 1,000 people it keeps training under a minute, where sklearn's
  multi-class SVC (one-vs-one, 500,000 pairs) took 133 s to fit and 14 s per decision_function.
  Classifying is one matrix product (:attr:`FaceModel.weights`), well under 1 ms.
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

The model file ``<data dir>/models/faces.joblib`` is written atomically (joblib to a temp file +
``os.replace``) and records the embedder, threshold and training date. The
:class:`FaceRecognizer` reloads it when its mtime changes, so running servers pick up a retrain.
It stores embeddings keyed by person id, never names; names come from the database at
identification time, which also skips inactive or deleted people. Deleting a person
(:func:`on_people_changed`) removes their rows from the model file at once.

Nothing here logs embeddings, crops or names.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, NamedTuple

import cv2
import numpy as np

from ..errors import KioskError
from ..vision.faces import Face, FrameAnalysis, analyze_frame, canonical_crop

log = logging.getLogger(__name__)

MODEL_VERSION = 1
MODEL_FILENAME = "faces.joblib"
SVM_C = 10.0
HARD_NEGATIVE_PEOPLE = 40
RANDOM_NEGATIVES = 200
CV_MAX_FOLDS = 3
CV_MAX_PEOPLE = 300
# (low, high, default) threshold per embedder, on L2-normalised embeddings.
THRESHOLD_RANGES = {"dlib": (0.32, 0.45, 0.40), "facenet": (0.60, 1.10, 0.90)}
DEFAULT_SCORE_SLOPE = {"dlib": 40.0, "facenet": 15.0}

ProgressFn = Callable[[float, str], None]
NO_MODEL_MESSAGE = "No face model has been trained yet: enroll people, then run `kiosk train faces`."


class ModelNotTrained(KioskError):
    """No usable face model: nobody enrolled yet, or ``kiosk train faces`` never ran."""

    status = 503
    code = "model_not_trained"


class NotEnoughData(KioskError):
    status = 409
    code = "not_enough_faces"


# --------------------------------------------------------------------------- augmentation

AUGMENT_VERSION = 1


def _warp(crop: np.ndarray, angle: float = 0.0, scale: float = 1.0, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    size = crop.shape[1], crop.shape[0]
    matrix = cv2.getRotationMatrix2D((size[0] / 2.0, size[1] / 2.0), angle, scale)
    matrix[0, 2] += dx
    matrix[1, 2] += dy
    return cv2.warpAffine(crop, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _gamma(crop: np.ndarray, gamma: float) -> np.ndarray:
    table = np.clip(((np.arange(256) / 255.0) ** gamma) * 255.0, 0, 255).astype(np.uint8)
    return cv2.LUT(crop, table)


# Eight copies per enrollment photo: a mirror, darker and brighter light (the source report's
# photos-vs-webcam gap was mostly lighting), small rotations, a shift, a zoom, a slight blur.
# The source report used ~20. Each copy costs one descriptor pass (dlib as shipped: 83 ms), so eight
# keep the first training of a 100-person site with 3 photos each near four minutes; the copies are
# cached in the model file, so a retrain only embeds new photos. On faces-dev the copies change the
# SVM's top-1 by +-0.2 points (training/evaluate_faces.py --no-augment); they are kept for the
# lighting gap between enrollment photos and the kiosk's webcam that the source report met, which
# that photo-only set cannot measure.
AUGMENTATIONS: tuple[tuple[str, Callable[[np.ndarray], np.ndarray]], ...] = (
    ("mirror", lambda c: np.ascontiguousarray(c[:, ::-1])),
    ("darker", lambda c: _gamma(c, 1.6)),
    ("brighter", lambda c: _gamma(c, 0.6)),
    ("rotate_left", lambda c: _warp(c, angle=8.0)),
    ("rotate_right", lambda c: _warp(c, angle=-8.0)),
    ("shift", lambda c: _warp(c, dx=6.0, dy=-6.0)),
    ("zoom", lambda c: _warp(c, scale=1.08)),
    ("soft", lambda c: cv2.GaussianBlur(c, (0, 0), 1.2)),
)


def augment_crop(crop: np.ndarray) -> list[np.ndarray]:
    """The augmented copies of a canonical crop used to train the classifier (not the original)."""
    return [fn(crop) for _, fn in AUGMENTATIONS]


# --------------------------------------------------------------------------- model building


@dataclass
class TrainingSample:
    """One enrollment photo as the trainer sees it: whose it is, its embedding, its augmented copies."""

    sample_id: int
    person_id: int
    embedding: np.ndarray  # (dim,)
    augmented: np.ndarray | None = None  # (n_aug, dim)


@dataclass
class FaceModel:
    embedder: str
    dim: int
    person_ids: np.ndarray  # (k,) int64, one per SVM row
    weights: np.ndarray | None  # (k, dim) float32; None when a single person is enrolled
    bias: np.ndarray | None  # (k,)
    gallery: np.ndarray  # (n, dim) float32: the enrolled embeddings, grouped by person
    gallery_person_ids: np.ndarray  # (n,) int64
    gallery_sample_ids: np.ndarray  # (n,) int64
    threshold: float
    score_slope: float
    trained_at: str
    cv_accuracy: float | None = None
    threshold_source: str = "default"
    augmentations: int = 0
    augment_version: int = AUGMENT_VERSION
    augmented_cache: dict[int, np.ndarray] = field(default_factory=dict)  # sample id -> (n_aug, dim)
    version: int = MODEL_VERSION

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
            "embedder": self.embedder,
            "cv_accuracy": None if self.cv_accuracy is None else round(float(self.cv_accuracy), 4),
            "threshold": round(float(self.threshold), 4),
            "threshold_source": self.threshold_source,
            "trained_at": self.trained_at,
        }

    def classify(
        self, embeddings: np.ndarray, allowed: set[int] | None = None
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
                decision = self.weights[columns] @ vector + self.bias[columns]
                best = columns[int(np.argmax(decision))]
            person_id = int(self.person_ids[best])
            rows = self.gallery[self.gallery_person_ids == person_id]
            distance = float(np.sqrt(np.min(np.sum((rows - vector) ** 2, axis=1)))) if len(rows) else float("inf")
            score = _score(distance, self.threshold, self.score_slope)
            results.append((person_id if distance <= self.threshold else None, score, distance))
        return results

    def without(self, people: set[int] = frozenset(), samples: set[int] = frozenset()) -> FaceModel:
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
        )


def _score(distance: float, threshold: float, slope: float) -> float:
    if not np.isfinite(distance):
        return 0.0
    return float(1.0 / (1.0 + np.exp(-slope * (threshold - distance))))


def embedding_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two embeddings (both L2-normalised by the embedders)."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float32) - np.asarray(b, dtype=np.float32)))


def _fit_one_vs_rest(X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One linear SVC per class against its hardest negatives; returns (weights, bias) rows in np.unique(y) order."""
    from sklearn.svm import SVC

    classes = np.unique(y)
    centroids = np.stack([X[y == c].mean(axis=0) for c in classes])
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    squares = np.sum(centroids**2, axis=1)
    centroid_d2 = squares[:, None] + squares[None] - 2 * centroids @ centroids.T
    class_index = {c: i for i, c in enumerate(classes)}
    row_class = np.array([class_index[v] for v in y])
    weights = np.zeros((len(classes), X.shape[1]), dtype=np.float32)
    bias = np.zeros(len(classes), dtype=np.float32)
    for i, c in enumerate(classes):
        order = np.argsort(centroid_d2[i])
        neighbours = order[order != i][:HARD_NEGATIVE_PEOPLE]
        negatives = np.flatnonzero(np.isin(row_class, neighbours))
        others = np.flatnonzero((row_class != i) & ~np.isin(row_class, neighbours))
        if len(others):
            sampled = rng.choice(others, min(RANDOM_NEGATIVES, len(others)), replace=False)
            negatives = np.concatenate([negatives, sampled])
        positives = np.flatnonzero(row_class == i)
        rows = np.concatenate([positives, negatives])
        target = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
        svm = SVC(kernel="linear", C=SVM_C, class_weight="balanced")
        svm.fit(X[rows], target)
        weights[i] = svm.coef_[0]
        bias[i] = svm.intercept_[0]
    return weights, bias


def _training_matrix(samples: list[TrainingSample], use_augmented: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rows, labels = [], []
    for s in samples:
        rows.append(s.embedding[None, :])
        labels.append(s.person_id)
        if use_augmented and s.augmented is not None and len(s.augmented):
            rows.append(s.augmented)
            labels.extend([s.person_id] * len(s.augmented))
    return np.concatenate(rows).astype(np.float32), np.asarray(labels, dtype=np.int64)


THRESHOLD_QUERY_SAMPLES = 2000


def _nearest_distances(gallery: np.ndarray, person_ids: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """For each (sampled) enrolled embedding: the distance to the nearest other embedding of the same
    person, and to the nearest embedding of anyone else. At most THRESHOLD_QUERY_SAMPLES queries,
    in blocks: a full 20,000 x 20,000 distance matrix would take 3 GB."""
    gallery = np.asarray(gallery, dtype=np.float32)
    queries = np.arange(len(gallery))
    if len(queries) > THRESHOLD_QUERY_SAMPLES:
        queries = np.sort(np.random.default_rng(seed).choice(queries, THRESHOLD_QUERY_SAMPLES, replace=False))
    squares = np.sum(gallery**2, axis=1)
    genuine, impostor = [], []
    for start in range(0, len(queries), 256):
        rows = queries[start : start + 256]
        d2 = squares[rows, None] + squares[None, :] - 2.0 * gallery[rows] @ gallery.T
        dist = np.sqrt(np.maximum(d2, 0.0))
        dist[np.arange(len(rows)), rows] = np.inf  # not itself
        same = person_ids[rows, None] == person_ids[None, :]
        genuine.append(np.where(same, dist, np.inf).min(axis=1))
        impostor.append(np.where(~same, dist, np.inf).min(axis=1))
    return np.concatenate(genuine), np.concatenate(impostor)


def learn_threshold(gallery: np.ndarray, person_ids: np.ndarray, embedder: str) -> tuple[float, float, str]:
    """(threshold, score slope, source) from the enrolled embeddings; see the module docstring."""
    low, high, default = THRESHOLD_RANGES.get(embedder, (0.0, 2.0, 0.5))
    slope = DEFAULT_SCORE_SLOPE.get(embedder, 20.0)
    if len(np.unique(person_ids)) < 2 or len(gallery) < 4:
        return default, slope, "default"
    genuine, impostor = _nearest_distances(gallery, person_ids)
    genuine = genuine[np.isfinite(genuine)]
    impostor = impostor[np.isfinite(impostor)]
    if len(genuine) < 3 or len(impostor) < 3:
        return default, slope, "default"
    learned = 0.5 * (np.quantile(genuine, 0.90) + np.quantile(impostor, 0.05))
    threshold = float(np.clip(learned, low, high))
    if low <= learned <= high:
        source = "learned"
    else:
        source = "learned, raised to the minimum" if learned < low else "learned, capped"
    try:
        from sklearn.linear_model import LogisticRegression

        d = np.r_[genuine, impostor][:, None]
        target = np.r_[np.ones(len(genuine)), np.zeros(len(impostor))]
        fitted = LogisticRegression(C=100.0, class_weight="balanced").fit(d, target)
        slope = float(np.clip(-fitted.coef_[0, 0], slope / 4, slope * 4))
    except ValueError:
        pass
    return threshold, slope, source


def _cross_validate(samples: list[TrainingSample], rng: np.random.Generator) -> float | None:
    """Top-1 accuracy (the SVM's name, no rejection) on held-out enrollment photos, folds by photo."""
    by_person: dict[int, list[TrainingSample]] = {}
    for s in samples:
        by_person.setdefault(s.person_id, []).append(s)
    people = list(by_person)
    if len(people) < 2:
        return None
    if len(people) > CV_MAX_PEOPLE:  # keep retraining of large sites fast; a sample of people is enough
        people = list(rng.choice(people, CV_MAX_PEOPLE, replace=False))
    most = max(len(by_person[p]) for p in people)
    folds = min(CV_MAX_FOLDS, most)
    if folds < 2:
        return None
    correct = total = 0
    for fold in range(folds):
        train, held = [], []
        for p in people:
            for j, s in enumerate(by_person[p]):
                # people with a single photo stay in training (they cannot be held out)
                (held if len(by_person[p]) > 1 and j % folds == fold else train).append(s)
        if not held or len({s.person_id for s in train}) < 2:
            continue
        X, y = _training_matrix(train)
        weights, bias = _fit_one_vs_rest(X, y, rng)
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
        raise NotEnoughData("No one is enrolled yet: enroll people with `kiosk people enroll NAME PHOTO...` first.")
    rng = np.random.default_rng(seed)
    samples = sorted(samples, key=lambda s: (s.person_id, s.sample_id))
    dim = int(samples[0].embedding.shape[0])
    X, y = _training_matrix(samples)
    classes = np.unique(y)
    if len(classes) >= 2:
        weights, bias = _fit_one_vs_rest(X, y, rng)
    else:
        weights = bias = None
    gallery = np.stack([s.embedding for s in samples]).astype(np.float32)
    gallery_person_ids = np.array([s.person_id for s in samples], dtype=np.int64)
    threshold, slope, source = learn_threshold(gallery, gallery_person_ids, embedder)
    return FaceModel(
        embedder=embedder,
        dim=dim,
        person_ids=classes.astype(np.int64),
        weights=weights,
        bias=bias,
        gallery=gallery,
        gallery_person_ids=gallery_person_ids,
        gallery_sample_ids=np.array([s.sample_id for s in samples], dtype=np.int64),
        threshold=threshold,
        score_slope=slope,
        trained_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        cv_accuracy=_cross_validate(samples, rng) if cross_validate else None,
        threshold_source=source,
        augmentations=len(AUGMENTATIONS),
        augmented_cache={s.sample_id: s.augmented for s in samples if s.augmented is not None},
    )


def embed_with_augmentations(embedder, crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(embedding of the crop, embeddings of its augmented copies) with one embedder call."""
    vectors = embedder.embed_crops([crop, *augment_crop(crop)])
    return vectors[0], vectors[1:]


# --------------------------------------------------------------------------- model file


def model_path() -> Path:
    from .. import storage

    return storage.data_dir() / "models" / MODEL_FILENAME


def save_model(model: FaceModel, path: Path | None = None) -> Path:
    """joblib to a temp file in the same folder, then ``os.replace``: readers never see half a file."""
    import joblib

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
    return path


def load_model(path: Path | None = None) -> FaceModel:
    import joblib

    path = path or model_path()
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
    from ..models import FaceSample, Person
    from ..vision.embedders import get_embedder, resolve_embedder_name
    from ..vision.image import load_image

    started = time.perf_counter()
    embedder_name = resolve_embedder_name()
    embedder = get_embedder(embedder_name)
    rows = db.session.scalars(
        select(FaceSample).join(Person).where(Person.active.is_(True)).order_by(FaceSample.person_id, FaceSample.id)
    ).all()
    if not rows:
        raise NotEnoughData("No one is enrolled yet: enroll people with `kiosk people enroll NAME PHOTO...` first.")

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
        vector = row.embedding_array() if row.embedder == embedder_name else None
        augmented = cache.get(row.id)
        if vector is None or augmented is None or len(augmented) != len(AUGMENTATIONS):
            try:
                crop = load_image(storage.resolve(row.crop_path))
            except Exception:  # a missing or damaged crop must not stop the whole training
                skipped += 1
                continue
            if vector is None:
                vector, augmented = embed_with_augmentations(embedder, crop)
                row.set_embedding(vector, embedder_name)
                re_embedded += 1
            else:
                augmented = embedder.embed_crops(augment_crop(crop))
        samples.append(TrainingSample(row.id, row.person_id, np.asarray(vector, dtype=np.float32), augmented))
    if re_embedded:
        db.session.commit()
    _report(progress, 0.88, "Fitting the classifier")
    model = build_face_model(samples, embedder_name)
    save_model(model)
    _recognizer.invalidate()
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

        database = str(db.engine.url)
        now = time.monotonic()
        with self._lock:
            fresh = now - self._people_at < self.ACTIVE_PEOPLE_TTL_SECONDS
            if self._people is not None and self._people_db == database and fresh:
                return self._people
        people = dict(db.session.execute(select(Person.id, Person.name).where(Person.active.is_(True))).all())
        with self._lock:
            self._people, self._people_at, self._people_db = people, now, database
        return people

    def match(self, embedding: np.ndarray) -> FaceMatch:
        model = self.model()
        people = self.active_people()
        person_id, score, _distance = model.classify(embedding[None, :], allowed=set(people))[0]
        if person_id is not None and not _still_active(person_id):
            # The cached list is a few seconds old and this person was just deactivated or
            # deleted: ask again with a fresh list (one retry is enough, the list is now exact).
            with self._lock:
                self._people = None
            people = self.active_people()
            person_id, score, _distance = model.classify(embedding[None, :], allowed=set(people))[0]
        name = people.get(person_id) if person_id is not None else None
        return FaceMatch(person_id if name else None, name, round(score, 4), embedding)


def _still_active(person_id: int) -> bool:
    """An uncached check of the one person about to be named (cheap: a primary-key lookup)."""
    from sqlalchemy import select

    from ..extensions import db
    from ..models import Person

    return bool(db.session.scalar(select(Person.active).where(Person.id == person_id)))


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
    embedding = get_embedder(model.embedder).embed_crops([canonical_crop(bgr, face)])[0]
    return _recognizer.match(embedding)


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
        from ..vision.embedders import resolve_embedder_name

        return THRESHOLD_RANGES.get(resolve_embedder_name(), (0.0, 0.0, 0.5))[2]


def duplicate_threshold(embedder: str) -> float:
    """The distance under which a new enrollment is flagged as looking like someone already enrolled."""
    try:
        model = _recognizer.model()
        if model.embedder == embedder:
            return float(model.threshold)
    except ModelNotTrained:
        pass
    return THRESHOLD_RANGES.get(embedder, (0.0, 0.0, 0.5))[2]


def is_same_person(a: np.ndarray, b: np.ndarray) -> bool:
    return embedding_distance(a, b) <= same_person_threshold()


def model_info() -> dict[str, Any]:
    """For the admin pages: the current model's summary, or why there is none."""
    try:
        model = _recognizer.model()
    except ModelNotTrained as err:
        return {"trained": False, "message": str(err)}
    return {"trained": True, **model.summary()}


def on_people_changed() -> None:
    """Called after people or face samples are deleted (``kiosk.services.people``).

    Drops the rows of every person and sample that no longer exists from the model file (SVM
    row, enrolled embeddings, cached augmented copies) and rewrites it atomically, so a deleted
    person can never be recognised again, in this process or in any other (they reload on the
    mtime change). Inactive people stay in the file and are skipped at identification time.
    The remaining SVM rows were fitted with the deleted faces among their negatives; they hold
    no copy of them, and the next retraining refits them without.
    """
    from sqlalchemy import select

    from ..extensions import db
    from ..models import FaceSample, Person

    _recognizer.invalidate()
    try:
        model = load_model()
    except ModelNotTrained:
        return
    existing_people = set(db.session.scalars(select(Person.id)).all())
    existing_samples = set(db.session.scalars(select(FaceSample.id)).all())
    gone_people = (set(model.person_ids.tolist()) | set(model.gallery_person_ids.tolist())) - existing_people
    gone_samples = set(model.gallery_sample_ids.tolist()) - existing_samples
    if gone_people or gone_samples:
        save_model(model.without(people=gone_people, samples=gone_samples))
        log.info(
            "Removed %d deleted person(s) and %d sample(s) from the face model.", len(gone_people), len(gone_samples)
        )
    _recognizer.invalidate()
