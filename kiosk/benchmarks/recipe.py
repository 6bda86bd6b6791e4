"""The yardstick the kiosk's frame costs are compared with: one webcam frame through the widely
used face_recognition recipe (ageitgey/face_recognition's ``facerec_from_webcam.py``: the whole
640x480 frame, BGR to RGB, ``face_locations`` (dlib's HOG detector, upsampled once),
``face_encodings`` (5-point landmarks, dlib's ResNet descriptor, one jitter) and
``compare_faces`` against the known people at 0.6).

The face_recognition package itself is not installed (it would pull its own dlib): the same dlib
calls on the same model files (face-recognition-models), which is all that package does.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import BenchContext, stage

RECIPE_TOLERANCE = 0.6  # face_recognition.compare_faces' default


class FaceRecognitionRecipe:
    """face_recognition's per-frame work with dlib's own models, known faces given as images."""

    def __init__(self, known: list[NDArray[Any]]) -> None:
        import dlib  # noqa: PLC0415 - only this stage needs it

        from ..vision.embedders.dlib import _dlib_model_file  # noqa: PLC0415

        self._detector = dlib.get_frontal_face_detector()
        self._landmarks = dlib.shape_predictor(str(_dlib_model_file("shape_predictor_5_face_landmarks.dat")))
        self._encoder = dlib.face_recognition_model_v1(
            str(_dlib_model_file("dlib_face_recognition_resnet_model_v1.dat"))
        )
        encodings = [self.encodings(image) for image in known]
        self.known = np.array([e[0] for e in encodings if e])

    def encodings(self, bgr: NDArray[Any]) -> list[NDArray[Any]]:
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        boxes = self._detector(rgb, 1)
        return [np.array(self._encoder.compute_face_descriptor(rgb, self._landmarks(rgb, box), 1)) for box in boxes]

    def frame(self, bgr: NDArray[Any]) -> list[bool]:
        """One webcam frame: every face found, encoded and compared with the known people."""
        matches: list[bool] = []
        for encoding in self.encodings(bgr):
            matches.extend(np.linalg.norm(self.known - encoding, axis=1) <= RECIPE_TOLERANCE)
        return matches


def recipe_frame_ms(recipe: FaceRecognitionRecipe, frames: list[NDArray[Any]], count: int) -> list[float]:
    """Wall milliseconds of ``count`` frames through the recipe (one face found in each, checked)."""
    times = []
    for i in range(count):
        started = time.perf_counter()
        matches = recipe.frame(frames[i % len(frames)])
        times.append((time.perf_counter() - started) * 1000)
        if not matches:
            raise RuntimeError("the recipe found no face in the bench frame")
    return times


def make_recipe() -> FaceRecognitionRecipe:
    import cv2  # noqa: PLC0415

    from .checkin import PHOTO  # noqa: PLC0415

    faces = PHOTO.parents[1]
    known = [cv2.imread(str(faces / folder / "2.jpg")) for folder in ("fr_obama", "lfw_Colin_Powell")]
    return FaceRecognitionRecipe(known)


@stage("face_recognition_recipe")
def face_recognition_recipe(ctx: BenchContext) -> dict:
    from .checkin import kiosk_frame, live  # noqa: PLC0415

    recipe = make_recipe()
    frames = live(kiosk_frame())
    recipe_frame_ms(recipe, frames, ctx.warmup)
    times = recipe_frame_ms(recipe, frames, max(5, ctx.repeat // 3))
    return {"frame_median_ms": round(statistics.median(times), 2), "frames": len(times)}
