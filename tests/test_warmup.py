"""Warm at start (kiosk/services/warmup.py): the worker loads every model and runs a frame through
every stage before the kiosk is served; meanwhile frames get 503 ``warming`` and the health check
says so. The real models on the shipped warm-up picture; the gunicorn hook itself is exercised by
the browser benchmark and the deploy tests (tests/test_deploy.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from kiosk import create_app
from kiosk.config import TestingConfig
from kiosk.services import warmup
from kiosk.services.model_registry import KIOSK_MODELS
from kiosk.services.readiness import WARM_UP_PATIENCE_S, readiness

FRAMES = "/api/v1/kiosk/frames"


def frame_jpeg() -> bytes:
    return cv2.imencode(".jpg", np.full((480, 640, 3), 128, np.uint8))[1].tobytes()


def test_apps_do_not_warm_up_unless_asked(app, client):
    """Test apps, commands and `flask run` load models on first use: their readiness is lazy
    (only gunicorn's post_worker_init starts a warm-up: tests/test_deploy.py)."""
    assert readiness(app).state == "lazy"
    assert client.get("/healthz").get_json() == {
        "status": "ok", "models": "lazy", "liveness": {"model": "ok", "policy": "review"}}
    assert client.get("/readyz").status_code == 200


def test_while_warming_frames_are_refused_with_warming_and_health_says_so(app, client):
    readiness(app).state = "warming"
    response = client.post(FRAMES, data=frame_jpeg(), content_type="image/jpeg")
    assert response.status_code == 503
    body = response.get_json()
    assert body["error"] == "warming" and "starting" in body["message"].lower()
    assert 0 < body["retry_after_s"] <= 1
    # Alive and healthy (Docker's check, nginx's upstream), but not ready.
    health = client.get("/healthz")
    assert health.status_code == 200 and health.get_json()["models"] == "warming"
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["status"] == "warming"
    # The page's other calls work meanwhile.
    assert client.post("/api/v1/kiosk/reset").status_code == 200


@pytest.mark.models
def test_a_warm_up_that_takes_too_long_is_not_waited_for(app, client):
    import time

    ready = readiness(app)
    ready.state, ready.started_at = "warming", time.monotonic() - WARM_UP_PATIENCE_S - 1
    response = client.post(FRAMES, data=frame_jpeg(), content_type="image/jpeg")
    assert response.status_code == 200  # analysed: the models load on first use, as without a warm-up
    assert client.get("/healthz").get_json()["models"] == "warming"


def test_warm_up_loads_every_model_and_leaves_a_warm_tracker_for_the_first_kiosk(trained_app):
    from kiosk.checkin.sessions import pose_trackers
    from kiosk.services import recognition
    from kiosk.vision import emotion, faces, gestures
    from kiosk.vision.embedders import get_embedder

    stages = warmup.warm_up()
    assert set(stages) >= {"decode", "face_detection", "identification", "pose", "gesture", "emotion", "pipeline"}
    embedder = recognition.get_recognizer().model().embedder
    assert f"embedding {embedder}" in stages
    # Every step of the model registry ran, the embedding under the embedder it warmed.
    assert set(stages) == {f"embedding {embedder}" if n == "embedding" else n for n in KIOSK_MODELS.names}
    detector = faces.get_detector()
    assert detector.loaded and detector._ran == {"short", "full"}
    assert get_embedder(embedder).loaded
    assert emotion.get_emotion_model().loaded and gestures.get_classifier().loaded
    # The tracker it used went back to the pool, built and run: the first kiosk session borrows it.
    tracker = pose_trackers.acquire()
    try:
        assert tracker is not None and tracker.loaded and tracker._graph_ran
    finally:
        pose_trackers.release(tracker)


def test_the_background_warm_up_marks_the_worker_ready(trained_app):
    ready = readiness(trained_app)
    warmup.start_warm_up(trained_app).join(timeout=300)
    assert ready.state == "ready", ready
    assert ready.seconds is not None and ready.stages_s
    client = trained_app.test_client()
    assert client.get("/healthz").get_json()["models"] == "ready"
    assert client.get("/readyz").status_code == 200
    response = client.post(FRAMES, data=frame_jpeg(), content_type="image/jpeg")
    assert response.status_code == 200 and response.get_json()["state"] == "IDLE"


@pytest.mark.models
def test_a_model_that_cannot_load_fails_the_warm_up_but_the_kiosk_still_answers(tmp_path, migrated_db_template):
    """A missing models folder: the warm-up says what failed; frames are analysed again, and each
    says what is missing (the 503 model_unavailable the frame API answers), instead of 'Starting'
    for ever."""
    import shutil

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(migrated_db_template, data_dir / "kiosk.sqlite3")
    app = create_app(TestingConfig(data_dir))
    app.config["KIOSK_MODELS_DIR"] = str(tmp_path / "no-models")
    ready = readiness(app)
    warmup.start_warm_up(app).join(timeout=300)
    assert ready.state == "failed" and "person.jpg" in ready.error
    client = app.test_client()
    assert client.get("/healthz").get_json()["models"] == "failed"
    assert client.get("/readyz").status_code == 503
    with app.app_context():  # a paired kiosk (pairing is required)
        from kiosk.services.devices import register_device

        client.environ_base["HTTP_X_KIOSK_TOKEN"] = register_device("Warm-up kiosk")[1]
    assert client.post(FRAMES, data=frame_jpeg(), content_type="image/jpeg").status_code == 200



def test_a_missing_liveness_model_is_said_by_health_and_the_kiosk_page(app, client, tmp_path):
    """Not fatal: the kiosk still serves, its check-ins go to review (the policy decides)."""
    app.config["KIOSK_MODELS_DIR"] = str(tmp_path)  # a models dir without liveness/
    from kiosk.vision import settings

    assert settings.models_dir() == tmp_path
    health = client.get("/healthz").get_json()
    assert health["liveness"] == {"model": "missing", "policy": "review"}
    page = client.get("/").get_data(as_text=True)
    assert "liveness check" in page and "administrator" in page
