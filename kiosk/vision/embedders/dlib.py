"""dlib's ResNet descriptor (``face_recognition_model_v1``, ResNet-29, 128-d, public-domain model)
with its 5-point shape predictor, from the ``face-recognition-models`` wheel (files found with
importlib.resources: that package's own helper imports ``pkg_resources``, gone from new
setuptools). The shape predictor runs on the canonical crop inside the face box; dlib then cuts
its own 150 px chip. ``num_jitters=0``: jittering costs 10x per extra sample for a small gain."""

from __future__ import annotations

import importlib.resources
import threading
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..face_crop import face_in_canonical_crop
from ..image import bgr_to_rgb
from ..lazy import ModelUnavailable
from .base import Embedder, EmbedderKind, as_canonical, l2_normalize

# face_recognition's 0.6 is for raw descriptors and lets many strangers in.
THRESHOLD_RANGE, SCORE_SLOPE = (0.32, 0.45, 0.40), 40.0


def _dlib_model_file(filename: str) -> Path:
    try:
        root = importlib.resources.files("face_recognition_models") / "models"
    except ModuleNotFoundError as err:
        raise ModelUnavailable(
            "The dlib face models are missing: install the face-recognition-models package "
            "(pip install face-recognition-models==0.3.0)."
        ) from err
    path = Path(str(root / filename))
    if not path.is_file():
        raise ModelUnavailable(f"{path} is missing: reinstall face-recognition-models.")
    return path


def _dlib_rect() -> tuple[int, int, int, int]:
    """left, top, right, bottom of the box dlib's shape predictor expects, in the canonical crop.

    The 5-point predictor was trained on dlib's HOG detector boxes, which sit higher than
    BlazeFace's and are a little larger (measured on the canonical crops of LFW photos: median
    shift up 9% of the box, size 107%); giving it what it was trained on makes the landmarks,
    and so dlib's own alignment, steadier.
    """
    x, y, w, h = face_in_canonical_crop().box
    left, top, side = x + 0.02 * w, y - 0.093 * h, 1.07 * w
    return int(round(left)), int(round(top)), int(round(left + side)), int(round(top + side))


class DlibEmbedder(Embedder):
    name = "dlib"
    dim = 128
    batch_size = 1  # one face at a time inside anyway: a batch gains nothing

    def __init__(self) -> None:
        super().__init__()
        self._run_lock = threading.Lock()  # dlib's networks keep per-call buffers: one call at a time

    def _load(self) -> Any:
        try:
            import dlib  # noqa: PLC0415 - dlib loads lazily, only when it is the embedder
        except ImportError as err:
            raise ModelUnavailable("dlib is not installed (pip install dlib-bin==20.0.1.post1).") from err
        shape_predictor = dlib.shape_predictor(str(_dlib_model_file("shape_predictor_5_face_landmarks.dat")))
        descriptor = dlib.face_recognition_model_v1(str(_dlib_model_file("dlib_face_recognition_resnet_model_v1.dat")))
        return dlib, shape_predictor, descriptor

    def embed_crops(self, crops: list[NDArray[Any]]) -> NDArray[Any]:
        if not crops:
            return self._empty()
        dlib, shape_predictor, descriptor = self.model
        out = np.empty((len(crops), self.dim), dtype=np.float32)
        for i, crop in enumerate(crops):
            rgb = bgr_to_rgb(as_canonical(crop))
            rect = dlib.rectangle(*_dlib_rect())
            with self._run_lock:
                shape = shape_predictor(rgb, rect)
                out[i] = np.asarray(descriptor.compute_face_descriptor(rgb, shape, 0), dtype=np.float32)
        return l2_normalize(out)


KIND = EmbedderKind(
    name=DlibEmbedder.name, keys=lambda: (None,), make=lambda key, get: DlibEmbedder(),
    threshold_range=lambda key: THRESHOLD_RANGE, score_slope=lambda key: SCORE_SLOPE,
)
