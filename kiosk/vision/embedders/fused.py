"""FaceNet and dlib fused: both descriptors of the same crop, each weighted by
:data:`FUSION_WEIGHTS`, joined and normalised again (:meth:`FusedEmbedder.combine`): the squared
distance of two fused embeddings is the weighted sum of the two embedders' squared distances
(score-level fusion in embedding form, so the same SVMs and threshold rule apply)."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from .. import facenet_weights
from . import dlib
from .base import Embedder, EmbedderKind, l2_normalize
from .facenet import FACENET_DIM, FaceNetEmbedder

# From faces-dev with FaceNet 20180408-102900 (training/evaluate_faces.py; the model card): the rule
# learned 0.49-0.56 (median 0.52) from the enrolled photos.
THRESHOLD_RANGE, SCORE_SLOPE = (0.46, 0.60, 0.52), 32.0

#: Weights of FaceNet's and dlib's parts in the fused embedding: each part divided by its own default
#: threshold (FaceNet 20180408-102900: 0.93, dlib: 0.40), so that both count alike, then scaled to unit
#: length (squared weights summing to 1). On faces-dev this beat equal weights (the model card).
_FUSION_RAW = np.array([1 / facenet_weights.CASIA_WEBFACE.threshold_range[2], 1 / dlib.THRESHOLD_RANGE[2]])
FUSION_WEIGHTS = tuple(float(w) for w in _FUSION_RAW / np.linalg.norm(_FUSION_RAW))


class FusedEmbedder(Embedder):
    """FaceNet and dlib on the same crop, joined. Made of the process-wide FaceNet and dlib
    embedders (the registry hands them over), so nothing is loaded twice."""

    name = "facenet+dlib"
    dim = FACENET_DIM + dlib.DlibEmbedder.dim
    batch_size = FaceNetEmbedder.batch_size  # its FaceNet half gains from a batch, its dlib half loses nothing

    def __init__(self, facenet: FaceNetEmbedder, dlib_part: dlib.DlibEmbedder) -> None:
        super().__init__()
        self.facenet = facenet
        self.dlib = dlib_part

    @property
    def id(self) -> str:
        return f"{self.name}:{self.facenet.weights.key}"

    def _load(self) -> bool:
        self.facenet.warm_up()
        self.dlib.warm_up()
        return True

    @staticmethod
    def combine(facenet: NDArray[Any], dlib: NDArray[Any]) -> NDArray[Any]:
        """(n, 512) FaceNet and (n, 128) dlib embeddings of the same crops -> (n, 640) fused ones."""
        return l2_normalize(np.hstack([FUSION_WEIGHTS[0] * facenet, FUSION_WEIGHTS[1] * dlib]))

    def embed_crops(self, crops: list[NDArray[Any]]) -> NDArray[Any]:
        if not crops:
            return self._empty()
        return self.combine(self.facenet.embed_crops(crops), self.dlib.embed_crops(crops))


KIND = EmbedderKind(
    name=FusedEmbedder.name, keys=lambda: tuple(facenet_weights.WEIGHTS),
    make=lambda key, get: FusedEmbedder(
        cast(FaceNetEmbedder, get(f"facenet:{key}" if key else "facenet")), cast(dlib.DlibEmbedder, get("dlib"))
    ),
    threshold_range=lambda key: THRESHOLD_RANGE, score_slope=lambda key: SCORE_SLOPE,
)
