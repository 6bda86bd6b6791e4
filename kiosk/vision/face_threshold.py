"""The face model's unknown threshold and score slope, learned from the enrolled embeddings
(``kiosk.vision.face_model`` explains the rule). Pure numpy and scikit-learn."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .embedders import score_slopes, threshold_ranges

# (low, high, default) threshold per embedder id (FaceNet: per weights key), on L2-normalised embeddings.
THRESHOLD_RANGES = threshold_ranges()
DEFAULT_SCORE_SLOPE = score_slopes()
THRESHOLD_QUERY_SAMPLES = 2000


def _nearest_distances(
    gallery: NDArray[Any], person_ids: NDArray[Any], seed: int = 0
) -> tuple[NDArray[Any], NDArray[Any]]:
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


def learn_threshold(gallery: NDArray[Any], person_ids: NDArray[Any], embedder: str) -> tuple[float, float, str]:
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
        from sklearn.linear_model import LogisticRegression  # noqa: PLC0415 - scikit-learn loads lazily, only to train or unpickle a model

        d = np.r_[genuine, impostor][:, None]
        target = np.r_[np.ones(len(genuine)), np.zeros(len(impostor))]
        fitted = LogisticRegression(C=100.0, class_weight="balanced").fit(d, target)
        slope = float(np.clip(-fitted.coef_[0, 0], slope / 4, slope * 4))
    except ValueError:
        pass
    return threshold, slope, source
