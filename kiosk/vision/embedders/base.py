"""What every embedder is: the interface (:class:`Embedder`), how embeddings are normalised and
crops made canonical, and the registry entry each embedder module declares (:class:`EmbedderKind`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from ..face_crop import CANONICAL_CROP_SIZE
from ..lazy import LazyModel


def l2_normalize(vectors: NDArray[Any]) -> NDArray[Any]:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return cast(NDArray[Any], vectors / np.maximum(norms, 1e-12))


def as_canonical(crop: NDArray[Any]) -> NDArray[Any]:
    if crop.shape[:2] != (CANONICAL_CROP_SIZE, CANONICAL_CROP_SIZE):
        # Crops stored by an older version or made at another size: the geometry is relative.
        crop = cv2.resize(crop, (CANONICAL_CROP_SIZE, CANONICAL_CROP_SIZE), interpolation=cv2.INTER_AREA)
    return crop


class Embedder(LazyModel):
    """Turns canonical face crops into L2-normalised float32 embeddings, shape (n, dim)."""

    name: ClassVar[str] = "embedder"
    dim: ClassVar[int] = 0
    #: How many crops a bulk import embeds per call: the size that paid off when measured
    #: (training/bench_import.py prints ms per face for each batch size).
    batch_size: ClassVar[int] = 1

    @property
    def id(self) -> str:
        """What stored embeddings and trained models record (see the package docstring)."""
        return self.name

    def embed_crops(self, crops: list[NDArray[Any]]) -> NDArray[Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, crops: list[NDArray[Any]]) -> NDArray[Any]:
        return self.embed_crops(crops)

    def _empty(self) -> NDArray[Any]:
        return np.zeros((0, self.dim), dtype=np.float32)


#: Makes the process-wide embedder of an id; an embedder made of others gets them from it.
GetEmbedder = Callable[[str], Embedder]


@dataclass(frozen=True)
class EmbedderKind:
    """One embedder in the registry: its name, the weights keys it comes with (``(None,)``: none),
    how to make it, and its unknown-rejection threshold range and score slope per key."""

    name: str
    keys: Callable[[], Iterable[str | None]]
    make: Callable[[str | None, GetEmbedder], Embedder]
    #: (low, high, default) distance on L2-normalised embeddings: the learned threshold is kept
    #: inside [low, high]; the default serves when too few people are enrolled to learn one.
    threshold_range: Callable[[str | None], tuple[float, float, float]]
    #: The score sigmoid's slope when too little is enrolled to fit it.
    score_slope: Callable[[str | None], float]

    @property
    def has_weights_keys(self) -> bool:
        return list(self.keys()) != [None]
