"""Bench stage ``emotion``: the expression of one face crop (median ms; target <= 3 ms).

Figures: ``tflite_ms`` (the serving path: preprocessing + interpreter), ``keras_ms`` (the same
network from the HDF5 in Keras 3 under ``tf.function``, for comparison), ``crop_ms`` (cutting the
aligned 64x64 crop from the frame), and the load times. The face comes from the repository's
``tests/data/expressions/happy.jpg`` (or the shared dataset), detected once outside the timing.
"""

from __future__ import annotations

import time
from pathlib import Path

from . import BenchContext, median_ms, stage

_REPO = Path(__file__).resolve().parents[2]


def _sample_image(ctx: BenchContext) -> Path:
    candidates = (_REPO / "tests/data/expressions/happy.jpg", ctx.datasets / "expressions-dev" / "happy.jpg")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("no expression photo found (tests/data/expressions/happy.jpg)")


@stage("emotion")
def bench_emotion(ctx: BenchContext) -> dict:
    from ..vision.emotion import KerasEmotionModel, emotion_crop, get_emotion_model
    from ..vision.faces import detect_faces
    from ..vision.image import load_image

    bgr = load_image(_sample_image(ctx))
    face = max(detect_faces(bgr), key=lambda f: f.score)
    crop = emotion_crop(bgr, face)

    figures: dict = {}
    tflite = get_emotion_model()
    start = time.perf_counter()
    tflite.warm_up()
    figures["tflite_load_s"] = round(time.perf_counter() - start, 2)
    figures["tflite_ms"] = median_ms(lambda: tflite.predict(crop), ctx.repeat, ctx.warmup)
    figures["crop_ms"] = median_ms(lambda: emotion_crop(bgr, face), ctx.repeat, ctx.warmup)

    keras_model = KerasEmotionModel()
    try:
        start = time.perf_counter()
        keras_model.warm_up()
        figures["keras_load_s"] = round(time.perf_counter() - start, 2)
        figures["keras_ms"] = median_ms(lambda: keras_model.predict(crop), ctx.repeat, max(ctx.warmup, 3))
        tflite_scores, keras_scores = tflite.predict(crop).scores, keras_model.predict(crop).scores
        figures["max_score_difference"] = round(max(abs(tflite_scores[k] - keras_scores[k]) for k in tflite_scores), 4)
    except Exception as err:  # noqa: BLE001 - the Keras path is optional for the bench
        figures["keras_ms"] = None
        figures["keras_error"] = type(err).__name__
    figures["target_ms"] = 3.0
    return figures
