"""Several app hosts on one PostgreSQL database (issue 14), tested on a real server (tests/postgres_server.py):

* the one Alembic history on both engines, and what it makes of PostgreSQL's types;
* trained models kept in the database: a host with an empty data dir identifies people at once
  (``kiosk identify`` in a child process), a retrain or a deletion on one host reaches another
  within its check interval, the site's gesture model too;
* a database server that restarts: a check-in waits for it and is recorded once, other requests
  answer 503 with Retry-After (never 500), and the first request after the restart works.

"Hosts" here are apps with their own data dirs in this process (or a child process); the
reliability suite runs them as real gunicorn processes behind nginx (tests/reliability/test_scaleout.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest
from face_helpers import HELD_OUT, STRANGERS
from gesture_helpers import heldout_rows, landmarks_from_arms
from sqlalchemy import inspect, select, text

from kiosk import create_app
from kiosk.config import TestingConfig
from kiosk.extensions import db
from kiosk.models import AttendanceEvent, Person, StoredModel
from kiosk.services import attendance, face_model_file, face_training, gesture_samples, model_store, recognition
from kiosk.vision import gestures as g

REPO = Path(__file__).resolve().parent.parent
PHOTO = REPO / "tests" / "data" / "expressions" / "happy.jpg"
INITIAL_REVISION = "16467fb9abbf"


def host(data_dir: Path, database_url: str, **config):
    """An app on its own data dir and the shared database, as a second app host would run it."""
    app = create_app(TestingConfig(data_dir, database_url=database_url))
    app.config.update(config)
    return app


# --------------------------------------------------------------------------- the schema on both engines


@pytest.mark.both_databases
def test_the_migrations_go_down_and_up_again_on_both_engines(app):
    from flask_migrate import downgrade, upgrade

    tables = {"person", "face_sample", "attendance_event", "admin_user", "gesture_sample", "kiosk_device",
              "stored_model"}
    assert tables <= set(inspect(db.engine).get_table_names())
    db.session.remove()
    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    upgrade()
    assert tables <= set(inspect(db.engine).get_table_names())


@pytest.mark.both_databases
def test_the_migrated_schema_is_what_the_models_say_on_both_engines(app):
    """Alembic's autogenerate, comparing the models with the database the migrations made, finds
    nothing to do (types included): the one history fits both engines."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


def test_postgresql_columns_are_timezone_aware_and_binary(postgres_database, tmp_path):
    app = host(tmp_path / "data", postgres_database)
    with app.app_context():
        rows = db.session.execute(text(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type LIKE 'timestamp%'"
        )).all()
        assert rows and {data_type for _, _, data_type in rows} == {"timestamp with time zone"}, rows
        assert db.session.scalar(text(
            "SELECT data_type FROM information_schema.columns"
            " WHERE table_name = 'stored_model' AND column_name = 'data'"
        )) == "bytea"
        db.session.remove()
        db.engine.dispose()


def test_upgrading_an_existing_postgresql_site_keeps_its_instants(postgres_server, tmp_path):
    """Rows written under the first schema (naive UTC) mean the same instant afterwards, although
    the test server's own time zone is not UTC."""
    from flask_migrate import upgrade

    url = postgres_server.create_database("kiosk_upgrade_check")
    app = host(tmp_path / "data", url)
    try:
        with app.app_context():
            upgrade(revision=INITIAL_REVISION)
            db.session.execute(text(
                "INSERT INTO person (id, name, active, created_at) VALUES (1, 'Ada', true, '2026-03-02 00:00:00')"
            ))
            db.session.execute(text(
                "INSERT INTO attendance_event (person_id, kind, timestamp, kiosk_id) "
                "VALUES (1, 'check_in', '2026-03-02 08:30:00', 'k')"
            ))
            db.session.commit()
            upgrade()
            db.session.expire_all()
            event = db.session.scalar(select(AttendanceEvent))
            assert event.timestamp == datetime(2026, 3, 2, 8, 30, tzinfo=timezone.utc)
            assert db.session.get(Person, 1).created_at == datetime(2026, 3, 2, tzinfo=timezone.utc)
            db.session.remove()
            db.engine.dispose()
    finally:
        postgres_server.drop_database("kiosk_upgrade_check")


# --------------------------------------------------------------------------- models in the database


def test_a_host_with_an_empty_data_dir_identifies_people_at_once(postgres_site, tmp_path):
    """``kiosk identify`` on a host that has never seen the site: the model comes from the database."""
    empty = tmp_path / "new-host"
    empty.mkdir()
    env = {**os.environ, "KIOSK_DATA_DIR": str(empty), "KIOSK_DATABASE_URL": postgres_site,
           "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    images = [str(HELD_OUT["Colin Powell"]), str(HELD_OUT["Barack Obama"]), str(STRANGERS[0])]
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from kiosk.cli import main; sys.argv[0] = 'kiosk'; main()",
         "identify", *images],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [(line["status"], line["person"]) for line in lines] == [
        ("ok", "Colin Powell"), ("ok", "Barack Obama"), ("unknown", None),
    ]
    assert (empty / "models" / "faces.joblib").is_file()
    assert model_store.local_version(empty / "models" / "faces.joblib") == 1


def test_a_deletion_on_one_host_reaches_the_others_model_within_seconds(postgres_site, tmp_path):
    host_a = host(tmp_path / "a", postgres_site, KIOSK_MODEL_CHECK_SECONDS=0.5)
    host_b = host(tmp_path / "b", postgres_site, KIOSK_MODEL_CHECK_SECONDS=0.5)
    with host_b.app_context():
        before = recognition.get_recognizer().model()
        obama = db.session.scalar(select(Person.id).where(Person.name == "Barack Obama"))
        assert obama in before.person_ids.tolist()
        version_before = model_store.stored_version(model_store.FACE_MODEL)
    with host_a.app_context():
        from kiosk.services.people import delete_person

        delete_person(db.session.get(Person, obama))  # rewrites the face model without him
        assert model_store.stored_version(model_store.FACE_MODEL) == version_before + 1
        db.session.remove()
    deadline = time.monotonic() + 5
    with host_b.app_context():
        while obama in recognition.get_recognizer().model().person_ids.tolist():
            assert time.monotonic() < deadline, "host B still serves the old face model"
            time.sleep(0.1)
        assert model_store.local_version(face_model_file.model_path()) == version_before + 1
        stored = db.session.get(StoredModel, model_store.FACE_MODEL)
        assert stored.sha256 == hashlib.sha256(face_model_file.model_path().read_bytes()).hexdigest()
        db.session.remove()
    for app in (host_a, host_b):
        with app.app_context():
            db.engine.dispose()


def test_a_damaged_stored_model_is_not_served(postgres_site, tmp_path, caplog):
    host_b = host(tmp_path / "b", postgres_site)
    with host_b.app_context():
        recognition.get_recognizer().model()  # version 1, pulled
        db.session.execute(text("UPDATE stored_model SET version = version + 1, data = 'garbage'::bytea"))
        db.session.commit()
        assert model_store.pull(model_store.FACE_MODEL, face_model_file.model_path(), force=True) is False
        assert "does not match its checksum" in caplog.text
        assert model_store.local_version(face_model_file.model_path()) == 1
        assert recognition.get_recognizer().model().people == 3  # the good local copy stays in service
        db.session.remove()
        db.engine.dispose()


def test_the_site_gesture_model_follows_the_database_on_every_host(postgres_database, tmp_path):
    """A site retrains its gesture model on host A (hands on the head = yes); host B reads those
    frames as O after its next check, and goes back to the shipped model when A removes it."""
    labels, arms, steady = heldout_rows()
    m_rows = arms[(labels == "M") & steady]
    unseen = [landmarks_from_arms(row, (1280, 720)) for row in m_rows[1::2][:20]]
    host_a = host(tmp_path / "a", postgres_database, KIOSK_MODEL_CHECK_SECONDS=0.2)
    host_b = host(tmp_path / "b", postgres_database, KIOSK_MODEL_CHECK_SECONDS=0.2)

    def read_on_b() -> tuple[str, float]:
        """(site or default model, share of the unseen rows read as O) on host B."""
        with host_b.app_context():
            gesture_samples.sync_site_model()
            answers = [g.classify(lm).gesture for lm in unseen]
            source = g.get_classifier().info()["source"]
            db.session.remove()
        return source, float(np.mean(np.array(answers) == "O"))

    assert read_on_b() == ("default", 0.0)
    with host_a.app_context():
        for row in m_rows[0::2][:25]:
            gesture_samples.record_sample("O", landmarks_from_arms(row, (1280, 720)))
        gesture_samples.retrain_from_site_samples()
        assert model_store.stored_version(model_store.GESTURE_MODEL) == 1
        db.session.remove()
    time.sleep(0.3)
    source, share_o = read_on_b()
    assert source == "site" and share_o >= 0.9
    with host_a.app_context():
        assert gesture_samples.remove_site_model() is True
        db.session.remove()
    time.sleep(0.3)
    assert read_on_b() == ("default", 0.0)
    assert not g.site_model_path(tmp_path / "b").exists()
    for app in (host_a, host_b):
        with app.app_context():
            db.engine.dispose()


def test_models_stay_in_files_on_sqlite(app):
    assert model_store.enabled() is False
    assert model_store.push(model_store.FACE_MODEL, Path("/nonexistent")) is None
    assert model_store.pull(model_store.FACE_MODEL, Path("/nonexistent"), force=True) is False


# --------------------------------------------------------------------------- a database that restarts


@pytest.fixture
def frame():
    return cv2.resize(cv2.imread(str(PHOTO)), (320, 240), interpolation=cv2.INTER_AREA)


def restart_later(server, down_s: float) -> threading.Thread:
    """Stops the server now and starts it again ``down_s`` seconds later (in a thread)."""
    server.stop("fast")

    def start_again():
        time.sleep(down_s)
        server.start()

    thread = threading.Thread(target=start_again, name="postgres-restart")
    thread.start()
    return thread


def test_a_check_in_waits_for_a_restarting_database_and_is_recorded_once(
    postgres_server, postgres_database, tmp_path, frame
):
    app = host(tmp_path / "data", postgres_database)
    with app.app_context():
        person = Person(name="Ada")
        db.session.add(person)
        db.session.commit()
        attendance.record_check_in(person, frame, happy=0.9, identification_score=0.9)  # the pool is warm
        db.session.execute(text("DELETE FROM attendance_event"))
        db.session.commit()
        db.session.refresh(person)  # loaded, as the kiosk's backend hands it over
        restarting = restart_later(postgres_server, 3.0)
        started = time.monotonic()
        try:
            result = attendance.record_check_in(person, frame, happy=0.9, identification_score=0.9)
        finally:
            restarting.join(timeout=120)
        waited = time.monotonic() - started
        assert not result.duplicate
        assert waited >= 2.0  # it really waited for the server
        assert db.session.scalar(select(db.func.count(AttendanceEvent.id))) == 1
        for relative in (result.event.photo_path, result.event.original_photo_path):
            assert (tmp_path / "data" / relative).is_file()
        db.session.remove()
        db.engine.dispose()


def sign_in_admin(app, client) -> str:
    """Creates an admin, signs ``client`` in through the login form; returns the API's CSRF token."""
    from kiosk.services.accounts import create_admin

    with app.app_context():
        create_admin("admin", "correct horse battery")
        db.session.remove()
    form_token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/auth/login").text).group(1)
    answer = client.post("/auth/login", data={"username": "admin", "password": "correct horse battery",
                                              "csrf_token": form_token})
    assert answer.status_code == 303, answer.text
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/admin/").text).group(1)


def test_requests_answer_503_while_the_database_is_down_and_work_again_after(
    postgres_server, postgres_database, tmp_path
):
    app = host(tmp_path / "data", postgres_database, KIOSK_DB_RETRY_SECONDS=1.0)
    client = app.test_client()  # each request in its own app context, as in production
    csrf = sign_in_admin(app, client)
    people = {"headers": {"X-CSRFToken": csrf}}
    assert client.get("/api/v1/people", **people).status_code == 200
    # A restart between two requests: the pooled connections are dead, pre-ping replaces them.
    postgres_server.stop("fast")
    postgres_server.start()
    assert client.get("/api/v1/people", **people).status_code == 200
    # Requests while the server is down.
    postgres_server.stop("fast")
    try:
        answer = client.get("/api/v1/people", **people)
        assert answer.status_code == 503, answer.text
        assert answer.json["error"] == "database_unavailable"
        assert answer.headers["Retry-After"] == "2"
        assert client.get("/healthz").status_code == 503
    finally:
        postgres_server.start()
    assert client.get("/api/v1/people", **people).status_code == 200
    assert client.get("/healthz").status_code == 200
    with app.app_context():
        db.engine.dispose()


def test_a_person_deleted_during_a_training_on_another_host_stays_deleted(postgres_site, tmp_path, monkeypatch):
    """Host A retrains; while it fits, host B deletes a person (and prunes the stored model). The
    model A saves afterwards was fitted with that person: it must not bring them back."""
    host_a = host(tmp_path / "a", postgres_site)
    host_b = host(tmp_path / "b", postgres_site)
    with host_b.app_context():
        obama = db.session.scalar(select(Person.id).where(Person.name == "Barack Obama"))
        db.session.remove()
    fit = face_training.build_face_model

    def fit_then_someone_deletes(*args, **kwargs):
        model = fit(*args, **kwargs)
        assert obama in model.person_ids.tolist()  # A's model was fitted with him
        with host_b.app_context():
            from kiosk.services.people import delete_person

            delete_person(db.session.get(Person, obama))
            db.session.remove()
        return model

    monkeypatch.setattr(face_training, "build_face_model", fit_then_someone_deletes)
    with host_a.app_context():
        face_training.train_faces()
        db.session.remove()
    for app in (host_a, host_b):
        with app.app_context():
            model = face_model_file.load_model()
            assert obama not in model.person_ids.tolist()
            assert obama not in model.gallery_person_ids.tolist()
            db.session.remove()
            db.engine.dispose()
