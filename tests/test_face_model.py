"""The face model alone (kiosk.vision.face_model): no database, no files, no detector. Made-up
embeddings stand in for real ones where the test is about the classifier's arithmetic; the
model on real photos is tested in test_face_recognition.py."""

from __future__ import annotations

import numpy as np

from kiosk.vision.face_model import TrainingSample, build_face_model


def test_single_person_site_uses_the_distance_alone():
    rng = np.random.default_rng(3)
    centre = rng.normal(size=128)
    centre /= np.linalg.norm(centre)
    vectors = [centre + rng.normal(scale=0.01, size=128) for _ in range(3)]
    vectors = [v / np.linalg.norm(v) for v in vectors]
    model = build_face_model([TrainingSample(i, 7, v.astype(np.float32)) for i, v in enumerate(vectors)], "dlib")
    assert model.weights is None and model.threshold_source == "default"
    stranger = rng.normal(size=128)
    (who, score, _), (nobody, low, _) = model.classify(np.stack([vectors[0], stranger / np.linalg.norm(stranger)]))
    assert who == 7 and score > 0.5 and nobody is None and low < 0.5
