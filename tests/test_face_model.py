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


def _site(people: int, per_person: int = 4, dim: int = 64, seed: int = 0):
    from kiosk.benchmarks.faces import synthetic_site

    samples, _ = synthetic_site(people, per_person, dim, seed=seed)
    return samples


def test_a_newcomer_is_added_by_refitting_only_their_row_and_their_nearest_peoples():
    from kiosk.vision import face_svm

    samples = _site(60)
    newcomer = [s for s in samples if s.person_id == 59]
    model = build_face_model([s for s in samples if s.person_id != 59], "dlib", cross_validate=False)
    updated = model.with_new_samples(newcomer)
    assert updated.people == 60 and updated.samples == model.samples + len(newcomer)
    assert updated.threshold == model.threshold and updated.trained_at > model.trained_at
    # A photo of the newcomer's, moved a little, is named and accepted as them.
    probe = newcomer[0].embedding + 0.01 * np.random.default_rng(1).normal(size=64).astype(np.float32)
    assert updated.classify(probe / np.linalg.norm(probe))[0][0] == 59
    changed = {int(p) for p, old, new in zip(model.person_ids, model.weights, updated.weights[:59])
               if not np.array_equal(old, new)}
    assert 0 < len(changed) <= face_svm.HARD_NEGATIVE_PEOPLE
    # Those refitted are the newcomer's nearest people (by centroid), not any others.
    centroids = np.stack([np.mean([s.embedding for s in samples if s.person_id == p], axis=0) for p in range(60)])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    nearest = set(np.argsort(np.linalg.norm(centroids - centroids[59], axis=1))[1:face_svm.HARD_NEGATIVE_PEOPLE + 1])
    assert changed <= nearest
    # Nothing new: the same model.
    assert updated.with_new_samples(newcomer) is updated


def test_nearest_classes_in_blocks_match_the_full_distance_matrix():
    from kiosk.vision.face_svm import nearest_classes

    rng = np.random.default_rng(2)
    centroids = rng.normal(size=(300, 16)).astype(np.float32)
    wanted = np.array([0, 7, 299])
    found = nearest_classes(centroids, wanted, 5, block=2)
    d = np.linalg.norm(centroids[:, None] - centroids[None], axis=2)
    for i, row in zip(wanted, found):
        expected = [c for c in np.argsort(d[i]) if c != i][:5]
        assert row.tolist() == expected
