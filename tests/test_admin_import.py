"""Bulk import from the admin console (/admin/people/import): a ZIP, or a CSV with its photos, is
uploaded, checked at once, and imported by a background job with the real models on real photos
(tests/import_helpers.py); the kiosk answers frames meanwhile; the model is retrained once at the
end; the page shows the summary. A refused upload answers 4xx with its reason and keeps nothing;
an import interrupted by a server restart can be resumed or its upload deleted."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from face_helpers import DEFAULT_EMBEDDER_ID
from import_helpers import EXPECTED, count_trainings, write_csv, write_folder, write_zip
from sqlalchemy import func, select

from kiosk.extensions import db
from kiosk.models import Person
from kiosk.services import training_jobs
from kiosk.services.bulk_import import lock, uploads

FACES = Path(__file__).resolve().parent / "data" / "faces"


@pytest.fixture
def admin(client, sign_in_admin):
    client.token = sign_in_admin(client)
    return client


@pytest.fixture(scope="module")
def staff_folder(tmp_path_factory) -> Path:
    return write_folder(tmp_path_factory.mktemp("staff") / "staff")


class FileUpload:
    """A file as the service receives it from a form (werkzeug's FileStorage has these two members)."""

    def __init__(self, path: Path) -> None:
        self.path, self.filename = path, path.name

    def save(self, target: str) -> None:
        shutil.copy(self.path, target)


def upload(client, files: dict, token: str | None):
    data = {"csrf_token": token} if token else {}
    data.update(files)
    return client.post("/admin/people/import", data=data, content_type="multipart/form-data")


def imports_left(app) -> list[str]:
    folder = Path(app.config["KIOSK_DATA_DIR"]) / "imports"
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.exists() else []


@pytest.mark.models
def test_an_uploaded_zip_is_imported_in_the_background_and_retrained_once(app, admin, staff_folder, tmp_path,
                                                                          monkeypatch):
    trainings = count_trainings(monkeypatch)
    archive = write_zip(tmp_path / "staff.zip", staff_folder)
    with open(archive, "rb") as handle:
        response = upload(admin, {"source": (handle, "staff.zip")}, admin.token)
    assert response.status_code == 303, response.text
    job_id = re.search(r"job=([0-9a-f]+)", response.headers["Location"]).group(1)

    # The kiosk answers frames while the import runs.
    frame = (FACES / "lfw_Tony_Blair" / "2.jpg").read_bytes()
    answered_while_running = 0
    while training_jobs.get_job(job_id).running:
        answer = admin.post("/api/v1/kiosk/frames", data=frame, content_type="image/jpeg")
        assert answer.status_code == 200, answer.text
        answered_while_running += training_jobs.get_job(job_id).running
        time.sleep(1 / 15)  # at a camera's pace, as a kiosk sends them (back to back would meet the rate limit)
    assert answered_while_running >= 1

    job = training_jobs.wait_for(job_id)
    assert job.state == "done", job.error
    result = job.result
    assert result["accepted"] == EXPECTED["accepted"] and result["refused"] == EXPECTED["refused"]
    assert result["people_created"] == 3 and result["duplicates"] == 1
    assert trainings == [EXPECTED["accepted"]]  # once, at the end, with every photo
    assert result["training"]["people"] == 3
    assert {r["reason"] for r in result["to_look_at"]} == {"bad_image", "multiple_faces"}
    assert imports_left(app) == []  # the upload is deleted once imported

    page = admin.get(f"/admin/people/import?job={job_id}")
    assert page.status_code == 200
    html = " ".join(page.text.split())
    assert 'id="import-progress" max="1" value="1"' in html
    assert 'data-fact="people_created">3<' in html and 'data-fact="accepted">5<' in html
    assert 'data-refused="multiple_faces">1<' in html and 'data-fact="duplicates">1<' in html
    assert "The face model was retrained once: 3 people, 5 photos" in html
    assert f'data-fact="embedder">{DEFAULT_EMBEDDER_ID}<' in html  # the real FaceNet, as the kiosk defaults to
    assert "George W Bush" in html and "More than one face" in html

    status = admin.get(f"/api/v1/people/import/jobs/{job_id}").get_json()
    assert status["state"] == "done" and status["detail"]["done"] == EXPECTED["photos"]


@pytest.mark.models
def test_a_csv_with_its_photos_is_imported(app, admin, staff_folder, tmp_path):
    table = write_csv(tmp_path / "export" / "staff.csv", staff_folder)
    photos = sorted((tmp_path / "export" / "photos").iterdir())
    handles = [open(p, "rb") for p in [table, *photos]]
    try:
        response = upload(admin, {"source": (handles[0], "staff.csv"),
                                  "photos": [(h, p.name) for h, p in zip(handles[1:], photos)]}, admin.token)
    finally:
        for h in handles:
            h.close()
    assert response.status_code == 303, response.text
    job = training_jobs.wait_for(re.search(r"job=([0-9a-f]+)", response.headers["Location"]).group(1))
    assert job.state == "done", job.error
    assert job.result["accepted"] == EXPECTED["accepted"] and job.result["people_created"] == 3
    assert db.session.scalar(select(Person.external_id).where(Person.name == "Hugo Chavez")) == "E-002"


def bomb_zip(tmp_path: Path) -> Path:
    import zipfile

    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Ada/1.jpg", b"\0" * (30 << 20))
    return path


def test_a_refused_archive_is_a_4xx_with_its_reason_and_keeps_nothing(app, admin, tmp_path):
    with open(bomb_zip(tmp_path), "rb") as handle:
        response = upload(admin, {"source": (handle, "bomb.zip")}, admin.token)
    assert response.status_code == 422
    assert "looks like a zip bomb and was not read" in response.text
    assert imports_left(app) == [] and training_jobs.latest_jobs()["import"] is None
    assert db.session.scalar(select(func.count(Person.id))) == 0


def test_an_upload_over_the_import_limit_is_413_with_the_import_limit(app, admin, tmp_path):
    app.config["KIOSK_IMPORT_MAX_MB"] = 1
    big = tmp_path / "big.zip"
    big.write_bytes(b"\0" * (3 << 20))
    with open(big, "rb") as handle:
        response = upload(admin, {"source": (handle, "big.zip")}, admin.token)
    assert response.status_code == 413
    assert "an import may be at most 1 MB" in response.text and imports_left(app) == []


@pytest.mark.models
def test_the_import_takes_bodies_over_the_limit_of_other_pages(app, admin, tmp_path, staff_folder):
    """MAX_CONTENT_LENGTH (KIOSK_MAX_UPLOAD_MB) bounds a photo or a frame; an import goes up to KIOSK_IMPORT_MAX_MB."""
    archive = write_zip(tmp_path / "staff.zip", staff_folder)
    app.config["MAX_CONTENT_LENGTH"] = 100_000  # over every photo in it, under the archive
    assert archive.stat().st_size > app.config["MAX_CONTENT_LENGTH"]
    with open(archive, "rb") as handle:
        elsewhere = admin.post("/api/v1/people", data={"name": "X", "photos": (handle, "staff.zip")},
                               headers={"X-CSRFToken": admin.token}, content_type="multipart/form-data")
    assert elsewhere.status_code == 413
    with open(archive, "rb") as handle:
        response = upload(admin, {"source": (handle, "staff.zip")}, admin.token)
    assert response.status_code == 303, response.text
    job = training_jobs.wait_for(re.search(r"job=([0-9a-f]+)", response.headers["Location"]).group(1))
    assert job.state == "done" and job.result["accepted"] == EXPECTED["accepted"]


def test_an_upload_without_the_csrf_token_is_refused(app, admin, tmp_path, staff_folder):
    archive = write_zip(tmp_path / "staff.zip", staff_folder)
    with open(archive, "rb") as handle:
        response = upload(admin, {"source": (handle, "staff.zip")}, None)
    assert response.status_code == 400 and "reload the page" in response.text
    assert imports_left(app) == [] and training_jobs.latest_jobs()["import"] is None


def test_a_file_that_is_neither_zip_nor_csv_is_refused(app, admin, tmp_path):
    with open(FACES / "lfw_Colin_Powell" / "1.jpg", "rb") as handle:
        response = upload(admin, {"source": (handle, "1.jpg")}, admin.token)
    assert response.status_code == 400 and "not a ZIP archive or a CSV file" in response.text
    assert imports_left(app) == []


def test_anonymous_uploads_go_to_the_sign_in_page(app, client, tmp_path, staff_folder):
    archive = write_zip(tmp_path / "staff.zip", staff_folder)
    with open(archive, "rb") as handle:
        response = upload(client, {"source": (handle, "staff.zip")}, None)
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert imports_left(app) == []


@pytest.mark.models
def test_an_interrupted_import_can_be_resumed_or_its_upload_deleted(app, admin, staff_folder, tmp_path):
    """A server restart leaves the job record 'running' with a dead process id and the upload on disk."""
    archive = write_zip(tmp_path / "staff.zip", staff_folder)

    staged = uploads.stage_upload(FileUpload(archive))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    record = training_jobs.TrainingJob(id="0123456789abcdef", kind="import", state="running", progress=0.4,
                                       pid=int(dead.stdout), detail={"staged": staged.id, "source": "staff.zip"})
    jobs_file = Path(app.config["KIOSK_DATA_DIR"]) / "jobs" / "training.json"
    jobs_file.parent.mkdir(parents=True, exist_ok=True)
    jobs_file.write_text(json.dumps([record.as_dict()]))

    page = admin.get("/admin/people/import").text
    assert "the server restarted while it was importing" in page and "Resume the import" in page

    response = admin.post(f"/admin/people/import/{staged.id}/resume", data={"csrf_token": admin.token})
    assert response.status_code == 303
    job = training_jobs.wait_for(re.search(r"job=([0-9a-f]+)", response.headers["Location"]).group(1))
    assert job.state == "done" and job.result["accepted"] == EXPECTED["accepted"]
    assert imports_left(app) == []

    again = uploads.stage_upload(FileUpload(archive))
    response = admin.post(f"/admin/people/import/{again.id}/discard", data={"csrf_token": admin.token})
    assert response.status_code == 303 and imports_left(app) == []
    assert admin.post("/admin/people/import/nothing/resume", data={"csrf_token": admin.token}).status_code == 404
    assert admin.post("/admin/people/import/..%2F..%2Fetc/discard", data={"csrf_token": admin.token}).status_code == 404


def test_only_one_import_runs_at_a_time(app, admin, staff_folder, tmp_path):
    archive = write_zip(tmp_path / "staff.zip", staff_folder)
    with lock.import_lock():  # an import running from the command line
        with open(archive, "rb") as handle:
            response = upload(admin, {"source": (handle, "staff.zip")}, admin.token)
    assert response.status_code == 409 and "Another import is running" in response.text
    assert imports_left(app) == []


def test_the_people_page_links_to_the_import(admin):
    assert 'href="/admin/people/import"' in admin.get("/admin/people").text


@pytest.mark.models
def test_deleting_a_person_takes_their_name_out_of_past_import_results(app, admin, staff_folder, tmp_path):
    from kiosk.services.people import delete_person, get_person_by_name

    archive = write_zip(tmp_path / "staff.zip", staff_folder)
    with open(archive, "rb") as handle:
        response = upload(admin, {"source": (handle, "staff.zip")}, admin.token)
    job_id = re.search(r"job=([0-9a-f]+)", response.headers["Location"]).group(1)
    assert training_jobs.wait_for(job_id).state == "done"
    assert "George W Bush/team.jpg" in admin.get(f"/admin/people/import?job={job_id}").text
    delete_person(get_person_by_name("George W Bush"))
    page = admin.get(f"/admin/people/import?job={job_id}").text
    assert "George W Bush" not in page and "Ariel Sharon/damaged.jpg" in page


def test_an_unresumed_upload_is_deleted_after_a_week(app, staff_folder, tmp_path):
    import os
    import time

    archive = write_zip(tmp_path / "staff.zip", staff_folder)

    old = uploads.stage_upload(FileUpload(archive))
    week_ago = time.time() - uploads.STAGED_MAX_AGE_S - 60
    os.utime(old.folder, (week_ago, week_ago))
    recent = uploads.stage_upload(FileUpload(archive))
    assert imports_left(app) == [recent.id]
