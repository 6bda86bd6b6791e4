"""Recognition follows the enrollment by itself: a change made in the console (photos added or
removed, a person deleted) retrains the face model in the background, coalesced (however many
changes arrive while a retraining runs, one more follows it), and the Recognition page says where
things stand in plain words, the machine-learning facts under Advanced."""

from __future__ import annotations

import re

import pytest
from test_admin_enrollment import read, upload
from test_admin_training import GatedRunner

from kiosk.services import training_jobs

# Retraining is real FaceNet training on real photos.
pytestmark = pytest.mark.models


@pytest.fixture
def admin(app, client, sign_in_admin, monkeypatch):
    monkeypatch.setitem(app.config, "KIOSK_RETRAIN_AFTER_CHANGES", True)
    client.csrf = sign_in_admin(client)
    return client


@pytest.fixture
def gated(monkeypatch):
    runner = GatedRunner()
    monkeypatch.setitem(training_jobs.RUNNERS, "faces", runner)
    yield runner
    runner.release.set()


def faces_jobs() -> list[training_jobs.TrainingJob]:
    return [job for job in training_jobs.list_jobs() if job.kind == "faces"]


def wait_idle(timeout: float = 900.0) -> None:
    """Until no faces job runs and none waits to follow (a follow-up starts as its predecessor ends)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = [job for job in faces_jobs() if job.running]
        if not running and not training_jobs.retrain_pending():
            return
        for job in running:
            training_jobs.wait_for(job.id, timeout=max(0.1, deadline - time.monotonic()))
    raise AssertionError("retraining never settled")


def test_changes_while_a_retraining_runs_make_one_more_not_one_each(app, admin, gated, make_person, faces_data):
    person = make_person("Colin Powell")
    photos = [(read(faces_data / "lfw_Colin_Powell" / f"{i}.jpg"), f"{i}.jpg") for i in range(1, 4)]
    assert upload(admin, person.id, photos[:1]).status_code == 201
    assert gated.started.wait(30)
    assert [job.state for job in faces_jobs()] == ["running"]
    # Three more changes while it runs: two enrollments and a deleted photo.
    assert upload(admin, person.id, photos[1:2]).status_code == 201
    assert upload(admin, person.id, photos[2:3], page=True).status_code == 201
    sample = person.enrollment_samples[0].id
    deleted = admin.post(f"/admin/people/{person.id}/samples/{sample}/delete", data={"csrf_token": admin.csrf},
                         follow_redirects=True)
    assert "Recognition is being updated in the background." in deleted.text
    assert training_jobs.retrain_pending() is True
    assert len(faces_jobs()) == 1
    page = admin.get("/admin/models").text
    assert 'data-recognition="updating"' in page
    gated.release.set()
    wait_idle(60)
    jobs = faces_jobs()
    assert [job.state for job in jobs] == ["done", "done"], [job.error for job in jobs]  # the first and one more
    assert training_jobs.retrain_pending() is False
    # Each retraining is written to the audit log under the admin who made the change.
    from kiosk.extensions import db
    from kiosk.models import AuditEntry
    from kiosk.services.audit_actions import MODEL_RETRAINED

    retrained = db.session.scalars(db.select(AuditEntry).where(AuditEntry.action == MODEL_RETRAINED)).all()
    assert len(retrained) == 2 and all(entry.actor == "admin" for entry in retrained), [
        (entry.actor, entry.action) for entry in retrained]


def test_nothing_starts_when_the_site_retrains_by_hand(app, admin, gated, make_person, faces_data, monkeypatch):
    monkeypatch.setitem(app.config, "KIOSK_RETRAIN_AFTER_CHANGES", False)
    person = make_person("Colin Powell")
    page = upload(admin, person.id, [(read(faces_data / "lfw_Colin_Powell" / "1.jpg"), "1.jpg")], page=True)
    assert page.status_code == 201 and "Update recognition on the" in page.text
    assert faces_jobs() == [] and not gated.started.is_set()


def test_a_refused_enrollment_starts_nothing(admin, gated, make_person, faces_data):
    person = make_person("Nobody Real")
    group = read(faces_data / "_multi" / "1.jpg")
    assert upload(admin, person.id, [(b"not a photo", "x.jpg")]).status_code == 422
    assert upload(admin, person.id, [(group, "group.jpg")]).status_code == 422
    assert faces_jobs() == []


def test_enrolling_in_the_console_makes_the_kiosk_recognise_them_unasked(admin, make_person, faces_data):
    """Real photos, the real embedder and training: two people added in the console, no retrain
    pressed, and recognition is up to date with both."""
    page = admin.get("/admin/models").text
    assert 'data-recognition="empty"' in page and "Nobody to recognise yet" in page
    for name, folder in (("Colin Powell", "lfw_Colin_Powell"), ("Hugo Chavez", "lfw_Hugo_Chavez")):
        person = make_person(name)
        photos = [(read(faces_data / folder / f"{i}.jpg"), f"{i}.jpg") for i in range(1, 4)]
        assert upload(admin, person.id, photos).status_code == 201
    wait_idle()
    assert [job.state for job in faces_jobs()][0] == "done", [job.error for job in faces_jobs()]
    info = admin.get("/api/v1/models").get_json()["faces"]
    assert info["trained"] is True and info["stale"] is False and info["people"] == 2
    page = admin.get("/admin/models").text
    assert 'data-recognition="up_to_date"' in page
    assert re.search(r"<strong>Up to date:</strong> the kiosk recognises 2 people\.", page)
    # The machine-learning words only under Advanced.
    advanced = page.index('<details class="advanced" id="faces-advanced">')
    for jargon in ("Cross-validated accuracy", "Unknown threshold", "Embedder"):
        assert page.index(jargon) > advanced, jargon
    assert ">Recognition</a>" in page and ">Models</a>" not in page
