"""Compare the face embedders side by side: identification with unknown rejection on ``identity/photo`` folders.

    .venv/bin/python training/evaluate_faces.py                     # ../shared/datasets/faces-dev, k=3, all embedders
    .venv/bin/python training/evaluate_faces.py --embedders dlib,facenet --splits 13
    .venv/bin/python training/evaluate_faces.py --json              # only the summaries, one JSON object

Protocol (every embedder sees the same crops and the same splits; means over the splits):

* every photo goes through the kiosk's own pipeline once (``kiosk.vision.faces.analyze_frame``,
  canonical crop); photos whose verdict is not ``ok`` (group photos, a real second person as large as
  the subject) are listed and left out: the kiosk would not identify them. Each embedder then embeds
  the same crops and their augmented copies (``kiosk.vision.face_model.augment_crop``);
  ``facenet+dlib`` is :meth:`~kiosk.vision.embedders.FusedEmbedder.combine` of the other two's
  embeddings, exactly what that embedder computes;
* identities with at least k+1 usable photos can be enrolled; in each split ``--strangers`` of them
  are left out entirely (rotating: by default two full rotations, so each is a stranger equally
  often) and join the identities with too few photos, which are always strangers: strangers are
  never enrolled;
* for each enrolled identity, k random photos are enrolled, the others are held out;
* the model is built by ``kiosk.vision.face_model.build_face_model``, the function ``kiosk train
  faces`` uses (same augmentations, SVMs, and threshold rule, which sees the enrolled embeddings
  only, never a held-out or stranger photo), and applied with ``FaceModel.classify``, the function
  identification uses.

Printed for each embedder:

* top-1: the classifier's name is right, on held-out photos of enrolled people (no rejection);
* FRR: held-out photos of enrolled people answered "unknown";
* wrong: held-out photos of enrolled people accepted as someone else;
* FAR: photos of strangers accepted as an enrolled person;
* ms/face: median time to embed one face crop (warm, one at a time as the kiosk does, the embedders
  taking turns on the same crops);
* the threshold the rule learned from the enrolled photos, before the embedder's range clips it
  (min / median / max over the splits): where the ranges in ``kiosk/vision`` come from.

The default embedder (``KIOSK_EMBEDDER=auto`` here) is checked against the targets: top-1 >= 99%,
FAR <= 1%, FRR <= 3%.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kiosk.vision.embedders import FusedEmbedder, get_embedder, resolve_embedder_id, split_embedder_id  # noqa: E402
from kiosk.vision.face_augment import AUGMENTATION_RECIPES, relight, training_augmentations  # noqa: E402
from kiosk.vision.face_crop import canonical_crop  # noqa: E402
from kiosk.vision.face_model import (  # noqa: E402
    TrainingSample,
    augment_crop,
    build_face_model,
    learn_threshold,
)
from kiosk.vision.faces import analyze_frame  # noqa: E402
from kiosk.vision.image import BadImage, load_image  # noqa: E402
from kiosk.vision.lazy import ModelUnavailable  # noqa: E402

DEFAULT_FOLDER = REPO.parent / "shared" / "datasets" / "faces-dev"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
TARGETS = {"top1_accuracy": (">=", 0.99), "stranger_false_accept_rate": ("<=", 0.01), "false_reject_rate": ("<=", 0.03)}
TIMED_FACES = 20


@dataclass
class Split:
    enrolled: list[tuple[int, int]]  # (photo row, person id)
    held_out: list[tuple[int, int]]
    strangers: list[int]  # photo rows
    stranger_names: list[str]


@dataclass
class LoadedFace:
    """One usable photo as the kiosk's pipeline sees it."""

    identity: str
    crop: np.ndarray  # canonical crop (BGR)
    quality: float | None  # FaceQuality.score
    face_px: int  # width of the face box


def load_faces(folder: Path, log) -> list[LoadedFace]:
    """Every usable photo under folder/identity/, through the kiosk's own detector and checks."""
    loaded = []
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
            quality = analysis.quality.score if analysis.quality is not None else None
            loaded.append(LoadedFace(identity_dir.name, canonical_crop(bgr, analysis.face), quality,
                                     int(analysis.face.box[2])))
    return loaded


def load_crops(folder: Path, log) -> tuple[list[str], list[np.ndarray]]:
    """(identity, canonical crop) of every usable photo under folder/identity/."""
    loaded = load_faces(folder, log)
    return [face.identity for face in loaded], [face.crop for face in loaded]


def median_ms_per_face(embedders: dict, crops: list[np.ndarray]) -> dict[str, float]:
    """Median ms to embed one face, per embedder. They take turns on each crop, so a change of load
    on a shared machine touches all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in embedders}
    for crop in crops[:TIMED_FACES]:
        for name, embedder in embedders.items():
            started = time.perf_counter()
            embedder.embed_crops([crop])
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: round(float(np.median(values)), 1) for name, values in times.items()}


# Held-out and stranger photos re-lit further than any training copy (gamma 1.6 / 0.6): the lighting gap
# between enrollment photos and a kiosk's camera that the source report met, which a photo set cannot show.
RELIT_GAMMAS = (2.0, 0.45)


def embed_all(embedder, crops: list[np.ndarray], names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(n, dim) embeddings of the crops and (n, len(names), dim) of their augmented copies (one call per photo)."""
    originals, copies = [], []
    for crop in crops:
        vectors = embedder.embed_crops([crop, *augment_crop(crop, names)])
        originals.append(vectors[0])
        copies.append(vectors[1:])
    return np.stack(originals), np.stack(copies)


def embed_relit(embedder, crops: list[np.ndarray]) -> np.ndarray:
    """(n, len(RELIT_GAMMAS), dim): every crop re-lit by each of RELIT_GAMMAS."""
    return np.stack([embedder.embed_crops([relight(crop, g) for g in RELIT_GAMMAS]) for crop in crops])


def parse_augmentation_sets(value: str, embedder_id: str) -> dict[str, tuple[str, ...]]:
    """``training;none;mirror,darker`` -> {label: recipe names}; ``all``, ``none``, ``training`` (what the
    kiosk trains with for ``embedder_id``) are names of sets."""
    sets: dict[str, tuple[str, ...]] = {}
    for label in (part.strip() for part in value.split(";")):
        if label == "all":
            names = tuple(AUGMENTATION_RECIPES)
        elif label == "none":
            names = ()
        elif label == "training":
            names = training_augmentations(embedder_id)
        else:
            names = tuple(n.strip() for n in label.split(",") if n.strip())
            unknown = [n for n in names if n not in AUGMENTATION_RECIPES]
            if unknown:
                raise ValueError(f"unknown augmentation(s) {', '.join(unknown)}; "
                                 f"known: {', '.join(AUGMENTATION_RECIPES)}")
        sets[label] = names
    return sets


def make_splits(
    ids: np.ndarray, k: int, enrollable: list[str], n_strangers: int, splits: int, seed: int
) -> list[Split]:
    rng = np.random.default_rng(seed)
    result = []
    for split in range(splits):
        start = (split * n_strangers) % len(enrollable)
        strangers = {enrollable[(start + j) % len(enrollable)] for j in range(n_strangers)}
        enrolled_names = [name for name in enrollable if name not in strangers]
        person_id = {name: i for i, name in enumerate(enrolled_names)}
        enrolled, held_out = [], []
        for name in enrolled_names:
            rows = np.flatnonzero(ids == name)
            rng.shuffle(rows)
            enrolled.extend((int(r), person_id[name]) for r in rows[:k])
            held_out.extend((int(r), person_id[name]) for r in rows[k:])
        stranger_rows = [i for i, name in enumerate(ids) if name not in person_id]
        result.append(Split(enrolled, held_out, stranger_rows, sorted(strangers)))
    return result


def evaluate_split(split: Split, X: np.ndarray, A: np.ndarray | None, embedder_id: str, seed: int,
                   relit: np.ndarray | None = None) -> dict:
    samples = [TrainingSample(r, p, X[r], None if A is None or not A.shape[1] else A[r]) for r, p in split.enrolled]
    model = build_face_model(samples, embedder_id, cross_validate=False, seed=seed)
    gallery = np.stack([X[r] for r, _ in split.enrolled])
    # An id without a range: the rule's own value from the enrolled photos, not clipped.
    unclipped = learn_threshold(gallery, np.array([p for _, p in split.enrolled]), "unclipped")[0]

    held = np.stack([X[r] for r, _ in split.held_out])
    truth = np.array([p for _, p in split.held_out])
    decision = held @ model.weights.T + model.bias
    top1 = float(np.mean(model.person_ids[np.argmax(decision, axis=1)] == truth))
    answers = model.classify(held)
    stranger_answers = model.classify(np.stack([X[r] for r in split.strangers]))
    accepted = sum(a[0] is not None for a in stranger_answers)
    relit_figures = {}
    if relit is not None:
        held_relit = relit[[r for r, _ in split.held_out]].reshape(-1, X.shape[1])
        truth_relit = np.repeat(truth, relit.shape[1])
        relit_decision = held_relit @ model.weights.T + model.bias
        relit_answers = model.classify(held_relit)
        relit_strangers = model.classify(relit[split.strangers].reshape(-1, X.shape[1]))
        relit_figures = {
            "relit_top1": float(np.mean(model.person_ids[np.argmax(relit_decision, axis=1)] == truth_relit)),
            "relit_frr": float(np.mean([a[0] is None for a in relit_answers])),
            "relit_wrong": float(np.mean([a[0] is not None and a[0] != t for a, t in zip(relit_answers, truth_relit)])),
            "relit_far": float(np.mean([a[0] is not None for a in relit_strangers])),
        }
    return {
        **relit_figures,
        "top1": top1,
        "frr": float(np.mean([a[0] is None for a in answers])),
        "wrong": float(np.mean([a[0] is not None and a[0] != t for a, t in zip(answers, truth)])),
        "far": accepted / len(split.strangers),
        "strangers_accepted": accepted,
        "threshold": model.threshold,
        "threshold_source": model.threshold_source,
        "unclipped_threshold": unclipped,
    }


def pair_distances(ids: np.ndarray, X: np.ndarray) -> dict:
    """Descriptive only (all photos): where same-person and different-person distances lie."""
    d = np.linalg.norm(X[:, None] - X[None], axis=2)
    upper = np.triu(np.ones_like(d, dtype=bool), 1)
    same = d[upper & (ids[:, None] == ids[None])]
    other = d[upper & (ids[:, None] != ids[None])]
    q = lambda v, p: round(float(np.quantile(v, p)), 3)  # noqa: E731
    return {"same_person_p50_p95_max": [q(same, 0.5), q(same, 0.95), q(same, 1.0)],
            "different_people_min_p05_p50": [q(other, 0.0), q(other, 0.05), q(other, 0.5)]}


def summarise(embedder_id: str, results: list[dict], splits: list[Split], ms: float, X: np.ndarray,
              ids: np.ndarray) -> dict:
    def mean(key: str) -> float:
        return round(float(np.mean([r[key] for r in results])), 4)

    unclipped = [r["unclipped_threshold"] for r in results]
    name, key = split_embedder_id(embedder_id)
    relit = {}
    if "relit_top1" in results[0]:
        relit = {"relit_top1_accuracy": mean("relit_top1"), "relit_false_reject_rate": mean("relit_frr"),
                 "relit_wrong_person_rate": mean("relit_wrong"), "relit_stranger_false_accept_rate": mean("relit_far")}
    return {
        **relit,
        "embedder": name,
        "weights": key,
        "dim": int(X.shape[1]),
        "top1_accuracy": mean("top1"),
        "false_reject_rate": mean("frr"),
        "wrong_person_rate": mean("wrong"),
        "stranger_false_accept_rate": mean("far"),
        "strangers_accepted": int(sum(r["strangers_accepted"] for r in results)),
        "stranger_photos": int(sum(len(s.strangers) for s in splits)),
        "held_out_photos": int(sum(len(s.held_out) for s in splits)),
        "ms_per_face": ms,
        "threshold_mean": mean("threshold"),
        "learned_threshold_min_median_max": [round(float(v), 3) for v in
                                             (np.min(unclipped), np.median(unclipped), np.max(unclipped))],
        "distances": pair_distances(ids, X),
    }


def check_targets(summary: dict) -> list[str]:
    failures = []
    for key, (op, bound) in TARGETS.items():
        value = summary[key]
        if not (value >= bound if op == ">=" else value <= bound):
            failures.append(f"{key} {value} (target {op} {bound})")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--k", type=int, default=3, help="photos enrolled per identity (default 3)")
    parser.add_argument("--splits", type=int, help="number of splits (default: two full rotations of the strangers, "
                        "i.e. twice the number of enrollable identities, so each is a stranger equally often)")
    parser.add_argument("--strangers", type=int, default=3, help="enrollable identities left out per split (default 3)")
    parser.add_argument("--embedders", default="dlib,facenet,facenet+dlib",
                        help="comma-separated embedders or ids, e.g. dlib,facenet:20180408-102900 (default: all)")
    parser.add_argument("--no-augment", action="store_true", help="train the SVMs without augmented copies "
                        "(the same as --augmentations none)")
    parser.add_argument("--augmentations", default="training",
                        help="the augmented copies the SVMs train on; several sets separated by ';' are compared on "
                             "the same embeddings: 'training' (what the kiosk trains with), 'all', 'none', or "
                             f"recipe names joined by ',' ({', '.join(AUGMENTATION_RECIPES)})")
    parser.add_argument("--relit", action="store_true",
                        help=f"also test on the held-out and stranger photos re-lit (gamma {RELIT_GAMMAS})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print only the summaries as one JSON object")
    args = parser.parse_args(argv)

    log = (lambda *_: None) if args.json else print
    if not args.folder.is_dir():
        print(f"{args.folder} is not a folder of identity/photo images", file=sys.stderr)
        return 2
    started = time.perf_counter()
    wanted = [resolve_embedder_id(value) for value in args.embedders.split(",") if value.strip()]
    try:
        sets_by_embedder = {e: parse_augmentation_sets("none" if args.no_augment else args.augmentations, e)
                            for e in wanted}
    except ValueError as err:
        print(f"--augmentations: {err}", file=sys.stderr)
        return 2
    # Every recipe any set needs is embedded once; each set then takes its columns.
    recipes = tuple(name for name in AUGMENTATION_RECIPES
                    if any(name in names for sets in sets_by_embedder.values() for names in sets.values()))
    default_id = resolve_embedder_id("auto")
    log(f"Finding and cropping the faces of {args.folder} ...")
    names, crops = load_crops(args.folder, log)
    ids = np.array(names)
    counts = {name: int(np.sum(ids == name)) for name in sorted(set(names))}
    enrollable = [name for name, n in counts.items() if n >= args.k + 1]
    log(f"{len(crops)} usable photos of {len(counts)} identities; {len(enrollable)} have >= {args.k + 1} photos "
        f"(enrollable); {len(counts) - len(enrollable)} are always strangers.")
    if len(enrollable) - args.strangers < 2:
        print("Not enough identities with k+1 photos for this protocol.", file=sys.stderr)
        return 2
    args.splits = args.splits or 2 * len(enrollable)
    splits = make_splits(ids, args.k, enrollable, args.strangers, args.splits, args.seed)

    loaded = {}
    for embedder_id in wanted:
        try:
            embedder = get_embedder(embedder_id)
            embedder.embed_crops(crops[:1])  # load and warm up
            loaded[embedder_id] = embedder
        except ModelUnavailable as err:
            log(f"{embedder_id}: left out ({err})")
    ms_per_face = median_ms_per_face(loaded, crops)

    embedded: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
    summaries: dict[str, dict] = {}
    for embedder_id, embedder in loaded.items():
        log(f"Embedding {len(crops)} crops, {len(recipes)} augmented copies of each"
            f"{' and re-lit copies' if args.relit else ''} with {embedder_id} ...")

        def embed_everything(e):
            X, A = embed_all(e, crops, recipes)
            return X, A, (embed_relit(e, crops) if args.relit else None)

        if isinstance(embedder, FusedEmbedder):
            parts = [embedded.get(e.id) or embed_everything(e) for e in (embedder.facenet, embedder.dlib)]
            X = FusedEmbedder.combine(parts[0][0], parts[1][0])

            def fuse(index: int, parts=parts, width=X.shape[1]) -> np.ndarray:
                a, b = parts[0][index], parts[1][index]
                return FusedEmbedder.combine(a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])).reshape(
                    len(crops), -1, width)

            A = fuse(1)
            R = fuse(2) if args.relit else None
        else:
            X, A, R = embed_everything(embedder)
        embedded[embedder_id] = (X, A, R)
        augmentation_sets = sets_by_embedder[embedder_id]
        for label, names in augmentation_sets.items():
            A_set = A[:, [recipes.index(n) for n in names]]
            results = [evaluate_split(split, X, A_set, embedder_id, seed, R) for seed, split in enumerate(splits)]
            for i, r in enumerate(results):
                log(f"  split {i:2d}: top1 {r['top1']:.3f}  FRR {r['frr']:.3f}  wrong {r['wrong']:.3f}  "
                    f"FAR {r['far']:.3f} ({r['strangers_accepted']}/{len(splits[i].strangers)})  threshold "
                    f"{r['threshold']:.3f} (rule {r['unclipped_threshold']:.3f})  strangers "
                    f"{', '.join(splits[i].stranger_names)}")
            key = embedder_id if len(augmentation_sets) == 1 else f"{embedder_id} [{label}]"
            summaries[key] = summarise(embedder_id, results, splits, ms_per_face[embedder_id], X, ids)
            summaries[key]["augmentations"] = list(names)
    labels = [part.strip() for part in args.augmentations.split(";")] if not args.no_augment else ["none"]
    if len(labels) > 1:  # the verdict is about what the kiosk trains with
        verdict_key = f"{default_id} [training]" if "training" in labels else None
    else:
        verdict_key = default_id

    log("")
    copies = '; '.join(f'{e} {k}: {len(v)}' for e, sets in sets_by_embedder.items() for k, v in sets.items())
    log(f"faces-dev protocol: k={args.k}, {args.splits} splits, {args.strangers} enrollable identities left out per "
        f"split, augmented copies {copies}; {len(crops)} photos")
    relit_header = f" {'top-1 relit':>11} {'FAR relit':>9} {'FRR relit':>9}" if args.relit else ""
    log(f"{'embedder':48} {'top-1':>7} {'FAR':>7} {'FRR':>7} {'wrong':>7} {'ms/face':>8}{relit_header}"
        "  learned threshold")
    for embedder_id, s in summaries.items():
        marker = "  (default)" if embedder_id == verdict_key else ""
        relit_columns = (f" {s['relit_top1_accuracy']:11.4f} {s['relit_stranger_false_accept_rate']:9.4f} "
                         f"{s['relit_false_reject_rate']:9.4f}") if args.relit else ""
        log(f"{embedder_id:48} {s['top1_accuracy']:7.4f} {s['stranger_false_accept_rate']:7.4f} "
            f"{s['false_reject_rate']:7.4f} {s['wrong_person_rate']:7.4f} {s['ms_per_face']:8.1f}{relit_columns}  "
            f"{s['learned_threshold_min_median_max']}{marker}")
    verdict = None
    if verdict_key in summaries:
        failures = check_targets(summaries[verdict_key])
        verdict = "meets the targets" if not failures else "misses: " + "; ".join(failures)
        log(f"Default embedder {verdict_key}: {verdict} (top-1 >= 0.99, FAR <= 0.01, FRR <= 0.03)")
    output = {
        "folder": str(args.folder),
        "k": args.k,
        "splits": args.splits,
        "strangers_per_split": args.strangers,
        "augmentation_sets": {e: {label: list(names) for label, names in sets.items()}
                              for e, sets in sets_by_embedder.items()},
        "relit_gammas": list(RELIT_GAMMAS) if args.relit else None,
        "usable_photos": len(crops),
        "identities": len(counts),
        "default_embedder": default_id,
        "default_verdict": verdict,
        "embedders": summaries,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(output) if args.json else json.dumps(output, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
