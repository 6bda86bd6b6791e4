"""Per-frame evaluation of the passive liveness cue (MiniFASNet, ``kiosk.vision.liveness``).

    .venv/bin/python training/evaluate_liveness.py                          # the committed sample
    .venv/bin/python training/evaluate_liveness.py --data /tmp/liveness-eval # a larger scratch set
    make evaluate-liveness

``--data DIR`` holds ``SOURCE/real/*`` (live faces) and ``SOURCE/fake/*`` (presentation attacks:
a photo or a screen in front of the camera); ``training/gather_liveness_images.py`` builds one from
public repositories. Without it, ``tests/data/liveness`` (a handful of images, SOURCES.csv there)
is used, which is enough to see the script run, not to measure anything.

Each image goes through the kiosk's own path: BlazeFace (``kiosk.vision.faces.detect_faces``),
the largest face, then :meth:`PassiveLiveness.predict`. Images without a face are counted, not
scored. Per source and over all: AUC (the chance that a live image outscores a spoof one), and at
the threshold: APCER (spoof images read live) and BPCER (live images read spoof), ISO/IEC 30107-3's
names. Then, for reference, the scores of the project's own test photos (``tests/data/faces``,
``tests/data/gestures``): they are photos of photos, and the check-in tests stream them.

Per frame only: :func:`evaluate_frames` returns the table; a per-sequence evaluation (a vote over
a kiosk session's frames) can build on :func:`score_images`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kiosk.vision.liveness import DEFAULT_FRAME_THRESHOLD, PassiveLiveness, passive_liveness  # noqa: E402

COMMITTED_SAMPLE = REPO / "tests" / "data" / "liveness"
PROJECT_PHOTOS = (REPO / "tests" / "data" / "faces", REPO / "tests" / "data" / "gestures")
LABELS = ("real", "fake")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass(frozen=True)
class ScoredImage:
    path: Path
    source: str
    label: str  # real | fake | "" (unlabelled)
    status: str  # ok | no_face | bad_image
    score: float | None


def labelled_images(data: Path) -> list[tuple[Path, str, str]]:
    """(path, source, label) of every image under ``data/SOURCE/{real,fake}/``."""
    found = []
    for source in sorted(p for p in data.iterdir() if p.is_dir()):
        for label in LABELS:
            folder = source / label
            if folder.is_dir():
                images = [p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
                found += [(p, source.name, label) for p in images]
    return found


def score_images(items: list[tuple[Path, str, str]], model: PassiveLiveness | None = None) -> list[ScoredImage]:
    """The liveness score of the largest face in each image, as the kiosk would compute it."""
    from kiosk.vision.faces import detect_faces
    from kiosk.vision.image import BadImage, load_image

    model = model or passive_liveness()
    scored = []
    for path, source, label in items:
        try:
            bgr = load_image(path)
        except BadImage:
            scored.append(ScoredImage(path, source, label, "bad_image", None))
            continue
        faces = detect_faces(bgr)  # largest first
        if not faces:
            scored.append(ScoredImage(path, source, label, "no_face", None))
            continue
        scored.append(ScoredImage(path, source, label, "ok", model.predict(bgr, faces[0].box)))
    return scored


def auc(live: list[float], spoof: list[float]) -> float | None:
    """P(a live score > a spoof score), ties counting half (the Mann-Whitney U statistic)."""
    if not live or not spoof:
        return None
    wins = sum((a > b) + 0.5 * (a == b) for a in live for b in spoof)
    return wins / (len(live) * len(spoof))


def error_rates(live: list[float], spoof: list[float], threshold: float) -> tuple[float | None, float | None]:
    """(APCER, BPCER) at ``threshold``: spoofs scored >= it, live faces scored below it."""
    apcer = sum(s >= threshold for s in spoof) / len(spoof) if spoof else None
    bpcer = sum(s < threshold for s in live) / len(live) if live else None
    return apcer, bpcer


def table_row(name: str, scored: list[ScoredImage], threshold: float) -> dict:
    live = [s.score for s in scored if s.status == "ok" and s.label == "real"]
    spoof = [s.score for s in scored if s.status == "ok" and s.label == "fake"]
    apcer, bpcer = error_rates(live, spoof, threshold)
    return {
        "source": name,
        "real": sum(s.label == "real" for s in scored),
        "fake": sum(s.label == "fake" for s in scored),
        "no_face": sum(s.status != "ok" for s in scored),
        "auc": auc(live, spoof),
        "apcer": apcer,
        "bpcer": bpcer,
        "median_live": statistics.median(live) if live else None,
        "median_spoof": statistics.median(spoof) if spoof else None,
    }


def evaluate_frames(
    data: Path, threshold: float = DEFAULT_FRAME_THRESHOLD, model: PassiveLiveness | None = None
) -> list[dict]:
    """One row per source and a last row ``all``: counts, AUC, APCER/BPCER at ``threshold``."""
    scored = score_images(labelled_images(data), model)
    sources = sorted({s.source for s in scored})
    rows = [table_row(source, [s for s in scored if s.source == source], threshold) for source in sources]
    rows.append(table_row("all", scored, threshold))
    return rows


def _cell(value, width: int, digits: int = 3) -> str:
    text = "-" if value is None else (f"{value:.{digits}f}" if isinstance(value, float) else str(value))
    return text.rjust(width)


def print_table(rows: list[dict], threshold: float) -> None:
    print(f"\nPer-frame liveness, threshold {threshold} (a score >= it reads live)")
    print(
        f"{'source':<58}{'real':>6}{'fake':>6}{'noface':>7}{'AUC':>7}{'APCER':>7}{'BPCER':>7}"
        f"{'med.live':>9}{'med.spoof':>10}"
    )
    for row in rows:
        print(
            f"{row['source'][:57]:<58}{_cell(row['real'], 6)}{_cell(row['fake'], 6)}{_cell(row['no_face'], 7)}"
            f"{_cell(row['auc'], 7)}{_cell(row['apcer'], 7)}{_cell(row['bpcer'], 7)}"
            f"{_cell(row['median_live'], 9)}{_cell(row['median_spoof'], 10)}"
        )


def print_project_photos(model: PassiveLiveness | None = None) -> None:
    """The scores of the project's own test photos (photos of photos) per folder: min / median / max."""
    print("\nThe project's test photos (photos of photos; the check-in tests stream them):")
    groups: dict[str, list[Path]] = {}
    for root in PROJECT_PHOTOS:
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES and "_multi" not in path.parts:
                key = str(path.parent.relative_to(REPO))
                if root.name == "gestures":
                    key += "/composite_obama_*" if path.name.startswith("composite_obama") else "/others"
                groups.setdefault(key, []).append(path)
    for key, paths in groups.items():
        scores = [s.score for s in score_images([(p, key, "") for p in paths], model) if s.status == "ok"]
        if scores:
            print(
                f"  {key:<50} n={len(scores):>2}  min {min(scores):.3f}  median {statistics.median(scores):.3f}"
                f"  max {max(scores):.3f}  live@{DEFAULT_FRAME_THRESHOLD}: "
                f"{sum(s >= DEFAULT_FRAME_THRESHOLD for s in scores)}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=COMMITTED_SAMPLE, help="SOURCE/real, SOURCE/fake folders")
    parser.add_argument("--threshold", type=float, default=DEFAULT_FRAME_THRESHOLD)
    parser.add_argument("--box-scale", type=float, default=None, help="calibration only: BlazeFace box growth")
    parser.add_argument("--no-project-photos", action="store_true")
    parser.add_argument("--no-sequences", action="store_true", help="skip the per-sequence (whole check-in) part")
    args = parser.parse_args(argv)
    model = PassiveLiveness(box_scale=args.box_scale) if args.box_scale else passive_liveness()
    print_table(evaluate_frames(args.data, args.threshold, model), args.threshold)
    if not args.no_project_photos:
        print_project_photos(model)
    if not args.no_sequences:
        from liveness_sequences import evaluate_sequences, print_sequence_table

        print("\nWhole check-ins (training/liveness_sequences.py):")
        print_sequence_table(evaluate_sequences())
    return 0


if __name__ == "__main__":
    sys.exit(main())
