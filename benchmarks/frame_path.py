"""A kiosk frame's path through the code, and the server time of the answer that completes a
check-in, on this checkout and on older ones in one sitting.

    .venv/bin/python benchmarks/frame_path.py [--code DIR]... [--check-ins 4] [--rounds 2] [--json FILE] [--reuse DIR]
        [--learn-every-check-in]

Each checkout (``--code DIR``, say ``git worktree add /tmp/arch-old <commit>``; this one always)
gets a throwaway site built through its own ``kiosk`` command (``PYTHONPATH=DIR``, this
checkout's virtualenv): Barack Obama, Joe Biden and Colin Powell enrolled from ``tests/data/faces``
(the arms-out composite for Obama too), the face model trained. A child process per checkout then
sends real frames through the HTTP API with Flask's test client, at a camera's pace (15 frames/s):
Obama's body with his own neutral face (not an enrolled photo) until CONFIRMING, the O until
SMILING, then his smile until DONE (the pictures of ``benchmarks/browser_checkin.py``: real photos,
the face swapped onto the arm composites). Every check-in is a new kiosk session.

Measured per checkout:

* **the path**: one extra check-in runs under ``sys.setprofile``; when the attendance row is
  INSERTed (an SQLAlchemy cursor event) the kiosk modules on the call stack are read, outermost
  first, consecutive frames of one module merged. ``hops`` = module changes along that stack,
  ``layer_changes`` = changes of layer (web, services, checkin, vision, base: every other
  ``kiosk.*`` module; ``kiosk`` itself is the app factory), ``climbs`` = changes to a higher
  layer (a lower layer calling back up). The same is counted over the whole trace of the frame,
  every call and return in ``kiosk.*`` (``trace_*``), until the row is written and until the
  answer, and the modules the frame visits after the row is written are listed (learning, in
  code that learns inside the frame).
  ``steering`` is that trace with vision and the base modules left out (the model work and the
  helpers every layer uses): the order in which web, services and the engine take turns with the
  frame until the row is written.
* **the Welcome answer's server time**: the wall time of ``client.post`` (in-process: no network)
  of the frame whose answer is DONE, without the profiler; the first check-in of each child is a
  warm-up (lazy model loads) and is left out. Children of the checkouts alternate (``--rounds``)
  so both see the same load. After each check-in the child waits 3 s (learning in the background
  ends) and counts the face samples (``learned`` = how many the check-in added).

Figures are measured, never asserted. One JSON object is printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FACES = REPO / "tests" / "data" / "faces"
GESTURES = REPO / "tests" / "data" / "gestures"
FPS = 15.0
ENROLLED = {
    "Barack Obama": [FACES / "fr_obama/2.jpg", FACES / "fr_obama/3.jpg", FACES / "fr_obama/4.jpg",
                     GESTURES / "composite_obama_arms_out.jpg"],
    "Joe Biden": [FACES / "fr_biden/1.jpg", FACES / "fr_biden/2.jpg"],
    "Colin Powell": [FACES / "lfw_Colin_Powell/1.jpg", FACES / "lfw_Colin_Powell/2.jpg",
                     FACES / "lfw_Colin_Powell/3.jpg"],
}
# (phase, body composite, face photo, the state that ends the phase, most frames)
PHASES = [
    ("face", "arms_out", "4", "CONFIRMING", 150),
    ("o", "o", "4", "SMILING", 120),
    ("smile", "arms_out", "5", "DONE", 150),
]
LAYERS = ("web", "services", "checkin", "vision")
LAYER_RANK = {"base": 0, "vision": 1, "checkin": 2, "services": 3, "web": 4, "app": 5}


def layer_of(module: str) -> str:
    """web, services, checkin, vision, app (the factory, the CLI) or base (every other kiosk module)."""
    if module == "kiosk" or module.startswith(("kiosk.cli", "kiosk.benchmarks")):
        return "app"
    for layer in LAYERS:
        if module == f"kiosk.{layer}" or module.startswith(f"kiosk.{layer}."):
            return layer
    return "base"


def count_changes(modules: list[str]) -> dict:
    layers = [layer_of(m) for m in modules]
    changes = [(a, b) for a, b in zip(layers, layers[1:]) if a != b]
    return {"hops": max(0, len(modules) - 1), "layer_changes": len(changes),
            "climbs": sum(1 for a, b in changes if LAYER_RANK[b] > LAYER_RANK[a])}


def merged(modules: list[str]) -> list[str]:
    return [m for i, m in enumerate(modules) if i == 0 or m != modules[i - 1]]


# -- the driver: frames, sites, children ----------------------------------------------------------

def write_frames(folder: Path) -> dict:
    """The phases' pictures as JPEG files (built with this checkout's code, read by every child)."""
    import cv2

    from kiosk.benchmarks.checkin import live
    from kiosk.benchmarks.spoof_frames import swap_face

    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[str]] = {}
    for phase, body, face, _, _ in PHASES:
        base = swap_face(cv2.imread(str(GESTURES / f"composite_obama_{body}.jpg")),
                         cv2.imread(str(FACES / "fr_obama" / f"{face}.jpg")))
        files[phase] = []
        for i, frame in enumerate(live(base)):
            path = folder / f"{phase}_{i}.jpg"
            cv2.imwrite(str(path), frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
            files[phase].append(str(path))
    return files


def child_env(code: Path, data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "KIOSK_DATA_DIR": str(data_dir), "TF_CPP_MIN_LOG_LEVEL": "2",
           # Every check-in is an "in" and learns (the learned-sample cap would stop it mid-run).
           "KIOSK_DUPLICATE_WINDOW_MINUTES": "0", "KIOSK_REPEAT_RULE": "ignore",
           "KIOSK_LEARN_MAX_PER_PERSON": "100"}
    for name in ("KIOSK_DATABASE_URL", "KIOSK_MODELS_DIR"):
        env.pop(name, None)
    env["PYTHONPATH"] = str(code)
    return env


def kiosk_command(env: dict[str, str], code: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(REPO / ".venv" / "bin" / "kiosk"), *args], env=env, cwd=code,
                            capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        raise SystemExit(f"kiosk {' '.join(args)} failed in {code}:\n{result.stderr[-2000:]}")
    return result


def prepare_site(code: Path, root: Path) -> tuple[Path, str | None, dict]:
    """The site in ``root``: built through the checkout's CLI, or the one a run with --keep left there."""
    data_dir = root / "data"
    env = child_env(code, data_dir)
    if data_dir.is_dir():
        training = {"embedder": f"as prepared in {root}"}
    else:
        kiosk_command(env, code, "db", "upgrade")
        for name, photos in ENROLLED.items():
            kiosk_command(env, code, "people", "enroll", name, *map(str, photos))
        training = json.loads(kiosk_command(env, code, "train", "faces").stdout)
    paired = kiosk_command(env, code, "devices", "add", f"Frame path kiosk {os.getpid()}", "--json", check=False)
    token = json.loads(paired.stdout)["token"] if paired.returncode == 0 else None  # older code: no pairing
    return data_dir, token, training


def describe(code: Path) -> str:
    result = subprocess.run(["git", "-C", str(code), "log", "-1", "--format=%h %s"], capture_output=True, text=True)
    return result.stdout.strip()[:100]


def drive(codes: list[Path], check_ins: int, rounds: int, scratch: Path | None, reuse: Path | None) -> dict:
    root = reuse or Path(tempfile.mkdtemp(prefix="kiosk-frame-path-", dir=scratch))
    frames = write_frames(root / "frames")
    (root / "frames.json").write_text(json.dumps(frames))
    sites = {}
    for index, code in enumerate(codes):
        data_dir, token, training = prepare_site(code, root / f"site{index}")
        sites[code] = (data_dir, token)
        print(f"site for {code}: {training.get('embedder')}, {training.get('people')} people", file=sys.stderr)
    runs: dict[Path, list[dict]] = {code: [] for code in codes}
    for round_index in range(rounds):
        order = codes if round_index % 2 == 0 else list(reversed(codes))
        for code in order:
            data_dir, token = sites[code]
            args = [sys.executable, str(Path(__file__).resolve()), "--child", "--frames", str(root / "frames.json"),
                    "--check-ins", str(check_ins), "--token", token or ""]
            if round_index == 0:
                args.append("--trace")
            result = subprocess.run(args, env=child_env(code, data_dir), cwd=code, capture_output=True, text=True,
                                    timeout=3600)
            if result.returncode != 0:
                raise SystemExit(f"child for {code} failed:\n{result.stderr[-4000:]}")
            runs[code].append(json.loads(result.stdout.strip().splitlines()[-1]))
    report = {"folder": str(root), "learn_every_check_in": os.environ.get("FRAME_PATH_LEARN_EVERY_CHECK_IN") == "1",
              "load_average_at_end": list(os.getloadavg()), "codes": []}
    for code in codes:
        timed = [c for run in runs[code] for c in run["check_ins"] if not c["warm_up"]]
        done_ms = [c["done_answer_ms"] for c in timed]
        traced = next(run["trace"] for run in runs[code] if run.get("trace"))
        report["codes"].append({
            "code": describe(code), "dir": str(code),
            "welcome_answer_ms_median": round(statistics.median(done_ms), 1) if done_ms else None,
            "welcome_answer_ms": done_ms,
            "smiling_answer_ms_median": round(statistics.median(
                [ms for c in timed for ms in c["smiling_answers_ms"]]), 1) if timed else None,
            "learned_per_check_in": [c["learned"] for c in timed],
            "learning_runs": [run for c in timed for run in c["learning"]],
            "attempts": [c["attempt"] for c in timed],
            "warm_up_welcome_ms": [c["done_answer_ms"] for run in runs[code] for c in run["check_ins"] if c["warm_up"]],
            "trace": traced,
        })
    return report


# -- the child: one checkout's code in this process -----------------------------------------------

class Tracer:
    """sys.setprofile: the innermost kiosk module after every call and return, and the call stack
    when the attendance row is INSERTed."""

    def __init__(self) -> None:
        self.sequence: list[str] = []
        self.write_at: int | None = None
        self.write_stack: list[str] | None = None
        self.request_state: list[str] = []

    @staticmethod
    def _module(frame) -> str | None:
        name = frame.f_globals.get("__name__", "")
        return name if name == "kiosk" or name.startswith("kiosk.") else None

    def _innermost(self, frame) -> str | None:
        while frame is not None:
            module = self._module(frame)
            if module:
                return module
            frame = frame.f_back
        return None

    def _note(self, module: str | None) -> None:
        if module and (not self.sequence or self.sequence[-1] != module):
            self.sequence.append(module)

    def profile(self, frame, event, arg) -> None:
        if event == "call":
            module = self._module(frame)
            self._note(module)
            if module is None and self.sequence and self.sequence[-1].startswith("kiosk.services"):
                self._note_request_state(frame)
        elif event == "return":
            self._note(self._innermost(frame.f_back))

    def _note_request_state(self, frame) -> None:
        """A service that reaches Flask's request state (``g``, ``request``, ``session``, ``url_for``:
        the web layer's) straight from its own code."""
        caller = frame.f_back
        if caller is None or not (self._module(caller) or "").startswith("kiosk.services"):
            return
        name, function = frame.f_globals.get("__name__", ""), frame.f_code.co_name
        if (name, function) == ("flask.helpers", "url_for"):
            reached = "url_for"
        elif name == "werkzeug.local":
            proxy = repr(frame.f_locals.get("instance", "")).lower()
            reached = next((what for what in ("flask.g", "request", "session") if what in proxy), None)
        else:
            reached = None
        if reached:
            self.request_state.append(f"{self._module(caller)}:{caller.f_code.co_name} reads {reached}")

    def on_insert(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self.write_stack is not None or not statement.lstrip().upper().startswith("INSERT INTO ATTENDANCE_EVENT"):
            return
        self.write_at = len(self.sequence)
        stack = []
        frame = sys._getframe(1)
        while frame is not None:
            module = self._module(frame)
            if module:
                stack.append(module)
            frame = frame.f_back
        self.write_stack = merged(list(reversed(stack)))


ATTEMPTS = 3
LEARN_EVERY_CHECK_IN = os.environ.get("FRAME_PATH_LEARN_EVERY_CHECK_IN") == "1"


class Stuck(Exception):
    """A phase's pictures did not move the kiosk on within its frames: that check-in starts again
    in a new session (counted in ``attempt``)."""


def watch_learning() -> list[dict]:
    """Each run of learning from a check-in: its outcome, how long it took, and whether it ran
    inside the frame (the test client runs the request in the main thread) or in the background."""
    from kiosk.services import learning

    runs: list[dict] = []
    learn = learning.learn_from_check_in

    def watched(*args, **kwargs):
        started = time.perf_counter()
        outcome = learn(*args, **kwargs)
        runs.append({"reason": outcome.reason, "ms": round((time.perf_counter() - started) * 1000, 1),
                     "inside_the_frame": threading.current_thread() is threading.main_thread()})
        return outcome

    learning.learn_from_check_in = watched
    if LEARN_EVERY_CHECK_IN:
        # The same face again is a near-copy, which learning refuses after the first check-in: with
        # the novelty rule off every check-in adds a sample, the case where learning loads, changes
        # and saves the face model.
        rules = learning.policy
        learning.policy = lambda: dataclasses.replace(rules(), novelty_ratio=0.0)
    return runs


def child(frames_file: Path, check_ins: int, token: str, trace: bool) -> dict:
    import cv2
    from sqlalchemy import event, text

    from kiosk import create_app
    from kiosk.extensions import db

    frames = {phase: [cv2.imencode(".jpg", cv2.imread(p))[1].tobytes() for p in paths]
              for phase, paths in json.loads(frames_file.read_text()).items()}
    app = create_app()
    tracer = Tracer()
    learning_runs = watch_learning()
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", tracer.on_insert)

    def samples() -> int:
        with app.app_context():
            count = db.session.execute(text("SELECT count(*) FROM face_sample")).scalar_one()
            db.session.remove()
            return int(count)

    def check_in(traced: bool) -> dict:
        client = app.test_client()
        if token:
            client.environ_base["HTTP_X_KIOSK_TOKEN"] = token
        before = samples()
        smiling_ms: list[float] = []
        done_ms = None
        last = 0.0
        sent = 0
        for phase, _, _, until, limit in PHASES:
            body = None
            for i in range(limit):
                time.sleep(max(0.0, 1 / FPS - (time.monotonic() - last)))
                last = time.monotonic()
                profiling = traced and phase == "smile"
                if profiling:
                    tracer.sequence, tracer.write_at, tracer.write_stack = [], None, None
                    tracer.request_state = []
                    sys.setprofile(tracer.profile)
                started = time.perf_counter()
                response = client.post("/api/v1/kiosk/frames", data=frames[phase][i % len(frames[phase])],
                                       content_type="image/jpeg")
                elapsed = (time.perf_counter() - started) * 1000
                if profiling:
                    sys.setprofile(None)
                sent += 1
                if response.status_code != 200:
                    raise SystemExit(f"frame answered {response.status_code}: {response.get_data(as_text=True)}")
                body = response.get_json()
                if body["state"] == "DONE":
                    done_ms = elapsed
                    break
                if phase == "smile":
                    smiling_ms.append(elapsed)
                if body["state"] == until:
                    break
            if body is None or body["state"] not in (until, "DONE"):
                raise Stuck(f"phase {phase} ended in {body and body['state']}: {body and body.get('prompt')}")
            if body["state"] == "DONE":
                break
        time.sleep(3.0)  # learning that runs after the answer ends before the next check-in
        learned = list(learning_runs)
        learning_runs.clear()
        return {"done_answer_ms": round(done_ms, 1), "frames": sent, "learned": samples() - before,
                "learning": learned,
                "smiling_answers_ms": [round(ms, 1) for ms in smiling_ms], "prompt": body["prompt"]}

    def check_in_again_when_stuck(traced: bool) -> dict:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                result = check_in(traced)
                result["attempt"] = attempt
                return result
            except Stuck as stuck:
                print(f"check-in attempt {attempt}: {stuck}", file=sys.stderr)
                learning_runs.clear()
        raise SystemExit(f"no check-in in {ATTEMPTS} attempts")

    results = []
    for index in range(check_ins + 1):
        result = check_in_again_when_stuck(traced=False)
        result["warm_up"] = index == 0
        results.append(result)
    report: dict = {"check_ins": results}
    if trace:
        check_in_again_when_stuck(traced=True)
        sequence = tracer.sequence
        write_at = tracer.write_at if tracer.write_at is not None else len(sequence)
        after = sequence[write_at:]
        steering = merged([m for m in sequence[:write_at + 1] if layer_of(m) in ("web", "services", "checkin")])
        report["trace"] = {
            "steering_until_the_row": steering,
            "steering": count_changes(steering),
            "path_to_the_row": tracer.write_stack,
            "path": count_changes(tracer.write_stack or []),
            "trace_until_the_row": count_changes(sequence[:write_at + 1]),
            "trace_whole_frame": count_changes(sequence),
            "modules_after_the_row": sorted(set(after)),
            "services_reading_request_state": sorted(set(tracer.request_state)),
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--code", action="append", type=Path, default=[],
                        help="another checkout to measure beside this one (repeatable)")
    parser.add_argument("--check-ins", type=int, default=4, help="timed check-ins per child (plus one warm-up)")
    parser.add_argument("--rounds", type=int, default=2, help="children per checkout, alternating")
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--scratch", type=Path, help="where the throwaway sites go (default: the temp dir)")
    parser.add_argument("--learn-every-check-in", action="store_true",
                        help="learning's near-copy rule off, so that every check-in adds a learned sample")
    parser.add_argument("--reuse", type=Path,
                        help="the folder of an earlier run (its path is printed): its sites are used again, "
                             "in the same order of checkouts")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--frames", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--token", default="", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.frames, args.check_ins, args.token, args.trace)))
        return
    if args.learn_every_check_in:
        os.environ["FRAME_PATH_LEARN_EVERY_CHECK_IN"] = "1"  # the children read it
    codes = [REPO] + [code.resolve() for code in args.code]
    report = drive(codes, args.check_ins, args.rounds, args.scratch, args.reuse)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
