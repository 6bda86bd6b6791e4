"""The face model's one-vs-rest linear SVMs (``kiosk.vision.face_model`` explains the choice): one SVC
per person against the samples of the people nearest it plus a random sample of everyone else.

Pure numpy and scikit-learn. Finding each person's rows and nearest people is done once, in blocks,
not by scanning every row per person: with 10,000 people that scan, and the full person-by-person
distance matrix (400 MB), cost more than the fits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

SVM_C = 10.0
HARD_NEGATIVE_PEOPLE = 40
RANDOM_NEGATIVES = 200


def fit_one_vs_rest(
    X: NDArray[Any], y: NDArray[Any], rng: np.random.Generator, only: list[int] | None = None
) -> tuple[NDArray[Any], NDArray[Any]] | dict[int, tuple[NDArray[Any], float]]:
    """One linear SVC per class against its hardest negatives; returns (weights, bias) rows in np.unique(y)
    order, or, with ``only`` (some of the classes), {class: (weights row, bias)} for those alone."""
    from sklearn.svm import SVC  # noqa: PLC0415 - scikit-learn loads only when a model is trained

    classes, row_class = np.unique(y, return_inverse=True)
    rows_of = rows_by_class(row_class, len(classes))
    fit = np.arange(len(classes)) if only is None else np.searchsorted(classes, only)
    neighbours_of = nearest_classes(class_centroids(X, rows_of), fit, HARD_NEGATIVE_PEOPLE)
    weights = np.zeros((len(classes), X.shape[1]), dtype=np.float32)
    bias = np.zeros(len(classes), dtype=np.float32)
    for i, neighbours in zip(fit, neighbours_of):
        positives = rows_of[i]
        negatives = np.concatenate([rows_of[c] for c in neighbours]) if len(neighbours) else positives[:0]
        sampled = random_other_rows(row_class, {int(i), *neighbours.tolist()},
                                     len(X) - len(positives) - len(negatives), rng)
        rows = np.concatenate([positives, negatives, sampled])
        target = np.r_[np.ones(len(positives)), np.zeros(len(negatives) + len(sampled))]
        svm = SVC(kernel="linear", C=SVM_C, class_weight="balanced")
        svm.fit(X[rows], target)
        weights[i] = svm.coef_[0]
        bias[i] = svm.intercept_[0]
    if only is not None:
        return {int(classes[i]): (weights[i], float(bias[i])) for i in fit}
    return weights, bias


def rows_by_class(row_class: NDArray[Any], n_classes: int) -> list[NDArray[Any]]:
    """The row indices of each class (one stable sort, not one scan of every row per class)."""
    order = np.argsort(row_class, kind="stable")
    bounds = np.searchsorted(row_class[order], np.arange(n_classes + 1))
    return [order[bounds[c] : bounds[c + 1]] for c in range(n_classes)]


def class_centroids(X: NDArray[Any], rows_of: list[NDArray[Any]]) -> NDArray[Any]:
    centroids: NDArray[Any] = np.stack([X[rows].mean(axis=0) for rows in rows_of]).astype(np.float32)
    unit: NDArray[Any] = centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    return unit


def nearest_classes(centroids: NDArray[Any], wanted: NDArray[Any], count: int, block: int = 512) -> list[NDArray[Any]]:
    """For each class in ``wanted``: the ``count`` other classes with the nearest centroids, nearest first.
    In blocks: with 10,000 people the full class-by-class matrix would take 400 MB."""
    squares = np.sum(centroids**2, axis=1)
    result: list[NDArray[Any]] = []
    for start in range(0, len(wanted), block):
        rows = wanted[start : start + block]
        d2 = squares[rows, None] + squares[None, :] - 2.0 * centroids[rows] @ centroids.T
        d2[np.arange(len(rows)), rows] = np.inf  # not itself
        k = min(count, len(centroids) - 1)
        if k <= 0:
            result.extend(np.zeros(0, dtype=np.int64) for _ in rows)
            continue
        nearest = np.argpartition(d2, k - 1, axis=1)[:, :k]
        for r, candidates in enumerate(nearest):
            result.append(candidates[np.argsort(d2[r, candidates], kind="stable")])
    return result


def random_other_rows(row_class: NDArray[Any], excluded: set[int], available: int,
                      rng: np.random.Generator) -> NDArray[Any]:
    """Up to RANDOM_NEGATIVES rows of classes not in ``excluded`` (all of them when there are no more)."""
    if available <= 0:
        return np.zeros(0, dtype=np.int64)
    if available <= 4 * RANDOM_NEGATIVES:  # a small site: pick among the candidates themselves
        others = np.flatnonzero(~np.isin(row_class, list(excluded)))
        return rng.choice(others, min(RANDOM_NEGATIVES, len(others)), replace=False)
    # A large site: draw from every row and drop the excluded ones (a few percent of the draws at most).
    chosen: list[int] = []
    seen: set[int] = set()
    while len(chosen) < RANDOM_NEGATIVES:
        for row in rng.integers(0, len(row_class), 2 * RANDOM_NEGATIVES).tolist():
            if row not in seen and int(row_class[row]) not in excluded:
                seen.add(row)
                chosen.append(row)
                if len(chosen) == RANDOM_NEGATIVES:
                    break
    return np.asarray(chosen, dtype=np.int64)
