"""Staff directories for the bulk-import tests, built from the real photos in tests/data/faces.

``STAFF`` is what every source holds: three people with good photos, a group photo and a
damaged photo among them, the same photo twice, and a person whose only photos are bad (so
they must not be created). ``EXPECTED`` is what an import of it must end with.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import zipfile
from pathlib import Path

FACES = Path(__file__).resolve().parent / "data" / "faces"


def _truncated(source: Path, target: Path) -> None:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])


# person -> [(file name in the source, real photo or a maker)]
STAFF: dict[str, list[tuple[str, object]]] = {
    "Colin Powell": [("1.jpg", FACES / "lfw_Colin_Powell" / "1.jpg"), ("2.jpg", FACES / "lfw_Colin_Powell" / "2.jpg")],
    "Hugo Chavez": [
        ("1.jpg", FACES / "lfw_Hugo_Chavez" / "1.jpg"),
        ("2.jpg", FACES / "lfw_Hugo_Chavez" / "2.jpg"),
        ("2 copy.jpg", FACES / "lfw_Hugo_Chavez" / "2.jpg"),  # the same photo again: a duplicate
    ],
    "George W Bush": [
        ("1.jpg", FACES / "lfw_George_W_Bush" / "1.jpg"),
        ("team.jpg", FACES / "_multi" / "2.jpg"),  # several faces: refused
    ],
    "Ariel Sharon": [("damaged.jpg", (_truncated, FACES / "lfw_Ariel_Sharon" / "1.jpg"))],  # never created
}
EXTERNAL_IDS = {"Colin Powell": "E-001", "Hugo Chavez": "E-002", "George W Bush": "E-003", "Ariel Sharon": "E-004"}

EXPECTED = {
    "people": {"Colin Powell": 2, "Hugo Chavez": 2, "George W Bush": 1},  # name -> samples
    "photos": 8,
    "people_created": 3,
    "accepted": 5,
    "refused": {"bad_image": 1, "multiple_faces": 1},
    "duplicates": 1,
}


def write_folder(root: Path, staff: dict = STAFF) -> Path:
    """``root/Person Name/photo.jpg``; returns root."""
    root.mkdir(parents=True, exist_ok=True)
    for person, photos in staff.items():
        folder = root / person
        folder.mkdir(exist_ok=True)
        for name, what in photos:
            if isinstance(what, tuple):
                maker, source = what
                maker(source, folder / name)
            else:
                shutil.copy(what, folder / name)
    return root


def write_zip(path: Path, folder: Path, *, wrapper: str | None = "staff") -> Path:
    """A ZIP of ``folder`` as a file manager makes it: everything under one top folder (``wrapper``)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                name = file.relative_to(folder).as_posix()
                archive.write(file, f"{wrapper}/{name}" if wrapper else name)
    return path


def write_csv(path: Path, folder: Path, *, header: bool = True, photo_dir: str = "photos") -> Path:
    """``name,external_id,photo_path...`` with the photos copied into ``photo_dir`` beside the CSV."""
    photos_root = path.parent / photo_dir
    photos_root.mkdir(parents=True, exist_ok=True)
    rows = []
    for person in STAFF:
        listed = []
        for file in sorted((folder / person).iterdir()):
            target = photos_root / f"{person.replace(' ', '_')}_{file.name.replace(' ', '_')}"
            shutil.copy(file, target)
            listed.append(f"{photo_dir}/{target.name}")
        rows.append([person, EXTERNAL_IDS[person], *listed])
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if header:
            writer.writerow(["name", "external_id", "photo_path"])
        writer.writerows(rows)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def database_state(engine, media_dir: Path) -> dict:
    """What an import leaves: people and their samples, compared without row ids; and whether every
    crop file is referenced by exactly one row (no orphan, no missing file). ``engine``: a
    SQLAlchemy engine on SQLite or PostgreSQL."""
    from sqlalchemy import text

    with engine.connect() as conn:
        people = sorted(tuple(row) for row in conn.execute(text("SELECT name, external_id, active FROM person")))
        rows = conn.execute(
            text(
                "SELECT p.name, s.content_hash, s.source_photo, s.embedder, s.quality, s.crop_path, s.embedding "
                "FROM face_sample s JOIN person p ON p.id = s.person_id"
            )
        ).all()
    samples = sorted((name, digest, source, embedder, round(quality, 4)) for name, digest, source, embedder, quality, *_
                     in rows)
    crops = {row[5] for row in rows}
    faces = media_dir / "faces"
    on_disk = {f"faces/{p.name}" for p in faces.glob("*")} if faces.is_dir() else set()
    return {
        "people": people,
        "samples": samples,
        "embeddings": {row[1]: bytes(row[6]) for row in rows},
        "orphan_crops": sorted(on_disk - crops),
        "missing_crops": sorted(crops - on_disk),
    }


def count_trainings(monkeypatch) -> list[int]:
    """Counts calls of the real face training (how many samples each saw); the training still runs."""
    from sqlalchemy import func, select

    from kiosk.extensions import db
    from kiosk.models import FaceSample
    from kiosk.services import face_training

    calls: list[int] = []
    real_train = face_training.train_faces

    def counting_train(**kwargs):
        calls.append(db.session.scalar(select(func.count(FaceSample.id))))
        return real_train(**kwargs)

    monkeypatch.setattr(face_training, "train_faces", counting_train)
    return calls
