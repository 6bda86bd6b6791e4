"""Background retraining jobs: started from the console, never blocking requests, progress visible.

The training functions are replaced by controllable fakes here: these tests are about the job
machinery (threads, records, conflicts, failures). Real retraining on real photos is exercised
in tests/test_admin_enrollment.py and in the browser test.
"""

from __future__ import annotations

import html
import json
import re
import threading

import pytest

from kiosk import storage
from kiosk.errors import KioskError
from kiosk.services import training_jobs


@pytest.fixture
def admin(client, sign_in_admin):
    client.token = sign_in_admin(client)
    return client


class GatedRunner:
    """A fake training function that reports progress and waits until the test lets it finish."""

    def __init__(self, result=None, error: Exception | None = None):
        self.started = threading.Event()
        self.release = threading.Event()
        self.result = result or {"people": 3, "samples": 12, "embedder": "fake"}
        self.error = error

    def __call__(self, progress):
        progress(0.4, "Embedding photos")
        self.started.set()
        assert self.release.wait(30), "the test never released the fake training"
        if self.error:
            raise self.error
        return self.result


@pytest.fixture
def gated(monkeypatch):
    runner = GatedRunner()
    monkeypatch.setitem(training_jobs.RUNNERS, "faces", runner)
    yield runner
    runner.release.set()


def test_retraining_runs_in_the_background_with_progress(admin, gated):
    response = admin.post("/api/v1/models/faces/train", headers={"X-CSRFToken": admin.token})
    assert response.status_code == 202
    job = response.get_json()
    assert job["kind"] == "faces" and job["running"] is True
    assert gated.started.wait(20)

    # Requests are served while it trains.
    assert admin.get("/admin/people").status_code == 200
    running = admin.get(f"/api/v1/models/jobs/{job['id']}").get_json()
    assert running["state"] == "running" and running["progress"] == pytest.approx(0.4)
    assert running["stage"] == "Embedding photos"
    page = admin.get("/admin/models")
    assert 'data-job-state="running"' in page.text and "<progress" in page.text

    # One retraining of a kind at a time.
    again = admin.post("/api/v1/models/faces/train", headers={"X-CSRFToken": admin.token})
    assert again.status_code == 409
    assert again.get_json()["error"] == "already_training" and again.get_json()["job"]["id"] == job["id"]

    gated.release.set()
    done = training_jobs.wait_for(job["id"], timeout=30)
    assert done.state == "done" and done.progress == 1.0
    assert done.result == {"people": 3, "samples": 12, "embedder": "fake"}
    listed = admin.get("/api/v1/models/jobs").get_json()["jobs"]
    assert listed[0]["id"] == job["id"] and listed[0]["state"] == "done"
    assert admin.get("/api/v1/models").get_json()["jobs"]["faces"]["state"] == "done"


def test_the_page_form_starts_a_job_too(admin, gated):
    response = admin.post("/admin/models/faces/train", data={"csrf_token": admin.token})
    assert response.status_code == 303 and "job=" in response.location
    assert gated.started.wait(20)
    page = admin.get(response.location)
    assert "Updating face recognition in the background" in page.text
    busy = admin.post("/admin/models/faces/train", data={"csrf_token": admin.token}, follow_redirects=True)
    assert "already being retrained" in busy.text
    gated.release.set()


def test_a_failed_training_is_recorded_with_its_reason(admin, monkeypatch):
    runner = GatedRunner(error=KioskError("Enroll at least two people before training.", code="not_enough_people"))
    monkeypatch.setitem(training_jobs.RUNNERS, "faces", runner)
    runner.release.set()
    job = admin.post("/api/v1/models/faces/train", headers={"X-CSRFToken": admin.token}).get_json()
    finished = training_jobs.wait_for(job["id"], timeout=30)
    assert finished.state == "failed" and finished.error == "Enroll at least two people before training."
    assert "Enroll at least two people" in admin.get("/admin/models").text


def test_an_unexpected_crash_is_reported_without_details(admin, monkeypatch):
    runner = GatedRunner(error=RuntimeError("secret internals /home/x"))
    monkeypatch.setitem(training_jobs.RUNNERS, "faces", runner)
    runner.release.set()
    job = admin.post("/api/v1/models/faces/train", headers={"X-CSRFToken": admin.token}).get_json()
    finished = training_jobs.wait_for(job["id"], timeout=30)
    assert finished.state == "failed" and "previous model is still in use" in finished.error
    assert "secret" not in finished.error


def test_a_job_left_running_by_a_dead_process_is_reported_interrupted(app):
    record = training_jobs.TrainingJob(id="deadbeef", kind="faces", state="running", pid=2**22 + 12345)
    folder = storage.data_dir() / "jobs"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "training.json").write_text(json.dumps([record.__dict__]))
    job = training_jobs.get_job("deadbeef")
    assert job.state == "failed" and "Interrupted" in job.error
    # ... and it no longer blocks a new one.
    runner = GatedRunner()
    runner.release.set()
    new = training_jobs.start_job("faces", runner=runner)
    assert training_jobs.wait_for(new.id, timeout=30).state == "done"


def test_unknown_model_and_job(admin):
    response = admin.post("/api/v1/models/voices/train", headers={"X-CSRFToken": admin.token})
    assert response.status_code == 400 and response.get_json()["error"] == "bad_model"
    assert admin.get("/api/v1/models/jobs/nope").status_code == 404


class StagedRunner(GatedRunner):
    """Reports a stage line from the vocabulary (kiosk/services/job_stages.py), as the real training does."""

    def __call__(self, progress):
        from kiosk.services.job_stages import EMBEDDING_PHOTO, stage

        progress(0.4, stage(EMBEDDING_PHOTO, done=3, total=40))
        self.started.set()
        assert self.release.wait(30), "the test never released the fake training"
        return self.result


def test_a_running_jobs_stage_line_reads_in_the_consoles_language(admin, monkeypatch):
    runner = StagedRunner()
    monkeypatch.setitem(training_jobs.RUNNERS, "faces", runner)
    try:
        job = admin.post("/api/v1/models/faces/train", headers={"X-CSRFToken": admin.token}).get_json()
        assert runner.started.wait(20)
        running = admin.get(f"/api/v1/models/jobs/{job['id']}").get_json()
        # The record keeps the English line (the JSON API is English) and what a page needs to translate it.
        assert running["stage"] == "Embedding enrollment photo 3 of 40"
        assert running["stage_template"] == "Embedding enrollment photo %(done)s of %(total)s"
        assert running["stage_values"] == {"done": 3, "total": 40}
        def stage_line(language: str) -> list[str]:
            page = admin.get("/admin/models", headers={"Accept-Language": language}).text
            return re.findall(r'<span class="job-stage">([^<]*)</span>', page)

        assert stage_line("de") == ["Erfassungsfoto 3 von 40 wird ausgewertet"]
        assert stage_line("en") == ["Embedding enrollment photo 3 of 40"]
        # The page's script gets the template in German (keyed by its English) and fills the values itself.
        german = admin.get("/admin/models", headers={"Accept-Language": "de"}).text
        assert "Erfassungsfoto %(done)s von %(total)s wird ausgewertet" in html.unescape(german)
    finally:
        runner.release.set()
    assert training_jobs.wait_for(job["id"], timeout=30).stage == "Done"
