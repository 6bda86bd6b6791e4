"""Bulk import as a first-time office manager runs it (issue 24, part 5): a stray CSV in the photo
folder is skipped with a note, not read as the list of people; `kiosk people import` exits 1 when no
photo was accepted; skipped duplicates are listed by person and photo (command and console); the
console's percentage agrees with "photo N of M". Real photos from tests/data (tests/import_helpers.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from import_helpers import EXPECTED, FACES, write_csv, write_folder, write_zip

from kiosk.errors import KioskError
from kiosk.services import training_jobs
from kiosk.services.bulk_import import uploads
from kiosk.services.bulk_import.job import run_staged_import
from kiosk.services.import_manifest import is_manifest_header
from kiosk.services.import_sources import open_source

STRAY_LABELS = "file,label,x,y\n1.jpg,face,10,20\n2.jpg,face,30,40\n"


@pytest.fixture(scope="module")
def staff_folder(tmp_path_factory) -> Path:
    return write_folder(tmp_path_factory.mktemp("staff") / "Staff photos")


@pytest.fixture
def folder_with_stray_csv(staff_folder, tmp_path) -> Path:
    folder = tmp_path / "Staff photos"
    shutil.copytree(staff_folder, folder)
    (folder / "labels.csv").write_text(STRAY_LABELS)
    return folder


@pytest.mark.parametrize("header, manifest", [
    ("name,external_id,photo_path", True),
    ("Name;Employee id;Photo", True),
    ("full name,id,photo 1,photo 2", True),
    ("\ufeffperson,external_id,image", True),
    ("file,label,x,y", False),
    ("name,email,phone", False),
    ("Colin Powell,E-1,photos/1.jpg", False),  # a row, not a header
    ("", False),
])
def test_a_csv_is_a_list_of_people_only_when_its_header_says_so(header, manifest):
    assert is_manifest_header(header.encode() + b"\nrow,1,2\n") is manifest


def test_a_stray_csv_at_the_top_of_a_folder_is_skipped_with_a_note(app, folder_with_stray_csv):
    source = open_source(folder_with_stray_csv)
    assert source.kind == "folder" and len(source.photos) == EXPECTED["photos"]
    assert any(note.startswith("labels.csv was skipped") for note in source.notes), source.notes


def test_a_stray_csv_at_the_top_of_a_zip_is_skipped_with_a_note(app, folder_with_stray_csv, tmp_path):
    archive = write_zip(tmp_path / "staff.zip", folder_with_stray_csv)
    source = open_source(archive)
    assert source.kind == "zip" and len(source.photos) == EXPECTED["photos"]
    assert any("staff/labels.csv was skipped" in note for note in source.notes), source.notes


def test_a_list_with_its_header_in_a_folder_or_a_zip_is_still_read(app, staff_folder, tmp_path):
    table = write_csv(tmp_path / "hr-export" / "staff.csv", staff_folder)
    (table.parent / "labels.csv").write_text(STRAY_LABELS)  # beside it: skipped, with a note
    source = open_source(table.parent)
    assert source.kind == "csv" and len(source.photos) == EXPECTED["photos"]
    assert any(note.startswith("labels.csv was skipped") for note in source.notes)
    archive = write_zip(tmp_path / "hr.zip", table.parent, wrapper=None)
    assert open_source(archive).kind == "csv"


def test_a_list_that_lost_its_header_inside_a_folder_is_refused_not_imported_as_one_person(app, staff_folder,
                                                                                            tmp_path):
    table = write_csv(tmp_path / "hr-export" / "staff.csv", staff_folder, header=False)
    with pytest.raises(KioskError) as caught:
        open_source(table.parent)
    assert caught.value.code == "csv_without_header"
    assert "staff.csv" in str(caught.value) and "name,external_id,photo_path" in str(caught.value)
    assert open_source(table).kind == "csv"  # given on its own, a CSV needs no header


def test_two_lists_of_people_at_the_top_are_refused(app, staff_folder, tmp_path):
    table = write_csv(tmp_path / "hr-export" / "staff.csv", staff_folder)
    shutil.copy(table, table.parent / "staff copy.csv")
    with pytest.raises(KioskError) as caught:
        open_source(table.parent)
    assert caught.value.code == "several_csv"


@pytest.mark.models
def test_the_command_imports_the_folder_and_names_the_skipped_csv(app, runner, folder_with_stray_csv):
    result = runner.invoke(args=["people", "import", str(folder_with_stray_csv), "--no-train"])
    assert result.exit_code == 0, result.output
    assert "photos accepted     5" in result.stdout
    assert "note: labels.csv was skipped: it is not a list of people" in result.stdout


@pytest.mark.models
def test_the_command_exits_1_when_no_photo_was_accepted(app, runner, tmp_path):
    folder = write_folder(tmp_path / "bad", {"Ariel Sharon": [("team.jpg", FACES / "_multi" / "2.jpg")]})
    result = runner.invoke(args=["people", "import", str(folder), "--no-train"])
    assert result.exit_code == 1, result.output
    assert "photos refused      1" in result.stdout
    assert "No photo was accepted" in result.stderr
    as_json = runner.invoke(args=["people", "import", str(folder), "--no-train", "--json"])
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout.splitlines()[-1])["summary"]["accepted"] == 0  # the lines are all there


@pytest.mark.models
def test_skipped_duplicates_are_listed_by_person_and_a_second_run_is_done(app, runner, staff_folder):
    first = runner.invoke(args=["people", "import", str(staff_folder), "--no-train"])
    assert first.exit_code == 0, first.output
    listed = first.stdout.split("Skipped duplicates", 1)[1]
    assert "  Hugo Chavez:\n    Hugo Chavez/2.jpg: The same photo as Hugo Chavez/2 copy.jpg" in listed

    again = runner.invoke(args=["people", "import", str(staff_folder), "--no-train"])
    assert again.exit_code == 1, again.output  # nothing new, and its bad photos are refused again
    listed = again.stdout.split("Skipped duplicates", 1)[1]
    for person in ("Colin Powell", "George W Bush", "Hugo Chavez"):
        assert f"\n  {person}:\n" in listed
    assert "Colin Powell/1.jpg: This photo is already enrolled (a photo of Colin Powell)." in listed


class FileUpload:
    def __init__(self, path: Path) -> None:
        self.path, self.filename = path, path.name

    def save(self, target: str) -> None:
        shutil.copy(self.path, target)


@pytest.mark.models
def test_the_console_percentage_is_the_share_of_photos_done(app, staff_folder, tmp_path):
    """The job's bar and percentage while importing are photo N of M, not N of M shrunk by the training
    still to come (it showed "10%" beside "photo 40 of 47")."""
    staged = uploads.stage_upload(FileUpload(write_zip(tmp_path / "staff.zip", staff_folder)))
    calls = []
    result = run_staged_import(staged, lambda fraction, stage, detail: calls.append((stage, dict(detail))))
    importing = [(stage, detail) for stage, detail in calls if detail["phase"] == "importing"]
    assert importing and any(detail["done"] for _, detail in importing)
    for stage, detail in importing:
        done, total = map(int, re.search(r"photo (\d+) of (\d+)", stage).groups())
        assert round(100 * detail["step_progress"]) == round(100 * done / total), stage
    training = [detail["step_progress"] for _, detail in calls if detail["phase"] == "training"]
    assert training and training[-1] == 1.0
    assert {(r["person"], r["image"]) for r in result["skipped"]} == {("Hugo Chavez", "Hugo Chavez/2.jpg")}


@pytest.fixture
def admin(client, sign_in_admin):
    client.token = sign_in_admin(client)
    return client


def _write_jobs(app, *records: training_jobs.TrainingJob) -> None:
    jobs_file = Path(app.config["KIOSK_DATA_DIR"]) / "jobs" / "training.json"
    jobs_file.parent.mkdir(parents=True, exist_ok=True)
    jobs_file.write_text(json.dumps([record.as_dict() for record in records]))


def test_the_import_page_shows_photo_n_of_m_with_its_own_percentage(app, admin):
    detail = {"source": "staff.zip", "phase": "importing", "done": 40, "total": 47, "accepted": 40, "refused": 0,
              "duplicates": 0, "step_progress": 40 / 47}
    # Another live process runs it (a job of this process without its thread reads as interrupted).
    running = training_jobs.TrainingJob(id="00000000000000aa", kind="import", state="running", progress=0.095,
                                        stage="Step 1 of 2: importing photo 40 of 47", pid=os.getppid(), detail=detail)
    _write_jobs(app, running)
    html = " ".join(admin.get("/admin/people/import?job=00000000000000aa").text.split())
    assert 'id="import-percent">85%<' in html and "photo 40 of 47" in html
    assert ">10%<" not in html


def test_the_import_summary_page_lists_skipped_duplicates_by_person(app, admin):
    skipped = [
        {"image": "Hugo Chavez/2 copy.jpg", "person": "Hugo Chavez", "status": "duplicate", "reason": "repeated",
         "message": "The same photo as Hugo Chavez/2.jpg, earlier in this import.", "sample_id": None, "warning": None},
        {"image": "Ada/1.jpg", "person": "Ada Lovelace", "status": "duplicate", "reason": "already_enrolled",
         "message": "This photo is already enrolled (a photo of Grace Hopper).", "sample_id": None, "warning": None},
    ]
    result = {"source": "staff.zip", "photos": 2, "people_created": 0, "people_added_to": 0, "accepted": 0,
              "refused": {}, "refused_total": 0, "duplicates": 2, "seconds": 1.0, "photos_per_second": 2.0,
              "notes": [], "training": None, "to_look_at": [], "skipped": skipped}
    done = training_jobs.TrainingJob(id="00000000000000bb", kind="import", state="done", progress=1.0,
                                     detail={"source": "staff.zip"}, result=result)
    _write_jobs(app, done)
    html = " ".join(admin.get("/admin/people/import?job=00000000000000bb").text.split())
    assert "Duplicates skipped</h3>" in html
    ada, hugo = html.index('data-skipped-person="Ada Lovelace"'), html.index('data-skipped-person="Hugo Chavez"')
    assert ada < hugo  # by person
    assert "Hugo Chavez/2 copy.jpg" in html and "a photo of Grace Hopper" in html


@pytest.mark.models
def test_a_second_run_of_a_clean_import_is_done_exit_0(app, runner, tmp_path):
    folder = write_folder(tmp_path / "clean", {"Colin Powell": [("1.jpg", FACES / "lfw_Colin_Powell" / "1.jpg")]})
    assert runner.invoke(args=["people", "import", str(folder), "--no-train"]).exit_code == 0
    again = runner.invoke(args=["people", "import", str(folder), "--no-train"])
    assert again.exit_code == 0, again.output  # every photo is enrolled already: nothing is wrong
    assert "duplicates skipped  1" in again.stdout and "No photo was accepted" not in again.stderr
