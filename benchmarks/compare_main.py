"""`kiosk bench` of this checkout next to a baseline's (by default the first parent of HEAD), in
one sitting: the two take turns, so the machine's other work weighs on both alike.

    .venv/bin/python benchmarks/compare_main.py                        # HEAD^ vs this tree
    .venv/bin/python benchmarks/compare_main.py --baseline main --rounds 3
    .venv/bin/python benchmarks/compare_main.py --baseline /tmp/old-checkout --only faces,checkin
    make bench BASELINE=8608a3d

A baseline given as a commit (anything ``git rev-parse`` knows) is written out with ``git archive``
into a temporary folder, removed afterwards (unlike ``git worktree add`` this registers nothing in
the repository, so an interrupted run leaves nothing behind); a folder is used as it is. Both run
``python -m flask --app kiosk bench`` with this interpreter (the same venv), each from its own tree
(its folder first on ``PYTHONPATH``, checked before measuring) and with a data folder of its own;
a baseline without the converted FaceNet weights (git-ignored) uses this tree's ``models/``.

The figures are whatever numbers ``kiosk bench`` prints, found by walking its JSON (nested objects
and lists), so a stage added or changed on either side still shows: its figures are ``-`` where the
other side has none. With several rounds each figure is the median of its rounds; the order of the
two alternates from one round to the next. The table's ratio is now / baseline (for milliseconds
below 1 is faster, for frames per second above 1). ``--json FILE`` also writes every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SKIPPED = ("machine",)  # the interpreter and repeat count: the same on both sides, not a figure


def git(*args: str, cwd: Path = REPO_ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def numbers(value, path: str = "") -> dict[str, float]:
    """Every number in a JSON value, by its dotted path (``faces.detect.median_ms``, ``runs.0.ms``)."""
    if isinstance(value, bool):
        return {}
    if isinstance(value, (int, float)):
        return {path: float(value)}
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return {}
    found: dict[str, float] = {}
    for key, item in items:
        found.update(numbers(item, f"{path}.{key}" if path else str(key)))
    return found


def bench_env(tree: Path, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(tree), env.get("PYTHONPATH"))))
    env["KIOSK_DATA_DIR"] = str(data_dir)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not list((tree / "models" / "facenet").glob("*.h5")):  # converted weights are git-ignored: share ours
        env["KIOSK_MODELS_DIR"] = str(REPO_ROOT / "models")
    return env


def check_runs_from(tree: Path, env: dict[str, str]) -> None:
    """The kiosk package this interpreter imports with ``env`` is the one in ``tree``."""
    where = subprocess.run([sys.executable, "-c", "import kiosk; print(kiosk.__file__)"], cwd=tree, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    if Path(where).resolve().parent.parent != tree.resolve():
        raise SystemExit(f"From {tree} Python imports the kiosk from {where}: its figures would not be that tree's.")


def run_bench(label: str, tree: Path, env: dict[str, str], bench_args: list[str]) -> dict:
    print(f"compare: kiosk bench of {label} ({tree}) ...", file=sys.stderr, flush=True)
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "kiosk", "bench", *bench_args], cwd=tree, env=env,
                          stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"kiosk bench of {label} ({tree}) failed with exit status {done.returncode}.")
    return json.loads(done.stdout)


def medians(runs: list[dict]) -> dict[str, float]:
    by_path: dict[str, list[float]] = {}
    for result in runs:
        for path, value in numbers({k: v for k, v in result.items() if k not in SKIPPED}).items():
            by_path.setdefault(path, []).append(value)
    return {path: statistics.median(values) for path, values in by_path.items()}


def table(baseline: dict[str, float], now: dict[str, float]) -> list[dict]:
    rows = []
    for path in sorted(set(baseline) | set(now), key=lambda p: (p.split(".", 1)[0], p)):
        stage, _, figure = path.partition(".")
        old, new = baseline.get(path), now.get(path)
        ratio = round(new / old, 3) if old and new is not None else None
        rows.append({"stage": stage, "figure": figure or "-", "baseline": old, "now": new, "ratio": ratio})
    return rows


def format_table(rows: list[dict], baseline_label: str) -> str:
    def cell(value) -> str:
        return "-" if value is None else f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"

    head = ("stage", "figure", f"baseline ({baseline_label})", "now", "ratio now/baseline")
    body = [(r["stage"], r["figure"], cell(r["baseline"]), cell(r["now"]), cell(r["ratio"])) for r in rows]
    widths = [max(len(line[i]) for line in (head, *body)) for i in range(len(head))]
    return "\n".join(" | ".join(text.ljust(width) for text, width in zip(line, widths)) for line in (head, *body))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="HEAD^", help="a commit, or the folder of a checkout (default: HEAD^)")
    parser.add_argument("--rounds", type=int, default=1, help="turns each side takes (the median is shown)")
    parser.add_argument("--repeat", type=int, default=None, help="kiosk bench --repeat (timed runs per figure)")
    parser.add_argument("--only", default="", help="kiosk bench --only (comma-separated stages)")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this file")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    bench_args = (["--repeat", str(args.repeat)] if args.repeat else []) + (["--only", args.only] if args.only else [])

    with tempfile.TemporaryDirectory(prefix="kiosk-bench-") as scratch_name:
        scratch = Path(scratch_name)
        if Path(args.baseline).is_dir():
            baseline_tree, baseline_label = Path(args.baseline).resolve(), args.baseline
        else:
            try:
                commit = git("rev-parse", "--verify", f"{args.baseline}^{{commit}}")
            except subprocess.CalledProcessError:
                parser.error(f"--baseline {args.baseline}: neither a folder nor a commit git knows")
            baseline_tree = scratch / "baseline"
            baseline_tree.mkdir()
            archive = subprocess.Popen(["git", "archive", commit], cwd=REPO_ROOT, stdout=subprocess.PIPE)
            subprocess.run(["tar", "-x", "-C", str(baseline_tree)], stdin=archive.stdout, check=True)
            if archive.wait() != 0:
                raise SystemExit(f"git archive {commit} failed")
            baseline_label = f"{args.baseline} = {commit[:10]}"
        sides = {"baseline": baseline_tree, "now": REPO_ROOT}
        envs = {label: bench_env(tree, scratch / f"data-{label}") for label, tree in sides.items()}
        for label, tree in sides.items():
            check_runs_from(tree, envs[label])
        load_before = os.getloadavg()
        results: dict[str, list[dict]] = {"baseline": [], "now": []}
        for round_ in range(args.rounds):
            order = ("baseline", "now") if round_ % 2 == 0 else ("now", "baseline")
            for label in order:
                results[label].append(run_bench(label, sides[label], envs[label], bench_args))
        load_after = os.getloadavg()

    rows = table(medians(results["baseline"]), medians(results["now"]))
    print(f"kiosk bench, {baseline_label} vs this tree ({git('rev-parse', '--short', 'HEAD')}), "
          f"{args.rounds} round(s) taking turns; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after "
          f"(other work on the machine slows both sides alike: compare the ratio, not the figures)")
    print(format_table(rows, baseline_label))
    if args.json:
        args.json.write_text(json.dumps({"baseline": baseline_label, "rows": rows, "runs": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
