"""``kiosk identify`` and ``kiosk train faces`` exactly as BRIEF section 4 says, on the trained site
of face_helpers.py and the trained_site fixture in conftest.py (real photos, real models)."""

from __future__ import annotations

import json
import os

import pytest
from face_helpers import ENROLLED, FACES, HELD_OUT, STRANGERS

pytestmark = pytest.mark.models  # real models: make test-fast skips these

KEYS = {"image", "status", "person", "score"}


def lines_of(output: str) -> list[dict]:
    return [json.loads(line) for line in output.strip().splitlines()]


def test_identify_one_line_per_image_and_bad_images_do_not_stop_it(trained_app, tmp_path, monkeypatch):
    truncated = tmp_path / "truncated.jpg"
    data = HELD_OUT["George W Bush"].read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    text = tmp_path / "readme.jpg"
    text.write_text("not a photo at all\n")
    # Paths are echoed exactly as given: relative, absolute, odd spellings.
    monkeypatch.chdir(FACES.parent.parent)
    relative = os.path.join("data", "faces", "lfw_Colin_Powell", "..", "lfw_Colin_Powell", "5.jpg")
    images = [
        relative,
        str(STRANGERS[0]),
        str(truncated),
        str(FACES / "_multi" / "6.jpg"),
        str(text),
        str(tmp_path / "missing.jpg"),
        str(HELD_OUT["Barack Obama"]),
    ]
    outcome = trained_app.test_cli_runner().invoke(args=["identify", *images])
    assert outcome.exit_code == 0, outcome.output
    records = lines_of(outcome.output)
    assert [r["image"] for r in records] == images
    assert all(set(r) == KEYS for r in records)
    assert [r["status"] for r in records] == [
        "ok", "unknown", "bad_image", "multiple_faces", "bad_image", "bad_image", "ok",
    ]
    assert records[0]["person"] == "Colin Powell" and 0.5 < records[0]["score"] <= 1
    assert records[6]["person"] == "Barack Obama"
    assert records[1]["person"] is None and records[1]["score"] < 0.5
    for r in records[2:6]:
        assert r["person"] is None and r["score"] is None


def test_identify_without_a_model_cannot_run(app, runner):
    outcome = runner.invoke(args=["identify", str(HELD_OUT["Colin Powell"])])
    assert outcome.exit_code != 0
    assert "kiosk train faces" in outcome.output
    assert len(outcome.output.strip().splitlines()) == 1


def test_train_faces_prints_one_json_object(trained_app):
    outcome = trained_app.test_cli_runner().invoke(args=["train", "faces"])
    assert outcome.exit_code == 0, outcome.output
    summary = json.loads(outcome.stdout)
    assert {"people", "samples", "embedder", "cv_accuracy", "threshold", "trained_at"} <= set(summary)
    assert summary["people"] == len(ENROLLED)
    assert summary["embedder"] == "facenet" and summary["weights"] == "20180408-102900"
    assert summary["re_embedded"] == 0  # embeddings and augmented copies were reused
    assert summary["mode"] == "full"  # nothing new since the last training: everyone is refitted


def test_train_faces_full_refits_everyone_even_after_one_newcomer(trained_app, monkeypatch):
    from kiosk.services import face_training
    from kiosk.services.enrollment import enroll_files

    monkeypatch.setattr(face_training, "INCREMENTAL_SHARE", 5)  # one newcomer of five would be incremental
    assert all(r.accepted for r in enroll_files("Ariel Sharon", [str(p) for p in STRANGERS[:2]]))
    outcome = trained_app.test_cli_runner().invoke(args=["train", "faces", "--full"])
    assert outcome.exit_code == 0, outcome.output
    summary = json.loads(outcome.stdout)
    assert summary["mode"] == "full" and summary["people"] == len(ENROLLED) + 1


def test_train_faces_with_nobody_enrolled_fails_clearly(app, runner):
    outcome = runner.invoke(args=["train", "faces"])
    assert outcome.exit_code != 0
    assert "No one is enrolled yet" in outcome.output
