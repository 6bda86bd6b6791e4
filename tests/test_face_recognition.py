"""Training and identification on real photos with the real models. The trained site (five enrolled
people, held-out photos of them, and strangers who were never enrolled) is described in
face_helpers.py and built by the trained_site fixture in conftest.py."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from face_helpers import DEFAULT_EMBEDDER_ID, ENROLLED, FACES, HELD_OUT, STRANGERS
from sqlalchemy import select

from kiosk.extensions import db
from kiosk.models import Person
from kiosk.services import face_model_file, face_training, recognition
from kiosk.services import people as people_service
from kiosk.services.enrollment import enroll_files
from kiosk.services.recognition import ModelNotTrained
from kiosk.vision import face_augment, face_model
from kiosk.vision.face_model import FaceModel, TrainingSample, build_face_model
from kiosk.vision.faces import analyze_frame
from kiosk.vision.image import load_image


def identify(path) -> recognition.Identification:
    return recognition.identify_image(load_image(path))


def test_train_summary(trained_site):
    _, summary = trained_site
    assert summary["people"] == len(ENROLLED)
    assert summary["samples"] == sum(len(v[1]) for v in ENROLLED.values())
    assert summary["embedder"] == "facenet" and summary["weights"] == "20180408-102900"
    augmentations = face_model.training_augmentations(DEFAULT_EMBEDDER_ID)
    assert summary["augmented_samples"] == summary["samples"] * len(augmentations)
    low, high, _ = face_model.THRESHOLD_RANGES[DEFAULT_EMBEDDER_ID]
    assert low <= summary["threshold"] <= high
    assert summary["cv_accuracy"] is not None and summary["cv_accuracy"] >= 0.9
    assert summary["trained_at"]


def test_a_model_trained_after_the_last_enrollment_is_not_stale(trained_app):
    """"Stale" compares the model's time with the last enrollment's, which the database keeps to the
    microsecond. The model's time was cut to the second, so a model trained within the second of the last
    photo looked older than it: reported stale, and a second bulk import of the same photos trained again."""
    from datetime import datetime

    from kiosk.services import model_status

    trained_at = face_model_file.load_model().trained_at
    assert datetime.fromisoformat(trained_at).isoformat(timespec="microseconds") == trained_at
    info = model_status.face_model_info()
    assert datetime.fromisoformat(info["last_enrolled_at"]) < datetime.fromisoformat(trained_at)
    assert info["stale"] is False


@pytest.mark.parametrize("name", sorted(HELD_OUT))
def test_enrolled_people_are_identified_on_photos_not_enrolled(trained_app, name):
    result = identify(HELD_OUT[name])
    assert result.status == "ok", (name, result.as_dict())
    assert result.person == name
    assert result.score > 0.5
    assert db.session.get(Person, result.person_id).name == name


def test_strangers_are_unknown(trained_app):
    answers = [identify(path) for path in STRANGERS]
    assert [a.status for a in answers] == ["unknown"] * len(STRANGERS), [a.as_dict() for a in answers]
    assert all(a.person is None and a.person_id is None and a.score < 0.5 for a in answers)


def test_frame_verdicts_come_before_identification(trained_app):
    assert identify(FACES / "_multi" / "4.jpg").status == "multiple_faces"
    blank = np.full((480, 640, 3), 128, np.uint8)
    result = recognition.identify_image(blank)
    assert result.status == "no_face" and result.score is None and result.analysis.status == "no_face"


def test_identify_face_returns_the_match_and_the_embedding(trained_app):
    image = load_image(HELD_OUT["Colin Powell"])
    face = analyze_frame(image).face
    match = recognition.identify_face(image, face)
    person_id, name, score, embedding = match.person_id, match.person, match.score, match.embedding
    assert name == "Colin Powell" and person_id is not None and score > 0.5
    assert embedding.shape == (512,)
    # What a check-in carries to its record step (the evidence learning may use).
    assert 0 < match.distance <= recognition.same_person_threshold()
    assert match.crop.shape == (224, 224, 3)
    # The same face again is well within the same-person distance.
    other = recognition.identify_face(image, face).embedding
    assert face_model.embedding_distance(embedding, other) <= recognition.same_person_threshold()
    stranger = load_image(STRANGERS[0])
    stranger_embedding = recognition.identify_face(stranger, analyze_frame(stranger).face).embedding
    assert face_model.embedding_distance(embedding, stranger_embedding) > recognition.same_person_threshold()


def test_deleted_person_is_never_recognised_again(trained_app):
    person = db.session.scalar(select(Person).where(Person.name == "Colin Powell"))
    assert identify(HELD_OUT["Colin Powell"]).status == "ok"
    people_service.delete_person(person)  # calls face_training.on_people_changed()
    assert identify(HELD_OUT["Colin Powell"]).status == "unknown"
    model = face_model_file.load_model()  # the file itself no longer holds them
    assert person.id not in model.person_ids and person.id not in model.gallery_person_ids
    assert identify(HELD_OUT["George W Bush"]).person == "George W Bush"


def test_inactive_people_are_not_identified(trained_app):
    person = db.session.scalar(select(Person).where(Person.name == "Hugo Chavez"))
    assert identify(HELD_OUT["Hugo Chavez"]).person == "Hugo Chavez"
    people_service.set_active(person, False)  # no notification: the uncached check catches it
    assert identify(HELD_OUT["Hugo Chavez"]).status == "unknown"
    people_service.set_active(person, True)
    recognition.get_recognizer().invalidate()
    assert identify(HELD_OUT["Hugo Chavez"]).person == "Hugo Chavez"


def test_running_server_picks_up_a_retrain_without_restart(trained_app):
    recognizer = recognition.get_recognizer()
    before = recognizer.model()
    assert identify(STRANGERS[0]).status == "unknown"
    # Another process enrolls Ariel Sharon and retrains: the model file is replaced.
    enroll_files("Ariel Sharon", [str(FACES / "lfw_Ariel_Sharon" / f"{i}.jpg") for i in (1, 2, 3, 4)])
    path = face_model_file.model_path()
    mtime = path.stat().st_mtime_ns
    summary = face_training.train_faces()
    assert summary["people"] == len(ENROLLED) + 1 and summary["re_embedded"] == 0
    if path.stat().st_mtime_ns == mtime:  # coarse file-system clocks
        os.utime(path, ns=(time.time_ns(), mtime + 1_000_000))
    # Forget nothing by hand: the recognizer notices the new file by itself.
    recognizer._people = None  # (only the short people cache; the model reload is what is tested)
    assert recognizer.model() is not before
    result = identify(FACES / "lfw_Ariel_Sharon" / "5.jpg")
    assert result.status == "ok" and result.person == "Ariel Sharon"


def test_reload_when_another_process_rewrites_the_file(trained_app):
    recognizer = recognition.get_recognizer()
    model = recognizer.model()
    powell = db.session.scalar(select(Person.id).where(Person.name == "Colin Powell"))
    face_model_file.save_model(model.without(people={powell}))
    assert identify(HELD_OUT["Colin Powell"]).status == "unknown"


@pytest.mark.parametrize("stored_by", ["dlib", "facenet:20180402-114759", "facenet"])
def test_switching_embedder_or_weights_re_embeds_the_stored_crops(trained_app, stored_by):
    """Two of Obama's samples look as if another embedder had made them: dlib, FaceNet with the other
    weights key (same name, same 512 dimensions: only the key tells them apart), or a FaceNet of a
    version that recorded no key. Training re-embeds exactly those from their stored crops."""
    obama = db.session.scalar(select(Person).where(Person.name == "Barack Obama"))
    switched = sorted(obama.samples, key=lambda s: s.id)[:2]
    original = {s.id: s.embedding_array().copy() for s in switched}
    for s in switched:
        s.set_embedding(np.zeros(128 if stored_by == "dlib" else 512, np.float32), stored_by)
    db.session.commit()
    summary = face_training.train_faces()
    assert summary["re_embedded"] == 2
    assert (summary["embedder"], summary["weights"]) == ("facenet", "20180408-102900")
    for s in switched:
        db.session.refresh(s)
        assert s.embedder == DEFAULT_EMBEDDER_ID and np.linalg.norm(s.embedding_array() - original[s.id]) < 1e-3
    assert identify(HELD_OUT["Barack Obama"]).person == "Barack Obama"


def test_a_model_file_of_other_weights_lends_no_augmented_copies(trained_app, monkeypatch):
    """A model file from before keys were recorded (embedder "facenet") was made with the fetched
    20180402-114759 weights: its cached augmented copies are not reused for 20180408-102900.
    (FaceNet trains without copies: here it is given one, so that there is a cache to lend.)"""
    monkeypatch.setitem(face_augment.TRAINING_AUGMENTATIONS, "facenet", ("mirror",))
    face_training.train_faces()
    model = face_model_file.load_model()
    assert model.augmented_cache and all(len(v) == 1 for v in model.augmented_cache.values())
    model.embedder = "facenet"
    model.augmented_cache = {k: np.zeros_like(v) for k, v in model.augmented_cache.items()}
    face_model_file.save_model(model)
    assert face_model_file.load_model().embedder == "facenet:20180402-114759"
    summary = face_training.train_faces()
    assert summary["weights"] == "20180408-102900" and summary["re_embedded"] == 0
    rebuilt = face_model_file.load_model().augmented_cache
    assert rebuilt.keys() == model.augmented_cache.keys()
    assert all(np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4) for v in rebuilt.values())


def test_a_person_enrolled_after_training_is_added_to_the_model_not_refitted_with_everyone(trained_app, monkeypatch):
    """The next training adds a newcomer to the previous model (their row and their nearest people's
    rows fitted; the threshold kept); ``full`` refits everyone. The five-person site counts as large
    here: one newcomer is a fifth of it, more than the share that stays incremental on a real site."""
    monkeypatch.setattr(face_training, "INCREMENTAL_SHARE", 5)
    before = face_model_file.load_model()
    sharon = [str(p) for p in STRANGERS[:3]]
    assert all(r.accepted for r in enroll_files("Ariel Sharon", sharon))
    summary = face_training.train_faces()
    after = face_model_file.load_model()
    assert summary["mode"] == "incremental" and summary["people"] == len(ENROLLED) + 1
    assert after.threshold == before.threshold and after.trained_at > before.trained_at
    from kiosk.services import model_status

    assert model_status.face_model_info()["stale"] is False
    assert identify(STRANGERS[3]).person == "Ariel Sharon"
    assert identify(STRANGERS[5]).status == "unknown"  # Biden: still nobody
    for name, photo in HELD_OUT.items():
        assert identify(photo).person == name
    assert face_training.train_faces(full=True)["mode"] == "full"


def test_a_second_training_with_nothing_new_refits_everyone(trained_app):
    assert face_training.train_faces()["mode"] == "full"


def test_no_model_is_a_clear_error(app):
    with pytest.raises(ModelNotTrained, match="kiosk train faces"):
        recognition.identify_image(load_image(HELD_OUT["Colin Powell"]))
    with pytest.raises(face_training.NotEnoughData, match="enroll"):
        face_training.train_faces()
    assert recognition.model_info()["trained"] is False


def test_model_file_is_replaced_atomically(trained_app):
    path = face_model_file.model_path()
    assert path.name == "faces.joblib" and path.parent.name == "models"
    face_model_file.save_model(face_model_file.load_model())
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".tmp")] == []
    info = recognition.model_info()
    assert info["trained"] and info["embedder"] == "facenet" and info["threshold"] > 0


def test_damaged_model_file_is_reported(trained_app):
    face_model_file.model_path().write_bytes(b"not a model")
    with pytest.raises(ModelNotTrained, match="train faces"):
        identify(HELD_OUT["Colin Powell"])


def test_a_model_file_saved_before_the_face_model_moved_still_loads(app, monkeypatch):
    """Model files written while FaceModel lived in kiosk.services.recognition name that module
    in their pickle; a site upgrading must not have to retrain. (Made-up embeddings: this test is
    about the file.)"""
    vectors = np.random.default_rng(5).normal(size=(6, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    model = build_face_model([TrainingSample(i, 1 + i % 2, v) for i, v in enumerate(vectors)], "dlib")
    with monkeypatch.context() as patched:
        patched.setattr(FaceModel, "__module__", "kiosk.services.recognition")
        face_model_file.save_model(model)
    assert b"kiosk.services.recognition" in face_model_file.model_path().read_bytes()
    loaded = face_model_file.load_model()
    assert isinstance(loaded, FaceModel) and type(loaded).__module__ == "kiosk.vision.face_model"
    assert np.array_equal(loaded.gallery, model.gallery) and loaded.threshold == model.threshold
