"""Enrollment from the console with the real detector and embedder, on real photos (tests/data/faces):
good photos accepted, every bad kind refused with its reason, webcam shots and the live face
check, a possible duplicate flagged, deletion removing the biometric files, and a real retraining.

CSRF stays on: requests carry the page's token like the browser does.
"""

from __future__ import annotations

import base64
import io
import re

import cv2
import numpy as np
import pytest

from kiosk import storage
from kiosk.extensions import db
from kiosk.models import FaceSample, Person
from kiosk.services import training_jobs


@pytest.fixture
def admin(client, sign_in_admin):
    client.csrf = sign_in_admin(client)
    return client


def jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


def upload(admin, person_id: int, files: list[tuple[bytes, str]], *, page: bool = False):
    data = {"photos": [(io.BytesIO(content), name) for content, name in files]}
    if page:
        data["csrf_token"] = admin.csrf
        return admin.post(f"/admin/people/{person_id}/enroll", data=data)
    return admin.post(f"/api/v1/people/{person_id}/samples", data=data, headers={"X-CSRFToken": admin.csrf})


def read(path) -> bytes:
    return path.read_bytes()


@pytest.fixture
def bad_photos(faces_data) -> dict[str, tuple[bytes, str]]:
    """One photo per refusal reason, each made from (or being) a real photo."""
    face = cv2.imread(str(faces_data / "lfw_Colin_Powell" / "1.jpg"))
    small = np.full((480, 640, 3), 120, np.uint8)
    tiny_face = cv2.resize(face, (100, 100), interpolation=cv2.INTER_AREA)  # the face becomes ~40 px wide
    small[190:290, 270:370] = tiny_face
    blurred = cv2.GaussianBlur(cv2.resize(face, (500, 500)), (0, 0), 9)
    # A real photo with no face in it: the background of a group photo, cropped below the faces.
    group = cv2.imread(str(faces_data / "_multi" / "1.jpg"))
    no_face = group[-300:, :600]
    real_jpeg = read(faces_data / "lfw_Colin_Powell" / "2.jpg")
    return {
        "no_face": (jpeg(no_face), "floor.jpg"),
        "multiple_faces": (read(faces_data / "_multi" / "2.jpg"), "team.jpg"),
        "face_too_small": (jpeg(small), "far-away.jpg"),
        "too_blurry": (jpeg(blurred), "shaky.jpg"),
        "bad_image": (b"these are the minutes of the meeting, not a photo", "minutes.jpg"),
        "truncated": (real_jpeg[: len(real_jpeg) // 2], "cut.jpg"),
    }


@pytest.mark.models
def test_good_photos_are_accepted(admin, make_person, faces_data):
    person = make_person("Barack Obama")
    photos = sorted((faces_data / "fr_obama").glob("*.jpg"))
    response = upload(admin, person.id, [(read(p), p.name) for p in photos])
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["accepted"] == len(photos) and body["refused"] == 0
    for result, photo in zip(body["results"], photos):
        assert result["accepted"] and result["file"] == photo.name
        assert 0 < result["sample"]["quality"] <= 1
    samples = db.session.scalars(db.select(FaceSample).where(FaceSample.person_id == person.id)).all()
    assert len(samples) == len(photos)
    for sample in samples:
        assert storage.resolve(sample.crop_path).is_file()
        assert sample.embedding is not None and sample.embedder
        assert "Obama" not in sample.crop_path  # unguessable names, nothing personal in paths
    # The person page shows every crop, with its quality.
    page = admin.get(f"/admin/people/{person.id}")
    assert page.text.count('class="crop"') == len(photos)
    assert re.search(r"(good|fair|poor) 0\.\d\d", page.text)
    crop = admin.get(f"/admin/people/{person.id}/samples/{samples[0].id}/crop")
    assert crop.status_code == 200 and crop.mimetype == "image/png" and crop.data[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "kind, code, words",
    [
        ("no_face", "no_face", "face"),
        ("multiple_faces", "multiple_faces", "face"),
        ("face_too_small", "face_too_small", "small"),
        ("too_blurry", "too_blurry", "blur"),
        ("bad_image", "bad_image", "image"),
        ("truncated", "bad_image", "truncated"),
    ],
)
@pytest.mark.models
def test_each_bad_photo_is_refused_with_its_reason(admin, make_person, bad_photos, kind, code, words):
    person = make_person("Colin Powell")
    response = upload(admin, person.id, [bad_photos[kind]])
    assert response.status_code == 422
    assert response.get_json()["error"] == "no_photo_accepted"
    assert words in response.get_json()["message"].lower()
    (result,) = response.get_json()["results"]
    assert result["accepted"] is False
    assert result["code"] == code, result
    assert words in result["message"].lower(), result["message"]
    assert db.session.scalar(db.select(db.func.count(FaceSample.id))) == 0


@pytest.mark.models
def test_a_mixed_batch_through_the_page(admin, make_person, faces_data, bad_photos):
    person = make_person("Colin Powell")
    good = [(read(faces_data / "lfw_Colin_Powell" / f"{i}.jpg"), f"powell-{i}.jpg") for i in (1, 2, 3)]
    response = upload(admin, person.id, good + [bad_photos["multiple_faces"], bad_photos["bad_image"]], page=True)
    assert response.status_code == 201
    assert "3 of 5 photos accepted" in response.text
    assert response.text.count('class="refused"') == 2
    assert 'data-code="multiple_faces"' in response.text and 'data-code="bad_image"' in response.text
    assert db.session.scalar(db.select(db.func.count(FaceSample.id))) == 3


@pytest.mark.models
def test_add_a_person_with_photos_in_one_step(admin, faces_data):
    photos = [(io.BytesIO(read(faces_data / "fr_biden" / f"{i}.jpg")), f"biden-{i}.jpg") for i in (1, 2)]
    response = admin.post("/admin/people", data={"csrf_token": admin.csrf, "name": "Joe Biden", "photos": photos})
    assert response.status_code == 201 and "2 of 2 photos accepted" in response.text
    person = db.session.scalar(db.select(Person).where(Person.name == "Joe Biden"))
    assert len(person.samples) == 2


@pytest.mark.models
def test_webcam_shots_as_data_urls(admin, make_person, faces_data):
    person = make_person("Tony Blair")
    shots = ["data:image/jpeg;base64," + base64.b64encode(read(faces_data / "lfw_Tony_Blair" / f"{i}.jpg")).decode()
             for i in (2, 3)]
    response = admin.post(f"/api/v1/people/{person.id}/samples", json={"images": shots},
                          headers={"X-CSRFToken": admin.csrf})
    assert response.status_code == 201
    assert [r["file"] for r in response.get_json()["results"]] == ["webcam shot 1", "webcam shot 2"]


@pytest.mark.models
def test_possible_duplicate_enrollment_is_flagged(admin, make_person, faces_data):
    first, second = make_person("Barack Obama"), make_person("Barry O")
    photos = [(read(faces_data / "fr_obama" / f"{i}.jpg"), f"{i}.jpg") for i in (1, 2, 3)]
    assert upload(admin, first.id, photos).status_code == 201
    response = upload(admin, second.id, [(read(faces_data / "fr_obama" / "4.jpg"), "barry.jpg")])
    (result,) = response.get_json()["results"]
    assert result.get("warning"), result
    assert "Barack Obama" in result["warning"]
    # A different person raises no warning.
    other = make_person("Joe Biden")
    (clean,) = upload(admin, other.id, [(read(faces_data / "fr_biden" / "2.jpg"), "biden.jpg")]).get_json()["results"]
    assert clean["accepted"] and not clean.get("warning")


@pytest.mark.parametrize(
    "source, status, ok",
    [
        ("lfw_Colin_Powell/1.jpg", "ok", True),
        ("_multi/2.jpg", "multiple_faces", False),
    ],
)
@pytest.mark.models
def test_live_face_check(admin, faces_data, source, status, ok):
    response = admin.post("/api/v1/enrollment/check-frame", headers={"X-CSRFToken": admin.csrf},
                          data={"frame": (io.BytesIO(read(faces_data / source)), "frame.jpg")})
    assert response.status_code == 200
    verdict = response.get_json()
    assert verdict["status"] == status and verdict["ok"] is ok
    assert verdict["message"]
    assert all(0 <= v <= 1.0001 for box in verdict["boxes"] for v in box)
    if ok:
        assert verdict["faces"] == 1 and len(verdict["boxes"]) == 1


@pytest.mark.models
def test_live_face_check_refusals(admin, bad_photos):
    for kind, status in (("no_face", "no_face"), ("face_too_small", "face_too_small"), ("too_blurry", "too_blurry"),
                         ("bad_image", "bad_image")):
        content, name = bad_photos[kind]
        verdict = admin.post("/api/v1/enrollment/check-frame", headers={"X-CSRFToken": admin.csrf},
                             data={"frame": (io.BytesIO(content), name)}).get_json()
        assert verdict["ok"] is False and verdict["status"] == status, (kind, verdict)


@pytest.mark.models
def test_deleting_an_enrolled_person_removes_crops_and_embeddings(admin, make_person, faces_data):
    person = make_person("Colin Powell")
    upload(admin, person.id, [(read(faces_data / "lfw_Colin_Powell" / f"{i}.jpg"), f"{i}.jpg") for i in (1, 2)])
    crops = [storage.resolve(s.crop_path) for s in person.samples]
    assert len(crops) == 2 and all(c.is_file() for c in crops)
    confirm = admin.get(f"/admin/people/{person.id}/delete")
    assert re.search(r'data-count="samples">2<', confirm.text)
    assert admin.post(f"/admin/people/{person.id}/delete", data={"csrf_token": admin.csrf}).status_code == 303
    assert db.session.scalar(db.select(db.func.count(FaceSample.id))) == 0
    assert db.session.get(Person, person.id) is None
    assert not any(c.exists() for c in crops)


@pytest.mark.models
def test_real_retraining_from_the_console(admin, make_person, faces_data):
    for name, folder in (("Colin Powell", "lfw_Colin_Powell"), ("George W Bush", "lfw_George_W_Bush"),
                         ("Hugo Chavez", "lfw_Hugo_Chavez")):
        person = make_person(name)
        photos = [(read(faces_data / folder / f"{i}.jpg"), f"{i}.jpg") for i in range(1, 6)]
        assert upload(admin, person.id, photos).status_code == 201
    assert admin.get("/api/v1/models").get_json()["faces"]["stale"] is True
    started = admin.post("/api/v1/models/faces/train", headers={"X-CSRFToken": admin.csrf})
    assert started.status_code == 202
    job = training_jobs.wait_for(started.get_json()["id"], timeout=900)
    assert job.state == "done", job.error
    info = admin.get("/api/v1/models").get_json()["faces"]
    assert info["trained"] is True and info["stale"] is False
    assert info["people"] == 3 and info["samples"] == 15
    page = admin.get("/admin/models")
    assert 'data-fact="embedder"' in page.text and 'data-fact="threshold"' in page.text


def test_a_missing_model_file_is_a_503_with_the_operator_message(admin, make_person, faces_data, monkeypatch):
    # A fake failure (the real model files are present): this test is about the error path only.
    from kiosk.services import enrollment
    from kiosk.vision.lazy import ModelUnavailable

    def unavailable(*args, **kwargs):
        raise ModelUnavailable("The dlib face descriptor model file is missing: reinstall face-recognition-models.")

    monkeypatch.setattr(enrollment, "check_photo_bytes", unavailable)
    person = make_person("Colin Powell")
    response = upload(admin, person.id, [(read(faces_data / "lfw_Colin_Powell" / "1.jpg"), "1.jpg")])
    assert response.status_code == 503
    assert response.get_json()["error"] == "model_unavailable"
    assert "reinstall face-recognition-models" in response.get_json()["message"]
