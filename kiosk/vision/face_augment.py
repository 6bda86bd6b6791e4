"""The augmented copies of an enrollment crop the face model trains on (``kiosk.vision.face_model``).
Pure OpenCV and numpy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import cv2
import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from .embedders.base import Embedder

AUGMENT_VERSION = 2  # the set of copies changed: cached copies of another version are made again


def _warp(crop: NDArray[Any], angle: float = 0.0, scale: float = 1.0, dx: float = 0.0, dy: float = 0.0) -> NDArray[Any]:
    size = crop.shape[1], crop.shape[0]
    matrix = cv2.getRotationMatrix2D((size[0] / 2.0, size[1] / 2.0), angle, scale)
    matrix[0, 2] += dx
    matrix[1, 2] += dy
    return cv2.warpAffine(crop, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def relight(crop: NDArray[Any], gamma: float) -> NDArray[Any]:
    table = np.clip(((np.arange(256) / 255.0) ** gamma) * 255.0, 0, 255).astype(np.uint8)
    return cv2.LUT(crop, table)


# Every copy the trainer knows how to make: a mirror, darker and brighter light (the source report's
# photos-vs-webcam gap was mostly lighting), small rotations, a shift, a zoom, a slight blur.
# ``training/evaluate_faces.py --augmentations NAMES`` measures any set of them.
AUGMENTATION_RECIPES: dict[str, Callable[[NDArray[Any]], NDArray[Any]]] = {
    "mirror": lambda c: np.ascontiguousarray(c[:, ::-1]),
    "darker": lambda c: relight(c, 1.6),
    "brighter": lambda c: relight(c, 0.6),
    "rotate_left": lambda c: _warp(c, angle=8.0),
    "rotate_right": lambda c: _warp(c, angle=-8.0),
    "shift": lambda c: _warp(c, dx=6.0, dy=-6.0),
    "zoom": lambda c: _warp(c, scale=1.08),
    "soft": lambda c: cv2.GaussianBlur(c, (0, 0), 1.2),
}

# The copies training makes of each enrollment photo, per embedder (the part of its id before ":").
# Each costs one embedder pass at training time and one SVM row: eight copies held a bulk import of
# 1,000 photos with FaceNet to 2.5 photos/s and made a 10,000-person model file mostly cached copies.
# On faces-dev (training/evaluate_faces.py --relit --augmentations "all;none;mirror;darker,brighter",
# 22 splits, held-out photos as taken and re-lit darker and brighter than any copy; docs/capacity.md):
# FaceNet without copies scored as with all eight (top-1 1.0000, FAR 0.0023, FRR 0.0212; re-lit top-1
# 1.0000 both, re-lit FAR 0.0029 vs 0.0035), so it trains on the photos alone. dlib lost a little
# without them (top-1 0.9884 vs 0.9893) and no subset matched all eight everywhere: it keeps them,
# and so does the fused embedder, which was not measured apart.
ALL_AUGMENTATIONS: tuple[str, ...] = tuple(AUGMENTATION_RECIPES)
TRAINING_AUGMENTATIONS: dict[str, tuple[str, ...]] = {
    "facenet": (),
    "dlib": ALL_AUGMENTATIONS,
    "facenet+dlib": ALL_AUGMENTATIONS,
}


def training_augmentations(embedder_id: str) -> tuple[str, ...]:
    """The recipes of :data:`AUGMENTATION_RECIPES` training uses with this embedder id."""
    return TRAINING_AUGMENTATIONS.get(embedder_id.partition(":")[0], ALL_AUGMENTATIONS)


def augment_crop(crop: NDArray[Any], names: tuple[str, ...]) -> list[NDArray[Any]]:
    """The augmented copies of a canonical crop (not the original): one per recipe in ``names``
    (``training_augmentations(embedder_id)`` for what training uses)."""
    return [AUGMENTATION_RECIPES[name](crop) for name in names]


def embed_with_augmentations(embedder: Embedder, crop: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
    """(embedding of the crop, embeddings of the copies training uses with this embedder) with one embedder call."""
    vectors = embedder.embed_crops([crop, *augment_crop(crop, training_augmentations(embedder.id))])
    return vectors[0], vectors[1:]
