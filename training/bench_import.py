"""Bulk import benchmark: photos per second of `kiosk people import` and of the one training after
it, at 100 and 1,000 photos, for the default embedder and dlib side by side in one run.

    .venv/bin/python training/bench_import.py                          # 100 and 1,000 photos
    .venv/bin/python training/bench_import.py --sizes 100 --embedders dlib
    .venv/bin/python training/bench_import.py --sizes 1000 --no-batches   # the imports only
    .venv/bin/python training/bench_import.py --baseline /tmp/old-checkout --sizes 1000 --embedders default
                                    # the same runs of an older checkout's code, taking turns with this one

With ``--baseline DIR`` (a checkout of older code, e.g. ``git worktree add /tmp/old 8608a3d``) every
run is made twice, by the old code and by this one in turn, each in its own process on the same
synthesised photos (same seed), and the report ends with old vs new photos/s: figures from one
sitting, so the machine's other work weighs on both alike.

The photos are synthesised from the real dataset photos (../shared/datasets/faces-dev, or
tests/data/faces when it is absent): each synthetic person is one source photo and
``--per-person`` (5) copies of it, each flipped, rotated, scaled, shifted, re-lit and re-encoded
differently (so every file has its own content hash and the detector still finds the face). A
site's staff directory has one to a few photos per person; throughput depends on the number of
photos and people, not on who they are.

Each run uses a fresh data dir with the real migrations, imports the folder with the real
service (:func:`kiosk.services.bulk_import.run.import_path`, as the command does, without the
progress display), then trains once (:func:`kiosk.services.face_training.train_faces`). The models
are loaded and run once before the runs (loading TensorFlow and FaceNet's weights takes seconds
once per process: it is not a cost per photo). Before the runs it also prints the embedders' cost
per face for each batch size on real crops (``--no-batches`` skips that): the reason for each
embedder's ``batch_size``. Prints one JSON object; the load average is in it (other
work on the machine slows every figure alike: compare figures of the same run).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

DATASET = REPO_ROOT.parent / "shared" / "datasets" / "faces-dev"
FALLBACK = REPO_ROOT / "tests" / "data" / "faces"
BATCH_SIZES = (1, 2, 4, 8, 16, 32)


def source_photos() -> list[Path]:
    root = DATASET if DATASET.is_dir() else FALLBACK
    return sorted(p for p in root.glob("*/*.jpg") if not p.parent.name.startswith("_"))


def augment(image: np.ndarray, rng: random.Random) -> np.ndarray:
    """One plausible re-take of a photo: mirrored or not, turned a little, nearer or farther, re-lit."""
    if rng.random() < 0.5:
        image = cv2.flip(image, 1)
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), rng.uniform(-8, 8), rng.uniform(0.92, 1.08))
    matrix[:, 2] += (rng.uniform(-0.04, 0.04) * width, rng.uniform(-0.04, 0.04) * height)
    image = cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)
    gain, bias = rng.uniform(0.8, 1.2), rng.uniform(-15, 15)
    return np.clip(image.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)


def synthesise(folder: Path, photos: int, per_person: int, seed: int = 17) -> Path:
    """``folder/Person 0001/1.jpg`` ...: ``photos`` files, ``per_person`` per person."""
    sources = source_photos()
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(photos):
        person, copy = divmod(index, per_person)
        source = cv2.imread(str(sources[person % len(sources)]))
        target = folder / f"Person {person + 1:04d}"
        target.mkdir(exist_ok=True)
        quality = rng.randint(85, 95)
        cv2.imwrite(str(target / f"{copy + 1}.jpg"), augment(source, rng), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return folder


def real_crops(count: int = max(BATCH_SIZES)) -> list[np.ndarray]:
    """Canonical crops of the first ``count`` dataset photos with one usable face (loads the detector)."""
    from kiosk.vision.face_crop import canonical_crop
    from kiosk.vision.faces import analyze_frame
    from kiosk.vision.image import load_image

    crops = []
    for path in source_photos():
        image = load_image(path)
        analysis = analyze_frame(image)
        if analysis.status == "ok":
            crops.append(canonical_crop(image, analysis.face))
        if len(crops) == count:
            break
    return crops


def warm_up(embedder_id: str) -> None:
    """Load the detector and the embedder and run them once, so that no run's figures include loading
    TensorFlow and the weights (a one-off of some seconds per process, not a cost per photo)."""
    from kiosk.vision.embedders import get_embedder

    embedder = get_embedder(embedder_id)
    crops = real_crops(embedder.batch_size)
    embedder.embed_crops(crops[:1])
    embedder.embed_crops(crops)


def batch_costs(embedder_id: str, rounds: int = 5, faces_per_round: int = 32) -> dict[str, float]:
    """Median ms per face for each batch size, on canonical crops of real photos (after a warm-up).
    The sizes take turns within each round, so a change of load on the machine hits them alike."""
    from kiosk.vision.embedders import get_embedder

    crops = real_crops()
    embedder = get_embedder(embedder_id)
    for size in BATCH_SIZES:  # warm-up: the first call of each shape may cost more
        embedder.embed_crops(crops[:size])
    times: dict[int, list[float]] = {size: [] for size in BATCH_SIZES}
    for _ in range(rounds):
        for size in BATCH_SIZES:
            started = time.perf_counter()
            for _ in range(faces_per_round // size):
                embedder.embed_crops(crops[:size])
            times[size].append(1000 * (time.perf_counter() - started) / (faces_per_round // size * size))
    return {str(size): round(float(np.median(values)), 1) for size, values in times.items()}


def one_run(folder: Path, embedder_id: str, scratch: Path) -> dict:
    from flask_migrate import upgrade

    from kiosk import create_app
    from kiosk.config import Config
    from kiosk.extensions import db
    from kiosk.services import face_training
    from kiosk.services.bulk_import.run import import_path

    load_before = [round(x, 2) for x in os.getloadavg()]
    data_dir = scratch / f"data-{embedder_id.replace(':', '-')}-{folder.name}"
    config = Config(data_dir)
    config.KIOSK_EMBEDDER = embedder_id
    app = create_app(config)
    with app.app_context():
        upgrade()
        started = time.perf_counter()
        summary = import_path(folder, train=False)
        imported = time.perf_counter() - started
        training = face_training.train_faces()
        total = time.perf_counter() - started
        db.session.remove()
        db.engine.dispose()
    shutil.rmtree(data_dir, ignore_errors=True)
    return {
        "photos": summary.photos,
        "people": summary.people_created,
        "accepted": summary.accepted,
        "refused": summary.refused,
        "import_s": round(imported, 1),
        "training_s": round(total - imported, 1),
        "total_s": round(total, 1),
        "import_photos_per_s": round(summary.photos / imported, 2),
        "training_photos_per_s": round(summary.accepted / (total - imported), 2),
        "photos_per_s": round(summary.photos / total, 2),
        "embedder": ":".join(filter(None, (training.get("embedder"), training.get("weights")))),
        "load_average": {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]},
    }


def compare_with_baseline(baseline: Path, sizes: list[int], embedders: str, per_person: int, rounds: int) -> dict:
    """Old and new code take turns on every size (in separate processes, models loaded once in each)."""
    from kiosk.vision.embedders import resolve_embedder_id
    env = dict(os.environ)
    if not list((baseline / "models" / "facenet").glob("*.h5")):  # converted weights are git-ignored: share ours
        env["KIOSK_MODELS_DIR"] = str(REPO_ROOT / "models")
    table: dict = {}
    for round_ in range(rounds):
        for size in sizes:
            for label, repo in (("old", baseline), ("new", REPO_ROOT)):
                command = [sys.executable, str(repo / "training" / "bench_import.py"), "--sizes", str(size),
                           "--embedders", embedders, "--per-person", str(per_person), "--no-batches"]
                print(f"round {round_ + 1}, {size} photos, {label} code ({repo}) ...", file=sys.stderr)
                done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
                result = json.loads(done.stdout)
                if result["default_embedder"] != resolve_embedder_id(os.environ.get("KIOSK_EMBEDDER", "auto")):
                    raise SystemExit(f"The {label} code resolved the default embedder to {result['default_embedder']}: "
                                     "its figures would not compare.")
                for name, figures in result["runs"][str(size)].items():
                    table.setdefault(str(size), {}).setdefault(name, {}).setdefault(label, []).append(figures)
    summary: dict = {}
    for size, by_embedder in table.items():
        for name, by_code in by_embedder.items():
            row = {}
            for label, runs in by_code.items():
                row[label] = {key: round(float(np.median([r[key] for r in runs])), 2) for key in
                              ("photos_per_s", "import_photos_per_s", "training_photos_per_s", "import_s", "training_s",
                               "total_s")}
                row[label]["runs"] = runs
            row["speed_up"] = round(row["new"]["photos_per_s"] / row["old"]["photos_per_s"], 2)
            summary.setdefault(size, {})[name] = row
            print(f"{size} photos, {name}: old {row['old']['photos_per_s']} photos/s (import "
                  f"{row['old']['import_photos_per_s']}/s, training {row['old']['training_photos_per_s']}/s), new "
                  f"{row['new']['photos_per_s']} photos/s (import {row['new']['import_photos_per_s']}/s, training "
                  f"{row['new']['training_photos_per_s']}/s): x{row['speed_up']}", file=sys.stderr)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000", help="photo counts, comma-separated")
    parser.add_argument("--embedders", default="default,dlib",
                        help="'default' is KIOSK_EMBEDDER as the kiosk resolves it (auto: FaceNet when its weights "
                             "are installed, else dlib); also facenet, dlib, facenet+dlib")
    parser.add_argument("--per-person", type=int, default=5)
    parser.add_argument("--batches-only", action="store_true", help="only the cost per face of each batch size")
    parser.add_argument("--no-batches", action="store_true",
                        help="skip the cost per face of each batch size (dlib's takes minutes): only the imports")
    parser.add_argument("--baseline", type=Path,
                        help="a checkout of older code: run every size with it and with this code in turn")
    parser.add_argument("--rounds", type=int, default=1, help="with --baseline: how many turns each (median)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.baseline is not None:
        if not (args.baseline / "training" / "bench_import.py").is_file():
            parser.error(f"--baseline {args.baseline}: no training/bench_import.py there (a checkout of the kiosk?)")
        report = {
            "load_average_before": [round(x, 2) for x in os.getloadavg()],
            "cpus": os.cpu_count(),
            "baseline": str(args.baseline),
            "per_person": args.per_person,
            "old_vs_new": compare_with_baseline(args.baseline, sizes, args.embedders, args.per_person, args.rounds),
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        }
        print(json.dumps(report, indent=2))
        return

    from kiosk.vision.embedders import resolve_embedder_id

    default = resolve_embedder_id(os.environ.get("KIOSK_EMBEDDER", "auto"))
    names = []
    for name in args.embedders.split(","):
        name = resolve_embedder_id(default if name == "default" else name)
        if name not in names:
            names.append(name)
    report: dict = {
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "default_embedder": default,
        "per_person": args.per_person,
        "ms_per_face_by_batch_size": {},
        "runs": {},
    }
    if default == "dlib" and len(names) == 1:
        report["note"] = "The default embedder is dlib here (no FaceNet weights installed): one column only."
    with tempfile.TemporaryDirectory(prefix="bench-import-") as scratch_name:
        scratch = Path(scratch_name)
        folders = {} if args.batches_only else {
            size: synthesise(scratch / f"staff-{size}", size, args.per_person) for size in sizes
        }
        for name in names:
            warm_up(name)
            if not args.no_batches:
                report["ms_per_face_by_batch_size"][name] = costs = batch_costs(name)
                print(f"{name}: ms per face by batch size {costs}", file=sys.stderr)
        for size in folders:
            for name in names:
                figures = one_run(folders[size], name, scratch)
                report["runs"].setdefault(str(size), {})[name] = figures
                print(f"{size} photos, {name}: {figures['photos_per_s']} photos/s (import "
                      f"{figures['import_photos_per_s']}/s, training {figures['training_photos_per_s']}/s)",
                      file=sys.stderr)
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
