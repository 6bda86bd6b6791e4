"""The mouth's shape, from MediaPipe's face landmark model: the liveness check's smile geometry.

The happy score of the emotion model alone cannot tell a smile from a print moved in front of
the camera: tilted, re-lit and re-compressed, a print of a half-smiling face swung from 0.05 to
0.9 (on faces-dev, 28% of 117 such prints rose by 0.35 over 40 frames). The width of the mouth
against the distance between the eyes is a ratio a rigid print keeps under rotation, scale and
light, and a smile widens it: 0.52-0.61 for neutral faces, 0.74-0.83 smiling (faces-dev). The
liveness judge asks for both (``kiosk.checkin.liveness``).

The model is ``face_landmark.tflite`` (468 points, 192x192 RGB in [0, 1]) from the pinned
``mediapipe==0.10.21`` wheel (``mediapipe/modules/face_landmark/``; Apache-2.0), run on the
kiosk's own aligned face crop (``kiosk.vision.face_crop.crop_face``, eyes level, the box plus
:data:`CROP_MARGIN` on each side, the framing MediaPipe's face mesh gives it). It is the dearest
step the liveness check adds (``kiosk bench``'s ``face_mesh`` stage: 18.6 ms on a busy 2-core box),
so the pipeline runs it on every smiling frame and only at the passive score's cadence before.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from .face_crop import crop_face
from .faces import Face
from .lanes import Lanes
from .lazy import LazyModel, ModelUnavailable
from .native_log import quiet_native_start

INPUT_SIZE = 192
CROP_MARGIN = 0.25
# Face mesh indices: the eyes' outer corners and the mouth's corners.
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263
MOUTH_RIGHT, MOUTH_LEFT = 61, 291
#: The model's face presence logit below which the landmarks are not a face (it scored 6.9 to 29
#: on faces-dev's photos, and below 0 on crops of a wall).
MIN_PRESENCE = 0.0


@dataclass(frozen=True)
class MouthShape:
    width: float  # mouth corner to corner / eye corner to eye corner


def _model_path() -> Path:
    import mediapipe  # noqa: PLC0415 - MediaPipe loads lazily, on the first frame that needs it

    return Path(mediapipe.__file__).parent / "modules" / "face_landmark" / "face_landmark.tflite"


class FaceMesh(LazyModel):
    """``face_landmark.tflite`` in TFLite interpreters of one thread each. An interpreter holds its
    buffers, so it runs one face at a time: they are kept in :class:`~kiosk.vision.lanes.Lanes`
    (one per core), and a smiling face at one kiosk does not wait for another kiosk's."""

    name = "face-mesh"

    def _load(self) -> Lanes[tuple[Any, int, int, int]]:
        return Lanes(self._interpreter)

    def _interpreter(self) -> tuple[Any, int, int, int]:
        path = _model_path()
        if not path.is_file():
            raise ModelUnavailable(
                f"The face landmark model {path} is missing: it ships in the mediapipe==0.10.21 wheel; "
                "run `make setup` to reinstall the pinned set."
            )
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf  # noqa: PLC0415 - TensorFlow loads lazily (~3 s, 1.4 GB)

        with warnings.catch_warnings(), quiet_native_start():
            warnings.simplefilter("ignore", UserWarning)  # tf.lite moves to ai-edge-litert in TF 2.20; 2.19 is pinned
            try:
                interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=1)
                interpreter.allocate_tensors()
            except (ValueError, RuntimeError) as err:
                raise ModelUnavailable(f"The face landmark model {path} could not be loaded ({err}).") from err
        outputs = {int(np.prod(d["shape"])): d["index"] for d in interpreter.get_output_details()}
        if 468 * 3 not in outputs or 1 not in outputs:
            raise ModelUnavailable(f"{path} does not give 468 face landmarks and a presence score.")
        return interpreter, interpreter.get_input_details()[0]["index"], outputs[468 * 3], outputs[1]

    def landmarks(self, bgr: NDArray[Any], face: Face) -> NDArray[Any] | None:
        """(468, 2) landmarks in the aligned crop's pixels, or None when the model sees no face."""
        crop = crop_face(bgr, face, INPUT_SIZE, CROP_MARGIN)
        x = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32)[None] / 255.0
        with self.model.take() as (interpreter, input_index, points_index, presence_index):
            interpreter.set_tensor(input_index, x)
            interpreter.invoke()
            points = interpreter.get_tensor(points_index).reshape(468, 3)[:, :2].copy()
            presence = float(interpreter.get_tensor(presence_index).ravel()[0])
        return points if presence >= MIN_PRESENCE else None

    def predict(self, bgr: NDArray[Any], face: Face) -> MouthShape | None:
        points = self.landmarks(bgr, face)
        if points is None:
            return None
        eyes = float(np.linalg.norm(points[RIGHT_EYE_OUTER] - points[LEFT_EYE_OUTER]))
        if eyes < 1.0:
            return None
        return MouthShape(width=float(np.linalg.norm(points[MOUTH_RIGHT] - points[MOUTH_LEFT])) / eyes)


_face_mesh = FaceMesh()


def get_face_mesh() -> FaceMesh:
    """The process-wide face landmark model, loaded on first use."""
    return _face_mesh
