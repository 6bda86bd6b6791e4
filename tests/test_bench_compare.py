"""benchmarks/compare_main.py (the end of `make bench`): the figures it finds in `kiosk bench`'s
JSON whatever its shape, the side-by-side rows, and a baseline it cannot use refused with exit 2."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

from kiosk.config import REPO_ROOT

SCRIPT = REPO_ROOT / "benchmarks" / "compare_main.py"
_spec = importlib.util.spec_from_file_location("compare_main", SCRIPT)
compare_main = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare_main)


def test_every_number_is_found_by_its_path_in_nested_objects_and_lists():
    bench = {"machine": {"cpus": 2}, "checkin_states": {"CONFIRMING": {"median_ms": 41.5, "fps": 14},
                                                         "frames": [640, 480], "note": "text", "pose": True}}
    assert compare_main.numbers(bench) == {"machine.cpus": 2.0, "checkin_states.CONFIRMING.median_ms": 41.5,
                                           "checkin_states.CONFIRMING.fps": 14.0, "checkin_states.frames.0": 640.0,
                                           "checkin_states.frames.1": 480.0}


def test_medians_leave_the_machine_out_and_take_the_middle_round():
    runs = [{"machine": {"repeat": 30}, "faces": {"ms": value}} for value in (30.0, 10.0, 20.0)]
    assert compare_main.medians(runs) == {"faces.ms": 20.0}


def test_rows_pair_figures_and_show_what_one_side_lacks():
    rows = compare_main.table({"faces.ms": 20.0, "old_stage.ms": 5.0}, {"faces.ms": 15.0, "pose.tracking_ms": 9.0})
    assert rows == [
        {"stage": "faces", "figure": "ms", "baseline": 20.0, "now": 15.0, "ratio": 0.75},
        {"stage": "old_stage", "figure": "ms", "baseline": 5.0, "now": None, "ratio": None},
        {"stage": "pose", "figure": "tracking_ms", "baseline": None, "now": 9.0, "ratio": None},
    ]
    text = compare_main.format_table(rows, "HEAD^")
    assert [line.split() for line in text.splitlines()] == [
        ["stage", "|", "figure", "|", "baseline", "(HEAD^)", "|", "now", "|", "ratio", "now/baseline"],
        ["faces", "|", "ms", "|", "20", "|", "15", "|", "0.75"],
        ["old_stage", "|", "ms", "|", "5", "|", "-", "|", "-"],
        ["pose", "|", "tracking_ms", "|", "-", "|", "9", "|", "-"],
    ]


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def test_a_baseline_that_is_neither_a_folder_nor_a_commit_is_refused_with_exit_2():
    done = run_script("--baseline", "no-such-commit-or-folder")
    assert done.returncode == 2
    assert "--baseline no-such-commit-or-folder: neither a folder nor a commit git knows" in done.stderr


def test_zero_rounds_are_refused_with_exit_2():
    done = run_script("--rounds", "0")
    assert done.returncode == 2 and "--rounds must be at least 1" in done.stderr
