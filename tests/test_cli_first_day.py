"""The ``kiosk`` command as a new operator meets it (issue 24, part 6): help without Flask's internals,
`kiosk db` with what running a site needs, exit statuses (0 done, 1 nothing done or refused, 2
usage), a piped password without warnings, an empty device list that says so, and long steps that
say what they wait for on a terminal's stderr (never on stdout, whose JSON lines scripts parse)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

KIOSK = Path(sys.executable).with_name("kiosk")
FLASK = Path(sys.executable).with_name("flask")
DATA = Path(__file__).resolve().parent / "data"


def run(data_dir: Path, *args: str, stdin: str | None = None, program: Path = KIOSK) -> subprocess.CompletedProcess:
    env = {**os.environ, "KIOSK_DATA_DIR": str(data_dir)}
    return subprocess.run([str(program), *args], input=stdin, capture_output=True, text=True, env=env, timeout=180)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    data_dir = tmp_path_factory.mktemp("site")
    assert run(data_dir, "db", "upgrade").returncode == 0
    return data_dir


def test_kiosk_help_lists_only_the_kiosks_commands(site):
    result = run(site, "--help")
    assert result.returncode == 0, result.stderr
    commands = result.stdout.split("Commands:", 1)[1]
    listed = {line.split()[0] for line in commands.splitlines() if line.startswith("  ") and line.strip()}
    assert {"admin", "db", "devices", "export", "identify", "people", "train"} <= listed
    assert not listed & {"run", "shell", "routes"}
    for flask_option in ("--app", "--env-file", "-A,", "-e,", "--debug"):
        assert flask_option not in result.stdout


def test_flasks_commands_still_work_and_flask_app_kiosk_too(site):
    assert "admin.people" in run(site, "routes").stdout  # hidden, not removed
    flask_help = run(site, "--app", "kiosk", "--help", program=FLASK)
    assert flask_help.returncode == 0 and "people" in flask_help.stdout


def test_kiosk_db_lists_what_operators_need_and_keeps_the_rest_callable(site):
    result = run(site, "db", "--help")
    assert result.returncode == 0, result.stderr
    listed = [line.split()[0] for line in result.stdout.split("Commands:", 1)[1].splitlines() if line.strip()]
    assert listed == ["upgrade", "current", "history"]
    assert "--directory" not in result.stdout and "--x-arg" not in result.stdout
    heads = run(site, "db", "heads")
    assert heads.returncode == 0 and "(head)" in heads.stdout
    assert "upgrade" in run(site, "db", "upgrade", "--help").stdout


@pytest.mark.parametrize("args", [["people", "enroll"], ["no-such-command"], ["export", "--format", "pdf"],
                                  ["people", "list", "--no-such-option"]])
def test_a_usage_error_exits_2(site, args):
    result = run(site, *args)
    assert result.returncode == 2, result
    assert "Usage:" in result.stderr and result.stdout == ""


@pytest.mark.models
def test_an_enrollment_whose_every_photo_is_refused_exits_1(runner, tmp_path):
    missing = tmp_path / "missing.jpg"
    result = runner.invoke(args=["people", "enroll", "Colin Powell", str(DATA / "faces" / "_multi" / "2.jpg"),
                                 str(missing)])
    assert result.exit_code == 1, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]  # stdout: only the JSON lines
    assert [(r["status"], r["reason"]) for r in lines] == [("refused", "multiple_faces"), ("refused", "bad_image")]
    assert "No photo was accepted: nothing was enrolled for Colin Powell" in result.stderr


@pytest.mark.models
def test_an_enrollment_with_one_accepted_photo_exits_0(runner, tmp_path):
    result = runner.invoke(args=["people", "enroll", "Colin Powell", str(DATA / "faces" / "lfw_Colin_Powell" / "1.jpg"),
                                 str(tmp_path / "missing.jpg")])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["status"] for line in result.stdout.splitlines()] == ["accepted", "refused"]


def test_a_piped_password_needs_no_flag_and_prints_no_warning(site):
    result = run(site, "admin", "create", "carol", stdin="a long passphrase\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Administrator 'carol' created.\n"
    assert "Warning" not in result.stderr and ".py" not in result.stderr and result.stderr == ""
    short = run(site, "admin", "create", "dave", stdin="short\n")
    assert short.returncode == 1 and "at least 10 characters" in short.stderr


def test_an_empty_device_list_says_so_and_json_stays_parseable(runner):
    empty = runner.invoke(args=["devices", "list"])
    assert empty.exit_code == 0
    assert "No kiosks paired yet" in empty.stdout and "kiosk devices pair" in empty.stdout
    as_json = runner.invoke(args=["devices", "list", "--json"])
    assert as_json.exit_code == 0 and as_json.stdout == ""  # JSON lines: none
    runner.invoke(args=["devices", "add", "lobby"])
    listed = runner.invoke(args=["devices", "list", "--json"]).stdout.splitlines()
    assert [json.loads(line)["name"] for line in listed] == ["lobby"]


def run_with_terminal_stderr(data_dir: Path, *args: str) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal (as at a console) and stdout on a pipe (as in a script)."""
    leader, follower = pty.openpty()
    env = {**os.environ, "KIOSK_DATA_DIR": str(data_dir)}
    process = subprocess.Popen([str(KIOSK), *args], stdout=subprocess.PIPE, stderr=follower, stdin=subprocess.DEVNULL,
                               env=env, text=True)
    os.close(follower)
    terminal = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 180)
        if not ready:
            break
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the command closed its terminal
            break
        if not chunk:
            break
        terminal += chunk
    os.close(leader)
    stdout = process.stdout.read()
    return process.wait(timeout=180), stdout, terminal.decode(errors="replace")


def test_a_long_step_says_what_it_waits_for_on_a_terminal_and_stdout_stays_json(site):
    image = str(DATA / "expressions" / "neutral.jpg")
    code, stdout, terminal = run_with_terminal_stderr(site, "emotion", image)
    assert code == 0, terminal
    assert "Loading the face and expression models..." in terminal
    assert json.loads(stdout)["image"] == image and "Loading" not in stdout
    piped = run(site, "emotion", image)
    assert piped.returncode == 0 and piped.stderr == ""  # logs and pipes stay clean


def test_identify_says_it_loads_the_face_models(site):
    code, stdout, terminal = run_with_terminal_stderr(site, "identify", str(DATA / "expressions" / "neutral.jpg"))
    assert "Loading the face models..." in terminal
    assert code == 1 and "No face model has been trained yet" in terminal and stdout == ""


def test_commands_are_wrapped_once_however_many_apps_a_process_creates(tmp_path):
    from kiosk import create_app
    from kiosk.config import TestingConfig

    apps = [create_app(TestingConfig(tmp_path / f"site-{n}")) for n in range(3)]
    for name, command in apps[-1].cli.commands.items():
        if name == "db":
            continue
        # The wrapper's own callee is the command's invoke, not another wrapper around it.
        assert getattr(command.invoke, "explains_missing_schema", False), name
        assert not getattr(command.invoke.__wrapped__, "explains_missing_schema", False), name
