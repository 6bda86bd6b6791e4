"""Bulk import (`kiosk people import`, kiosk.services.bulk_import) with the real detector and the real
default embedder on real photos (tests/data/faces; the staff directory is tests/import_helpers.py):
a folder, a ZIP and a CSV import the same people; a second run changes nothing; a run killed with
SIGKILL halfway and started again ends with the same database as one that was never interrupted;
crops left by a killed run are removed; the progress display is a live bar on a terminal and plain
lines elsewhere."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from face_helpers import DEFAULT_EMBEDDER_ID
from import_helpers import (
    EXPECTED,
    EXTERNAL_IDS,
    STAFF,
    count_trainings,
    database_state,
    sha256,
    write_csv,
    write_folder,
    write_zip,
)
from sqlalchemy import func, select

from kiosk import storage
from kiosk.extensions import db
from kiosk.models import FaceSample, Person
from kiosk.services.bulk_import.journal import JOURNAL_NAME
from kiosk.services.bulk_import.lock import import_lock
from kiosk.services.bulk_import.progress import ImportProgress
from kiosk.services.bulk_import.run import import_path
from kiosk.services.import_sources import open_source

REPO_ROOT = Path(__file__).resolve().parents[1]


def sha256_bytes(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def staff_folder(tmp_path_factory) -> Path:
    return write_folder(tmp_path_factory.mktemp("staff") / "Staff photos")


def build_source(kind: str, folder: Path, tmp_path: Path) -> Path:
    if kind == "folder":
        return folder
    if kind == "zip":
        return write_zip(tmp_path / "staff.zip", folder)
    return write_csv(tmp_path / "hr-export" / "staff.csv", folder)


def people_and_samples() -> dict[str, list[FaceSample]]:
    people = db.session.scalars(select(Person)).all()
    return {p.name: sorted(p.samples, key=lambda s: s.id) for p in people}


@pytest.mark.models
@pytest.mark.both_databases
@pytest.mark.parametrize("kind", ["folder", "zip", "csv"])
def test_a_folder_a_zip_and_a_csv_import_the_same_people(app, staff_folder, tmp_path, kind):
    source = build_source(kind, staff_folder, tmp_path)
    lines = []
    summary = import_path(source, on_photo=lines.append, train=False)

    assert summary.photos == EXPECTED["photos"] == len(lines)
    assert summary.people_created == EXPECTED["people_created"]
    assert summary.accepted == EXPECTED["accepted"]
    assert summary.refused == EXPECTED["refused"]
    assert summary.duplicates == EXPECTED["duplicates"]
    assert summary.people_added_to == 0 and summary.seconds > 0 and summary.training is None

    people = people_and_samples()
    assert {name: len(samples) for name, samples in people.items()} == EXPECTED["people"]
    assert "Ariel Sharon" not in people  # every photo of theirs was refused: not created
    source_hashes = {sha256(p) for p in staff_folder.rglob("*.jpg")}
    for samples in people.values():
        for sample in samples:
            assert sample.content_hash in source_hashes
            assert sample.embedder == DEFAULT_EMBEDDER_ID and sample.embedding_array().shape == (512,)
            assert storage.resolve(sample.crop_path).is_file()
    expected_ids = EXTERNAL_IDS if kind == "csv" else {}
    for person in db.session.scalars(select(Person)):
        assert person.external_id == expected_ids.get(person.name)

    by_status = {}
    for line in lines:
        by_status.setdefault(line.status, []).append(line)
    assert {line.reason for line in by_status["refused"]} == {"bad_image", "multiple_faces"}
    assert [line.person for line in by_status["refused"] if line.reason == "multiple_faces"] == ["George W Bush"]
    (duplicate,) = by_status["duplicate"]
    assert duplicate.person == "Hugo Chavez" and duplicate.reason == "repeated"
    assert all(line.sample_id is not None for line in by_status["accepted"])


@pytest.mark.models
@pytest.mark.both_databases
def test_a_second_run_changes_nothing(app, staff_folder, tmp_path):
    source = write_zip(tmp_path / "staff.zip", staff_folder)
    import_path(source, train=False)
    before = database_state(db.engine, storage.media_dir())
    again = import_path(source, train=False)
    assert database_state(db.engine, storage.media_dir()) == before
    assert again.accepted == 0 and again.people_created == 0 and again.people_added_to == 0
    assert again.duplicates == EXPECTED["accepted"] + EXPECTED["duplicates"]
    assert again.refused == EXPECTED["refused"]  # bad photos are still bad, and still said so


@pytest.mark.models
def test_photos_enrolled_by_hand_are_skipped_and_new_ones_go_to_the_same_person(app, staff_folder):
    from kiosk.services.enrollment import enroll_files

    (outcome,) = enroll_files("colin powell", [str(staff_folder / "Colin Powell" / "1.jpg")])
    assert outcome.accepted and outcome.sample.content_hash == sha256(staff_folder / "Colin Powell" / "1.jpg")
    summary = import_path(staff_folder, train=False)
    assert summary.accepted == EXPECTED["accepted"] - 1 and summary.duplicates == EXPECTED["duplicates"] + 1
    assert summary.people_created == 2 and summary.people_added_to == 1
    assert db.session.scalar(select(func.count(Person.id))) == 3  # "colin powell" is Colin Powell


@pytest.mark.models
def test_training_runs_once_at_the_end_and_only_when_something_changed(app, staff_folder, monkeypatch):
    calls = count_trainings(monkeypatch)
    summary = import_path(staff_folder)
    assert calls == [EXPECTED["accepted"]]  # once, after every photo was stored
    assert summary.training["people"] == 3 and summary.training["samples"] == EXPECTED["accepted"]
    again = import_path(staff_folder)
    assert calls == [EXPECTED["accepted"]] and again.training is None


@pytest.mark.models
@pytest.mark.both_databases
def test_csv_rows_that_cannot_be_used_are_refused_one_by_one(app, tmp_path, staff_folder):
    photos = tmp_path / "pics"
    photos.mkdir()
    for name in ("powell.jpg", "chavez.jpg"):
        source = {"powell.jpg": "Colin Powell/1.jpg", "chavez.jpg": "Hugo Chavez/1.jpg"}[name]
        (photos / name).write_bytes((staff_folder / source).read_bytes())
    db.session.add(Person(name="Hugo Chavez", external_id="H-9"))
    db.session.commit()
    csv_file = tmp_path / "list.csv"
    # No header, ";" as some spreadsheets write it; a BOM as Excel writes it.
    csv_file.write_bytes(
        "\ufeffColin Powell;E-1;pics/powell.jpg;pics/missing.jpg\n"
        "Hugo Chavez;H-1;pics/chavez.jpg\n"
        ";;pics/powell.jpg\n"
        "Nobody Listed;;\n".encode()
    )
    lines = []
    summary = import_path(csv_file, on_photo=lines.append, train=False)
    got = [(line.image, line.person, line.status, line.reason) for line in lines]
    assert got == [
        ("pics/powell.jpg", "Colin Powell", "accepted", None),
        ("pics/missing.jpg", "Colin Powell", "refused", "missing_file"),
        ("pics/chavez.jpg", "Hugo Chavez", "refused", "external_id_mismatch"),
        ("pics/powell.jpg", "", "refused", "missing_name"),
        ("list.csv row 4", "Nobody Listed", "refused", "no_photo"),
    ]
    assert "H-9" in lines[2].message and "H-1" in lines[2].message
    assert summary.people_created == 1
    assert db.session.scalar(select(Person.external_id).where(Person.name == "Colin Powell")) == "E-1"


@pytest.mark.models
@pytest.mark.both_databases
def test_rows_naming_one_person_differently_reach_the_same_person(app, tmp_path):
    faces = REPO_ROOT / "tests" / "data" / "faces" / "lfw_Colin_Powell"
    csv_file = tmp_path / "rows.csv"
    csv_file.write_text(
        "name,external_id,photo_path\n"
        f"Colin Powell,,{faces / '1.jpg'}\n"
        f"COLIN POWELL,E-7,{faces / '2.jpg'}\n"
        f"Powell Colin,E-7,{faces / '3.jpg'}\n"
    )
    lines = []
    summary = import_path(csv_file, on_photo=lines.append, train=False)
    assert [line.status for line in lines] == ["accepted"] * 3 and summary.people_created == 1
    (person,) = db.session.scalars(select(Person)).all()
    assert (person.name, person.external_id, len(person.samples)) == ("Colin Powell", "E-7", 3)
    assert "Listed as Powell Colin; enrolled as Colin Powell" in lines[2].warning


def test_a_csv_that_is_not_utf8_is_refused_before_anything_is_imported(app, tmp_path):
    from kiosk.services.import_sources import SourceRefused

    csv_file = tmp_path / "latin1.csv"
    csv_file.write_bytes("Jos\xe9 Mart\xed,,a.jpg\n".encode("latin-1"))
    with pytest.raises(SourceRefused) as caught:
        import_path(csv_file, train=False)
    assert caught.value.code == "bad_csv" and "UTF-8" in str(caught.value)


@pytest.mark.models
def test_crops_of_a_killed_batch_are_removed_by_the_next_import(app, staff_folder):
    """A process killed between writing a batch's crops and committing them leaves crops no row
    names; they were journalled first, and the next import removes exactly those."""
    import_path(staff_folder, train=False)
    kept = db.session.scalars(select(FaceSample.crop_path)).all()
    stray = storage.store_bytes("faces", b"crop of a killed batch", ".png")
    unrelated = storage.store_bytes("faces", b"not journalled by an import", ".png")
    (Path(app.config["KIOSK_DATA_DIR"]) / "imports" / JOURNAL_NAME).write_text(
        json.dumps([stray, kept[0]])
    )
    import_path(staff_folder, train=False)
    assert not storage.resolve(stray).exists()
    assert storage.resolve(kept[0]).exists() and storage.resolve(unrelated).exists()


@pytest.mark.both_databases
def test_one_import_at_a_time(app, staff_folder):
    from kiosk.errors import Conflict

    with import_lock():
        with pytest.raises(Conflict) as caught:
            import_path(staff_folder, train=False)
    assert caught.value.status == 409 and "Another import" in str(caught.value)
    assert db.session.scalar(select(func.count(Person.id))) == 0


@pytest.mark.models
def test_one_import_at_a_time_across_app_hosts(postgres_database, tmp_path, staff_folder):
    """Two app hosts (each its own data dir) on one PostgreSQL database: the database's lock says no."""
    from kiosk import create_app
    from kiosk.config import TestingConfig
    from kiosk.errors import Conflict

    hosts = [create_app(TestingConfig(tmp_path / name, database_url=postgres_database)) for name in ("a", "b")]
    with hosts[0].app_context(), import_lock():
        with hosts[1].app_context():
            with pytest.raises(Conflict) as caught:
                import_path(staff_folder, train=False)
            assert caught.value.code == "already_importing"
            assert db.session.scalar(select(func.count(Person.id))) == 0
            db.session.remove()
            db.engine.dispose()
    with hosts[1].app_context():  # free again once the other host's import ended
        assert import_path(staff_folder, train=False).accepted == EXPECTED["accepted"]
        db.session.remove()
        db.engine.dispose()
    with hosts[0].app_context():
        db.engine.dispose()


# ---------------------------------------------------------------------------- the command


@pytest.mark.models
def test_people_import_json_lines_and_summary(app, runner, staff_folder, tmp_path):
    source = write_zip(tmp_path / "staff.zip", staff_folder)
    result = runner.invoke(args=["people", "import", str(source), "--json", "--no-train"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.strip().splitlines()]
    photos, (summary,) = records[:-1], [r["summary"] for r in records[-1:]]
    assert len(photos) == EXPECTED["photos"]
    assert all(set(r) == {"image", "person", "status", "reason", "message", "sample_id", "warning"} for r in photos)
    assert photos[0]["image"] == "Ariel Sharon/damaged.jpg" and photos[0]["status"] == "refused"
    assert summary["accepted"] == EXPECTED["accepted"] and summary["refused"] == EXPECTED["refused"]
    assert summary["people_created"] == 3 and summary["duplicates"] == 1 and summary["training"] is None
    # stderr is not a terminal here: plain progress lines, no control codes.
    assert "import: 8/8 photos (100%)" in result.stderr and "\x1b[" not in result.stderr


@pytest.mark.models
def test_people_import_human_summary_lists_the_refused_photos(app, runner, staff_folder):
    result = runner.invoke(args=["people", "import", str(staff_folder), "--no-train"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "people created      3" in out and "photos accepted     5" in out and "duplicates skipped  1" in out
    assert "photos refused      2  (bad_image 1, multiple_faces 1)" in out
    assert "George W Bush/team.jpg (George W Bush): More than one face" in out
    assert "not retrained" in out


def test_people_import_refused_source_is_a_clear_error(app, runner, tmp_path):
    (tmp_path / "source" / "Ada Lovelace").mkdir(parents=True)
    (tmp_path / "source" / "Ada Lovelace" / "cv.docx").write_bytes(b"PK\x03\x04 not a photo")
    result = runner.invoke(args=["people", "import", str(tmp_path / "source")])
    assert result.exit_code == 1
    assert "not photos (Ada Lovelace/cv.docx)" in result.output and "Traceback" not in result.output


def test_the_progress_bar_on_a_terminal_shows_rate_and_time_left():
    from kiosk.cli.progress import ImportProgressDisplay

    stream = io.StringIO()
    with ImportProgressDisplay(stream, force_terminal=True, width=80) as display:
        assert display.live
        for done in (0, 400, 800):
            display.update(ImportProgress(done, 1000, done - done // 10, done // 10, 0, 3, 1.0 + done / 4))
            display._progress.refresh()
            time.sleep(0.3)  # rich measures the rate over time
    text = stream.getvalue()
    assert "\x1b[" in text  # drawn with terminal control codes
    last = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).split("\r")[-1]
    bar_line, counts = [line.rstrip() for line in last.strip().splitlines()[-2:]]
    assert len(bar_line) <= 80, bar_line
    assert "800/1000" in bar_line and "80%" in bar_line and "photos/s" in bar_line and "left" in bar_line
    assert counts == "720 accepted, 80 refused, 0 duplicates"


def test_plain_progress_lines_say_rate_and_time_left():
    from kiosk.cli.progress import plain_line

    line = plain_line(ImportProgress(done=250, total=1000, accepted=240, refused=8, duplicates=2, people_created=60,
                                     seconds=50.0))
    assert line == ("import: 250/1000 photos (25%), 5.0 photos/s, about 2 min 30 s left; "
                    "240 accepted, 8 refused, 2 duplicates")


# ---------------------------------------------------------------------------- killed and resumed


def kiosk_env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(KIOSK_DATA_DIR=str(data_dir), TF_CPP_MIN_LOG_LEVEL="2")
    return env


def kiosk_command(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "kiosk"), *args]


def fresh_data_dir(parent: Path, template: Path) -> Path:
    import shutil

    folder = parent / "data"
    folder.mkdir(parents=True)
    shutil.copy(template, folder / "kiosk.sqlite3")
    return folder


@pytest.fixture(scope="module")
def bigger_staff(tmp_path_factory) -> Path:
    """Six people, 20 photos (the STAFF directory plus three more people)."""
    faces = REPO_ROOT / "tests" / "data" / "faces"
    staff = dict(STAFF)
    staff["Tony Blair"] = [(f"{i}.jpg", faces / "lfw_Tony_Blair" / f"{i}.jpg") for i in (2, 3, 4)]
    staff["Barack Obama"] = [(f"{i}.jpg", faces / "fr_obama" / f"{i}.jpg") for i in (1, 2, 3, 4, 5)]
    staff["Joe Biden"] = [(f"{i}.jpg", faces / "fr_biden" / f"{i}.jpg") for i in (1, 2)]
    return write_folder(tmp_path_factory.mktemp("bigger") / "staff", staff)


def sqlite_state(data_dir: Path) -> dict:
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{data_dir / 'kiosk.sqlite3'}")
    try:
        return database_state(engine, data_dir)
    finally:
        engine.dispose()


def test_an_import_killed_halfway_resumes_to_the_same_database(tmp_path, migrated_db_template, bigger_staff):
    total = sum(1 for _ in bigger_staff.rglob("*.jpg"))
    reference = fresh_data_dir(tmp_path / "uninterrupted", migrated_db_template)
    done = subprocess.run(kiosk_command("people", "import", str(bigger_staff), "--json", "--no-train"),
                          env=kiosk_env(reference), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip().splitlines()) == total + 1

    interrupted = fresh_data_dir(tmp_path / "interrupted", migrated_db_template)
    process = subprocess.Popen(kiosk_command("people", "import", str(bigger_staff), "--json", "--no-train"),
                               env=kiosk_env(interrupted), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    seen = []
    try:
        for line in process.stdout:
            seen.append(json.loads(line))
            if sum(r.get("status") == "accepted" for r in seen) >= 6:
                break
        process.send_signal(signal.SIGKILL)  # no clean-up of any kind: as a power cut would do
    finally:
        process.kill()
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    halfway = sqlite_state(interrupted)
    assert 6 <= len(halfway["samples"]) < len(sqlite_state(reference)["samples"])

    resumed = subprocess.run(kiosk_command("people", "import", str(bigger_staff), "--json", "--no-train"),
                             env=kiosk_env(interrupted), capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])["summary"]
    assert summary["duplicates"] >= 6  # what the killed run stored was skipped, not stored again

    want, got = sqlite_state(reference), sqlite_state(interrupted)
    assert got["people"] == want["people"]
    assert got["samples"] == want["samples"]
    assert got["orphan_crops"] == [] and got["missing_crops"] == []
    for content_hash, vector in want["embeddings"].items():
        assert np.allclose(np.frombuffer(got["embeddings"][content_hash], np.float32),
                           np.frombuffer(vector, np.float32), atol=1e-5)


def test_open_source_reads_the_same_photos_from_each_layout(staff_folder, tmp_path, app):
    folder = open_source(staff_folder)
    archive = open_source(write_zip(tmp_path / "s.zip", staff_folder))
    flat = open_source(write_zip(tmp_path / "flat.zip", staff_folder, wrapper=None))
    table = open_source(write_csv(tmp_path / "c" / "s.csv", staff_folder, header=False))
    def contents(source):
        return sorted((p.person, sha256_bytes(p.read())) for p in source.photos)

    for source in (archive, flat, table):
        assert contents(source) == contents(folder)
        source.close()
    assert [p.label for p in archive.photos] == [p.label for p in folder.photos]
    assert archive.kind == "zip" and table.kind == "csv" and folder.kind == "folder"
