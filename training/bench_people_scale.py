"""A site of 10,000 people: training time, adding one person, model size, identify time, memory per worker.

    .venv/bin/python training/bench_people_scale.py                        # 1,000 and 10,000 people
    .venv/bin/python training/bench_people_scale.py --people 10000 --per-person 5
    .venv/bin/python training/bench_people_scale.py --baseline /tmp/old-checkout --baseline-people 300
                                    # an older checkout's figures too, in turn with this one's, at the
                                    # sizes it can do in minutes (eight copies a photo: 10,000 people
                                    # would need ~1 GB for its training matrix alone)

Embeddings are synthetic (``kiosk.benchmarks.faces.synthetic_site``: unit vectors clustered by
person, FaceNet's 512 dimensions, spread like real ones), and each enrollment photo gets as many
augmented copies as the code under test trains with (slightly moved copies of its embedding): the
costs depend on the number and size of the vectors, not on whose faces they are. Accuracy is not
measured here: ``make evaluate`` does that on real photos.

Each size runs in its own process (so that one size's memory does not weigh on the next) with the
code under test first on ``sys.path``. Figures, per size:

* ``full_training_s``: ``build_face_model`` with the cross-validation ``kiosk train faces`` reports;
* ``add_one_person_s``: the update a training makes when one person was enrolled since the last
  (``FaceModel.with_new_samples``); code without it refits everyone, so its figure is the full training;
* ``model_file_mb``: the joblib file ``kiosk train faces`` writes, which PostgreSQL sites also keep
  in the database (``kiosk/services/model_store.py``) and every host loads;
* ``identify_ms``: the median of ``FaceModel.classify`` on one face (embedding not included);
* ``worker_model_mb``: how much a worker process grows when it loads that file (RSS).

Prints one JSON object (and a table on stderr). Other work on the machine slows every figure alike:
compare figures of the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
EMBEDDER = "facenet:20180408-102900"
DIM = 512


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(people: int, per_person: int) -> dict:
    """The figures of one site size with the code first on sys.path (run in a process of its own)."""
    import numpy as np

    from kiosk.benchmarks.faces import synthetic_site
    from kiosk.vision import face_model

    copies = (len(face_model.training_augmentations(EMBEDDER)) if hasattr(face_model, "training_augmentations")
              else len(face_model.AUGMENTATIONS))  # code older than per-embedder copies
    samples, _ = synthetic_site(people + 1, per_person, DIM)
    rng = np.random.default_rng(5)
    for sample in samples:
        if copies:
            moved = sample.embedding + rng.normal(scale=0.03, size=(copies, DIM))
            sample.augmented = (moved / np.linalg.norm(moved, axis=1, keepdims=True)).astype(np.float32)
    newcomer = [s for s in samples if s.person_id == people]
    enrolled = [s for s in samples if s.person_id != people]

    started = time.perf_counter()
    model = face_model.build_face_model(enrolled, EMBEDDER)
    full_s = time.perf_counter() - started
    started = time.perf_counter()
    if hasattr(model, "with_new_samples"):
        updated = model.with_new_samples(newcomer)
        how = "incremental"
    else:
        updated = face_model.build_face_model(samples, EMBEDDER)
        how = "full training"
    add_s = time.perf_counter() - started
    probe = newcomer[0].embedding + 0.01 * rng.normal(size=DIM).astype(np.float32)
    probe /= np.linalg.norm(probe)
    named = updated.classify(probe[None])[0][0]
    times = []
    for _ in range(50):
        started = time.perf_counter()
        updated.classify(probe[None])
        times.append(1000 * (time.perf_counter() - started))

    import joblib

    with tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch:
        path = Path(scratch) / "faces.joblib"
        joblib.dump(updated, path)
        size_mb = path.stat().st_size / 2**20
        load = subprocess.run(
            [sys.executable, "-c", _LOAD_AND_MEASURE, str(path), str(sys.path[0])],
            capture_output=True, text=True, check=True,
        )
    return {
        "people": people,
        "photos_per_person": per_person,
        "augmented_copies_per_photo": copies,
        "full_training_s": round(full_s, 1),
        "cv_accuracy": model.cv_accuracy,
        "add_one_person_s": round(add_s, 2),
        "add_one_person_by": how,
        "newcomer_identified": named == people,
        "model_file_mb": round(size_mb, 1),
        "identify_ms": round(float(np.median(times)), 2),
        "worker_model_mb": json.loads(load.stdout)["model_mb"],
    }


# A fresh process: its RSS with the kiosk's face model module imported, then with the file loaded.
_LOAD_AND_MEASURE = """
import json, os, sys
sys.path.insert(0, sys.argv[2])
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
import joblib, numpy, sklearn.svm
from kiosk.vision import face_model
before = rss()
model = joblib.load(sys.argv[1])
model.classify(model.gallery[:1])
print(json.dumps({"model_mb": round(rss() - before, 1)}))
"""


def run_size(code: Path, people: int, per_person: int) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--measure", str(people),
               "--per-person", str(per_person), "--code", str(code)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{code}, {people} people failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


COLUMNS = ("full_training_s", "add_one_person_s", "model_file_mb", "identify_ms", "worker_model_mb")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", default="1000,10000", help="site sizes, comma-separated")
    parser.add_argument("--per-person", type=int, default=5, help="enrollment photos per person (default 5)")
    parser.add_argument("--baseline", type=Path, help="a checkout of older code: run with it too")
    parser.add_argument("--baseline-people", help="the sizes the older code runs at (default: every size)")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--code", type=Path, default=REPO_ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        sys.path.insert(0, str(args.code))
        print(json.dumps(measure(args.measure, args.per_person)))
        return
    if args.baseline is not None and not (args.baseline / "kiosk" / "vision" / "face_model.py").is_file():
        parser.error(f"--baseline {args.baseline}: not a checkout of the kiosk")

    report: dict = {"load_average_before": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(),
                    "embedding_dim": DIM, "sizes": {}}
    sizes = [int(p) for p in args.people.split(",")]
    old_sizes = [int(p) for p in args.baseline_people.split(",")] if args.baseline_people else sizes
    print(f"{'code':5} {'people':>7} {'copies':>6} " + " ".join(f"{c:>17}" for c in COLUMNS), file=sys.stderr)
    for people in sorted(set(sizes) | (set(old_sizes) if args.baseline else set())):
        codes = [("old", args.baseline)] if args.baseline and people in old_sizes else []
        codes += [("new", REPO_ROOT)] if people in sizes or args.baseline else []
        for label, code in codes:
            figures = run_size(code, people, args.per_person)
            report["sizes"].setdefault(str(people), {})[label] = figures
            print(f"{label:5} {people:7d} {figures['augmented_copies_per_photo']:6d} "
                  + " ".join(f"{figures[c]:17}" for c in COLUMNS), file=sys.stderr)
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
