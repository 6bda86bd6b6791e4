"""Face embedders behind one interface: FaceNet (the default), dlib's ResNet descriptor, and both fused.

All embed from the *canonical crop* made by :func:`kiosk.vision.face_crop.canonical_crop` (BGR,
224 px, eyes level, the detector's face box in the middle 62%): enrollment stores that crop,
training re-embeds it, identification makes it from the camera frame, so every face the
classifier sees was prepared by the same code. Every embedding is L2-normalised, so the
euclidean distance between two embeddings is a monotonic function of their cosine similarity
and a single distance threshold works for every embedder (each has its own range).

The registry (:data:`EMBEDDERS`): one module per embedder declares it (its class, the weights keys
it comes with, its threshold range and score slope): ``facenet`` (:mod:`.facenet`), ``dlib``
(:mod:`.dlib`), ``facenet+dlib`` (:mod:`.fused`). Adding an embedder is adding a module and its
entry here; nothing else lists them.

An *embedder id* names an embedder and its weights: ``dlib``, ``facenet:<key>``,
``facenet+dlib:<key>``. Stored embeddings and trained models carry it, so a change of embedder *or*
of FaceNet weights re-embeds the stored crops at the next training.

``KIOSK_EMBEDDER=auto|facenet|dlib|facenet+dlib``: ``auto`` is FaceNet when the weights that
``KIOSK_FACENET_WEIGHTS`` (default ``auto``: see :mod:`kiosk.vision.facenet_weights`) selects are
present, else dlib.
"""

from __future__ import annotations

import threading

from .. import facenet_weights
from ..settings import models_dir, setting
from . import dlib, facenet, fused
from .base import Embedder, EmbedderKind
from .dlib import DlibEmbedder
from .facenet import (
    FACENET_DIM,
    FACENET_IMAGE_SIZE,
    FACENET_MARGIN_X,
    FACENET_MARGIN_Y,
    FaceNetEmbedder,
    facenet_weights_path,
    selected_facenet_key,
)
from .fused import FUSION_WEIGHTS, FusedEmbedder

__all__ = [
    "EMBEDDERS", "Embedder", "EmbedderKind", "DlibEmbedder", "FaceNetEmbedder", "FusedEmbedder", "FACENET_DIM",
    "FACENET_IMAGE_SIZE", "FACENET_MARGIN_X", "FACENET_MARGIN_Y", "FUSION_WEIGHTS", "embedder_id",
    "facenet_weights_path", "get_embedder", "models_dir", "reset_embedders", "resolve_embedder_id", "score_slopes",
    "selected_facenet_key", "split_embedder_id", "threshold_ranges",
]

#: Every embedder, by name, in the order ``KIOSK_EMBEDDER``'s message lists them.
EMBEDDERS: dict[str, EmbedderKind] = {kind.name: kind for kind in (facenet.KIND, dlib.KIND, fused.KIND)}

_embedders: dict[str, Embedder] = {}
_embedders_lock = threading.RLock()  # re-entrant: the fused embedder gets its parts while being made


def split_embedder_id(embedder_id: str) -> tuple[str, str | None]:
    """``facenet:20180408-102900`` -> (``facenet``, ``20180408-102900``); ``dlib`` -> (``dlib``, None)."""
    name, _, key = embedder_id.partition(":")
    return name, key or None


def embedder_id(name: str, key: str | None) -> str:
    return f"{name}:{key}" if key else name


def resolve_embedder_id(config_value: str | None = None) -> str:
    """The embedder id for a ``KIOSK_EMBEDDER`` value (the app's when None); full ids pass through checked.

    ``auto`` -> ``facenet:<key>`` when the selected FaceNet weights are present, else ``dlib``;
    an embedder with weights keys (``facenet``, ``facenet+dlib``) -> with the selected key (or the
    preferred one, whose absence loading then explains)."""
    if config_value is None:
        config_value = setting("KIOSK_EMBEDDER", "auto")
    value = (config_value or "auto").strip().lower()
    name, key = split_embedder_id(value)
    if name == "auto" and key is None:
        key = selected_facenet_key()
        present = key is not None and facenet_weights_path(key).is_file()
        return embedder_id(FaceNetEmbedder.name, key) if present else DlibEmbedder.name
    kind = EMBEDDERS.get(name)
    if kind is None:
        raise ValueError(f"KIOSK_EMBEDDER must be auto, {', '.join(EMBEDDERS)}, not {config_value!r}")
    if not kind.has_weights_keys:
        if key:
            raise ValueError(f"The {name} embedder has no weights key: {config_value!r}")
        return name
    try:
        key = facenet_weights.weights_for(key).key if key else selected_facenet_key() or facenet_weights.PREFERENCE[0]
    except facenet_weights.UnknownWeights as err:
        raise ValueError(str(err)) from None
    return embedder_id(name, key)


def get_embedder(value: str = "auto") -> Embedder:
    """The process-wide embedder for an embedder id or a ``KIOSK_EMBEDDER`` value, loaded on first use."""
    resolved = resolve_embedder_id(value)
    with _embedders_lock:
        embedder = _embedders.get(resolved)
        if embedder is None:
            name, key = split_embedder_id(resolved)
            embedder = _embedders[resolved] = EMBEDDERS[name].make(key, get_embedder)
        return embedder


def reset_embedders() -> None:
    """Forget the loaded embedders (tests that swap the FaceNet weights file)."""
    with _embedders_lock:
        _embedders.clear()


def threshold_ranges() -> dict[str, tuple[float, float, float]]:
    """(low, high, default) unknown-rejection distance for every embedder id, without loading anything."""
    return {
        embedder_id(name, key): kind.threshold_range(key) for name, kind in EMBEDDERS.items() for key in kind.keys()
    }


def score_slopes() -> dict[str, float]:
    """The score sigmoid's slope for every embedder id, when too little is enrolled to fit it."""
    return {embedder_id(name, key): kind.score_slope(key) for name, kind in EMBEDDERS.items() for key in kind.keys()}
