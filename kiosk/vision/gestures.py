"""Arm gestures from pose landmarks: O (yes), X (no), capture (take the photo), idle.

The gestures (kiosk/gesture_vocabulary.py): **O** both hands joined above the head; **X** forearms crossed in front of
the chest, each wrist on the other side of the midline and raised above its elbow; **capture**
both arms raised up and apart (a V); **idle** anything else.

The pipeline, in order:

1. :meth:`PoseLandmarks.arm_points` gives shoulders, elbows and wrists in *isotropic* units
   (x multiplied by the frame's aspect ratio), so a 4:3 kiosk camera and the 16:9 video of the
   YMCA training rows describe the same body with the same numbers.
2. :func:`visibility_problem`: a shoulder, elbow or wrist that MediaPipe marks as not visible,
   or that lies outside the frame, is not a gesture -> idle without asking the classifier.
3. :func:`gesture_features`: the arms are put in a canonical order (the shoulder with the
   larger image x first, so it does not matter whether MediaPipe got left/right the right way
   round or the camera mirrors), translated to the shoulder centre and divided by the shoulder
   width. The image axes are kept (no rotation): "above the head" means above in the camera
   image, and the kiosk camera is level. The head is not a feature: the real training rows
   have arms only; the kiosk uses the head landmarks for the face-belongs-to-body check.
4. A scikit-learn MLP (``training/train_gestures.py``; model card in ``models/gesture/``)
   gives the probabilities of the four gestures.
5. On the kiosk's stream, ``kiosk.checkin.gesture_hold.GestureHold`` reports a gesture only once
   the same one has been seen on consecutive frames for a hold time (0.3 s, at least 3 frames),
   so an arm waving through an O does not confirm.

The classifier a site trained from its own recorded samples
(``<data dir>/models/gesture.joblib``) is preferred over the shipped default
(``models/gesture/gesture_classifier.joblib``), and is reloaded when its file changes.
"""

from __future__ import annotations

import csv
import threading
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import joblib
import numpy as np
from numpy.typing import NDArray

from ..gesture_vocabulary import GESTURES, IDLE, Gesture
from .lazy import LazyModel, ModelUnavailable
from .model_file import ReloadingFile, save_joblib
from .pose import ARM_LANDMARKS, DEFAULT_MIN_VISIBILITY, PoseLandmarks
from .settings import REPO_MODELS_DIR, data_dir, models_dir

__all__ = ["GESTURES", "IDLE", "Gesture"]  # the vocabulary (kiosk/gesture_vocabulary.py), for vision's users

#: Version of :func:`gesture_features`. A saved model records it; a model trained on other
#: features is refused rather than fed numbers it was not trained on.
FEATURE_VERSION = 1
#: Normalized coordinates are clipped to this many shoulder widths: a person turned sideways
#: has a tiny shoulder width and would otherwise produce huge, meaningless numbers.
FEATURE_CLIP = 6.0
#: A landmark this far outside the frame (in normalized units) is out of view whatever its visibility.
FRAME_MARGIN = 0.02

#: The YMCA rows are normalized to a 16:9 video: the upper arm's length relative to the
#: shoulder width varies least across the five poses with x scaled by 16/9 (see the model card).
YMCA_ASPECT = 16 / 9
#: YMCA labels -> our gestures. M (hands on the head) is idle on purpose: the wrists rest on
#: the head, apart; reading it as O would let someone scratching their head or fixing their
#: hair confirm an identity. O needs the hands joined *above* the head.
YMCA_LABEL_MAP: dict[str, str] = {"A": Gesture.O.value, "Y": Gesture.CAPTURE.value, "C": IDLE, "dance": IDLE, "M": IDLE}

DEFAULT_MODEL_FILENAME = "gesture_classifier.joblib"
BASE_TRAINING_SET_FILENAME = "base_training_set.npz"
SITE_MODEL_RELATIVE = Path("models") / "gesture.joblib"


# ---------------------------------------------------------------------------- features


def canonical_arms(arms: NDArray[Any]) -> NDArray[Any]:
    """Reorder (..., 6, 2) arm points so the shoulder with the larger image x comes first.

    Rows are shoulder, shoulder, elbow, elbow, wrist, wrist (side a, side b alternating).
    MediaPipe's left/right flips now and then, and a mirrored camera swaps them; the gestures
    are defined by where the arms are in the image, not by which arm is anatomically left.
    """
    arms = np.asarray(arms, dtype=np.float64)
    swap = arms[..., 0, 0] < arms[..., 1, 0]
    swapped = arms[..., [1, 0, 3, 2, 5, 4], :]
    return np.where(swap[..., None, None], swapped, arms)


def normalize_arms(arms: NDArray[Any]) -> NDArray[Any]:
    """Canonical arm points relative to the shoulder centre, in shoulder widths (clipped)."""
    arms = canonical_arms(arms)
    centre = (arms[..., 0, :] + arms[..., 1, :]) / 2
    width = np.linalg.norm(arms[..., 0, :] - arms[..., 1, :], axis=-1)
    width = np.maximum(width, 1e-6)
    normalized = (arms - centre[..., None, :]) / width[..., None, None]
    return cast(NDArray[Any], np.clip(normalized, -FEATURE_CLIP, FEATURE_CLIP))


def _unit(v: NDArray[Any]) -> NDArray[Any]:
    return cast(NDArray[Any], v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-6))


def gesture_features(arms: NDArray[Any]) -> NDArray[Any]:
    """Features of (N, 6, 2) or (6, 2) isotropic arm points -> (N, 29).

    Invariant to where the person stands and how big they are in the image (translation and
    scale), not to rotation (up is up). Both arms are described the same way and training
    mirrors every example, so the classifier treats the two sides alike.
    """
    p = normalize_arms(np.asarray(arms, dtype=np.float64).reshape(-1, 6, 2))
    shoulder_a, shoulder_b, elbow_a, elbow_b, wrist_a, wrist_b = (p[:, i] for i in range(6))
    upper_a, upper_b = elbow_a - shoulder_a, elbow_b - shoulder_b
    fore_a, fore_b = wrist_a - elbow_a, wrist_b - elbow_b
    cos_elbow_a = np.sum(_unit(-upper_a) * _unit(fore_a), axis=1)
    cos_elbow_b = np.sum(_unit(-upper_b) * _unit(fore_b), axis=1)
    wrist_gap = wrist_a - wrist_b
    columns = [
        shoulder_a,  # shoulder tilt (shoulder b is its mirror image)
        elbow_a,
        elbow_b,
        wrist_a,
        wrist_b,
        wrist_gap,
        np.linalg.norm(wrist_gap, axis=1)[:, None],
        upper_a,
        upper_b,
        fore_a,
        fore_b,
        np.stack([cos_elbow_a, cos_elbow_b], axis=1),
        np.linalg.norm(np.stack([upper_a, upper_b, fore_a, fore_b], axis=1), axis=2),
        np.stack([np.minimum(wrist_a[:, 1], wrist_b[:, 1]), np.maximum(wrist_a[:, 1], wrist_b[:, 1])], axis=1),
    ]
    return np.concatenate(columns, axis=1)


def mirror_arms(arms: NDArray[Any]) -> NDArray[Any]:
    """The same pose seen in a mirror (x negated); every gesture is its own mirror image."""
    mirrored = np.array(arms, dtype=np.float64, copy=True)
    mirrored[..., 0] = -mirrored[..., 0]
    return mirrored


def visibility_problem(
    landmarks: PoseLandmarks, min_visibility: float = DEFAULT_MIN_VISIBILITY
) -> str | None:
    """Why the arms cannot make a gesture in this frame, or None when they can."""
    arms = landmarks.array[list(ARM_LANDMARKS)]
    if np.any(arms[:, 3] < min_visibility):
        return "arms_not_visible"
    if np.any(arms[:, :2] < -FRAME_MARGIN) or np.any(arms[:, :2] > 1 + FRAME_MARGIN):
        return "arms_out_of_frame"
    points = landmarks.arm_points()
    if np.linalg.norm(points[0] - points[1]) < 1e-3:
        return "shoulders_degenerate"
    return None


# ---------------------------------------------------------------------------- YMCA rows


def read_ymca_csv(path: str | Path) -> tuple[NDArray[Any], NDArray[Any]]:
    """The YMCA landmark rows: (labels (N,), isotropic arm points (N, 6, 2)).

    No header; label, then x, y, z of left shoulder, right shoulder, left elbow, right elbow,
    left wrist, right wrist (normalized image coordinates of a 16:9 video). z is dropped.
    """
    labels: list[str] = []
    rows: list[list[float]] = []
    with open(path, newline="") as handle:
        for record in csv.reader(handle):
            if not record:
                continue
            labels.append(record[0].strip())
            rows.append([float(v) for v in record[1:19]])
    values = np.asarray(rows, dtype=np.float64).reshape(-1, 6, 3)[:, :, :2].copy()
    values[:, :, 0] *= YMCA_ASPECT
    return np.asarray(labels), values


# ---------------------------------------------------------------------------- predictions


@dataclass(frozen=True)
class GesturePrediction:
    gesture: str  # O | X | capture | idle
    score: float  # probability of ``gesture`` (1.0 when decided without the classifier)
    probabilities: dict[str, float] = field(default_factory=dict)
    reason: str | None = None  # why it is idle without asking the classifier (arms not visible, ...)

    def as_dict(self) -> dict[str, Any]:
        return {
            "gesture": self.gesture,
            "score": round(float(self.score), 4),
            "probabilities": {k: round(float(v), 4) for k, v in self.probabilities.items()},
            "reason": self.reason,
        }


def _not_a_gesture(reason: str) -> GesturePrediction:
    return GesturePrediction(
        gesture=IDLE, score=1.0, probabilities={g: float(g == IDLE) for g in GESTURES}, reason=reason
    )


# ---------------------------------------------------------------------------- the model


def build_pipeline(seed: int) -> Any:
    """Standardised features into a small MLP: smooth boundaries and ~0.1 ms per frame."""
    from sklearn.neural_network import MLPClassifier  # noqa: PLC0415 - scikit-learn loads lazily, only to train or unpickle a model
    from sklearn.pipeline import make_pipeline  # noqa: PLC0415 - scikit-learn loads lazily, only to train or unpickle a model
    from sklearn.preprocessing import StandardScaler  # noqa: PLC0415 - scikit-learn loads lazily, only to train or unpickle a model

    return make_pipeline(
        StandardScaler(),
        MLPClassifier(
            hidden_layer_sizes=(64, 32),
            alpha=1e-3,
            learning_rate_init=2e-3,
            max_iter=300,
            early_stopping=False,
            random_state=seed,
        ),
    )


def fit_gesture_model(
    arms: NDArray[Any],
    labels: Iterable[str],
    sample_weight: NDArray[Any] | None = None,
    *,
    seed: int = 0,
    summary: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train the classifier on isotropic arm points; returns the model bundle to save."""
    import sklearn  # noqa: PLC0415 - scikit-learn loads lazily, only to train or unpickle a model

    labels = np.asarray(list(labels))
    unknown = set(labels) - set(GESTURES)
    if unknown:
        raise ValueError(f"unknown gesture labels: {sorted(unknown)}")
    pipeline = build_pipeline(seed)
    features = gesture_features(arms)
    if sample_weight is None:
        pipeline.fit(features, labels)
    else:
        pipeline.fit(features, labels, mlpclassifier__sample_weight=np.asarray(sample_weight, dtype=np.float64))
    return {
        "pipeline": pipeline,
        "classes": [str(c) for c in pipeline.classes_],
        "feature_version": FEATURE_VERSION,
        "sklearn_version": sklearn.__version__,
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "summary": summary or {},
    }


def save_model(bundle: dict[str, Any], path: Path) -> None:
    """Write a model bundle atomically (a kiosk reading it mid-write sees the old or the new one)."""
    save_joblib(bundle, Path(path), compress=3)


def load_model(path: Path) -> dict[str, Any]:
    """Load a bundle written by :func:`save_model` (our own file: joblib is pickle)."""

    path = Path(path)
    if not path.is_file():
        raise ModelUnavailable(
            f"The gesture model {path} is missing; train it with `kiosk train gesture` "
            "or restore models/gesture/ from the repository."
        )
    try:
        with warnings.catch_warnings():
            # A model pickled by another scikit-learn release still loads; the bundle records it.
            warnings.simplefilter("ignore")
            bundle = joblib.load(path)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means the same thing here
        raise ModelUnavailable(f"The gesture model {path} could not be read ({err}); retrain it.") from err
    if not isinstance(bundle, dict) or "pipeline" not in bundle:
        raise ModelUnavailable(f"{path} is not a gesture model bundle; retrain it.")
    if bundle.get("feature_version") != FEATURE_VERSION:
        raise ModelUnavailable(
            f"{path} was trained on gesture features v{bundle.get('feature_version')}, this code computes "
            f"v{FEATURE_VERSION}; retrain it."
        )
    return bundle


def probabilities_for(bundle: dict[str, Any], arms: NDArray[Any]) -> NDArray[Any]:
    """(N, 4) probabilities in the order of :data:`GESTURES` for (N, 6, 2) arm points."""
    raw = bundle["pipeline"].predict_proba(gesture_features(arms))
    out = np.zeros((raw.shape[0], len(GESTURES)))
    for column, name in enumerate(bundle["classes"]):
        out[:, GESTURES.index(name)] = raw[:, column]
    return out


@dataclass(frozen=True)
class _LoadedModel:
    bundle: dict[str, Any]
    path: Path
    source: str  # "site" | "default"


class GestureClassifier(LazyModel):
    """The gesture model: the site's own (``site_path``) when it exists, else the shipped default.

    The file is checked (one ``stat``) on each use and reloaded when it changed
    (``kiosk.vision.model_file``), so a retrained site model is picked up by every worker without a
    restart.
    """

    name = "gesture"

    def __init__(self, default_path: Path, site_path: Path | None = None) -> None:
        super().__init__()
        self.default_path = Path(default_path)
        self.site_path = Path(site_path) if site_path is not None else None
        self._file: ReloadingFile[_LoadedModel] = ReloadingFile(self._read)

    def _active_file(self) -> tuple[Path, str]:
        if self.site_path is not None and self.site_path.is_file():
            return self.site_path, "site"
        return self.default_path, "default"

    def _read(self, path: Path) -> _LoadedModel:
        source = "site" if path == self.site_path else "default"
        return _LoadedModel(bundle=load_model(path), path=path, source=source)

    def _load(self) -> _LoadedModel:
        return self._file.get(self._active_file()[0])

    @property
    def model(self) -> _LoadedModel:
        self._model = self._load()  # one stat; loaded again only when the active file changed
        return cast(_LoadedModel, self._model)

    def info(self) -> dict[str, Any]:
        loaded = self.model
        bundle = loaded.bundle
        return {
            "source": loaded.source,
            # The file's name only: "source" says which folder (data dir or models/), and the
            # admin API must not show the server's paths.
            "file": loaded.path.name,
            "classes": list(GESTURES),
            "trained_at": bundle.get("trained_at"),
            "sklearn_version": bundle.get("sklearn_version"),
            "summary": bundle.get("summary", {}),
        }

    def predict_arms(self, arms: NDArray[Any]) -> list[GesturePrediction]:
        """Predictions for (N, 6, 2) or (6, 2) isotropic arm points (no visibility check)."""
        probabilities = probabilities_for(self.model.bundle, np.asarray(arms).reshape(-1, 6, 2))
        predictions = []
        for row in probabilities:
            best = int(np.argmax(row))
            predictions.append(
                GesturePrediction(
                    gesture=GESTURES[best],
                    score=float(row[best]),
                    probabilities={g: float(p) for g, p in zip(GESTURES, row)},
                )
            )
        return predictions

    def predict(self, landmarks: PoseLandmarks) -> GesturePrediction:
        """The gesture of one person's landmarks; idle (with a reason) when the arms are not all seen."""
        problem = visibility_problem(landmarks)
        if problem is not None:
            return _not_a_gesture(problem)
        return self.predict_arms(landmarks.arm_points())[0]


# ---------------------------------------------------------------------------- where the models live


def default_model_path(models_dir: str | Path | None = None) -> Path:
    return Path(models_dir or REPO_MODELS_DIR) / "gesture" / DEFAULT_MODEL_FILENAME


def base_training_set_path(models_dir: str | Path | None = None) -> Path:
    return Path(models_dir or REPO_MODELS_DIR) / "gesture" / BASE_TRAINING_SET_FILENAME


def site_model_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / SITE_MODEL_RELATIVE


_classifiers: dict[tuple[Path, Path | None], GestureClassifier] = {}
_classifiers_lock = threading.Lock()


def get_classifier() -> GestureClassifier:
    """The classifier for the current app's models and data dirs (one instance per pair per process)."""
    site_dir = data_dir()
    key = (default_model_path(models_dir()), site_model_path(site_dir) if site_dir is not None else None)
    classifier = _classifiers.get(key)
    if classifier is None:
        with _classifiers_lock:
            classifier = _classifiers.setdefault(key, GestureClassifier(*key))
    return classifier


def classify(landmarks: PoseLandmarks) -> GesturePrediction:
    """The gesture of ``landmarks`` with the current app's classifier."""
    return get_classifier().predict(landmarks)


# ---------------------------------------------------------------------------- augmentation


def jitter_arms(arms: NDArray[Any], rng: np.random.Generator, copies: int, noise: float = 0.03) -> NDArray[Any]:
    """``copies`` perturbed versions of each (6, 2) skeleton: mirrored half the time, rotated
    +-6 degrees, Gaussian noise of ``noise`` shoulder widths. Spreads a few real or site
    samples over their neighbourhood so the classifier learns a region, not a point."""
    arms = np.asarray(arms, dtype=np.float64).reshape(-1, 6, 2)
    out = np.empty((len(arms) * copies, 6, 2))
    k = 0
    for skeleton in arms:
        width = max(float(np.linalg.norm(skeleton[0] - skeleton[1])), 1e-6)
        centre = (skeleton[0] + skeleton[1]) / 2
        for _ in range(copies):
            local = skeleton - centre
            if rng.random() < 0.5:
                local = mirror_arms(local)
            angle = np.radians(rng.uniform(-6, 6))
            rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
            out[k] = centre + local @ rotation.T + rng.normal(0, noise * width, local.shape)
            k += 1
    return out


def class_balanced_weights(labels: NDArray[Any], factors: NDArray[Any] | None = None) -> NDArray[Any]:
    """Sample weights giving every gesture the same total weight (times per-row ``factors``),
    averaging 1 per row. The base set has ~2x more idle than O; without this the classifier
    would lean to idle for no reason of the data."""
    labels = np.asarray(labels)
    factors = np.ones(len(labels)) if factors is None else np.asarray(factors, dtype=np.float64)
    weights = np.zeros(len(labels))
    present = [g for g in GESTURES if np.any(labels == g)]
    for gesture in present:
        mask = labels == gesture
        weights[mask] = factors[mask] / factors[mask].sum()
    return weights * len(labels) / len(present)
