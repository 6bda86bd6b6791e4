"""Evaluate face identification with unknown rejection on a folder of ``identity/photo`` images.

    .venv/bin/python training/evaluate_faces.py                       # ../shared/datasets/faces-dev, k=3
    .venv/bin/python training/evaluate_faces.py --k 3 --splits 10 --strangers 3 --embedder dlib
    .venv/bin/python training/evaluate_faces.py --json                # only the summary, as JSON

Protocol (several splits, mean reported):

* every photo goes through the kiosk's own pipeline (``kiosk.vision.faces.analyze_frame``,
  canonical crop, the embedder); photos whose verdict is not ``ok`` (group photos, a real second
  person as large as the subject) are listed and left out: the kiosk would not identify them;
* identities with at least k+1 usable photos can be enrolled; in each split ``--strangers`` of
  them are left out entirely (rotating, so each is a stranger equally often) and join the
  identities with too few photos, which are always strangers;
* for each enrolled identity, k random photos are enrolled, the others are held out;
* the model is built by ``kiosk.vision.face_model.build_face_model``, the function
  ``kiosk train faces`` uses (same augmentations, SVMs, threshold rule), and applied with
  ``FaceModel.classify``, the function identification uses.

Printed per split and on average:

* top-1: the classifier's name is right, on held-out photos of enrolled people (no rejection);
* FRR: held-out photos of enrolled people answered "unknown";
* wrong: held-out photos of enrolled people accepted as someone else;
* FAR: photos of strangers accepted as an enrolled person.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kiosk.vision.face_model import TrainingSample, build_face_model, embed_with_augmentations  # noqa: E402
from kiosk.vision.embedders import get_embedder, resolve_embedder_name  # noqa: E402
from kiosk.vision.faces import analyze_frame, canonical_crop  # noqa: E402
from kiosk.vision.image import BadImage, load_image  # noqa: E402

DEFAULT_FOLDER = REPO.parent / "shared" / "datasets" / "faces-dev"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def load_photos(
    folder: Path, embedder, augment: bool, log
) -> tuple[list[str], list[np.ndarray], list[np.ndarray | None]]:
    """(identity, embedding, augmented embeddings) for every usable photo under folder/identity/."""
    identities, embeddings, augmented = [], [], []
    for identity_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if identity_dir.name.startswith("_"):
            continue  # _multi: group photos, not an identity
        for photo in sorted(p for p in identity_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            try:
                bgr = load_image(photo)
            except BadImage as err:
                log(f"  left out {photo.relative_to(folder)}: bad_image ({err})")
                continue
            analysis = analyze_frame(bgr)
            if analysis.status != "ok":
                log(f"  left out {photo.relative_to(folder)}: {analysis.status} ({len(analysis.faces)} faces)")
                continue
            crop = canonical_crop(bgr, analysis.face)
            if augment:
                vector, copies = embed_with_augmentations(embedder, crop)
            else:
                vector, copies = embedder.embed_crops([crop])[0], None
            identities.append(identity_dir.name)
            embeddings.append(vector)
            augmented.append(copies)
    return identities, embeddings, augmented


def _read_cache(path: Path, folder: Path, embedder_name: str):
    if not path.is_file():
        return None
    data = np.load(path)
    if str(data["folder"]) != str(folder.resolve()) or str(data["embedder"]) != embedder_name:
        return None
    return list(data["names"]), list(data["X"]), list(data["A"])


def run_split(split: int, ids: np.ndarray, X: list, A: list, k: int, enrollable: list[str], n_strangers: int,
              embedder_name: str, rng: np.random.Generator) -> dict:
    start = (split * n_strangers) % len(enrollable)
    strangers = {enrollable[(start + j) % len(enrollable)] for j in range(n_strangers)}
    enrolled = [name for name in enrollable if name not in strangers]
    person_id = {name: i for i, name in enumerate(enrolled)}
    samples, held_out = [], []
    for name in enrolled:
        rows = np.flatnonzero(ids == name)
        rng.shuffle(rows)
        for r in rows[:k]:
            samples.append(TrainingSample(int(r), person_id[name], X[r], A[r]))
        held_out.extend((int(r), person_id[name]) for r in rows[k:])
    stranger_rows = [i for i, name in enumerate(ids) if name not in person_id]
    model = build_face_model(samples, embedder_name, cross_validate=False, seed=split)

    held_vectors = np.stack([X[r] for r, _ in held_out])
    truth = np.array([p for _, p in held_out])
    decision = held_vectors @ model.weights.T + model.bias
    top1 = float(np.mean(model.person_ids[np.argmax(decision, axis=1)] == truth))
    answers = model.classify(held_vectors)
    rejected = float(np.mean([a[0] is None for a in answers]))
    wrong = float(np.mean([a[0] is not None and a[0] != t for a, t in zip(answers, truth)]))
    stranger_answers = model.classify(np.stack([X[r] for r in stranger_rows]))
    accepted = [a for a in stranger_answers if a[0] is not None]
    return {
        "split": split,
        "enrolled_people": len(enrolled),
        "held_out": len(held_out),
        "stranger_photos": len(stranger_rows),
        "threshold": round(model.threshold, 4),
        "threshold_source": model.threshold_source,
        "top1": top1,
        "frr": rejected,
        "wrong": wrong,
        "far": len(accepted) / len(stranger_rows),
        "strangers_accepted": len(accepted),
        "strangers": sorted(strangers),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--k", type=int, default=3, help="photos enrolled per identity (default 3)")
    parser.add_argument("--splits", type=int, default=10, help="number of splits (default 10)")
    parser.add_argument("--strangers", type=int, default=3, help="enrollable identities left out per split (default 3)")
    parser.add_argument("--embedder", default="dlib", help="dlib | facenet | auto (default dlib)")
    parser.add_argument("--no-augment", action="store_true", help="train the SVMs without augmented copies")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print only the summary as one JSON object")
    parser.add_argument("--cache", type=Path, help="keep the embeddings in this .npz (outside the repo: they are "
                        "biometric) and reuse them on the next run with the same folder and embedder")
    args = parser.parse_args(argv)

    log = (lambda *_: None) if args.json else print
    if not args.folder.is_dir():
        print(f"{args.folder} is not a folder of identity/photo images", file=sys.stderr)
        return 2
    embedder_name = resolve_embedder_name(args.embedder)
    embedder = get_embedder(embedder_name)
    started = time.perf_counter()
    augmentation = "off" if args.no_augment else "on"
    log(f"Embedding the photos of {args.folder} with {embedder_name} (augmentation {augmentation}) ...")
    cached = _read_cache(args.cache, args.folder, embedder_name) if args.cache else None
    if cached is not None:
        names, X, A = cached
        log(f"  (embeddings from {args.cache})")
    else:
        names, X, A = load_photos(args.folder, embedder, not args.no_augment or bool(args.cache), log)
        if args.cache:
            np.savez(args.cache, folder=str(args.folder.resolve()), embedder=embedder_name, names=np.array(names),
                     X=np.stack(X), A=np.stack(A))
    if args.no_augment:
        A = [None] * len(X)
    ids = np.array(names)
    counts = {name: int(np.sum(ids == name)) for name in sorted(set(names))}
    enrollable = [name for name, n in counts.items() if n >= args.k + 1]
    log(f"{len(X)} usable photos of {len(counts)} identities; {len(enrollable)} have >= {args.k + 1} photos "
        f"(enrollable); {len(counts) - len(enrollable)} are always strangers. ({time.perf_counter() - started:.0f} s)")
    if len(enrollable) - args.strangers < 2:
        print("Not enough identities with k+1 photos for this protocol.", file=sys.stderr)
        return 2

    rng = np.random.default_rng(args.seed)
    results = []
    for split in range(args.splits):
        r = run_split(split, ids, X, A, args.k, enrollable, args.strangers, embedder_name, rng)
        results.append(r)
        log(f"split {split:2d}: top1 {r['top1']:.3f}  FRR {r['frr']:.3f}  wrong {r['wrong']:.3f}  "
            f"FAR {r['far']:.3f} ({r['strangers_accepted']}/{r['stranger_photos']})  threshold {r['threshold']:.3f}"
            f"  strangers {', '.join(r['strangers'])}")

    def mean(key: str) -> float:
        return round(float(np.mean([r[key] for r in results])), 4)

    summary = {
        "folder": str(args.folder),
        "embedder": embedder_name,
        "k": args.k,
        "splits": args.splits,
        "augmentation": not args.no_augment,
        "usable_photos": len(X),
        "identities": len(counts),
        "enrolled_per_split": results[0]["enrolled_people"],
        "held_out_photos": int(sum(r["held_out"] for r in results)),
        "stranger_photos": int(sum(r["stranger_photos"] for r in results)),
        "top1_accuracy": mean("top1"),
        "false_reject_rate": mean("frr"),
        "wrong_person_rate": mean("wrong"),
        "stranger_false_accept_rate": mean("far"),
        "strangers_accepted": int(sum(r["strangers_accepted"] for r in results)),
        "threshold_mean": mean("threshold"),
        "seconds": round(time.perf_counter() - started, 1),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
