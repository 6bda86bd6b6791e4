"""Learning from confirmed check-ins, replayed on real photos: false rejects and false accepts, before and after.

    .venv/bin/python training/evaluate_learning.py                   # faces-dev, default embedder and dlib, 10 seeds
    .venv/bin/python training/evaluate_learning.py --embedders facenet --seeds 20
    .venv/bin/python training/evaluate_learning.py --json            # only the summaries, one JSON object

Protocol (``kiosk.vision.face_learning`` and ``FaceModel.with_learned``, the code the kiosk runs):

* every photo goes through the kiosk's own detector and checks once (``evaluate_faces.load_faces``:
  canonical crop, quality score, face width); each embedder embeds the same crops;
* identities with at least 3 usable photos can be enrolled. In each seed ``--strangers`` of them (rotating)
  and the identities with fewer photos are **strangers, never enrolled**; the strangers are split by
  identity into *visitors*, whose photos walk up to the kiosk during the stream (and, when accepted,
  confirm: the worst case), and *test strangers*, kept for the false-accept measurement: a stranger
  who poisoned the gallery must not make it accept *other* strangers;
* each enrolled identity gets **one** enrollment photo (with the kiosk's augmented copies); its other
  photos are split at random into a *stream* half and a *test* half;
* the stream (the stream halves and the visitors' photos, in random order) is replayed as check-ins
  against the model as it is at that moment. A photo counts as a confirmed check-in only when the
  kiosk would have identified it: the model accepts it and names its person (a visitor: names
  anyone; the person shown a wrong name would cancel with an X). A photo is one frame repeated, so
  its vote is unanimous. The confirmed check-in's embedding, quality and face size go to
  :func:`~kiosk.vision.face_learning.decide`, and an accepted one into the model with
  :meth:`~kiosk.vision.face_model.FaceModel.with_learned` (the cap evicts the oldest learned);
* measured on the **test halves** (never seen by the kiosk) and the **test strangers**: the
  false-reject rate (FRR) and wrong-person rate of the model before the stream, after it, and after
  a full retrain on the enrollment and learned samples (``build_face_model``, what ``kiosk train
  faces`` does); the stranger false-accept rate (FAR) before and after; also the FRR the stream's own
  check-ins met as they arrived (online), with and without learning.

Three policies run on the same streams: ``off`` (no learning), ``kiosk`` (``LearningPolicy()``, the
defaults) and ``any`` (every confirmed check-in is learned, up to the cap: no confidence, novelty,
vote or quality rule), which shows what the kiosk's rules protect against.

``--per-person-thresholds`` adds a variant of the kiosk policy's final model in which each person's
threshold moves with the spread of their own samples (see :func:`per_person_thresholds`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "training"))

from evaluate_faces import DEFAULT_FOLDER, embed_all, load_faces  # noqa: E402

from kiosk.vision.embedders import get_embedder, resolve_embedder_id  # noqa: E402
from kiosk.vision.face_learning import CheckInEvidence, LearningPolicy, VoteCount, decide  # noqa: E402
from kiosk.vision.face_model import THRESHOLD_RANGES, FaceModel, TrainingSample, build_face_model  # noqa: E402
from kiosk.vision.lazy import ModelUnavailable  # noqa: E402

# The model as trained (its threshold learned from the enrollment photos, or the embedder's default
# when too few are enrolled), and the same model with its threshold at the embedder's cap: what a site
# with few people enrolled gets (the model card), where strangers come closest to being accepted.
CONDITIONS = ("learned_threshold", "threshold_at_cap")
UNANIMOUS = VoteCount(for_person=5)  # a photo is one frame repeated: every frame votes alike
LEARNED_ID_BASE = 1_000_000  # learned sample ids: apart from the enrollment rows
POLICIES = {
    "off": None,
    "kiosk": LearningPolicy(),
    "any": LearningPolicy(confident_ratio=10.0, novelty_ratio=0.0, min_vote_share=0.0, min_quality=0.0, min_face_px=0),
}


@dataclass
class Split:
    enrolled: list[tuple[int, int]]  # (photo row, person id)
    stream: list[tuple[int, int | None]]  # (photo row, person id; None: a visiting stranger), in arrival order
    test: list[tuple[int, int]]
    test_strangers: list[int]
    names: dict[str, list[str]] = field(default_factory=dict)


def make_split(ids: np.ndarray, k: int, enrollable: list[str], always_strangers: list[str], n_strangers: int,
               seed: int) -> Split:
    rng = np.random.default_rng(seed)
    start = (seed * n_strangers) % len(enrollable)
    left_out = [enrollable[(start + j) % len(enrollable)] for j in range(n_strangers)]
    enrolled_names = [name for name in enrollable if name not in left_out]
    strangers = list(rng.permutation(left_out + always_strangers))
    visitors, testers = strangers[0::2], strangers[1::2]
    enrolled, stream, test = [], [], []
    for person_id, name in enumerate(enrolled_names):
        rows = np.flatnonzero(ids == name)
        rng.shuffle(rows)
        enrolled.extend((int(r), person_id) for r in rows[:k])
        rest = rows[k:]
        half = (len(rest) + 1) // 2
        stream.extend((int(r), person_id) for r in rest[:half])
        test.extend((int(r), person_id) for r in rest[half:])
    stream.extend((int(r), None) for r in np.flatnonzero(np.isin(ids, visitors)))
    order = rng.permutation(len(stream))
    return Split(
        enrolled=enrolled,
        stream=[stream[i] for i in order],
        test=test,
        test_strangers=[int(r) for r in np.flatnonzero(np.isin(ids, testers))],
        names={"visitors": sorted(visitors), "test_strangers": sorted(testers)},
    )


def replay(model: FaceModel, split: Split, X: np.ndarray, quality: list, face_px: list,
           policy: LearningPolicy | None, seed: int) -> tuple[FaceModel, dict]:
    """The stream through the kiosk's rules; returns the final model and what happened."""
    learned: dict[int, list[int]] = {}
    reasons: dict[str, int] = {}
    counts = dict(genuine=0, genuine_rejected_online=0, genuine_learned=0, visitors_accepted=0, visitors_learned=0)
    for row, truth in split.stream:
        named, _score, distance = model.classify(X[row][None, :])[0]
        if truth is not None:
            counts["genuine"] += 1
            counts["genuine_rejected_online"] += int(named is None)
            confirmed = named == truth
        else:
            counts["visitors_accepted"] += int(named is not None)
            confirmed = named is not None  # the worst case: a stranger who is accepted confirms
        if not confirmed or policy is None:
            continue
        evidence = CheckInEvidence(X[row], None, distance, quality[row], face_px[row], UNANIMOUS)
        decision = decide(model, named, evidence, policy, learned.get(named, []))
        reasons[decision.reason] = reasons.get(decision.reason, 0) + 1
        if not decision.add:
            continue
        sample_id = LEARNED_ID_BASE + row
        model = model.with_learned([TrainingSample(sample_id, named, X[row], learned=True)], seed=seed)
        if decision.evict:
            model = model.without(samples=set(decision.evict)).refit({named}, seed=seed)
        learned[named] = [s for s in learned.get(named, []) if s not in decision.evict] + [sample_id]
        counts["genuine_learned" if truth is not None else "visitors_learned"] += 1
    return model, {**counts, "decisions": reasons}


def measure(model: FaceModel, split: Split, X: np.ndarray) -> dict:
    held = np.stack([X[r] for r, _ in split.test])
    truth = np.array([p for _, p in split.test])
    answers = model.classify(held)
    stranger_answers = model.classify(np.stack([X[r] for r in split.test_strangers]))
    return {
        "frr": float(np.mean([a[0] is None for a in answers])),
        "wrong": float(np.mean([a[0] is not None and a[0] != t for a, t in zip(answers, truth)])),
        "far": float(np.mean([a[0] is not None for a in stranger_answers])),
        "strangers_accepted": int(sum(a[0] is not None for a in stranger_answers)),
    }


def retrained(model: FaceModel, embedder_id: str, seed: int) -> FaceModel:
    """A full training on the model's samples, enrolled and learned, as ``kiosk train faces`` does."""
    rebuilt = build_face_model(model.training_samples(), embedder_id, cross_validate=False, seed=seed)
    return replace(rebuilt, learned_accept_ratio=model.learned_accept_ratio)


PER_PERSON_SPREAD_WEIGHT = 0.5
PER_PERSON_MAX_SHIFT = 0.08


def per_person_thresholds(model: FaceModel) -> np.ndarray:
    """Per gallery row: the site threshold moved by half the difference between the person's spread
    (median distance from each of their samples to their nearest other one) and the median spread of
    everyone, within +-0.08; people with a single sample keep the site threshold."""
    spreads = {}
    for person in np.unique(model.gallery_person_ids):
        rows = model.gallery[model.gallery_person_ids == person]
        if len(rows) < 2:
            continue
        d = np.linalg.norm(rows[:, None] - rows[None], axis=2)
        np.fill_diagonal(d, np.inf)
        spreads[int(person)] = float(np.median(d.min(axis=1)))
    if not spreads:
        return np.full(len(model.gallery), model.threshold)
    typical = float(np.median(list(spreads.values())))
    shift = {p: float(np.clip(PER_PERSON_SPREAD_WEIGHT * (s - typical), -PER_PERSON_MAX_SHIFT, PER_PERSON_MAX_SHIFT))
             for p, s in spreads.items()}
    return np.array([model.threshold + shift.get(int(p), 0.0) for p in model.gallery_person_ids])


def measure_per_person(model: FaceModel, split: Split, X: np.ndarray) -> dict:
    """``measure`` with per-person thresholds: the SVM names as usual, the named person's own threshold decides."""
    thresholds = per_person_thresholds(model)

    def accept(vector: np.ndarray) -> int | None:
        named = model.person_ids[int(np.argmax(model.weights @ vector + model.bias))]
        rows = model.gallery_person_ids == named
        distance = np.linalg.norm(model.gallery[rows] - vector, axis=1)
        return int(named) if np.any(distance <= thresholds[rows]) else None

    answers = [accept(X[r]) for r, _ in split.test]
    truth = [p for _, p in split.test]
    strangers = [accept(X[r]) for r in split.test_strangers]
    return {
        "frr": float(np.mean([a is None for a in answers])),
        "wrong": float(np.mean([a is not None and a != t for a, t in zip(answers, truth)])),
        "far": float(np.mean([a is not None for a in strangers])),
        "strangers_accepted": int(sum(a is not None for a in strangers)),
    }


def run_embedder(embedder_id: str, X: np.ndarray, A: np.ndarray, faces: list, ids: np.ndarray, args, log) -> dict:
    counts = {name: int(np.sum(ids == name)) for name in sorted(set(ids))}
    enrollable = [name for name, n in counts.items() if n >= args.enroll + 2]
    always = [name for name, n in counts.items() if n < args.enroll + 2]
    quality = [f.quality for f in faces]
    face_px = [f.face_px for f in faces]
    cap = THRESHOLD_RANGES.get(embedder_id, (0.0, 2.0, 0.5))[1]
    summaries = {}
    for condition in CONDITIONS:
        per_policy: dict[str, list[dict]] = {name: [] for name in POLICIES}
        for seed in range(args.seeds):
            split = make_split(ids, args.enroll, enrollable, always, args.strangers, seed)
            samples = [TrainingSample(r, p, X[r], A[r]) for r, p in split.enrolled]
            before = build_face_model(samples, embedder_id, cross_validate=False, seed=seed)
            if condition == "threshold_at_cap":
                before = replace(before, threshold=cap, threshold_source="set to the range's cap")
            if args.learned_accept_ratio:
                before = replace(before, learned_accept_ratio=args.learned_accept_ratio)
            start = measure(before, split, X)
            for name, policy in POLICIES.items():
                after, counts_ = replay(before, split, X, quality, face_px, policy, seed)
                result = {"before": start, "after": measure(after, split, X), **counts_,
                          "learned_samples": len(after.learned_sample_ids)}
                if policy is not None and condition == "learned_threshold":
                    result["after_retrain"] = measure(retrained(after, embedder_id, seed), split, X)
                if name == "kiosk" and args.per_person_thresholds:
                    result["after_per_person_thresholds"] = measure_per_person(after, split, X)
                per_policy[name].append(result)
                log(f"  {condition} seed {seed:2d} {name:5}: FRR {start['frr']:.3f} -> {result['after']['frr']:.3f}  "
                    f"FAR {start['far']:.3f} -> {result['after']['far']:.3f}  learned {result['learned_samples']:3d} "
                    f"(from visitors {counts_['visitors_learned']}, visitors accepted {counts_['visitors_accepted']})")
        summaries[condition] = {name: summarise(results) for name, results in per_policy.items()}
    return summaries


def summarise(results: list[dict]) -> dict:
    def mean(path: tuple[str, ...]) -> float | None:
        values = []
        for r in results:
            value = r
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if value is not None:
                values.append(value)
        return round(float(np.mean(values)), 4) if values else None

    def total(key: str) -> int:
        return int(sum(r[key] for r in results))

    summary = {
        "seeds": len(results),
        "frr_before": mean(("before", "frr")),
        "frr_after": mean(("after", "frr")),
        "frr_after_retrain": mean(("after_retrain", "frr")),
        "wrong_before": mean(("before", "wrong")),
        "wrong_after": mean(("after", "wrong")),
        "far_before": mean(("before", "far")),
        "far_after": mean(("after", "far")),
        "far_after_retrain": mean(("after_retrain", "far")),
        "test_strangers_accepted_before": int(sum(r["before"]["strangers_accepted"] for r in results)),
        "test_strangers_accepted_after": int(sum(r["after"]["strangers_accepted"] for r in results)),
        "online_frr_stream": round(total("genuine_rejected_online") / max(1, total("genuine")), 4),
        "stream_check_ins": total("genuine"),
        "learned_from_people": total("genuine_learned"),
        "visitors_accepted": total("visitors_accepted"),
        "learned_from_visitors": total("visitors_learned"),
        "decisions": {reason: int(sum(r["decisions"].get(reason, 0) for r in results))
                      for reason in sorted({k for r in results for k in r["decisions"]})},
    }
    if any("after_per_person_thresholds" in r for r in results):
        summary["per_person_thresholds"] = {
            "frr": mean(("after_per_person_thresholds", "frr")),
            "far": mean(("after_per_person_thresholds", "far")),
            "wrong": mean(("after_per_person_thresholds", "wrong")),
        }
    return summary


def embeddings(embedder_id: str, faces: list, cache: Path | None, log) -> tuple[np.ndarray, np.ndarray]:
    """(n, dim) embeddings and (n, n_aug, dim) augmented copies; kept in ``cache`` when given (keyed by the crops)."""
    digest = hashlib.sha256(b"".join(f.crop.tobytes() for f in faces)).hexdigest()[:16]
    path = None if cache is None else cache / f"{embedder_id.replace(':', '_')}-{digest}.npz"
    if path is not None and path.is_file():
        with np.load(path) as stored:
            return stored["X"], stored["A"]
    log(f"Embedding {len(faces)} crops and their augmented copies with {embedder_id} ...")
    X, A = embed_all(get_embedder(embedder_id), [f.crop for f in faces], True)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, X=X, A=A)
    return X, A


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--embedders", default="auto,dlib", help="comma-separated embedders (default: auto,dlib)")
    parser.add_argument("--seeds", type=int, default=10, help="random splits (default 10)")
    parser.add_argument("--enroll", type=int, default=1, help="enrollment photos per person (default 1)")
    parser.add_argument("--strangers", type=int, default=4, help="enrollable identities left out per seed (default 4)")
    parser.add_argument("--confident-ratio", type=float, help="override the kiosk policy's confident_ratio")
    parser.add_argument("--novelty-ratio", type=float, help="override the kiosk policy's novelty_ratio")
    parser.add_argument("--learned-accept-ratio", type=float, help="override the model's learned_accept_ratio")
    parser.add_argument("--cap", type=int, help="override the kiosk policy's max_learned_per_person")
    parser.add_argument("--per-person-thresholds", action="store_true", help="also measure per-person thresholds")
    parser.add_argument("--cache", type=Path, help="keep embeddings in this folder between runs")
    parser.add_argument("--json", action="store_true", help="print only the summaries as one JSON object")
    args = parser.parse_args(argv)

    log = (lambda *_: None) if args.json else print
    if not args.folder.is_dir():
        print(f"{args.folder} is not a folder of identity/photo images", file=sys.stderr)
        return 2
    overrides = {k: v for k, v in (("confident_ratio", args.confident_ratio), ("novelty_ratio", args.novelty_ratio),
                                   ("max_learned_per_person", args.cap)) if v is not None}
    POLICIES["kiosk"] = replace(POLICIES["kiosk"], **overrides)
    POLICIES["any"] = replace(POLICIES["any"], max_learned_per_person=POLICIES["kiosk"].max_learned_per_person)
    started = time.perf_counter()
    log(f"Finding and cropping the faces of {args.folder} ...")
    faces = load_faces(args.folder, log)
    ids = np.array([f.identity for f in faces])
    results = {}
    for value in args.embedders.split(","):
        embedder_id = resolve_embedder_id(value.strip())
        try:
            X, A = embeddings(embedder_id, faces, args.cache, log)
        except ModelUnavailable as err:
            log(f"{embedder_id}: left out ({err})")
            continue
        log(f"{embedder_id}: {args.seeds} seeds")
        results[embedder_id] = run_embedder(embedder_id, X, A, faces, ids, args, log)

    log("")
    log(f"faces-dev, 1 enrollment photo per person, {args.seeds} seeds, {args.strangers} enrollable identities "
        f"left out per seed; kiosk policy {POLICIES['kiosk']}")
    log(f"{'embedder':26} {'threshold':18} {'policy':6} {'FRR before':>10} {'after':>7} {'retrain':>8} "
        f"{'FAR before':>11} {'after':>7} {'wrong':>6} {'online FRR':>10} {'learned':>8} {'visitors acc/learned':>21}")
    for embedder_id, by_condition in results.items():
        for condition, by_policy in by_condition.items():
            for name, s in by_policy.items():
                retrain = "" if s["frr_after_retrain"] is None else f"{s['frr_after_retrain']:8.4f}"
                log(f"{embedder_id:26} {condition:18} {name:6} {s['frr_before']:10.4f} {s['frr_after']:7.4f} "
                    f"{retrain:>8} {s['far_before']:11.4f} {s['far_after']:7.4f} {s['wrong_after']:6.4f} "
                    f"{s['online_frr_stream']:10.4f} "
                    f"{s['learned_from_people']:8d} {s['visitors_accepted']:>10d}/{s['learned_from_visitors']:<10d}")
                if "per_person_thresholds" in s:
                    p = s["per_person_thresholds"]
                    log(f"{'':45} per-person thresholds: FRR {p['frr']:.4f}  FAR {p['far']:.4f}  "
                        f"wrong {p['wrong']:.4f}")
    output = {
        "folder": str(args.folder),
        "seeds": args.seeds,
        "strangers_per_seed": args.strangers,
        "usable_photos": len(faces),
        "kiosk_policy": vars(POLICIES["kiosk"]) if hasattr(POLICIES["kiosk"], "__dict__") else str(POLICIES["kiosk"]),
        "results": results,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(output) if args.json else json.dumps(output, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
