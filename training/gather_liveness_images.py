"""Gather public live/spoof images into the layout ``training/evaluate_liveness.py --data`` reads.

    .venv/bin/python training/gather_liveness_images.py /work/.mirror /tmp/liveness-eval

Reads bare git snapshots of GitHub repositories (``MIRRORS/owner+name/repo``, as the project's
``fetch`` tool leaves them) that hold ``dataset/real/*`` and ``dataset/fake/*`` frames (the
"liveness detection" student projects: frames of a selfie video, and frames of that video replayed
on a phone or screen in front of a webcam), and writes ``OUT/owner+name/{real,fake}/NAME`` plus
``OUT/SOURCES.csv`` (repository, commit, path, sha256, label). The images are never committed:
none of these repositories states a licence.

Several repositories carry copies of the same tutorial dataset, sometimes re-encoded: an image whose
picture (:func:`picture_key`) was already taken is skipped, so each picture counts once, under the
first repository (sorted by name) that has it; files that do not decode are skipped too. At most
``--per-class`` images per class and repository, evenly spread over the sorted file names
(consecutive frames are near duplicates).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

LABEL_FOLDERS = {"real": "real", "fake": "fake"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def git(git_dir: Path, *args: str) -> bytes:
    return subprocess.run(["git", "--git-dir", str(git_dir), *args], check=True, capture_output=True).stdout


def picture_key(data: bytes) -> str | None:
    """The picture, not its bytes: the same frame saved again (another PNG encoder, a JPEG) has the
    same 16x16 grey thumbnail, quantised to 16 levels. None when the file is not an image."""
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if bgr is None:
        return None
    thumb = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), (16, 16), interpolation=cv2.INTER_AREA)
    return hashlib.sha256((thumb // 16).tobytes()).hexdigest()


def git_dir_of(mirror: Path) -> Path:
    repo = mirror / "repo"
    return repo / ".git" if (repo / ".git").is_dir() else repo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mirrors", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-class", type=int, default=100)
    args = parser.parse_args(argv)
    seen: set[str] = set()
    rows = []
    for mirror in sorted(p for p in args.mirrors.iterdir() if p.is_dir()):
        git_dir = git_dir_of(mirror)
        if not (git_dir / "HEAD").exists():
            continue
        commit = git(git_dir, "rev-parse", "HEAD").decode().strip()
        files = git(git_dir, "ls-tree", "-r", "--name-only", "HEAD").decode().splitlines()
        for label, folder in LABEL_FOLDERS.items():
            prefix = f"dataset/{folder}/"
            paths = sorted(f for f in files if f.startswith(prefix) and f.lower().endswith(IMAGE_SUFFIXES))
            fresh = []
            for path in paths:
                data = git(git_dir, "show", f"HEAD:{path}")
                key = picture_key(data)
                if key is not None and key not in seen:
                    seen.add(key)
                    fresh.append((path, data, hashlib.sha256(data).hexdigest()))
            step = max(1, len(fresh) / args.per_class) if fresh else 1
            chosen = [fresh[int(i * step)] for i in range(min(args.per_class, len(fresh)))]
            target = args.out / mirror.name / label
            for path, data, digest in chosen:
                target.mkdir(parents=True, exist_ok=True)
                (target / Path(path).name).write_bytes(data)
                file_name = f"{mirror.name}/{label}/{Path(path).name}"
                rows.append([file_name, mirror.name.replace("+", "/"), commit, path, digest, label])
            if paths:
                print(f"{mirror.name:<60} {label}: {len(paths)} files, {len(fresh)} new pictures, {len(chosen)} taken")
    with open(args.out / "SOURCES.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "source_repo", "commit", "path", "sha256", "label"])
        writer.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
