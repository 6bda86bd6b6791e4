"""The emotion model on real expression photos (tests/data/expressions, sources in SOURCES.csv).

Real models on real images: BlazeFace finds the face, the FER2013 mini-Xception reads it. The
models load once per process (module-level singletons), shared by every test here.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.vision.emotion import (
    EMOTIONS,
    SMILE_THRESHOLD,
    EmotionModel,
    EmotionResult,
    KerasEmotionModel,
    analyze_emotion,
    emotion_crop,
    get_emotion_model,
    preprocess,
)
from kiosk.vision.faces import detect_faces
from kiosk.vision.image import load_image
from kiosk.vision.lazy import ModelUnavailable

pytestmark = pytest.mark.models  # real models: make test-fast skips these

EXPRESSIONS = Path(__file__).resolve().parent / "data" / "expressions"
MODELS = Path(__file__).resolve().parent.parent / "models" / "emotion"


def _labels() -> dict[str, str]:
    with open(EXPRESSIONS / "SOURCES.csv", newline="") as handle:
        return {row["file"]: row["original_label"] for row in csv.DictReader(handle)}


def _face(bgr):
    faces = detect_faces(bgr)
    assert faces, "BlazeFace should find the face in every expression photo"
    # The most confident detection: on happy.jpg the short-range model also reports a 0.61
    # false positive on the background that is larger than the real face.
    return max(faces, key=lambda f: f.score)


@pytest.fixture(scope="module")
def readings() -> dict[str, EmotionResult]:
    results = {}
    for name in sorted(_labels()):
        bgr = load_image(EXPRESSIONS / name)
        results[name] = analyze_emotion(bgr, _face(bgr))
    return results


def test_expression_photos_happy_only_on_the_happy_one(readings):
    """Issue 5's "must show": happy.jpg reads happy with the highest score; the six others are
    below the smile threshold. The table is printed (pytest -s) for the report."""
    labels = _labels()
    print(f"\n{'photo':<15} {'label':<10} {'top':<9} {'happy':>6}  smiling@{SMILE_THRESHOLD}")
    for name, result in readings.items():
        smiling = result.happy >= SMILE_THRESHOLD
        print(f"{name:<15} {labels[name]:<10} {result.emotion:<9} {result.happy:6.3f}  {smiling}")
    happy = readings["happy.jpg"]
    assert happy.emotion == "happy"
    assert happy.happy == max(happy.scores.values())
    assert happy.happy >= SMILE_THRESHOLD
    for name, result in readings.items():
        if name != "happy.jpg":
            assert result.emotion != "happy", name
            assert not result.happy >= SMILE_THRESHOLD, (name, result.happy)
    # The happy photo is the happiest by far, not by a hair.
    assert happy.happy - max(r.happy for n, r in readings.items() if n != "happy.jpg") > 0.5


def test_most_photos_read_their_own_expression(readings):
    """A sanity check of the label order (fer's): a shuffled order could still pass the happy test."""
    label_to_class = {"angry": "angry", "disgusted": "disgust", "fearful": "fear", "happy": "happy",
                      "neutral": "neutral", "sad": "sad", "surprised": "surprise"}
    labels = _labels()
    right = [n for n, r in readings.items() if r.emotion == label_to_class[labels[n]]]
    assert len(right) >= 6, {n: r.emotion for n, r in readings.items()}


def test_scores_are_a_distribution(readings):
    for result in readings.values():
        assert list(result.scores) == list(EMOTIONS)
        assert sum(result.scores.values()) == pytest.approx(1.0, abs=1e-3)
        assert 0.0 <= result.happy <= 1.0
        assert result.happy == pytest.approx(result.scores["happy"])


def test_tflite_and_keras_agree_on_the_expression_photos(readings):
    """The quantized TFLite model (serving) and the original Keras HDF5 read the same faces alike."""
    keras_model = KerasEmotionModel()
    for name, tflite_result in readings.items():
        bgr = load_image(EXPRESSIONS / name)
        keras_result = analyze_emotion(bgr, _face(bgr), keras_model)
        assert keras_result.emotion == tflite_result.emotion, name
        for label in EMOTIONS:
            assert abs(keras_result.scores[label] - tflite_result.scores[label]) < 0.05, (name, label)


def test_grey_and_bgr_crops_give_the_same_answer():
    bgr = load_image(EXPRESSIONS / "happy.jpg")
    crop = emotion_crop(bgr, _face(bgr))
    assert crop.shape == (64, 64, 3)
    model = get_emotion_model()
    from_bgr = model.predict(crop)
    from_grey = model.predict(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY))
    assert from_grey.scores == pytest.approx(from_bgr.scores)
    # A bigger crop is resized to 64x64 first: still the same reading.
    assert model.predict(cv2.resize(crop, (160, 160))).emotion == from_bgr.emotion


def test_preprocess_matches_fer_scaling():
    grey = np.array([[0, 255], [128, 64]], dtype=np.uint8)
    x = preprocess(cv2.resize(grey, (64, 64), interpolation=cv2.INTER_NEAREST))
    assert x.shape == (1, 64, 64, 1) and x.dtype == np.float32
    assert x.min() == pytest.approx(-1.0) and x.max() == pytest.approx(1.0)
    assert x[0, 40, 0, 0] == pytest.approx((128 / 255 - 0.5) * 2, abs=1e-6)


@pytest.mark.parametrize("bad", [np.zeros((0, 0, 3), np.uint8), np.zeros((4, 4, 4, 4), np.uint8), "not an array"])
def test_preprocess_rejects_non_images(bad):
    with pytest.raises(ValueError):
        preprocess(bad)


def test_missing_model_file_is_a_clear_error(tmp_path):
    model = EmotionModel(tmp_path / "nope.tflite")
    with pytest.raises(ModelUnavailable, match="nope.tflite"):
        model.predict(np.zeros((64, 64), np.uint8))


def test_model_files_match_their_recorded_hashes():
    readme = (MODELS / "README.md").read_text()
    for name in ("emotion_model_quantized.tflite", "emotion_model.hdf5", "LICENSE-fer.txt"):
        digest = hashlib.sha256((MODELS / name).read_bytes()).hexdigest()
        assert digest in readme, name


def test_cli_emotion_one_line_per_image_and_bad_images_do_not_stop_it(runner, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"this is not a jpeg")
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 127, np.uint8))
    happy = str(EXPRESSIONS / "happy.jpg")
    sad = str(EXPRESSIONS / "sad.jpg")
    result = runner.invoke(args=["emotion", happy, str(bad), str(blank), sad, str(tmp_path / "missing.jpg")])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [line["image"] for line in lines] == [happy, str(bad), str(blank), sad, str(tmp_path / "missing.jpg")]
    assert [line["status"] for line in lines] == ["ok", "bad_image", "no_face", "ok", "bad_image"]
    assert lines[0]["emotion"] == "happy" and lines[0]["happy"] > 0.9
    assert lines[3]["emotion"] != "happy" and lines[3]["happy"] < SMILE_THRESHOLD
    assert lines[1]["emotion"] is None and lines[1]["happy"] is None
    assert set(lines[0]) == {"image", "status", "emotion", "happy"}
