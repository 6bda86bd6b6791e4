"""The kiosk as the person at it experiences it: a real browser, a real camera stream, the real
server, on this machine (issue 12). ``make bench`` runs it after ``kiosk bench``.

    .venv/bin/python benchmarks/browser_checkin.py [--check-ins 3] [--json FILE] [--keep] [--code DIR]

``--code DIR`` serves another checkout of the kiosk (say ``git worktree add /tmp/baseline main``)
with this checkout's virtualenv (``PYTHONPATH=DIR``) and the same camera, people and measurement:
old and new code measured in one sitting, at the same load. Code from before issue 12 has no
readiness state: its "ready" is the moment ``/healthz`` first answers (its models load on the
first frame), and it has no "Starting..." screen.

What runs (all on this machine, sharing its cores, as a kiosk box does):

* the server as ``make run`` starts it (``scripts/run_server.sh``: nginx with the shipped
  ``nginx.conf`` when installed, in front of gunicorn with the shipped ``gunicorn.conf.py``, HTTPS,
  one worker that warms its models up at start) on a throwaway
  site: Barack Obama, Joe Biden and Colin Powell enrolled from ``tests/data/faces`` through the
  ``kiosk`` command, and ``kiosk train faces``. The arms-out composite below is enrolled for
  Obama too: the camera shows composites, and this measures speed, not recognition accuracy
  (``make evaluate`` does that);
* Debian's Chromium, headless, driven by Playwright, with its fake camera playing a Y4M loop at
  15 frames a second: an empty room (5 s), then Obama with his arms held out and a neutral face
  (2.5 s: identify him), making an O (1.5 s: confirm), then smiling (2 s: the photo; the liveness
  check sees the face rise from neutral to a smile). The pictures are composites of real photos:
  the arms from one (``training/make_arm_composites.py``; there is no photo of anyone making an O),
  the neutral face (fr_obama/4) and the smile (fr_obama/5) swapped onto it
  (``kiosk.benchmarks.spoof_frames.swap_face``); the face stays in place across them, with a
  webcam's small shifts and exposure changes. Code from before the liveness check takes the photo
  on the held smile too, so old and new are compared on the same person. Every segment has a grey
marker in its top-left corner, which a
  script added to the page for the benchmark only reads on each camera frame, so the moment a
  segment appears on the camera is known;
* the page is opened while the server is still warming up (it must show "Starting...").

Printed (one JSON object): the load average; the warm-up; the first answer after the server
reports ready; per check-in, face appearing on camera -> CONFIRMING on screen, O appearing ->
SMILING, face appearing -> DONE; per state, the frames per second the page actually got answers
for, the round trip and the server's time. Targets (issue 12): first answer after ready <= 1 s,
face -> CONFIRMING <= 1.0 s, held O -> SMILING <= 0.6 s, >= 10 frames/s in CONFIRMING and SMILING.
Figures are measured, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "browser"))

from fake_camera import live_jitter, write_y4m  # noqa: E402

FACES = REPO / "tests" / "data" / "faces"
GESTURES = REPO / "tests" / "data" / "gestures"
CHROMIUM = Path("/usr/bin/chromium")
FPS = 15
# (segment, seconds, picture); the marker grey of each segment is its index * MARKER_STEP.
TIMELINE = [
    ("empty", 5.0, None),
    ("face", 2.5, (GESTURES / "composite_obama_arms_out.jpg", FACES / "fr_obama" / "4.jpg")),
    ("o", 1.5, (GESTURES / "composite_obama_o.jpg", FACES / "fr_obama" / "4.jpg")),
    ("smile", 2.0, (GESTURES / "composite_obama_arms_out.jpg", FACES / "fr_obama" / "5.jpg")),
]
MARKER_STEP = 80
MARKER = (slice(0, 16), slice(0, 16))
ENROLLED = {
    "Barack Obama": ["fr_obama/2.jpg", "fr_obama/3.jpg", "fr_obama/4.jpg", GESTURES / "composite_obama_arms_out.jpg"],
    "Joe Biden": ["fr_biden/1.jpg", "fr_biden/2.jpg"],
    "Colin Powell": ["lfw_Colin_Powell/1.jpg", "lfw_Colin_Powell/2.jpg", "lfw_Colin_Powell/3.jpg"],
}
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--ignore-certificate-errors", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
]

# Added to the page for the benchmark only: it watches, it changes nothing. Times are epoch ms
# (performance.timeOrigin + performance.now()), the clock the benchmark's own process reads too.
WATCHER = """
(() => {
  const epoch = () => performance.timeOrigin + performance.now();
  window.__bench = { states: [], segments: [], marker: [], answers: [] };
  // Every answered frame, read from the page's own fetch (any version of kiosk.js sends frames
  // with fetch): when it came back, when it was sent, the state it says and the server's time.
  const pageFetch = window.fetch;
  window.fetch = function (input) {
    const url = typeof input === 'string' ? input : input.url;
    const sentAt = epoch();
    const answer = pageFetch.apply(this, arguments);
    if (url.indexOf('/kiosk/frames') !== -1) {
      answer.then((response) => response.clone().json().then((body) => {
        if (response.status === 200 && body.state) {
          window.__bench.answers.push({ t: epoch(), sentAt: sentAt, state: body.state, serverMs: body.server_ms });
        }
      })).catch(() => {});
    }
    return answer;
  };
  let lastState = null;
  const watchState = () => {
    const state = document.body && document.body.dataset.state;
    if (state && state !== lastState) {
      lastState = state;
      const prompt = (document.getElementById('prompt') || {}).textContent;
      window.__bench.states.push({ t: epoch(), state: state, prompt: prompt });
    }
  };
  new MutationObserver(watchState).observe(document,
    { subtree: true, attributes: true, attributeFilter: ['data-state'] });
  document.addEventListener('DOMContentLoaded', () => {
    watchState();
    const video = document.getElementById('camera');
    const canvas = document.createElement('canvas');
    canvas.width = 1; canvas.height = 1;
    const context = canvas.getContext('2d', { willReadFrequently: true });
    let lastSegment = null;
    const onFrame = () => {
      video.requestVideoFrameCallback(onFrame);
      context.drawImage(video, 8, 8, 1, 1, 0, 0, 1, 1);
      const grey = context.getImageData(0, 0, 1, 1).data[0];
      const segment = Math.round(grey / STEP);
      if (segment !== lastSegment) {
        lastSegment = segment;
        window.__bench.segments.push({ t: epoch(), segment: segment, grey: grey });
      }
    };
    video.requestVideoFrameCallback(onFrame);
  });
})();
""".replace("STEP", str(MARKER_STEP))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def camera_frames() -> list[np.ndarray]:
    """The looping camera: each segment's picture with a webcam's jitter, its marker in the corner."""
    import cv2

    frames = []
    for index, (_, seconds, picture) in enumerate(TIMELINE):
        count = int(round(seconds * FPS))
        if picture is None:
            rng = np.random.default_rng(index)
            room = np.clip(rng.normal(150, 6, (480, 640, 3)), 0, 255).astype(np.uint8)
            cv2.putText(room, "empty room", (200, 240), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (110, 110, 110), 2)
            base = room
        else:
            from kiosk.benchmarks.spoof_frames import swap_face

            body, face = picture
            base = swap_face(cv2.imread(str(body)), cv2.imread(str(face)))
        for frame in live_jitter(base, count, seed=index):
            frame[MARKER] = index * MARKER_STEP
            frames.append(frame)
    return frames


class Site:
    """A throwaway data dir with people enrolled and the face model trained, through the CLI."""

    def __init__(self, root: Path, env: dict[str, str], code: Path = REPO) -> None:
        self.data_dir = root / "data"
        self.env = {**env, "KIOSK_DATA_DIR": str(self.data_dir)}
        self.code = code

    def kiosk(self, *args: str) -> str:
        result = subprocess.run([str(REPO / ".venv" / "bin" / "kiosk"), *args], env=self.env, cwd=self.code,
                                capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            raise SystemExit(f"kiosk {' '.join(args)} failed:\n{result.stderr[-2000:]}")
        return result.stdout

    def device_token(self) -> str | None:
        """A paired kiosk's token (kiosks must be paired); None for older code without pairing."""
        import secrets

        result = subprocess.run([str(REPO / ".venv" / "bin" / "kiosk"), "devices", "add",
                                 f"Benchmark kiosk {secrets.token_hex(3)}", "--json"],
                                env=self.env, cwd=self.code, capture_output=True, text=True, timeout=300)
        return json.loads(result.stdout)["token"] if result.returncode == 0 else None

    def prepare(self) -> dict:
        self.kiosk("db", "upgrade")
        for name, photos in ENROLLED.items():
            self.kiosk("people", "enroll", name, *[str(FACES / p) if isinstance(p, str) else str(p) for p in photos])
        return json.loads(self.kiosk("train", "faces"))


class Server:
    """``scripts/run_server.sh``, as ``make run`` starts it."""

    def __init__(self, root: Path, env: dict[str, str], code: Path = REPO) -> None:
        self.code = code
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.log = root / "server.log"
        self.env = {**env, "KIOSK_PORT": str(self.port)}
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.health: list[tuple[float, dict]] = []  # (epoch s, /healthz answer) whenever it changes
        self._stop = threading.Event()

    def start(self) -> None:
        self.started_at = time.time()
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([str(self.code / "scripts" / "run_server.sh")], env=self.env, cwd=self.code,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        threading.Thread(target=self._watch_health, daemon=True).start()

    def _watch_health(self) -> None:
        import requests
        import urllib3

        urllib3.disable_warnings()
        last = None
        while not self._stop.is_set():
            try:
                answer = requests.get(self.url + "/healthz", verify=False, timeout=2).json()
            except (requests.RequestException, ValueError):
                answer = None
            if answer is not None and (last is None or answer.get("models") != last.get("models")):
                self.health.append((time.time(), answer))
                last = answer
            time.sleep(0.05)

    def first(self, models: str | None, timeout_s: float = 300) -> tuple[float, dict]:
        """When /healthz first said ``models`` (None: first answered at all). Code without a
        readiness state (no ``models`` in its answer) is ready when it first answers."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            for at, answer in self.health:
                if models is None or answer.get("models", models) == models:
                    return at, answer
            if self.proc.poll() is not None:
                raise SystemExit(f"the server stopped:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)
        raise SystemExit(f"the server never reported models {models!r}:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self._stop.set()
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 2)  # SIGINT: gunicorn's quick shutdown
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)


def segment_starts(segments: list[dict], name: str) -> list[float]:
    index = [n for n, _, _ in TIMELINE].index(name)
    return [s["t"] for s in segments if s["segment"] == index]


def first_after(events: list[dict], state: str, after: float, before: float | None = None) -> float | None:
    for event in events:
        if event["t"] >= after and event["state"] == state and (before is None or event["t"] < before):
            return event["t"]
    return None


def check_ins(states: list[dict], segments: list[dict], serving_from: float, until: float | None = None) -> list[dict]:
    """Each loop of the camera in which the kiosk was serving: the person's three moments. Loops
    that reached DONE, and with ``until`` (epoch ms) also those that ended before it without one."""
    faces = [t for t in segment_starts(segments, "face") if t >= serving_from]
    o_starts, loop_ms = segment_starts(segments, "o"), 1000 * sum(s for _, s, _ in TIMELINE)
    results = []
    for face_at in faces:
        end = face_at + loop_ms - 500  # times are epoch ms
        confirming = first_after(states, "CONFIRMING", face_at, end)
        o_at = next((t for t in o_starts if face_at < t < end), None)
        smiling = first_after(states, "SMILING", o_at, end) if o_at else None
        done = first_after(states, "DONE", face_at, end)
        if done is None and (until is None or end > until):
            continue  # the loop was still running when the benchmark stopped
        results.append({
            "completed": done is not None,
            "face_to_confirming_s": _seconds(confirming, face_at),
            # The hold can only start once CONFIRMING is on: from the later of the two.
            "o_to_smiling_s": _seconds(smiling, max(o_at, confirming)) if o_at and confirming else None,
            "confirmed_before_o": bool(confirming and o_at and confirming <= o_at),
            "face_to_done_s": _seconds(done, face_at),
            "states": [e["state"] for e in states if face_at <= e["t"] <= (done or end)],
        })
    return results


def _seconds(later: float | None, earlier: float | None) -> float | None:
    return None if later is None or earlier is None else round((later - earlier) / 1000, 3)


def per_state(answers: list[dict], since: float) -> dict:
    """Frames per second the page got answers for while each state was on screen, with round trips
    and server times. An answer counts for the state that was on screen when its frame was sent."""
    answers = [a for a in answers if a["t"] >= since]
    figures: dict[str, dict] = {}
    for previous, answer in zip(answers, answers[1:]):
        state = previous["state"]  # on screen from previous["t"] until this answer
        figure = figures.setdefault(state, {"frames": 0, "seconds": 0.0, "round_trip_ms": [], "server_ms": [],
                                            "first_server_ms": answer["serverMs"]})
        figure["frames"] += 1
        figure["seconds"] += (answer["t"] - previous["t"]) / 1000
        figure["round_trip_ms"].append(answer["t"] - answer["sentAt"])
        if answer["serverMs"] is not None:
            figure["server_ms"].append(answer["serverMs"])
    return {
        state: {
            "frames_per_s": round(f["frames"] / f["seconds"], 1) if f["seconds"] else None,
            "frames": f["frames"],
            "round_trip_median_ms": round(statistics.median(f["round_trip_ms"]), 1),
            "server_median_ms": round(statistics.median(f["server_ms"]), 1) if f["server_ms"] else None,
            # The first frame in this state after the server was ready: warm-up's proof.
            "first_frame_server_ms": f["first_server_ms"],
        }
        for state, f in figures.items()
    }


def _median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def run(check_in_count: int = 3, keep: bool = False, scratch: Path | None = None,
        site_from: Path | None = None, code: Path = REPO) -> dict:
    from playwright.sync_api import sync_playwright

    root = Path(tempfile.mkdtemp(prefix="kiosk-browser-bench-", dir=scratch))
    home = root / "home"
    (home / "tmp").mkdir(parents=True)
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(home / "tmp"), "TF_CPP_MIN_LOG_LEVEL": "2",
           # Every loop of the camera is a new check-in, not "already checked in" (nor an "out").
           "KIOSK_DUPLICATE_WINDOW_MINUTES": "0", "KIOSK_REPEAT_RULE": "ignore"}
    env.pop("KIOSK_DATABASE_URL", None)
    if code != REPO:  # another checkout's code with this checkout's virtualenv
        env.update(PYTHONPATH=str(code), KIOSK_BIN=str(REPO / ".venv" / "bin"))
    started = time.time()
    site = Site(root, env, code)
    if site_from is not None:  # a site prepared by an earlier run (--keep): copied, not prepared again
        import shutil

        shutil.copytree(site_from, site.data_dir)
        training = {"embedder": "as prepared in " + str(site_from)}
    else:
        training = site.prepare()
    camera = write_y4m(root / "camera.y4m", camera_frames())
    token = site.device_token()
    server = Server(root, site.env, code)
    figures: dict = {"code": _describe_code(code), "load_average_at_start": load_average(),
                     "embedder": training.get("embedder"), "site_prepared_s": round(time.time() - started, 1)}
    try:
        server.start()
        alive_at, _ = server.first(None)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, env={**env},
                args=CHROMIUM_ARGS + [f"--use-file-for-fake-video-capture={camera}"])
            context = browser.new_context(viewport={"width": 1280, "height": 720}, ignore_https_errors=True)
            if token:  # the kiosk is paired, as after an administrator approved its code
                context.add_cookies([{"name": "kiosk_device_token", "value": token, "url": server.url,
                                      "httpOnly": True, "secure": True, "sameSite": "Strict"}])
            page = context.new_page()
            page.add_init_script(WATCHER)
            opened_at = time.time()
            page.goto(server.url + "/")
            ready_at, ready = server.first("ready")
            loop_s = sum(s for _, s, _ in TIMELINE)
            deadline = time.time() + (check_in_count + 2) * loop_s + 60
            while time.time() < deadline:
                page.wait_for_timeout(1000)
                bench = page.evaluate("window.__bench")
                if sum(r["completed"] for r in check_ins(bench["states"], bench["segments"], ready_at * 1000)) \
                        >= check_in_count:
                    break
            page.evaluate("window.kiosk.pause()")
            stopped_at = time.time() * 1000
            bench = page.evaluate("window.__bench")
            stats = page.evaluate("JSON.parse(JSON.stringify(window.kiosk.stats))")
            frame_clock = page.evaluate("window.kiosk.frameClock || null")
            browser.close()
    finally:
        server.stop()
    ready_ms = ready_at * 1000
    served = bench["answers"]
    first_after_ready = next((a for a in served if a["t"] >= ready_ms), None)
    server_ms = sorted(a["serverMs"] for a in served if a["serverMs"] is not None)
    runs = check_ins(bench["states"], bench["segments"], first_after_ready["t"] if first_after_ready else ready_ms,
                     until=stopped_at)
    starting_shown = any(e["state"] == "STARTING" and e["t"] >= opened_at * 1000 for e in bench["states"])
    figures.update({
        "server_alive_after_s": round(alive_at - server.started_at, 2),
        "warm_up_s": ready.get("warm_up_s"),
        "page_opened_before_ready": opened_at < ready_at,
        "starting_shown_while_warming": starting_shown and stats.get("warming", 0) > 0,
        "warming_answers": stats.get("warming"),
        "first_answer_after_ready_s": _seconds(first_after_ready["t"], ready_ms) if first_after_ready else None,
        "first_answer_server_ms": first_after_ready["serverMs"] if first_after_ready else None,
        "median_server_ms_all_frames": round(statistics.median(server_ms), 1) if server_ms else None,
        "check_ins": sum(r["completed"] for r in runs),
        "loops_with_a_face": len(runs),
        "face_to_confirming_s": _median(r["face_to_confirming_s"] for r in runs),
        "o_to_smiling_s": _median(r["o_to_smiling_s"] for r in runs),
        "face_to_done_s": _median(r["face_to_done_s"] for r in runs),
        "per_check_in": runs,
        "per_state": per_state(served, first_after_ready["t"] if first_after_ready else ready_ms),
        "page": {"frame_clock": frame_clock, "frames_sent": stats["framesSent"], "answers": stats["answers"],
                 "encodes": stats.get("encodes"), "busy": stats["busy"], "errors": stats["errors"],
                 "max_in_flight": stats["maxInFlight"]},
        "load_average_at_end": load_average(),
        "targets": {"first_answer_after_ready_s": 1.0, "face_to_confirming_s": 1.0, "o_to_smiling_s": 0.6,
                    "frames_per_s_confirming_and_smiling": 10},
    })
    if keep:
        figures["scratch"] = str(root)
        (root / "raw.json").write_text(json.dumps({"states": bench["states"], "segments": bench["segments"],
                                                   "answers": served,
                                                   "ready_at": ready_at, "health": server.health}))
    else:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    return figures


def _describe_code(code: Path) -> str:
    result = subprocess.run(["git", "-C", str(code), "log", "-1", "--format=%h %s"], capture_output=True, text=True)
    return f"{code} at {result.stdout.strip()[:80]}" if result.returncode == 0 else str(code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check-ins", type=int, default=3, help="complete check-ins to measure (default 3)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (server log, camera file)")
    parser.add_argument("--site", type=Path, help="copy this data dir (from an earlier --keep run) instead of "
                                                   "enrolling and training again")
    parser.add_argument("--code", type=Path, default=REPO,
                        help="serve this checkout's code instead (old vs new in one sitting; see above)")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit("needs Debian's chromium at /usr/bin/chromium (scripts/system-deps.sh)")
    figures = run(args.check_ins, args.keep, site_from=args.site, code=args.code.resolve())
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
