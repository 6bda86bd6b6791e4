"""Face embedders behind one interface: dlib's ResNet descriptor (offline default) and FaceNet.

Both embed from the *canonical crop* made by :func:`kiosk.vision.faces.canonical_crop` (BGR,
224 px, eyes level, the detector's face box in the middle 62%): enrollment stores that crop,
training re-embeds it, identification makes it from the camera frame, so every face the
classifier sees was prepared by the same code. Every embedding is L2-normalised, so the
euclidean distance between two embeddings is a monotonic function of their cosine similarity
and a single distance threshold works for both embedders (each has its own value).

* ``dlib``: dlib's ``face_recognition_model_v1`` (ResNet-29, 128-d) with its 5-point shape
  predictor, from the ``face-recognition-models`` wheel (files found with importlib.resources:
  that package's own helper imports ``pkg_resources``, gone from new setuptools). The shape
  predictor runs on the canonical crop inside the face box; dlib then cuts its own 150 px chip.
  ``num_jitters=0``: jittering costs 10x per extra sample for a small gain.
* ``facenet``: keras-facenet's InceptionResNetV1 (key ``20180402-114759``, 512-d), weights from
  ``<models dir>/facenet/20180402-114759-weights.h5`` placed there by ``kiosk models fetch facenet``
  (keras-facenet's own URL and sha256). 160 px RGB crop of the face box plus 10% per side (as
  keras-facenet crops MTCNN boxes), standardised as keras-facenet does for this key
  (``fixed_image_standardization``: ``(x - 127.5) / 127.5``; the older 2017 keys used per-image
  prewhitening), run under ``tf.function`` (plain ``model(x)`` is ~10x slower in Keras 3).

``KIOSK_EMBEDDER=auto|facenet|dlib``: ``auto`` is FaceNet when its weights file exists, else dlib.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

from .faces import CANONICAL_CROP_MARGIN, CANONICAL_CROP_SIZE, Face, canonical_crop, face_in_canonical_crop
from .image import bgr_to_rgb
from .lazy import LazyModel, ModelUnavailable
from .settings import models_dir, setting

EMBEDDER_NAMES = ("facenet", "dlib")

# keras-facenet 0.3.2, keras_facenet/metadata.py, MODEL_METADATA["20180402-114759"].
FACENET_KEY = "20180402-114759"
FACENET_WEIGHTS_FILENAME = "20180402-114759-weights.h5"
FACENET_WEIGHTS_URL = (
    "https://github.com/faustomorales/keras-facenet/releases/download/v0.3.1/20180402-114759-weights.h5"
)
FACENET_WEIGHTS_SHA256 = "8b71e7045497e841c00ee568f031d1a4d30908fceadf6884aef2dec4d545202b"
FACENET_DIM = 512
FACENET_IMAGE_SIZE = 160
FACENET_MARGIN = 0.1  # of the face box side, on each side


def _l2_normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def facenet_weights_path(root: Path | None = None) -> Path:
    return (root or models_dir()) / "facenet" / FACENET_WEIGHTS_FILENAME


class Embedder(LazyModel):
    """Turns canonical face crops into L2-normalised float32 embeddings, shape (n, dim)."""

    name: ClassVar[str] = "embedder"
    dim: ClassVar[int] = 0
    #: A distance threshold that suits this embedder when too few people are enrolled to learn one.
    default_threshold: ClassVar[float] = 0.5

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
    # On L2-normalised dlib descriptors; face_recognition's 0.6 is for raw ones and lets many
    # strangers in. The trained model usually learns its own value (see services.recognition).
    default_threshold = 0.5

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
    default_threshold = 0.9  # on L2-normalised FaceNet-512 embeddings (cosine distance ~0.4)

    def __init__(self, weights_path: Path | None = None) -> None:
        super().__init__()
        self._weights_path = weights_path

    @property
    def weights_path(self) -> Path:
        return self._weights_path or facenet_weights_path()

    def _load(self):
        path = self.weights_path
        if not path.is_file():
            raise ModelUnavailable(
                f"The FaceNet weights are not in {path}. Run `kiosk models fetch facenet` on a machine with "
                "internet access (or copy the file there), or use KIOSK_EMBEDDER=dlib."
            )
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf
        from keras_facenet.inception_resnet_v1 import InceptionResNetV1

        model = InceptionResNetV1(input_shape=(None, None, 3), classes=self.dim)
        try:
            model.load_weights(str(path))
        except Exception as err:  # h5py / keras raise many types for a wrong or damaged file
            raise ModelUnavailable(
                f"{path} could not be loaded as the FaceNet {FACENET_KEY} weights ({type(err).__name__}: {err}). "
                "Fetch it again with `kiosk models fetch facenet`."
            ) from err

        # One traced graph for any batch size; the first call traces (~3 s), later ones are ~35 ms.
        @tf.function(input_signature=[tf.TensorSpec([None, FACENET_IMAGE_SIZE, FACENET_IMAGE_SIZE, 3], tf.float32)])
        def run(batch):
            return model(batch, training=False)

        return model, run

    @staticmethod
    def preprocess(crop: np.ndarray) -> np.ndarray:
        """Canonical BGR crop -> 160x160 RGB float32, standardised like keras-facenet does for this key."""
        crop = _as_canonical(crop)
        x, y, w, _ = face_in_canonical_crop().box
        pad = int(round(w * FACENET_MARGIN))
        region = crop[max(0, y - pad) : y + w + pad, max(0, x - pad) : x + w + pad]
        region = cv2.resize(region, (FACENET_IMAGE_SIZE, FACENET_IMAGE_SIZE), interpolation=cv2.INTER_AREA)
        rgb = bgr_to_rgb(region).astype(np.float32)
        return (rgb - 127.5) / 127.5

    def embed_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        if not crops:
            return self._empty()
        _, run = self.model
        batch = np.stack([self.preprocess(c) for c in crops])
        return _l2_normalize(run(batch).numpy())


def _as_canonical(crop: np.ndarray) -> np.ndarray:
    if crop.shape[:2] != (CANONICAL_CROP_SIZE, CANONICAL_CROP_SIZE):
        # Crops stored by an older version or made at another size: the geometry is relative.
        crop = cv2.resize(crop, (CANONICAL_CROP_SIZE, CANONICAL_CROP_SIZE), interpolation=cv2.INTER_AREA)
    return crop


_EMBEDDER_CLASSES: dict[str, type[Embedder]] = {"dlib": DlibEmbedder, "facenet": FaceNetEmbedder}
_embedders: dict[str, Embedder] = {}
_embedders_lock = threading.Lock()


def resolve_embedder_name(config_value: str | None = None) -> str:
    """``auto`` -> ``facenet`` when its weights file is present, else ``dlib``."""
    if config_value is None:
        config_value = setting("KIOSK_EMBEDDER", "auto")
    value = (config_value or "auto").strip().lower()
    if value == "auto":
        return "facenet" if facenet_weights_path().is_file() else "dlib"
    if value not in EMBEDDER_NAMES:
        raise ValueError(f"KIOSK_EMBEDDER must be auto, facenet or dlib, not {config_value!r}")
    return value


def get_embedder(name: str = "auto") -> Embedder:
    """The process-wide embedder of that name (``auto`` resolved first), loaded on first use."""
    resolved = resolve_embedder_name(name)
    with _embedders_lock:
        embedder = _embedders.get(resolved)
        if embedder is None:
            embedder = _embedders[resolved] = _EMBEDDER_CLASSES[resolved]()
        return embedder


def reset_embedders() -> None:
    """Forget the loaded embedders (tests that swap the FaceNet weights file)."""
    with _embedders_lock:
        _embedders.clear()


# --- fetching the FaceNet weights -----------------------------------------------------------


class FetchFailed(RuntimeError):
    """The weights could not be downloaded or did not match their sha256. The message says what to do."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def install_weights(source: Path, destination: Path, sha256: str) -> Path:
    """Copy ``source`` to ``destination`` atomically after checking its sha256."""
    actual = sha256_of(source)
    if actual != sha256:
        raise FetchFailed(
            f"{source} is not the expected file: its sha256 is {actual}, expected {sha256}. Nothing was installed."
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=destination.parent)
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            for block in iter(lambda: src.read(1 << 20), b""):
                out.write(block)
        os.replace(tmp, destination)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return destination


def fetch_facenet_weights(
    destination: Path | None = None,
    *,
    url: str = FACENET_WEIGHTS_URL,
    sha256: str = FACENET_WEIGHTS_SHA256,
    timeout: float = 30.0,
) -> Path:
    """Download keras-facenet's weights for key 20180402-114759 into the models folder.

    The download goes to a temporary file beside the destination, is checked against keras-facenet's
    sha256, then renamed into place: a failed or tampered download never leaves a file that ``auto``
    would pick up. Raises :class:`FetchFailed` with a message saying how to do it by hand.
    """
    destination = destination or facenet_weights_path()
    if destination.is_file() and sha256_of(destination) == sha256:
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".download-", dir=destination.parent)
    tmp = Path(tmp_name)
    try:
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = getattr(err, "reason", None) or err
            raise FetchFailed(
                f"Could not download the FaceNet weights from {url}: {reason}. This machine may have no internet "
                f"access: download that file elsewhere, then run `kiosk models fetch facenet --from FILE` "
                f"(it checks sha256 {sha256} and installs it as {destination})."
            ) from err
        return install_weights(tmp, destination, sha256)
    finally:
        tmp.unlink(missing_ok=True)


def describe_crop_geometry() -> dict:
    """For model cards and the trained model file: how crops were made."""
    return {"size": CANONICAL_CROP_SIZE, "margin": CANONICAL_CROP_MARGIN}
