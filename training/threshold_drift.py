"""How the unknown threshold and accuracy drift when people are added incrementally, one photo per
update (``FaceModel.with_new_samples``, what training does when few people changed), compared with a
full training on the same photos, on real faces (faces-dev).

    .venv/bin/python training/threshold_drift.py [--folder DIR] [--photos 5] [--base-people 2] [--json FILE]

Protocol (the same crops, embedder and model code as ``make evaluate``, ``training/evaluate_faces.py``):

* every usable photo goes through the kiosk's pipeline once (detector, canonical crop) and the
  default embedder (``KIOSK_EMBEDDER=auto``), with the augmented copies training uses for it;
* identities with more than ``--photos`` usable photos can be enrolled; in each split one of them is
  the stranger (rotating through all of them), the others are enrolled in a random order with
  ``--photos`` random photos each; their other photos are held out. Identities with too few photos
  are always strangers;
* the first ``--base-people`` people get a full training (``build_face_model``); then every other
  enrollment photo is added as its own incremental update (``with_new_samples``), in order: a
  person's first photo makes them a new person, the next ones are new photos of them;
* at every ``--every``-th update the incremental model and a full training on the same photos are
  both measured: threshold, top-1 on held-out photos of the people enrolled so far, FRR
  (held-out photos answered "unknown"), wrong (held-out photos named as someone else), FAR (photos
  of everyone not enrolled yet, the stranger included, named as someone). Means over the splits.

Figures are measured, never asserted. Prints a table and one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "training"))

from evaluate_faces import DEFAULT_FOLDER, embed_all, load_faces  # noqa: E402

from kiosk.vision.embedders import get_embedder, resolve_embedder_id  # noqa: E402
from kiosk.vision.face_augment import training_augmentations  # noqa: E402
from kiosk.vision.face_model import FaceModel, TrainingSample, build_face_model  # noqa: E402


def measure(model: FaceModel, X: np.ndarray, held_out: list[tuple[int, int]], strangers: list[int]) -> dict:
    held = X[[r for r, _ in held_out]]
    truth = np.array([p for _, p in held_out])
    decision = held @ model.weights.T + model.bias
    answers = model.classify(held)
    stranger_answers = model.classify(X[strangers])
    return {
        "threshold": float(model.threshold),
        "top1": float(np.mean(model.person_ids[np.argmax(decision, axis=1)] == truth)),
        "frr": float(np.mean([a[0] is None for a in answers])),
        "wrong": float(np.mean([a[0] is not None and a[0] != t for a, t in zip(answers, truth)])),
        "far": float(np.mean([a[0] is not None for a in stranger_answers])),
    }


def run_split(ids: np.ndarray, X: np.ndarray, A: np.ndarray, enrollable: list[str], stranger: str,
              photos: int, base_people: int, every: int, embedder_id: str, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    people = [name for name in enrollable if name != stranger]
    rng.shuffle(people)
    enrolled: dict[str, list[int]] = {}
    held_out: dict[str, list[int]] = {}
    for name in people:
        rows = np.flatnonzero(ids == name)
        rng.shuffle(rows)
        enrolled[name], held_out[name] = [int(r) for r in rows[:photos]], [int(r) for r in rows[photos:]]
    person_id = {name: i for i, name in enumerate(people)}

    def sample(row: int, name: str) -> TrainingSample:
        return TrainingSample(row, person_id[name], X[row], A[row] if A.shape[1] else None)

    base = [sample(r, name) for name in people[:base_people] for r in enrolled[name]]
    updates = [sample(r, name) for name in people[base_people:] for r in enrolled[name]]
    incremental = build_face_model(base, embedder_id, cross_validate=False, seed=seed)
    rows = []
    for done in range(len(updates) + 1):
        if done:
            incremental = incremental.with_new_samples([updates[done - 1]], seed=seed)
        if done % every and done != len(updates):
            continue
        samples = base + updates[:done]
        known = {s.person_id for s in samples}
        names = [name for name in people if person_id[name] in known]
        held = [(r, person_id[name]) for name in names for r in held_out[name]]
        strangers = [i for i, name in enumerate(ids) if name not in names]
        full = build_face_model(samples, embedder_id, cross_validate=False, seed=seed)
        rows.append({"updates": done, "people": len(names), "photos": len(samples),
                     "incremental": measure(incremental, X, held, strangers),
                     "full": measure(full, X, held, strangers)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--photos", type=int, default=5, help="enrollment photos per person")
    parser.add_argument("--base-people", type=int, default=2, help="people in the first, full training")
    parser.add_argument("--every", type=int, default=5, help="measure every N updates")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    def log(line: str) -> None:
        print(line, file=sys.stderr)

    faces = load_faces(args.folder, log)
    ids = np.array([face.identity for face in faces])
    embedder_id = resolve_embedder_id(os.environ.get("KIOSK_EMBEDDER", "auto"))
    X, A = embed_all(get_embedder(embedder_id), [face.crop for face in faces], training_augmentations(embedder_id))
    names, counts = np.unique(ids, return_counts=True)
    enrollable = sorted(str(n) for n, c in zip(names, counts) if c > args.photos)
    splits = [run_split(ids, X, A, enrollable, stranger, args.photos, args.base_people, args.every, embedder_id,
                        seed) for seed, stranger in enumerate(enrollable)]
    table = []
    for index, first in enumerate(splits[0]):
        at = [split[index] for split in splits]
        row = {"updates": first["updates"], "people": first["people"], "photos": first["photos"]}
        for kind in ("incremental", "full"):
            row[kind] = {key: round(float(np.mean([r[kind][key] for r in at])), 4) for key in first[kind]}
        table.append(row)
    report = {"embedder": embedder_id, "usable_photos": len(faces), "enrollable": enrollable,
              "splits": len(splits), "photos_per_person": args.photos, "base_people": args.base_people,
              "table": table}
    print(f"{'updates':>7} {'people':>6} | {'threshold':>17} | {'top-1':>13} | {'FRR':>13} | {'wrong':>13} | "
          f"{'FAR':>13}   (incremental / full)", file=sys.stderr)
    for row in table:
        inc, full = row["incremental"], row["full"]
        cells = " | ".join(f"{inc[k]:6.3f} / {full[k]:6.3f}" for k in ("threshold", "top1", "frr", "wrong", "far"))
        print(f"{row['updates']:>7} {row['people']:>6} | {cells}", file=sys.stderr)
    text = json.dumps(report)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
