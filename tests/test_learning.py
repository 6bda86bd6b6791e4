"""Learning from confirmed check-ins as the kiosk runs it (kiosk.services.learning): the kiosk's
frames to a learned sample, the rules on the saved model, the admin's view and removal, the off
switch, the cap, deletion, retention, a full retraining, a failure that must not cost the
check-in, and two app hosts on PostgreSQL. Real photos, real models and a real database; the pose
model alone is replayed from real landmarks in the kiosk test (as in test_kiosk_api.py)."""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import replace
from datetime import timedelta

import cv2
import numpy as np
import pytest
from face_helpers import FACES, HELD_OUT, STRANGERS, build_site
from sqlalchemy import select, update
from test_kiosk_api import ReplayedPose, frames_of, stream

from kiosk import storage
from kiosk.checkin import sessions
from kiosk.extensions import db
from kiosk.models import FaceSample, Person, SampleKind, utcnow
from kiosk.services import face_model_file, face_training, learning, model_store, recognition
from kiosk.services.people import deletion_preview
from kiosk.vision.face_learning import CheckInEvidence, VoteCount
from kiosk.vision.faces import analyze_frame
from kiosk.vision.image import load_image

KIOSK = "front-door"


def live_with_margin():
    """A liveness verdict that passed every cue with margin (kiosk.checkin.liveness)."""
    from kiosk.checkin.liveness import BodyGeometry, LivenessJudge

    judge = LivenessJudge()
    for _ in range(4):
        judge.observe_expression(0.02, 0.58)
        judge.observe_body(BodyGeometry(0.5, 0.9, 0.02))
        judge.observe_passive(0.9)
    for _ in range(3):
        judge.observe_expression(0.97, 0.84)
    assert judge.verdict().with_margin
    return judge.verdict()


FIVE_VOTES = VoteCount(5)  # frozen: one shared default is safe


def evidence_of(photo, votes: VoteCount = FIVE_VOTES) -> tuple[int | None, CheckInEvidence]:
    """The site's answer for ``photo`` and what a confirmed check-in of that face hands to learning."""
    image = load_image(photo)
    analysis = analyze_frame(image)
    match = recognition.identify_face(image, analysis.face)
    return match.person_id, CheckInEvidence(
        match.embedding, match.crop, match.distance, analysis.quality.score, analysis.face.box[2], votes,
        embedder=match.embedder,
    )


def check_in(photo, kiosk: str = KIOSK) -> learning.LearningOutcome:
    person_id, evidence = evidence_of(photo)
    assert person_id is not None, f"{photo} is not recognised: not a confirmed check-in"
    return learning.learn_from_check_in(person_id, evidence, kiosk)


def person(name: str) -> Person:
    return db.session.scalar(select(Person).where(Person.name == name))


def learned_rows(name: str | None = None) -> list[FaceSample]:
    query = select(FaceSample).where(FaceSample.kind == SampleKind.learned).order_by(FaceSample.id)
    if name is not None:
        query = query.where(FaceSample.person_id == person(name).id)
    return list(db.session.scalars(query))


def identified(photo) -> str | None:
    return recognition.identify_image(load_image(photo)).person


# --------------------------------------------------------------------------- the kiosk, end to end


def test_a_check_in_confirmed_at_the_kiosk_teaches_the_model_its_own_face(trained_app, live_person, caplog):
    """A live person through the frame API with every real model (his neutral face swapped onto the
    arm composites, then his smile: tests/liveness_helpers.py): identified, both arms up, the smile,
    recorded, live with margin. After the answer, the face the kiosk learned is the check-in's own:
    its embedding is the closest frame's, made by the site's embedder, and it is in the model file."""
    caplog.set_level(logging.DEBUG, logger="kiosk")
    client = trained_app.test_client()
    client.pair(KIOSK)  # the paired kiosk's name is what the check-in and the learned face record
    trained_before = face_model_file.load_model().trained_at

    assert stream(client, live_person[("arms_out", "neutral")], until="CONFIRMING", limit=90)["state"] == "CONFIRMING"
    assert stream(client, live_person[("v", "neutral")], until="SMILING", limit=60)["state"] == "SMILING"
    body = stream(client, live_person[("arms_out", "smiling")], until="DONE", limit=120)
    # The kiosk says which punch it recorded, at the site's time: "Good morning, NAME: in at 08:59".
    assert re.fullmatch(r"Good (morning|afternoon|evening), Barack Obama: in at \d\d:\d\d", body["prompt"]), body
    assert body["prompt"].endswith(body["checked_in_at"])
    learning.wait_for_background()  # learning runs after the answer, in the worker's learning thread

    (sample,) = learned_rows("Barack Obama")
    assert sample.kiosk_id == KIOSK and sample.embedder == face_model_file.load_model().embedder
    assert (utcnow() - sample.created_at) < timedelta(minutes=1)
    crop = cv2.imread(str(storage.resolve(sample.crop_path)))
    assert crop.shape == (224, 224, 3)
    # The stored crop and embedding are the same frame's (the PNG is lossless): embedding it again gives it back.
    from kiosk.vision.embedders import get_embedder

    again = get_embedder(sample.embedder).embed_crops([crop])[0]
    assert np.linalg.norm(again - sample.embedding_array()) < 1e-4
    enrolled = face_model_file.load_model().enrolled_rows(person("Barack Obama").id)
    assert sample.match_distance == pytest.approx(np.min(np.linalg.norm(enrolled - again, axis=1)), abs=1e-3)

    model = face_model_file.load_model()
    assert sample.id in model.learned_sample_ids and model.trained_at == trained_before  # no retraining
    assert "Learned a face sample from a confirmed check-in at kiosk front-door" in caplog.text
    assert "Obama" not in caplog.text  # nothing that names or shows the person goes to the log

    # Standing there again inside the duplicate window: nothing recorded, nothing learned.
    client.post("/api/v1/kiosk/reset")
    assert stream(client, live_person[("arms_out", "neutral")], until="DONE", limit=90)["duplicate"] is True
    learning.wait_for_background()
    assert len(learned_rows()) == 1


@pytest.fixture(scope="module")
def live_person():
    import liveness_helpers

    return liveness_helpers.live_frames()


def test_only_a_check_in_live_with_margin_is_offered_to_learning(trained_app):
    """The backend hands a recorded check-in's face to learning only when every liveness cue passed
    with margin: a verdict that passed near a cut, a failed one, or none, teach nothing."""
    from kiosk.checkin.liveness import BodyGeometry, LivenessJudge
    from kiosk.services.checkin import DatabaseBackend

    def verdict(smile: float, passive: float):
        judge = LivenessJudge()
        for _ in range(4):
            judge.observe_expression(0.02, 0.58)
            judge.observe_body(BodyGeometry(0.5, 0.9, 0.02))
            judge.observe_passive(passive)
        for _ in range(3):
            judge.observe_expression(smile, 0.58 * (1 + smile / 2))
        return judge.verdict()

    clear, near = verdict(0.97, 0.9), verdict(0.4, 0.12)
    assert clear.with_margin and near.live and not near.with_margin
    powell, evidence = evidence_of(HELD_OUT["Colin Powell"])
    photo = load_image(HELD_OUT["Colin Powell"])

    class Session:
        def add_photo(self, event_id):
            return "token"

    session = Session()
    trained_app.config["KIOSK_DUPLICATE_WINDOW_MINUTES"] = 0
    for given, offered in ((None, False), (near, False), (clear, True)):
        backend = DatabaseBackend(session)
        backend.kiosk_id = KIOSK
        backend.record(powell, photo, 0.9, 0.95, evidence=evidence, liveness=given)
        assert (backend.learn_next is not None) is offered, given


def test_a_kiosk_cancelled_with_an_x_learns_nothing(trained_app, monkeypatch):
    frames = frames_of("fr_obama", (5,))
    pose = ReplayedPose([], analyze_frame(frames[0]).face.box)
    monkeypatch.setattr(sessions.KioskSession, "pose_for_frame", lambda session: pose)
    client = trained_app.test_client()
    stream(client, frames[:1], until="CONFIRMING")
    pose.arms = [np.array([[0.5, 0.0], [-0.5, 0.0], [0.45, 0.55], [-0.45, 0.55], [-0.25, 0.3], [0.25, 0.3]])]
    assert stream(client, frames[:1], until="CANCELLED", limit=12)["state"] == "CANCELLED"
    assert learned_rows() == []


# --------------------------------------------------------------------------- what learning changes


@pytest.fixture(scope="module")
def one_photo_site(tmp_path_factory, migrated_db_template):
    """A site that enrolled one photo per person (the evaluation's setting): the threshold is the
    embedder's default, and some of their other photos are rejected."""
    folder = tmp_path_factory.mktemp("one-photo-site")
    build_site(folder, migrated_db_template, photos_each=1)
    return folder


@pytest.fixture
def one_photo_app(tmp_path, one_photo_site):
    import shutil

    from kiosk import create_app
    from kiosk.config import TestingConfig

    shutil.copytree(one_photo_site, tmp_path / "site")
    app = create_app(TestingConfig(tmp_path / "site"))
    with app.app_context():
        recognition.get_recognizer().invalidate()
        yield app
        db.session.remove()
        db.engine.dispose()


def test_a_face_rejected_before_stays_rejected_after_a_confirmed_check_in(one_photo_app):
    """Chavez enrolled with one photo: his photo 2 is rejected (0.95 from it, threshold 0.93). He
    checks in with photo 3 (0.74 from the enrolled one: confident), which is learned; photo 2 is
    0.79 from that face, but still farther than the threshold from his enrollment photo."""
    chavez = FACES / "lfw_Hugo_Chavez"
    assert identified(chavez / "2.jpg") is None
    assert [identified(p) for p in STRANGERS] == [None] * len(STRANGERS)
    outcome = check_in(chavez / "3.jpg")
    assert outcome.added and outcome.reason == "learned"
    # Photo 2 is 0.79 from the learned face but 0.95 from the enrollment photo: a learned sample never
    # admits a face farther than the threshold from the enrollment photos (the liveness issue's drift:
    # test_face_learning.py). Enrolling photo 2 (or 3) is what makes him recognised from it.
    assert identified(chavez / "2.jpg") is None
    assert [identified(p) for p in STRANGERS] == [None] * len(STRANGERS)


def test_a_stranger_accepted_once_who_confirms_teaches_the_kiosk_nothing(trained_app):
    """Poisoning through the service (the pure rule and what it prevents: test_face_learning.py).
    At a site whose threshold reached its cap, Donald Rumsfeld is accepted as Tony Blair; he
    confirms: nothing is learned, and his other photos and the other strangers stay unknown."""
    model = face_model_file.load_model()
    face_model_file.save_model(replace(model, threshold=1.05))  # the cap of FaceNet 20180408-102900
    rumsfeld = [FACES / "lfw_Donald_Rumsfeld" / f"{i}.jpg" for i in range(1, 11)]
    others = [p for p in rumsfeld if p.name != "6.jpg"] + STRANGERS
    assert identified(rumsfeld[5]) == "Tony Blair", "the premise: he is accepted once"
    assert [identified(p) for p in others] == [None] * len(others)

    outcome = check_in(rumsfeld[5])
    assert not outcome.added and outcome.reason == "not_confident"
    assert learned_rows() == []
    assert len(list(storage.resolve("faces").iterdir())) == db.session.query(FaceSample).count()  # no new crop
    assert face_model_file.load_model().learned_sample_ids == frozenset()
    assert [identified(p) for p in others] == [None] * len(others)


def test_the_cap_pushes_out_the_oldest_learned_face_never_an_enrolled_one(trained_app):
    trained_app.config["KIOSK_LEARN_MAX_PER_PERSON"] = 1
    first = check_in(FACES / "lfw_Colin_Powell" / "4.jpg")
    (kept,) = learned_rows("Colin Powell")
    first_crop = storage.resolve(kept.crop_path)
    second = check_in(HELD_OUT["Colin Powell"])  # photo 5
    assert first.added and second.added and second.evicted == 1
    (kept,) = learned_rows("Colin Powell")
    assert kept.id == second.sample_id and not first_crop.exists()
    assert len(person("Colin Powell").enrollment_samples) == 3
    model = face_model_file.load_model()
    assert model.learned_sample_ids == {second.sample_id}
    assert int(np.sum(model.gallery_person_ids == person("Colin Powell").id)) == 4


def test_the_off_switch_learns_nothing_and_says_so(trained_app, sign_in_admin):
    trained_app.config["KIOSK_LEARN_FROM_CHECKINS"] = False
    version = face_model_file.model_path().stat().st_mtime_ns
    outcome = check_in(HELD_OUT["Colin Powell"])
    assert not outcome.added and outcome.reason == "off"
    assert learned_rows() == [] and face_model_file.model_path().stat().st_mtime_ns == version
    client = trained_app.test_client()
    sign_in_admin(client)
    page = client.get(f"/admin/people/{person('Colin Powell').id}").text
    assert 'data-learning="off"' in page and "KIOSK_LEARN_FROM_CHECKINS=0" in page


def test_the_off_switch_is_read_from_the_environment(monkeypatch, tmp_path):
    from kiosk.config import ConfigError, TestingConfig

    monkeypatch.setenv("KIOSK_LEARN_FROM_CHECKINS", "0")
    assert TestingConfig(tmp_path).KIOSK_LEARN_FROM_CHECKINS is False
    monkeypatch.delenv("KIOSK_LEARN_FROM_CHECKINS")
    assert TestingConfig(tmp_path).KIOSK_LEARN_FROM_CHECKINS is True
    monkeypatch.setenv("KIOSK_LEARN_MAX_PER_PERSON", "-1")
    with pytest.raises(ConfigError, match="KIOSK_LEARN_MAX_PER_PERSON"):
        TestingConfig(tmp_path)


def test_a_full_retraining_keeps_the_learned_faces(trained_app):
    outcome = check_in(HELD_OUT["Colin Powell"])
    threshold = face_model_file.load_model().threshold
    summary = face_training.train_faces()
    model = face_model_file.load_model()
    assert summary["learned_samples"] == 1 and model.learned_sample_ids == {outcome.sample_id}
    assert outcome.sample_id not in model.augmented_cache  # a real kiosk face: no augmented copies
    assert model.threshold == pytest.approx(threshold)  # set by the enrollment photos alone


def test_a_failure_while_learning_never_costs_the_check_in(trained_app, monkeypatch, caplog):
    """The kiosk's backend records the check-in, then learning fails (no room left for the face
    crop): the check-in stands with its photo, nothing half-learned is left, and the log says what
    failed, not whose face."""
    from kiosk.models import AttendanceEvent
    from kiosk.services.checkin import DatabaseBackend

    real_store = storage.store_bytes

    def no_room_for_crops(folder, data, suffix, root=None):
        if folder == learning.CROP_FOLDER:
            raise OSError(28, "No space left on device")
        return real_store(folder, data, suffix, root)

    powell, evidence = evidence_of(HELD_OUT["Colin Powell"])
    crops_before = sorted(storage.resolve("faces").iterdir())
    monkeypatch.setattr(storage, "store_bytes", no_room_for_crops)

    class Session:  # the kiosk session the backend hands the welcome photo's token to
        def add_photo(self, event_id):
            return "token"

    session = Session()
    backend = DatabaseBackend(session)
    backend.kiosk_id = KIOSK
    outcome = backend.record(powell, load_image(HELD_OUT["Colin Powell"]), 0.9, 0.95, evidence=evidence,
                             liveness=live_with_margin())
    assert outcome.kind == "check_in" and not outcome.duplicate and outcome.photo_token == "token"
    learning.learn_in_background(trained_app, *backend.learn_next).result(timeout=60)
    event = db.session.scalars(select(AttendanceEvent)).one()
    assert storage.resolve(event.photo_path).is_file()
    assert learned_rows() == [] and sorted(storage.resolve("faces").iterdir()) == crops_before
    assert "Learning from a check-in failed (OSError); the check-in itself is recorded." in caplog.text
    assert "Powell" not in caplog.text


# --------------------------------------------------------------------------- the admin


@pytest.fixture
def admin(trained_app, sign_in_admin):
    client = trained_app.test_client()
    token = sign_in_admin(client)
    client.token = token
    return client


def form_token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_the_person_page_shows_each_learned_face_with_its_kiosk_date_and_distance(admin, trained_app):
    check_in(FACES / "lfw_Colin_Powell" / "4.jpg", kiosk="lobby")
    check_in(HELD_OUT["Colin Powell"], kiosk="front-door")
    powell = person("Colin Powell")
    page = admin.get(f"/admin/people/{powell.id}").text
    assert "Learned from check-ins (2)" in page and "Enrolled face photos (3)" in page
    for sample in learned_rows("Colin Powell"):
        block = page[page.index(f'data-learned-sample="{sample.id}"'):]
        block = block[: block.index("</li>")]
        crop_url = f"/admin/people/{powell.id}/samples/{sample.id}/crop"
        assert crop_url in block and f">{sample.kiosk_id}<" in block
        assert f"distance {sample.match_distance:.2f}" in block
        assert sample.created_at.strftime("%Y-%m-%d") in block
        crop = admin.get(crop_url)
        assert crop.status_code == 200 and crop.data.startswith(b"\x89PNG")
    # The API says which face is which kind.
    faces = admin.get(f"/api/v1/people/{powell.id}").get_json()
    assert faces["samples"] == 3 and faces["learned_samples"] == 2
    assert sorted(f["kind"] for f in faces["face_samples"]) == ["enrollment"] * 3 + ["learned"] * 2
    # The people list counts enrollment photos, as before.
    assert next(p for p in admin.get("/api/v1/people").get_json()["people"] if p["id"] == powell.id)["samples"] == 3


def test_an_admin_removes_one_learned_face_then_all(admin, trained_app):
    check_in(FACES / "lfw_Colin_Powell" / "4.jpg")
    check_in(HELD_OUT["Colin Powell"])
    check_in(HELD_OUT["George W Bush"])
    powell = person("Colin Powell")
    first, second = learned_rows("Colin Powell")
    files = [storage.resolve(s.crop_path) for s in (first, second)]
    page = admin.get(f"/admin/people/{powell.id}").text

    response = admin.post(f"/admin/people/{powell.id}/learned/{first.id}/delete", data={"csrf_token": form_token(page)})
    assert response.status_code == 303 and response.headers["Location"].endswith("#learned")
    assert [s.id for s in learned_rows("Colin Powell")] == [second.id] and not files[0].exists()
    assert first.id not in face_model_file.load_model().learned_sample_ids

    # An enrollment photo or another person's face is not a learned face of this person.
    enrolled = powell.enrollment_samples[0]
    bush_face = learned_rows("George W Bush")[0]
    for sample_id in (enrolled.id, bush_face.id, 999999):
        refused = admin.post(f"/admin/people/{powell.id}/learned/{sample_id}/delete",
                             data={"csrf_token": form_token(page)})
        assert refused.status_code == 404
    assert len(person("Colin Powell").enrollment_samples) == 3 and len(learned_rows("George W Bush")) == 1

    response = admin.post(f"/admin/people/{powell.id}/learned/delete", data={"csrf_token": form_token(page)})
    assert response.status_code == 303
    assert learned_rows("Colin Powell") == [] and not files[1].exists()
    model = face_model_file.load_model()
    assert model.learned_sample_ids == {bush_face.id}
    assert int(np.sum(model.gallery_person_ids == powell.id)) == 3
    assert "Removed 1 learned face(s) of Colin Powell" in admin.get(f"/admin/people/{powell.id}").text


def test_removal_needs_the_csrf_token(admin, trained_app):
    check_in(HELD_OUT["Colin Powell"])
    powell = person("Colin Powell")
    assert admin.post(f"/admin/people/{powell.id}/learned/delete").status_code == 400
    assert len(learned_rows("Colin Powell")) == 1


def test_deleting_a_person_deletes_their_learned_faces_and_crops(admin, trained_app):
    check_in(FACES / "lfw_Colin_Powell" / "4.jpg")
    check_in(HELD_OUT["Colin Powell"])
    powell = person("Colin Powell")
    crops = [storage.resolve(s.crop_path) for s in learned_rows("Colin Powell")]
    assert all(p.is_file() for p in crops)
    assert deletion_preview(powell)["learned_samples"] == 2
    page = admin.get(f"/admin/people/{powell.id}/delete").text
    assert 'data-count="learned_samples">2<' in page
    assert admin.post(f"/admin/people/{powell.id}/delete", data={"csrf_token": form_token(page)}).status_code == 303
    assert learned_rows() == [] and not any(p.exists() for p in crops)
    model = face_model_file.load_model()
    assert model.learned_sample_ids == frozenset() and powell.id not in model.gallery_person_ids


def test_kiosk_purge_applies_the_retention_to_learned_faces(trained_app):
    runner = trained_app.test_cli_runner()
    old = check_in(FACES / "lfw_Colin_Powell" / "4.jpg")
    new = check_in(HELD_OUT["Colin Powell"])
    db.session.execute(update(FaceSample).where(FaceSample.id == old.sample_id)
                       .values(created_at=utcnow() - timedelta(days=40)))
    db.session.commit()
    old_crop = storage.resolve(db.session.get(FaceSample, old.sample_id).crop_path)
    orphan = storage.resolve(storage.store_bytes("faces", b"left by a crash", ".png"))
    import os

    os.utime(orphan, (time.time() - 3600, time.time() - 3600))
    enrolled_crops = [storage.resolve(s.crop_path) for s in db.session.scalars(
        select(FaceSample).where(FaceSample.kind == SampleKind.enrollment))]

    import json

    result = runner.invoke(args=["purge", "--days", "30", "--orphans"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["learned_faces"] == 1 and report["orphan_crops"] == 1
    assert [s.id for s in learned_rows()] == [new.sample_id]
    assert not old_crop.exists() and not orphan.exists() and all(p.is_file() for p in enrolled_crops)
    assert face_model_file.load_model().learned_sample_ids == {new.sample_id}


# --------------------------------------------------------------------------- several app hosts


def test_a_face_learned_on_one_host_is_used_by_the_others_and_none_is_lost(postgres_site, tmp_path):
    """Two hosts on one PostgreSQL database learn at the same moment (the model's update lock is
    an advisory lock there): both faces end up in the stored model, and each host serves it."""
    from test_shared_database import host

    hosts = [host(tmp_path / name, postgres_site, KIOSK_MODEL_CHECK_SECONDS=0.2) for name in ("a", "b")]
    photos = [FACES / "lfw_Colin_Powell" / "4.jpg", HELD_OUT["George W Bush"]]
    looked = []
    for app, photo in zip(hosts, photos):
        with app.app_context():
            looked.append(evidence_of(photo))
            db.session.remove()
    version = None
    with hosts[0].app_context():
        version = model_store.stored_version(model_store.FACE_MODEL)
        db.session.remove()
    outcomes: list = [None, None]
    start = threading.Barrier(2)

    def learn(i: int) -> None:
        with hosts[i].app_context():
            start.wait()
            outcomes[i] = learning.learn_from_check_in(looked[i][0], looked[i][1], f"kiosk-{i}")
            db.session.remove()

    threads = [threading.Thread(target=learn, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(o is not None and o.added for o in outcomes), outcomes
    learned = {o.sample_id for o in outcomes}
    for app in hosts:
        with app.app_context():
            deadline = time.monotonic() + 5
            while recognition.get_recognizer().model().learned_sample_ids != learned:
                assert time.monotonic() < deadline, "a host does not serve both learned faces"
                time.sleep(0.1)
            assert model_store.stored_version(model_store.FACE_MODEL) == version + 2
            db.session.remove()
            db.engine.dispose()
