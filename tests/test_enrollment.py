"""Enrollment with the real detector and the default embedder (real FaceNet) on real photos (tests/data/faces):
accepted photos store an aligned crop and an embedding; every kind of bad photo is refused with its
reason; nothing is left behind when the database write fails; a likely duplicate is flagged."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import func, select

from kiosk import storage
from kiosk.extensions import db
from kiosk.models import FaceSample, Person
from kiosk.services import enrollment
from kiosk.services.enrollment import EnrollmentRefused, Photo, check_photo_bytes, enroll_files, enroll_photo
from kiosk.vision.face_crop import CANONICAL_CROP_SIZE

pytestmark = pytest.mark.both_databases

FACES = Path(__file__).resolve().parent / "data" / "faces"


def faces_dir_files(app) -> list[Path]:
    folder = Path(app.config["KIOSK_DATA_DIR"]) / "faces"
    return sorted(folder.glob("*")) if folder.is_dir() else []


@pytest.fixture
def bad_files(tmp_path) -> dict[str, Path]:
    """One file per refusal reason, each made from (or being) a real photo."""
    powell = cv2.imread(str(FACES / "lfw_Colin_Powell" / "1.jpg"))
    files = {}

    def save(name: str, image: np.ndarray) -> Path:
        path = tmp_path / name
        cv2.imwrite(str(path), image)
        return path

    truncated = tmp_path / "truncated.jpg"
    data = (FACES / "lfw_Colin_Powell" / "2.jpg").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    files["bad_image:truncated"] = truncated
    text = tmp_path / "notes.jpg"
    text.write_text("these are the minutes of the meeting, not a photo\n")
    files["bad_image:text"] = text
    files["bad_image:missing"] = tmp_path / "does-not-exist.jpg"
    files["no_face"] = save("floor.jpg", cv2.imread(str(FACES / "_multi" / "1.jpg"))[-300:, :600])
    files["multiple_faces"] = FACES / "_multi" / "2.jpg"
    small = np.full((480, 640, 3), 120, np.uint8)
    small[190:290, 270:370] = cv2.resize(powell, (100, 100), interpolation=cv2.INTER_AREA)
    files["face_too_small"] = save("far.jpg", small)
    files["too_blurry"] = save("shaky.jpg", cv2.GaussianBlur(cv2.resize(powell, (500, 500)), (0, 0), 9))
    files["too_dark"] = save("dark.jpg", (powell * 0.25).astype(np.uint8))
    return files


@pytest.mark.models
def test_accepted_photos_store_an_aligned_crop_and_an_embedding(app):
    paths = [str(FACES / "lfw_Colin_Powell" / f"{i}.jpg") for i in (1, 2, 3)]
    results = enroll_files("Colin Powell", paths)
    assert [r.accepted for r in results] == [True] * 3
    assert [r.file for r in results] == paths
    person = db.session.scalar(select(Person).where(Person.name == "Colin Powell"))
    assert person is not None and len(person.samples) == 3
    for result, sample in zip(results, sorted(person.samples, key=lambda s: s.id)):
        assert result.sample.id == sample.id and result.code == "accepted" and result.warning is None
        assert sample.embedder == "facenet:20180408-102900" and sample.source_photo == Path(result.file).name
        vector = sample.embedding_array()
        assert vector.shape == (512,) and abs(np.linalg.norm(vector) - 1) < 1e-4
        assert 0 < sample.quality <= 1
        crop = cv2.imread(str(storage.resolve(sample.crop_path)))
        assert crop.shape == (CANONICAL_CROP_SIZE, CANONICAL_CROP_SIZE, 3)
        assert sample.crop_path.startswith("faces/") and "Powell" not in sample.crop_path
    assert len(faces_dir_files(app)) == 3
    # The same person again: added to, not created twice.
    more = enroll_files("colin powell", [str(FACES / "lfw_Colin_Powell" / "4.jpg")])
    assert more[0].accepted
    assert db.session.scalar(select(func.count(Person.id))) == 1


@pytest.mark.models
def test_every_bad_photo_is_refused_with_its_reason(app, bad_files):
    expected = {name: name.split(":")[0] for name in bad_files}
    results = enroll_files("Nobody Good", [str(p) for p in bad_files.values()])
    assert [r.file for r in results] == [str(p) for p in bad_files.values()]
    for name, result in zip(bad_files, results):
        assert not result.accepted, (name, result)
        assert result.code == expected[name], (name, result)
        assert result.message and result.sample is None
    # Nothing was stored, and the person created for these photos was not kept.
    assert faces_dir_files(app) == []
    assert db.session.scalar(select(func.count(FaceSample.id))) == 0
    assert db.session.scalar(select(Person).where(Person.name == "Nobody Good")) is None


@pytest.mark.models
def test_refusal_messages_say_what_to_do(app, make_person, bad_files):
    person = make_person("Colin Powell")
    for reason, phrase in (("multiple_faces", "more than one face"), ("face_too_small", "closer photo"),
                           ("too_blurry", "sharper"), ("no_face", "no face")):
        with pytest.raises(EnrollmentRefused) as caught:
            check_photo_bytes(person, Photo("x.jpg", bad_files[reason].read_bytes()))
        assert caught.value.code == reason and caught.value.status == 422
        assert phrase in str(caught.value).lower()


@pytest.mark.models
def test_people_enroll_line_shape(app, runner):
    outcome = runner.invoke(args=["people", "enroll", "Hugo Chavez", str(FACES / "lfw_Hugo_Chavez" / "1.jpg")])
    (line,) = outcome.output.strip().splitlines()
    assert set(json.loads(line)) == {"image", "status", "reason", "message", "sample_id", "warning"}


@pytest.mark.models
def test_no_orphan_crop_when_the_database_write_fails(app, make_person, monkeypatch):
    person = make_person("George W Bush")
    real_commit = db.session.commit

    def failing_commit():
        raise RuntimeError("disk full")

    monkeypatch.setattr(db.session, "commit", failing_commit)
    with pytest.raises(RuntimeError):
        enroll_photo(person, Photo("1.jpg", (FACES / "lfw_George_W_Bush" / "1.jpg").read_bytes()))
    monkeypatch.setattr(db.session, "commit", real_commit)
    assert faces_dir_files(app) == []
    assert db.session.scalar(select(func.count(FaceSample.id))) == 0


@pytest.mark.models
def test_possible_duplicate_enrollment_is_warned(app):
    enroll_files("Barack Obama", [str(FACES / "fr_obama" / f"{i}.jpg") for i in (1, 2, 3)])
    (dup,) = enroll_files("Barry O", [str(FACES / "fr_obama" / "5.jpg")])
    assert dup.accepted
    assert dup.warning and "Barack Obama" in dup.warning
    # Another photo of the same person under their own name is not a duplicate of anyone else.
    (same,) = enroll_files("Joe Biden", [str(FACES / "fr_biden" / "1.jpg")])
    assert same.accepted and same.warning is None


@pytest.mark.models
def test_the_crop_is_what_the_embedder_sees(app):
    """Re-embedding the stored crop (what training does) gives the stored embedding."""
    from kiosk.vision.embedders import get_embedder
    from kiosk.vision.image import load_image

    (result,) = enroll_files("Tony Blair", [str(FACES / "lfw_Tony_Blair" / "2.jpg")])
    sample = db.session.get(FaceSample, result.sample.id)
    again = get_embedder(sample.embedder).embed_crops([load_image(storage.resolve(sample.crop_path))])[0]
    assert np.linalg.norm(again - sample.embedding_array()) < 1e-3


@pytest.mark.models
def test_people_enroll_command(app, runner, bad_files):
    good = str(FACES / "lfw_Ariel_Sharon" / "1.jpg")
    outcome = runner.invoke(args=["people", "enroll", "Ariel Sharon", good, str(bad_files["bad_image:text"])])
    assert outcome.exit_code == 0, outcome.output
    lines = [json.loads(line) for line in outcome.output.strip().splitlines()]
    assert [(r["image"], r["status"], r["reason"]) for r in lines] == [
        (good, "accepted", None),
        (str(bad_files["bad_image:text"]), "refused", "bad_image"),
    ]


def test_enrollment_messages_for_the_kiosk_user_exist():
    for code in ("no_face", "multiple_faces", "face_too_small", "too_blurry", "too_dark", "too_bright"):
        assert enrollment.REFUSAL_MESSAGES[code]
