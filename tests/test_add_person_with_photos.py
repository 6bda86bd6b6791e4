"""Adding a person with photos (issue 13, item 4): the name and every photo are checked first;
the person and the accepted photos are then written in one transaction. A refused request (41
photos, every photo refused) or one that fails half-way (a model error, the disk) leaves no
person, no sample and no crop file behind; a retry is not told "name taken".

Real photos, the real detector and embedder. Where a failure half-way is needed it is injected
(an embedder or a disk that fails on the second photo): these tests are about what is left
behind, not about why a disk fails.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from kiosk import storage
from kiosk.extensions import db
from kiosk.models import FaceSample, Person
from kiosk.services import enrollment

# On SQLite and on a real PostgreSQL server (conftest.py): the counting, locking and unique keys
# are the database's, so both engines must keep them.
pytestmark = pytest.mark.both_databases

FACES = Path(__file__).resolve().parent / "data" / "faces"
POWELL = [FACES / "lfw_Colin_Powell" / f"{i}.jpg" for i in (1, 2, 3)]
NOT_A_PHOTO = (b"these are the minutes of the meeting, not a photo", "minutes.jpg")


@pytest.fixture
def admin(client, sign_in_admin):
    client.csrf = sign_in_admin(client)
    return client


def add_person(admin, name: str, photos: list[tuple[bytes, str]]):
    return admin.post("/admin/people", data={
        "name": name, "external_id": "", "csrf_token": admin.csrf,
        "photos": [(io.BytesIO(data), filename) for data, filename in photos]})


def real(paths=POWELL) -> list[tuple[bytes, str]]:
    return [(p.read_bytes(), p.name) for p in paths]


def written(app) -> dict[str, int]:
    faces = Path(app.config["KIOSK_DATA_DIR"]) / "faces"
    return {
        "people": db.session.scalar(db.select(db.func.count(Person.id))),
        "samples": db.session.scalar(db.select(db.func.count(FaceSample.id))),
        "crop_files": len(list(faces.glob("*"))) if faces.is_dir() else 0,
    }


NOTHING = {"people": 0, "samples": 0, "crop_files": 0}


@pytest.mark.models
def test_41_photos_are_refused_and_nobody_is_added(app, admin):
    """The probe's reproduction: 400 "At most 40 photos", yet the person existed and a retry got 409."""
    refused = add_person(admin, "Colin Powell", real() * 13 + real()[:2])
    assert refused.status_code == 400 and "At most 40 photos" in refused.text
    assert 'value="Colin Powell"' in refused.text  # the form keeps what was typed
    assert written(app) == NOTHING
    retry = add_person(admin, "Colin Powell", real())
    assert retry.status_code == 201, retry.text[:300]
    assert written(app) == {"people": 1, "samples": 3, "crop_files": 3}


@pytest.mark.models
def test_when_every_photo_is_refused_nobody_is_added(app, admin, faces_data):
    """It answered 201 and left a person without photos."""
    group = (faces_data / "_multi" / "2.jpg").read_bytes()
    answer = add_person(admin, "Colin Powell", [NOT_A_PHOTO, (group, "team.jpg")])
    assert answer.status_code == 422
    assert "Nobody was added" in answer.text
    assert 'data-code="bad_image"' in answer.text and 'data-code="multiple_faces"' in answer.text
    assert written(app) == NOTHING


@pytest.mark.models
def test_a_mixed_batch_adds_the_person_with_the_accepted_photos(app, admin):
    answer = add_person(admin, "Colin Powell", real() + [NOT_A_PHOTO])
    assert answer.status_code == 201
    assert answer.text.count('data-code="accepted"') == 3 and 'data-code="bad_image"' in answer.text
    assert written(app) == {"people": 1, "samples": 3, "crop_files": 3}


class _FailsOnSecondCall:
    def __init__(self, real_function, error: Exception):
        self.real, self.error, self.calls = real_function, error, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == 2:
            raise self.error
        return self.real(*args, **kwargs)


@pytest.mark.models
def test_a_photo_that_fails_with_a_server_error_leaves_no_one(app, admin, monkeypatch):
    """The probe's second case: a photo that failed with a 500 still left the person."""
    from kiosk.services import enrollment

    real_get = enrollment.get_embedder

    class Breaking:
        def __init__(self, embedder):
            self.embedder = embedder
            self.embed_crops = _FailsOnSecondCall(embedder.embed_crops, RuntimeError("the embedder broke"))

    breaking = {}
    # Where enrollment looks it up (it imports the function by name).
    monkeypatch.setattr(enrollment, "get_embedder",
                        lambda name=None: breaking.setdefault(name, Breaking(real_get(name))))
    answer = add_person(admin, "Colin Powell", real())
    assert answer.status_code == 500
    assert written(app) == NOTHING
    monkeypatch.undo()
    assert add_person(admin, "Colin Powell", real()).status_code == 201  # no "name taken"


@pytest.mark.models
def test_a_disk_that_fails_half_way_leaves_no_person_and_no_crop(app, admin, monkeypatch):
    # store_samples writes its crops with write_relative (their paths are chosen first, for the import's journal)
    monkeypatch.setattr(storage, "write_relative",
                        _FailsOnSecondCall(storage.write_relative, OSError(28, "No space left")))
    answer = add_person(admin, "Colin Powell", real())
    assert answer.status_code == 500
    assert written(app) == NOTHING  # the first crop, written before the failure, was removed


@pytest.mark.models
def test_enrolling_into_an_existing_person_stores_all_or_nothing(app, admin, make_person, monkeypatch):
    person = make_person("Colin Powell")
    # store_samples writes its crops with write_relative (their paths are chosen first, for the import's journal)
    monkeypatch.setattr(storage, "write_relative",
                        _FailsOnSecondCall(storage.write_relative, OSError(28, "No space left")))
    answer = admin.post(f"/api/v1/people/{person.id}/samples", headers={"X-CSRFToken": admin.csrf},
                        data={"photos": [(io.BytesIO(data), name) for data, name in real()]})
    assert answer.status_code == 500
    assert written(app) == {"people": 1, "samples": 0, "crop_files": 0}


def test_the_command_line_adds_nobody_when_no_photo_is_accepted(app, runner, tmp_path):
    notes = tmp_path / "notes.jpg"
    notes.write_bytes(NOT_A_PHOTO[0])
    result = runner.invoke(args=["people", "enroll", "Colin Powell", str(notes), str(tmp_path / "missing.jpg")])
    assert result.exit_code == 1, result.output  # nothing done
    assert [json.loads(line)["status"] for line in result.stdout.splitlines()] == ["refused", "refused"]
    assert "No photo was accepted" in result.stderr
    assert written(app) == NOTHING


@pytest.mark.models
def test_the_command_line_adds_nobody_when_it_fails_half_way(app, runner, monkeypatch):
    # store_samples writes its crops with write_relative (their paths are chosen first, for the import's journal)
    monkeypatch.setattr(storage, "write_relative",
                        _FailsOnSecondCall(storage.write_relative, OSError(28, "No space left")))
    result = runner.invoke(args=["people", "enroll", "Colin Powell", *map(str, POWELL)])
    assert result.exit_code != 0
    assert written(app) == NOTHING


def test_create_person_with_photos_checks_the_name_before_any_photo(app, make_person):
    make_person("Colin Powell")
    with pytest.raises(Exception) as refused:
        enrollment.create_person_with_photos("COLIN POWELL", None, [enrollment.Photo("1.jpg", b"not looked at")])
    assert getattr(refused.value, "code", None) == "name_taken"
    assert written(app) == {"people": 1, "samples": 0, "crop_files": 0}
