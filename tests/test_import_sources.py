"""Sources a bulk import refuses before reading any photo (kiosk.services.import_sources): zip bombs
(one member, or the whole archive), archives too large packed or unpacked, paths that climb out of
the archive, symbolic links, password-protected members, files that are not photos, photos outside
a person's folder; each with a message that says what to do, and nothing written (no person, no
sample, no crop, nothing left in the data dir). Archives are made here with zipfile and Info-ZIP."""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from kiosk.extensions import db
from kiosk.models import FaceSample, Person
from kiosk.services.bulk_import.run import import_path
from kiosk.services.import_sources import SourceRefused, open_source
from kiosk.services.site_lock import SITE_LOCKS

FACES = Path(__file__).resolve().parent / "data" / "faces"
PHOTO = FACES / "lfw_Colin_Powell" / "1.jpg"


def make_zip(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def zip_with_symlink(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("Colin Powell/1.jpg", PHOTO.read_bytes())
        link = zipfile.ZipInfo("Colin Powell/passwd.jpg")
        link.create_system = 3
        link.external_attr = 0o120777 << 16  # a symbolic link, as Info-ZIP stores one
        archive.writestr(link, "/etc/passwd")
    return path


def assert_nothing_written(app) -> None:
    assert db.session.scalar(select(func.count(Person.id))) == 0
    assert db.session.scalar(select(func.count(FaceSample.id))) == 0
    data_dir = Path(app.config["KIOSK_DATA_DIR"])
    assert not (data_dir / "faces").exists() or not any((data_dir / "faces").iterdir())
    leftovers = [p.name for p in (data_dir / "imports").iterdir()] if (data_dir / "imports").exists() else []
    assert set(leftovers) <= {Path(SITE_LOCKS["import"].file).name}, leftovers


def refused(app, path: Path) -> SourceRefused:
    with pytest.raises(SourceRefused) as caught:
        import_path(path, train=False)
    assert_nothing_written(app)
    return caught.value


def test_a_zip_bomb_member_is_refused(app, tmp_path):
    bomb = make_zip(tmp_path / "bomb.zip", {"Colin Powell/1.jpg": PHOTO.read_bytes(),
                                             "Colin Powell/big.jpg": b"\0" * (60 << 20)})
    assert bomb.stat().st_size < 200_000  # 60 MB of zeros packs into a few tens of KB
    err = refused(app, bomb)
    assert err.code == "zip_bomb" and err.status == 422
    assert "zip bomb" in str(err) and "60 MB unpacked" in str(err)


def test_an_archive_of_many_small_bombs_is_refused(app, tmp_path):
    # Each member under the per-member check (1 MB), together ~40 MB from ~40 KB.
    members = {f"Colin Powell/{i}.jpg": b"\0" * 1_000_000 for i in range(40)}
    assert refused(app, make_zip(tmp_path / "many.zip", members)).code == "zip_bomb"


def test_an_archive_over_the_upload_limit_is_refused(app, tmp_path):
    app.config["KIOSK_IMPORT_MAX_MB"] = 1
    archive = make_zip(tmp_path / "huge.zip", {f"P/{i}.jpg": os.urandom(300_000) for i in range(5)},
                       zipfile.ZIP_STORED)
    err = refused(app, archive)
    assert err.code == "too_large" and err.status == 413 and "at most 1 MB" in str(err)


def test_an_archive_that_unpacks_over_twice_the_limit_is_refused(app, tmp_path):
    app.config["KIOSK_IMPORT_MAX_MB"] = 1
    # ~0.75 MB packed, ~2.3 MB unpacked: a ratio photos can have, but over twice the 1 MB limit.
    members = {f"P/{i}.bmp": os.urandom(50_000) + b"\0" * 100_000 for i in range(15)}
    err = refused(app, make_zip(tmp_path / "wide.zip", members))
    assert err.code == "too_large" and err.status == 413 and "unpacks to" in str(err)


@pytest.mark.parametrize("name", ["../escape.jpg", "Colin Powell/../../escape.jpg", "/etc/cron.d/escape.jpg",
                                  "C:/Windows/escape.jpg", "Colin Powell\\..\\..\\escape.jpg"])
def test_paths_that_lead_outside_the_archive_are_refused(app, tmp_path, name):
    archive = make_zip(tmp_path / "escape.zip", {"Colin Powell/1.jpg": PHOTO.read_bytes(), name: PHOTO.read_bytes()})
    err = refused(app, archive)
    assert err.code == "unsafe_paths" and "outside the archive" in str(err)
    assert not (tmp_path.parent / "escape.jpg").exists()


def test_a_symbolic_link_in_an_archive_is_refused(app, tmp_path):
    err = refused(app, zip_with_symlink(tmp_path / "link.zip"))
    assert err.code == "symlinks" and "Colin Powell/passwd.jpg" in str(err)


def test_a_symbolic_link_in_a_folder_is_refused(app, tmp_path):
    person = tmp_path / "staff" / "Colin Powell"
    person.mkdir(parents=True)
    shutil.copy(PHOTO, person / "1.jpg")
    (person / "2.jpg").symlink_to(PHOTO)
    err = refused(app, tmp_path / "staff")
    assert err.code == "symlinks" and "Colin Powell/2.jpg" in str(err)


@pytest.mark.skipif(shutil.which("zip") is None, reason="needs Info-ZIP's zip")
def test_a_password_protected_archive_is_refused(app, tmp_path):
    folder = tmp_path / "staff" / "Colin Powell"
    folder.mkdir(parents=True)
    shutil.copy(PHOTO, folder / "1.jpg")
    subprocess.run(["zip", "-q", "-r", "-P", "secret", str(tmp_path / "locked.zip"), "Colin Powell"],
                   cwd=tmp_path / "staff", check=True)
    err = refused(app, tmp_path / "locked.zip")
    assert err.code == "encrypted" and "password" in str(err)


def test_members_that_are_not_photos_are_refused_and_system_files_skipped(app, tmp_path):
    archive = make_zip(tmp_path / "mixed.zip", {
        "Colin Powell/1.jpg": PHOTO.read_bytes(),
        "Colin Powell/contract.pdf": b"%PDF-1.7",
        "Colin Powell/run.sh": b"#!/bin/sh\n",
        "__MACOSX/Colin Powell/._1.jpg": b"\0\5\26\7",
        "Colin Powell/.DS_Store": b"\0\0\0\1Bud1",
    })
    err = refused(app, archive)
    assert err.code == "not_photos"
    assert "Colin Powell/contract.pdf, Colin Powell/run.sh" in str(err) and "DS_Store" not in str(err)

    clean = make_zip(tmp_path / "clean.zip", {"Colin Powell/1.jpg": PHOTO.read_bytes(),
                                               "__MACOSX/Colin Powell/._1.jpg": b"\0\5\26\7",
                                               "Colin Powell/.DS_Store": b"\0\0\0\1Bud1"})
    source = open_source(clean)
    assert [p.label for p in source.photos] == ["Colin Powell/1.jpg"]
    assert source.notes == ["2 system file(s) (such as .DS_Store or __MACOSX) were skipped."]
    source.close()


def test_photos_outside_a_persons_folder_are_refused(app, tmp_path):
    err = refused(app, make_zip(tmp_path / "loose.zip", {"1.jpg": PHOTO.read_bytes(), "2.jpg": PHOTO.read_bytes()}))
    assert err.code == "photos_outside_folders" and "folder named after them" in str(err)


def test_a_file_that_is_not_a_zip_is_refused(app, tmp_path):
    fake = tmp_path / "staff.zip"
    fake.write_bytes(b"this is not an archive at all" * 100)
    err = refused(app, fake)
    assert err.code == "not_a_zip" and "not a ZIP archive" in str(err)


@pytest.mark.models
def test_a_photo_over_the_size_limit_is_refused_alone(app, tmp_path):
    """Not the whole archive: only that photo, and the import goes on."""
    app.config["MAX_CONTENT_LENGTH"] = 1 << 20
    archive = make_zip(tmp_path / "one-big.zip", {"Colin Powell/1.jpg": PHOTO.read_bytes(),
                                                   "Colin Powell/poster.bmp": os.urandom(1_500_000)},
                       zipfile.ZIP_STORED)
    lines = []
    summary = import_path(archive, on_photo=lines.append, train=False)
    assert [(line.image, line.status) for line in lines] == [("Colin Powell/1.jpg", "accepted"),
                                                             ("Colin Powell/poster.bmp", "refused")]
    assert "a photo may be at most 1 MB" in lines[1].message and summary.accepted == 1


def test_names_from_a_zip_without_the_utf8_flag_and_from_macos_come_out_whole(app, tmp_path):
    """Korean and accented names: UTF-8 names written without the flag, and decomposed (NFD) ones."""
    import unicodedata

    path = tmp_path / "names.zip"
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo("김민준/1.jpg")
        archive.writestr(info, PHOTO.read_bytes())
        archive.writestr(unicodedata.normalize("NFD", "José Martí/1.jpg"), PHOTO.read_bytes())
    raw = bytearray(path.read_bytes())
    # Clear the UTF-8 flag of the first entry in its local and central headers, as older tools write it.
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = raw.find(signature)
        raw[at + offset + 1] &= ~0x08  # bit 11 of the flags: the high byte's 0x08
    path.write_bytes(bytes(raw))
    source = open_source(path)
    assert sorted(p.person for p in source.photos) == ["José Martí", "김민준"]
    assert all(unicodedata.is_normalized("NFC", p.person) for p in source.photos)
    source.close()
