"""``kiosk liveness IMAGE...``: one JSON line per image, bad images do not stop it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.models  # real models: make test-fast skips these

DATA = Path(__file__).resolve().parent / "data"
LIVE = DATA / "liveness" / "silent-face" / "real" / "image_T1.jpg"
SPOOF = DATA / "liveness" / "silent-face" / "fake" / "image_F1.jpg"
KEYS = {"image", "status", "live", "score"}


def test_one_line_per_image_with_each_status(runner, tmp_path, monkeypatch):
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo\n")
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 127, np.uint8))
    monkeypatch.chdir(DATA.parent)
    relative = os.path.join("data", "liveness", "silent-face", "..", "silent-face", "real", "image_T1.jpg")
    images = [relative, str(SPOOF), str(DATA / "faces" / "_multi" / "6.jpg"), str(blank), str(text),
              str(tmp_path / "missing.jpg")]
    result = runner.invoke(args=["liveness", *images])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [line["image"] for line in lines] == images  # exactly as given
    assert all(set(line) == KEYS for line in lines)
    assert [line["status"] for line in lines] == ["ok", "ok", "multiple_faces", "no_face", "bad_image", "bad_image"]
    assert lines[0]["live"] is True and 0.5 < lines[0]["score"] <= 1
    assert lines[1]["live"] is False and 0 <= lines[1]["score"] < lines[0]["score"]
    for line in lines[2:]:
        assert line["live"] is None and line["score"] is None


def test_threshold_option_moves_the_cut(runner):
    result = runner.invoke(args=["liveness", "--threshold", "1.0", str(LIVE)])
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.splitlines()[-1])
    assert line["status"] == "ok" and line["live"] is (line["score"] >= 1.0)


def test_missing_model_cannot_run(runner, app, tmp_path):
    app.config["KIOSK_MODELS_DIR"] = str(tmp_path)
    from kiosk.vision import liveness

    fresh = liveness.PassiveLiveness()
    original, liveness._passive_liveness = liveness._passive_liveness, fresh
    try:
        result = runner.invoke(args=["liveness", str(LIVE)])
    finally:
        liveness._passive_liveness = original
    assert result.exit_code != 0
    assert "minifasnet" in result.output and "{" not in result.stdout
