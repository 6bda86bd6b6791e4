"""The ``kiosk`` console script: database, admins and people on a real SQLite database."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import factories
import numpy as np
import pytest

from kiosk import storage
from kiosk.extensions import db
from kiosk.models import AttendanceEvent, FaceSample, Person

EXPECTED_TABLES = {"person", "face_sample", "attendance_event", "admin_user", "gesture_sample", "kiosk_device"}
KIOSK = Path(sys.executable).with_name("kiosk")
DATA = Path(__file__).resolve().parent / "data"


def run_kiosk(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "KIOSK_DATA_DIR": str(data_dir)}
    return subprocess.run([str(KIOSK), *args], input=stdin, capture_output=True, text=True, env=env, timeout=120)


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_console_script_db_upgrade_creates_every_table_and_is_idempotent(tmp_path):
    data_dir = tmp_path / "empty"
    first = run_kiosk(data_dir, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert EXPECTED_TABLES <= tables(data_dir / "kiosk.sqlite3")
    second = run_kiosk(data_dir, "db", "upgrade")
    assert second.returncode == 0, second.stderr
    assert EXPECTED_TABLES <= tables(data_dir / "kiosk.sqlite3")


def test_flask_app_option_works_too(tmp_path):
    env = {**os.environ, "KIOSK_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("flask")), "--app", "kiosk", "people", "--help"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "enroll" in result.stdout


@pytest.mark.parametrize("command", [["people", "list"], ["admin", "create", "bob", "--password-stdin"],
                                     ["devices", "list"], ["train", "faces"]])
def test_a_database_that_was_never_migrated_gets_run_db_upgrade_not_a_traceback(tmp_path, command):
    result = run_kiosk(tmp_path / "never-migrated", *command, stdin="a long passphrase\n")
    assert result.returncode == 1, result
    assert "run `kiosk db upgrade` first" in result.stderr
    assert "Traceback" not in result.stderr and "sqlalchemy" not in result.stderr.lower()


def test_image_commands_print_only_their_answers(tmp_path):
    """The native runtimes' start-up notes (TFLite's XNNPACK line, absl's warnings) stay off the
    console: stderr is empty, stdout is one JSON line per image."""
    images = {"emotion": DATA / "expressions" / "neutral.jpg", "gesture": DATA / "gestures" / "obama_folded_arms.jpg"}
    for command, image in images.items():
        result = run_kiosk(tmp_path, command, str(image))
        assert result.returncode == 0, result.stderr
        assert result.stderr == "", (command, result.stderr)
        assert json.loads(result.stdout)["status"] == "ok"


def test_admin_create_from_stdin(runner, app):
    result = runner.invoke(args=["admin", "create", "alice", "--password-stdin"], input="a long passphrase\n")
    assert result.exit_code == 0, result.output
    from kiosk.models import AdminUser

    admin = db.session.query(AdminUser).filter_by(username="alice").one()
    assert admin.check_password("a long passphrase")


def test_admin_create_refuses_short_password_and_duplicates(runner, app):
    short = runner.invoke(args=["admin", "create", "bob", "--password-stdin"], input="short\n")
    assert short.exit_code != 0
    assert "at least 10 characters" in short.output
    runner.invoke(args=["admin", "create", "bob", "--password-stdin"], input="long enough password\n")
    again = runner.invoke(args=["admin", "create", "bob", "--password-stdin"], input="long enough password\n")
    assert again.exit_code != 0
    assert "already exists" in again.output


def test_people_list_json(runner, make_person):
    make_person("Grace Hopper", external_id="E-1")
    make_person("Ada Lovelace")
    result = runner.invoke(args=["people", "list", "--json"])
    assert result.exit_code == 0, result.output
    people = json.loads(result.output)
    assert [p["name"] for p in people] == ["Ada Lovelace", "Grace Hopper"]
    assert people[1]["external_id"] == "E-1"
    assert people[0]["samples"] == 0 and people[0]["events"] == 0


def test_people_list_empty_says_how_to_enroll(runner, app):
    result = runner.invoke(args=["people", "list"])
    assert result.exit_code == 0
    assert "kiosk people enroll" in result.output


def _give_biometrics(person: Person) -> list[Path]:
    photo = storage.store_bytes("photos", b"photo", ".png")
    original = storage.store_bytes("photos", b"original", ".jpg")
    sample = factories.sample(person, b"crop", embedding=np.zeros(128, dtype=np.float32))
    factories.event(person, kiosk_id="k", photo_path=photo, original_photo_path=original)
    return [storage.resolve(p) for p in (sample.crop_path, photo, original)]


def test_people_delete_removes_rows_and_files(runner, make_person):
    person = make_person("Delete Me")
    keeper = make_person("Keep Me")
    files = _give_biometrics(person)
    kept_files = _give_biometrics(keeper)
    assert all(f.exists() for f in files)
    result = runner.invoke(args=["people", "delete", "Delete Me", "--yes"])
    assert result.exit_code == 0, result.output
    assert "1 face sample(s), 1 event(s), 3 file(s)" in result.output
    assert db.session.query(Person).filter_by(name="Delete Me").count() == 0
    assert db.session.query(FaceSample).count() == 1
    assert db.session.query(AttendanceEvent).count() == 1
    assert not any(f.exists() for f in files)
    assert all(f.exists() for f in kept_files)


def test_people_delete_asks_first(runner, make_person):
    make_person("Careful")
    result = runner.invoke(args=["people", "delete", "Careful"], input="n\n")
    assert result.exit_code != 0
    assert "cannot be undone" in result.output
    assert db.session.query(Person).filter_by(name="Careful").count() == 1


def test_people_delete_unknown_name(runner, app):
    result = runner.invoke(args=["people", "delete", "Nobody", "--yes"])
    assert result.exit_code != 0
    assert "No person named 'Nobody'" in result.output


def test_storage_refuses_paths_outside_the_data_dir(app):
    with pytest.raises(storage.UnsafePath):
        storage.resolve("../secret_key_elsewhere")
    with pytest.raises(storage.UnsafePath):
        storage.resolve("/etc/passwd")


@pytest.mark.parametrize("bad", [["a list"], 3.5, {"first": "Ada"}, True])
def test_names_must_be_text(app, bad):
    from kiosk.errors import InvalidInput
    from kiosk.services.people import create_person

    with pytest.raises(InvalidInput, match="must be text"):
        create_person(bad)
    with pytest.raises(InvalidInput, match="must be text"):
        create_person("Ada", external_id=bad)
    assert db.session.query(Person).count() == 0
