"""Train the default gesture classifier (O / X / capture / idle) and print its held-out evaluation.

    .venv/bin/python training/train_gestures.py                 # train, evaluate, save models/gesture/
    .venv/bin/python training/train_gestures.py --cv            # also 5-fold blocked cross-validation
    .venv/bin/python training/train_gestures.py --no-save       # evaluate only

Data (see models/gesture/MODEL_CARD.md):

* the real YMCA rows (``../shared/datasets/gestures-dev/ymca_arm_landmarks.csv``):
  A -> O, Y -> capture, C / dance / M -> idle (M, hands on the head, is idle on purpose: see
  ``kiosk.vision.gestures.YMCA_LABEL_MAP``);
* skeletons from ``training/synthesize_gestures.py`` for every class (the only source of X);
* at a site, ``kiosk train gesture`` adds the samples the admin recorded (not used here).

Held-out rows. The YMCA rows are frames of a video: neighbouring rows are near copies, so a
random split would leak. Each contiguous run of one label (a "block"; M has two) is cut into
five contiguous fifths; the last fifth of every block is held out, and the 10 rows before it
are dropped from training as a buffer. Nothing in the held-out fifth is used to train, to
pick the steady-row cut, or to tune anything.

Transition noise. The video's label stays on while the performer moves into and out of a
pose, so some rows show another pose than their label. A row is *steady* when its arms lie
within median + 3 x 1.4826 x MAD of its label's distance to the label's median pose, both
computed on the training rows only (shoulder-normalized elbows and wrists). Non-steady
training rows are dropped; held-out rows are reported both ways (steady, and all rows).

Training is deterministic: one seed drives the synthesis, the jitter and the MLP.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthesize_gestures import synthesize  # noqa: E402

from kiosk.vision import gestures as g  # noqa: E402

DEFAULT_YMCA = REPO.parent / "shared" / "datasets" / "gestures-dev" / "ymca_arm_landmarks.csv"
SEED = 7
N_FOLDS = 5
PURGE_ROWS = 10
STEADY_MADS = 3.0
SYNTHETIC_COUNTS = {g.Gesture.O: 1500, g.Gesture.X: 2000, g.Gesture.CAPTURE: 1500, g.Gesture.IDLE: 4500}
SYNTHETIC_TEST_COUNTS = {g.Gesture.O: 500, g.Gesture.X: 500, g.Gesture.CAPTURE: 500, g.Gesture.IDLE: 1500}
REAL_FACTOR = 2.0  # a real row counts twice a synthesized one
YMCA_ORDER = ("A", "Y", "M", "C", "dance")


# ---------------------------------------------------------------------------- splitting and filtering


def label_blocks(labels: np.ndarray) -> list[tuple[str, int, int]]:
    """Contiguous runs of one label: (label, start, end)."""
    blocks, start = [], 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            blocks.append((str(labels[start]), start, i))
            start = i
    return blocks


def blocked_split(labels: np.ndarray, fold: int, n_folds: int = N_FOLDS, purge: int = PURGE_ROWS):
    """(train indices, test indices): the ``fold``-th contiguous fifth of every block is held out,
    and ``purge`` rows on each side of it are used for neither."""
    train, test = [], []
    for _, start, end in label_blocks(labels):
        edges = np.linspace(start, end, n_folds + 1).round().astype(int)
        lo, hi = edges[fold], edges[fold + 1]
        test.extend(range(lo, hi))
        train.extend(i for i in range(start, end) if i < lo - purge or i >= hi + purge)
    return np.asarray(train), np.asarray(test)


def steady_rows(arms: np.ndarray, labels: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, dict]:
    """Boolean mask over all rows: near their label's median pose (cut learned on ``train`` only)."""
    flat = g.normalize_arms(arms)[:, 2:].reshape(len(arms), -1)
    steady = np.zeros(len(arms), dtype=bool)
    cuts = {}
    for label in np.unique(labels):
        rows = train[labels[train] == label]
        centre = np.median(flat[rows], axis=0)
        train_dist = np.linalg.norm(flat[rows] - centre, axis=1)
        median = np.median(train_dist)
        cut = median + STEADY_MADS * 1.4826 * np.median(np.abs(train_dist - median))
        mask = labels == label
        steady[mask] = np.linalg.norm(flat[mask] - centre, axis=1) <= cut
        cuts[str(label)] = round(float(cut), 3)
    return steady, cuts


# ---------------------------------------------------------------------------- training set


def build_training_set(arms, labels, train, steady, seed):
    """Real steady training rows (+ mirrored and jittered copies) and synthesized skeletons."""
    rng = np.random.default_rng(seed)
    keep = train[steady[train]]
    real = arms[keep]
    real_gestures = np.array([g.YMCA_LABEL_MAP[label] for label in labels[keep]])
    mirrored = g.mirror_arms(real)
    jittered = g.jitter_arms(real, rng, copies=1, noise=0.02)
    real_all = np.concatenate([real, mirrored, jittered])
    real_labels = np.concatenate([real_gestures] * 3)
    synth, synth_labels, synth_kinds = synthesize(SYNTHETIC_COUNTS, seed=seed)
    all_arms = np.concatenate([real_all, synth])
    all_labels = np.concatenate([real_labels, synth_labels])
    sources = np.concatenate([np.full(len(real_all), "ymca"), np.char.add("synthetic/", synth_kinds.astype(str))])
    factors = np.where(sources == "ymca", REAL_FACTOR, 1.0)
    weights = g.class_balanced_weights(all_labels, factors)
    return all_arms, all_labels, weights, sources


def train_model(arms, labels, train, steady, seed, summary=None):
    set_arms, set_labels, weights, sources = build_training_set(arms, labels, train, steady, seed)
    bundle = g.fit_gesture_model(set_arms, set_labels, weights, seed=seed, summary=summary)
    return bundle, (set_arms, set_labels, weights, sources)


# ---------------------------------------------------------------------------- evaluation


def predict(bundle, arms) -> np.ndarray:
    return np.array(g.GESTURES)[np.argmax(g.probabilities_for(bundle, arms), axis=1)]


def confusion(true: np.ndarray, predicted: np.ndarray) -> list[list[int]]:
    return [[int(np.sum((true == t) & (predicted == p))) for p in g.GESTURES] for t in g.GESTURES]


def format_confusion(matrix: list[list[int]], indent: str = "    ") -> str:
    lines = [indent + "true \\ predicted " + "".join(f"{p:>9}" for p in g.GESTURES)]
    for name, row in zip(g.GESTURES, matrix):
        if sum(row):
            lines.append(indent + f"{name:<17}" + "".join(f"{v:>9}" for v in row))
    return "\n".join(lines)


def per_class_accuracy(true, predicted) -> dict[str, float]:
    return {c: round(float(np.mean(predicted[true == c] == c)), 4) for c in g.GESTURES if np.any(true == c)}


def evaluate_ymca(bundle, arms, labels, rows) -> dict:
    predicted = predict(bundle, arms[rows])
    source = labels[rows]
    true = np.array([g.YMCA_LABEL_MAP[s] for s in source])
    by_label = {}
    for label in YMCA_ORDER:
        mask = source == label
        if np.any(mask):
            by_label[label] = {
                "rows": int(mask.sum()),
                "expected": g.YMCA_LABEL_MAP[label],
                "accuracy": round(float(np.mean(predicted[mask] == g.YMCA_LABEL_MAP[label])), 4),
                "predicted": {p: int(np.sum(predicted[mask] == p)) for p in g.GESTURES},
            }
    return {
        "rows": int(len(rows)),
        "accuracy": round(float(np.mean(predicted == true)), 4),
        "per_class": per_class_accuracy(true, predicted),
        "by_ymca_label": by_label,
        "confusion": confusion(true, predicted),
    }


def evaluate_synthetic(bundle, seed) -> dict:
    arms, labels, kinds = synthesize(SYNTHETIC_TEST_COUNTS, seed=seed)
    predicted = predict(bundle, arms)
    recipes = {}
    for kind in sorted(set(kinds)):
        mask = kinds == kind
        recipes[str(kind)] = round(float(np.mean(predicted[mask] == labels[mask])), 4)
    return {
        "rows": int(len(arms)),
        "seed": seed,
        "accuracy": round(float(np.mean(predicted == labels)), 4),
        "per_class": per_class_accuracy(labels, predicted),
        "by_recipe": recipes,
        "confusion": confusion(labels, predicted),
    }


def print_ymca(title: str, result: dict) -> None:
    print(f"\n{title}: {result['rows']} rows, accuracy {result['accuracy']:.4f}")
    for label, r in result["by_ymca_label"].items():
        spread = ", ".join(f"{k} {v}" for k, v in r["predicted"].items() if v)
        print(f"    {label:<6} -> {r['expected']:<8} {r['accuracy'] * 100:6.2f}% of {r['rows']:>3} rows  ({spread})")
    print("  per class: " + ", ".join(f"{k} {v * 100:.2f}%" for k, v in result["per_class"].items()))
    print(format_confusion(result["confusion"]))


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ymca", type=Path, default=DEFAULT_YMCA, help="the YMCA landmark CSV")
    parser.add_argument("--models-dir", type=Path, default=REPO / "models", help="where models/gesture/ goes")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--cv", action="store_true", help="also run 5-fold blocked cross-validation")
    parser.add_argument("--no-save", action="store_true", help="evaluate only; write nothing")
    parser.add_argument(
        "--test-rows", type=Path, default=None, help="also write the held-out YMCA rows (CSV) here, for the tests"
    )
    args = parser.parse_args(argv)
    if not args.ymca.is_file():
        parser.error(f"{args.ymca} not found (the YMCA rows live in ../shared/datasets/gestures-dev/)")

    started = time.time()
    labels, arms = g.read_ymca_csv(args.ymca)
    blocks = label_blocks(labels)
    train, test = blocked_split(labels, fold=N_FOLDS - 1)
    steady, cuts = steady_rows(arms, labels, train)
    print(f"YMCA rows: {len(labels)} in {len(blocks)} blocks " + ", ".join(f"{b[0]}[{b[1]}:{b[2]}]" for b in blocks))
    print(
        f"split: last 1/{N_FOLDS} of every block held out ({len(test)} rows), {PURGE_ROWS}-row buffer, "
        f"{len(train)} training rows of which {int(steady[train].sum())} steady (cuts {cuts})"
    )
    print(f"held-out rows steady: {int(steady[test].sum())} of {len(test)}")

    bundle, (set_arms, set_labels, weights, sources) = train_model(arms, labels, train, steady, args.seed)
    counts = {c: int(np.sum(set_labels == c)) for c in g.GESTURES}
    real_counts = {c: int(np.sum((set_labels == c) & (sources == "ymca"))) for c in g.GESTURES}
    print(f"training set: {len(set_labels)} skeletons {counts}; "
          f"from YMCA (with mirrored and jittered copies) {real_counts}")

    held_steady = evaluate_ymca(bundle, arms, labels, test[steady[test]])
    held_all = evaluate_ymca(bundle, arms, labels, test)
    synthetic = evaluate_synthetic(bundle, seed=args.seed + 1000)
    print("\n=== Held-out evaluation (rows never used in training) ===")
    print_ymca("YMCA held-out rows, steady poses", held_steady)
    print_ymca("YMCA held-out rows, all (transitions included)", held_all)
    print(f"\nSynthesized test skeletons (seed {synthetic['seed']}, not the training seed): {synthetic['rows']}, "
          f"accuracy {synthetic['accuracy']:.4f}")
    print("  per class: " + ", ".join(f"{k} {v * 100:.2f}%" for k, v in synthetic["per_class"].items()))
    idle_recipes = {k[5:]: v for k, v in synthetic["by_recipe"].items() if k.startswith("idle/")}
    print("  idle recipes: " + ", ".join(f"{k} {v * 100:.1f}%" for k, v in idle_recipes.items()))
    print(format_confusion(synthetic["confusion"]))

    # How well does the body model alone transfer to a real person? A model trained on the
    # synthesized skeletons only, read on every steady YMCA row (none of them used to train it).
    # This is the best available hint of how the synthesized-only X will fare on real people.
    synth_arms, synth_labels, _ = synthesize(SYNTHETIC_COUNTS, seed=args.seed)
    synth_only = g.fit_gesture_model(synth_arms, synth_labels, g.class_balanced_weights(synth_labels), seed=args.seed)
    transfer = evaluate_ymca(synth_only, arms, labels, np.flatnonzero(steady))
    print_ymca("Transfer check: model trained on synthesized skeletons only, all steady YMCA rows", transfer)

    must = {ymca: g.YMCA_LABEL_MAP[ymca] for ymca in ("A", "Y", "C", "dance")}
    passed = all(held_steady["by_ymca_label"][k]["accuracy"] >= 0.95 for k in must)
    print(
        "\nMust show (>= 95% of steady held-out A->O, Y->capture, C/dance->idle): "
        + ", ".join(f"{k} {held_steady['by_ymca_label'][k]['accuracy'] * 100:.2f}%" for k in must)
        + (" -> PASS" if passed else " -> FAIL")
    )

    cv = None
    if args.cv:
        cv = []
        print(f"\n=== {N_FOLDS}-fold blocked cross-validation (fold k holds out the k-th fifth of every block) ===")
        for fold in range(N_FOLDS):
            fold_train, fold_test = blocked_split(labels, fold)
            fold_steady, _ = steady_rows(arms, labels, fold_train)
            fold_bundle, _ = train_model(arms, labels, fold_train, fold_steady, args.seed)
            result = evaluate_ymca(fold_bundle, arms, labels, fold_test[fold_steady[fold_test]])
            result_all = evaluate_ymca(fold_bundle, arms, labels, fold_test)
            row = {k: result["by_ymca_label"][k]["accuracy"] for k in YMCA_ORDER}
            cv.append({"fold": fold, "steady": row, "all_rows_accuracy": result_all["accuracy"]})
            print(f"  fold {fold}: steady " + ", ".join(f"{k} {v * 100:.1f}%" for k, v in row.items())
                  + f"; all held-out rows {result_all['accuracy'] * 100:.1f}%")

    summary = {
        "seed": args.seed,
        "training_rows": counts,
        "training_rows_from_ymca": real_counts,
        "ymca_heldout_steady": {k: v["accuracy"] for k, v in held_steady["by_ymca_label"].items()},
        "ymca_heldout_all": {k: v["accuracy"] for k, v in held_all["by_ymca_label"].items()},
        "synthetic_test_per_class": synthetic["per_class"],
        "synthetic_only_model_on_ymca_steady": {k: v["accuracy"] for k, v in transfer["by_ymca_label"].items()},
        "steady_cuts": cuts,
        "cross_validation": cv,
    }
    bundle["summary"] = summary
    if not args.no_save:
        out_dir = args.models_dir / "gesture"
        out_dir.mkdir(parents=True, exist_ok=True)
        g.save_model(bundle, out_dir / g.DEFAULT_MODEL_FILENAME)
        heldout = test
        np.savez_compressed(
            out_dir / g.BASE_TRAINING_SET_FILENAME,
            arms=set_arms.astype(np.float32),
            labels=set_labels,
            weights=weights.astype(np.float32),
            source_names=np.unique(sources),
            source_codes=np.searchsorted(np.unique(sources), sources).astype(np.uint8),
            heldout_arms=arms[heldout].astype(np.float32),
            heldout_ymca_labels=labels[heldout],
            heldout_steady=steady[heldout],
            seed=np.int64(args.seed),
        )
        (out_dir / "evaluation.json").write_text(
            json.dumps({"ymca_heldout_steady": held_steady, "ymca_heldout_all": held_all, "synthetic_test": synthetic,
                        "synthetic_only_transfer": transfer, "cross_validation": cv, "summary": summary},
                       indent=1) + "\n"
        )
        print(f"\nsaved {out_dir / g.DEFAULT_MODEL_FILENAME}, {out_dir / g.BASE_TRAINING_SET_FILENAME}, "
              f"{out_dir / 'evaluation.json'}")
    if args.test_rows is not None:
        raw = [row for row in csv.reader(open(args.ymca, newline="")) if row]
        args.test_rows.parent.mkdir(parents=True, exist_ok=True)
        with open(args.test_rows, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["row", "steady", "label", *[f"{j}_{a}" for j in
                             ("ls", "rs", "le", "re", "lw", "rw") for a in "xyz"]])
            for i in test:
                writer.writerow([int(i), int(steady[i]), *raw[i][:19]])
        print(f"wrote {len(test)} held-out rows to {args.test_rows}")
    print(f"done in {time.time() - started:.1f} s")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
