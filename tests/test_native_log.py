"""The native runtimes' known start-up notes are dropped; anything else written meanwhile is kept."""

from __future__ import annotations

import os

from kiosk.vision.native_log import quiet_native_start, without_known_noise

NOISE = (
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "W0000 00:00:1795970696.338848   16339 inference_feedback_manager.cc:114] Feedback manager requires a model "
    "with a single signature inference. Disabling support for feedback tensors.\n"
    "W0000 00:00:1795970696.691743   16340 landmark_projection_calculator.cc:186] Using NORM_RECT without "
    "IMAGE_DIMENSIONS is only supported for the square ROI.\n"
)


def test_known_notes_are_dropped_and_other_lines_kept(capfd):
    with quiet_native_start():
        os.write(2, NOISE.encode())
        os.write(2, b"E0000 00:00:1.0 1 calculator_graph.cc:887] a real error\n")
        os.write(2, b"W0000 00:00:1.0 1 some_other_calculator.cc:12] an unknown warning\n")
    captured = capfd.readouterr()
    assert captured.err == (
        "E0000 00:00:1.0 1 calculator_graph.cc:887] a real error\n"
        "W0000 00:00:1.0 1 some_other_calculator.cc:12] an unknown warning\n"
    )


def test_lines_written_when_the_body_fails_are_kept_too(capfd):
    try:
        with quiet_native_start():
            os.write(2, b"F0000 fatal-looking line\n")
            raise RuntimeError("graph failed")
    except RuntimeError:
        pass
    assert capfd.readouterr().err == "F0000 fatal-looking line\n"
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n", "fd 2 is restored"


def test_filter_is_line_based():
    assert without_known_noise(NOISE) == ""
    assert without_known_noise("INFO: Created TensorFlow Lite XNNPACK delegate for CPU. (and more)\n") != ""
