"""The shipped gesture classifier on data it never saw, and how a model file is chosen and loaded.

Real data here is *landmarks*, not pixels: the held-out YMCA rows (a real person filmed and
read by MediaPipe; tests/data/gestures/ymca_heldout.csv). There is no real X data, so X is
checked on skeletons synthesized with a seed the model was not trained or evaluated with.
The pixel path (photo -> pose -> gesture) is in test_gesture_cli.py.
"""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest
from gesture_helpers import heldout_rows, synthesizer

from kiosk.vision import gestures as g
from kiosk.vision.lazy import ModelUnavailable

UNSEEN_SEED = 424242  # not the training seed (7) nor the training script's test seed (1007)


@pytest.fixture(scope="module")
def shipped() -> g.GestureClassifier:
    return g.GestureClassifier(g.default_model_path())


def _predicted(classifier: g.GestureClassifier, arms: np.ndarray) -> np.ndarray:
    return np.array([p.gesture for p in classifier.predict_arms(arms)])


@pytest.mark.models
@pytest.mark.parametrize(
    "ymca_label, expected", [("A", "O"), ("Y", "capture"), ("C", "idle"), ("dance", "idle"), ("M", "idle")]
)
def test_heldout_ymca_rows_of_the_steady_poses(shipped, ymca_label, expected):
    labels, arms, steady = heldout_rows()
    rows = (labels == ymca_label) & steady
    assert rows.sum() >= 50
    accuracy = np.mean(_predicted(shipped, arms[rows]) == expected)
    assert accuracy >= 0.95, f"{ymca_label}: {accuracy:.3f} read as {expected}"


def test_heldout_ymca_rows_including_transitions(shipped):
    labels, arms, _ = heldout_rows()
    expected = np.array([g.YMCA_LABEL_MAP[label] for label in labels])
    assert np.mean(_predicted(shipped, arms) == expected) >= 0.95


def test_synthesized_x_is_recognised(shipped):
    arms, labels, _ = synthesizer().synthesize({"X": 300}, seed=UNSEEN_SEED)
    predicted = _predicted(shipped, arms)
    assert np.mean(predicted == "X") >= 0.95
    assert np.mean(predicted == "O") == 0.0  # an X must never read as a yes


def test_synthesized_hard_negatives_are_idle(shipped):
    arms, labels, kinds = synthesizer().synthesize({"idle": 1500}, seed=UNSEEN_SEED + 1)
    predicted = _predicted(shipped, arms)
    assert np.mean(predicted == "idle") >= 0.97
    for kind in set(kinds):
        mask = kinds == kind
        assert np.mean(predicted[mask] == "idle") >= 0.9, kind
    # The dangerous mistake is an accidental yes.
    assert np.mean(predicted == "O") <= 0.01


def test_the_shipped_model_records_how_it_was_evaluated(shipped):
    summary = shipped.info()["summary"]
    assert shipped.info()["source"] == "default"
    for label in ("A", "Y", "C", "dance"):
        assert summary["ymca_heldout_steady"][label] >= 0.95
    assert summary["synthetic_test_per_class"]["X"] >= 0.95


def test_probabilities_are_a_distribution(shipped):
    _, arms, _ = heldout_rows()
    for prediction in shipped.predict_arms(arms[:20]):
        assert set(prediction.probabilities) == set(g.GESTURES)
        assert abs(sum(prediction.probabilities.values()) - 1) < 1e-6
        assert prediction.score == max(prediction.probabilities.values())


def _tiny_model(swap_o_and_capture: bool) -> dict:
    """A quickly trained model; with the swap it reads every O as capture (easy to recognise)."""
    with np.load(g.base_training_set_path()) as base:
        rng = np.random.default_rng(0)
        pick = rng.choice(len(base["labels"]), 3000, replace=False)
        arms, labels = base["arms"][pick], base["labels"][pick].astype(str)
    if swap_o_and_capture:
        labels = np.where(labels == "O", "capture", np.where(labels == "capture", "O", labels))
    return g.fit_gesture_model(arms, labels, seed=0)


def test_site_model_is_preferred_and_reloaded_when_its_file_changes(tmp_path):
    labels, arms, steady = heldout_rows()
    o_rows = arms[(labels == "A") & steady][:10]
    default = tmp_path / "default.joblib"
    shutil.copy(g.default_model_path(), default)
    site = tmp_path / "data" / "models" / "gesture.joblib"
    classifier = g.GestureClassifier(default, site)
    assert classifier.info()["source"] == "default"
    assert set(_predicted(classifier, o_rows)) == {"O"}

    g.save_model(_tiny_model(swap_o_and_capture=True), site)
    assert classifier.info()["source"] == "site"
    assert set(_predicted(classifier, o_rows)) == {"capture"}

    time.sleep(0.01)  # a new mtime even on coarse clocks
    g.save_model(_tiny_model(swap_o_and_capture=False), site)
    assert set(_predicted(classifier, o_rows)) == {"O"}

    site.unlink()
    assert classifier.info()["source"] == "default"


def test_classify_uses_the_apps_data_dir(app, data_dir):
    classifier = g.get_classifier()
    assert classifier.site_path == data_dir / "models" / "gesture.joblib"
    assert classifier is g.get_classifier()  # one instance per (models, data) pair


def test_unusable_model_files_are_refused_with_a_reason(tmp_path):
    with pytest.raises(ModelUnavailable, match="missing"):
        g.load_model(tmp_path / "none.joblib")
    garbage = tmp_path / "garbage.joblib"
    garbage.write_bytes(b"not a model")
    with pytest.raises(ModelUnavailable, match="could not be read"):
        g.load_model(garbage)
    old = _tiny_model(False)
    old["feature_version"] = g.FEATURE_VERSION - 1
    g.save_model(old, tmp_path / "old.joblib")
    with pytest.raises(ModelUnavailable, match="retrain"):
        g.load_model(tmp_path / "old.joblib")
