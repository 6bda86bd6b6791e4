"""A first-time user's day one, timed: the README's "First day" walkthrough followed literally in a
fresh clone, from ``make run`` to the first check-in recorded. ``make first-day`` runs it.

    .venv/bin/python benchmarks/first_day.py [--json FILE] [--keep] [--source DIR] [--again CLONE]

What it does, in order:

1. ``git clone`` of this checkout's committed HEAD (``--source``) into a temporary folder: no
   .venv, no models/facenet/, no instance/, as a newcomer has it.
2. Reads the commands of the README's "First day" section from its ``sh`` code blocks, in the
   order written (``walkthrough_commands``), and runs each one in the clone, failing loudly when one
   fails. ``make run`` (terminal 1) is started in the background and the script goes on, as the
   README says, once the server answers; the others run to their end. The few things a person
   supplies themselves are substituted, and printed: the administrator's password (typed at the
   prompt; here on stdin), the photos (the README's ``ada1.jpg ...`` become real photos from
   ``../shared/datasets/faces-dev``: the first person enrolled is the one in front of the camera,
   Barack Obama's photos 1-3; the next ones other people's), the pairing code (read from the kiosk's
   screen), and the port (``KIOSK_PORT``, a free one: 8443 may be taken on a shared machine).
3. Opens the kiosk page in Debian's Chromium (headless, Playwright) with a fake camera playing a
   person in front of it (arm composites of a real photo with his own neutral face, then an O,
   then his smile: see benchmarks/browser_checkin.py), reads the pairing code it shows, pairs it
   with the README's command, and waits for the check-in to be in the database.

Prints a table (step, seconds) and the total from ``make run`` to the first recorded check-in,
measured on this machine, and separately a reading-time estimate for a person (the walkthrough's
words at 200 words a minute): an estimate, not a measurement. Not run in CI: it installs a whole
environment (several minutes, ~3 GB in the temporary folder).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SECTION = "## First day"
DATASET = REPO.parent / "shared" / "datasets" / "faces-dev"
# Who each person of the walkthrough is, in the order the README enrolls them. The first one is
# in front of the camera: the arm composites below are of him (tests/data/gestures).
PEOPLE_PHOTOS = [
    [DATASET / "fr_obama" / f"{n}.jpg" for n in (1, 2, 3)],
    [DATASET / "lfw_Colin_Powell" / f"{n}.jpg" for n in (1, 2, 3, 4, 5)],
    [DATASET / "lfw_Tony_Blair" / f"{n}.jpg" for n in (1, 2, 3, 4, 5)],
]
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
PAIRING_PLACEHOLDER = re.compile(r"^[A-Z0-9]{3}-[A-Z0-9]{3}$")
ADMIN_PASSWORD = "first day passphrase 2026"
READING_WPM = 200
FPS = 15


@dataclass
class Command:
    step: str   # the walkthrough's step number, "1", "2", ...
    line: str   # as written in the README, comment and all
    argv: list[str]


def walkthrough_section(readme_text: str) -> str:
    """The README's "First day" section: from its heading to the next level-2 heading."""
    lines = readme_text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(SECTION)), None)
    if start is None:
        raise SystemExit(f"README.md has no section starting with {SECTION!r}")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[start:end])


def walkthrough_commands(readme_text: str) -> list[Command]:
    """Every command of the section's ``sh`` code blocks, in the order written, with its step."""
    commands: list[Command] = []
    step, in_block = "", False
    for raw in walkthrough_section(readme_text).splitlines():
        line = raw.strip()
        numbered = re.match(r"^(\d+)\.\s", raw)
        if numbered and not in_block:
            step = numbered.group(1)
        if line.startswith("```"):
            in_block = (not in_block) and line in ("```sh", "```bash", "```shell")
            continue
        if in_block and line:
            argv = shlex.split(line, comments=True)
            if argv:
                commands.append(Command(step, line, argv))
    if not commands:
        raise SystemExit("README.md's first-day section has no sh code block with a command")
    return commands


def reading_words(readme_text: str) -> int:
    """Words a person reads in the walkthrough: prose and commands, not image links or table rules."""
    text = walkthrough_section(readme_text)
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", "", text)  # screenshots: looked at, not read
    text = re.sub(r"\]\([^)]*\)", "]", text)  # a link's address
    return len(re.findall(r"[\w.'’/-]+", text.replace("|", " ").replace("---", " ")))


@dataclass
class Plan:
    """The README's commands with what a person supplies themselves filled in."""

    commands: list[Command]
    substitutions: list[str] = field(default_factory=list)
    enrolled: list[str] = field(default_factory=list)

    @classmethod
    def from_readme(cls, readme_text: str, people_photos=PEOPLE_PHOTOS) -> Plan:
        plan = cls(walkthrough_commands(readme_text))
        for command in plan.commands:
            if command.argv[1:3] == ["people", "enroll"]:
                name, photos = command.argv[3], command.argv[4:]
                if len(plan.enrolled) >= len(people_photos):
                    raise SystemExit(f"the README enrolls more people than this script has photos for: {name}")
                real = people_photos[len(plan.enrolled)]
                if len(photos) > len(real) or not all(p.lower().endswith(PHOTO_SUFFIXES) for p in photos):
                    raise SystemExit(f"cannot map the README's photos {photos} to real ones ({len(real)} at hand)")
                command.argv[4:] = [str(p) for p in real[:len(photos)]]
                plan.enrolled.append(name)
                used = ', '.join(p.parent.name + '/' + p.name for p in real[:len(photos)])
                plan.substitutions.append(f"{name}: {' '.join(photos)} -> {used}")
        if not plan.enrolled:
            raise SystemExit("the README's walkthrough enrolls nobody")
        if not any(c.argv[:2] == ["make", "run"] for c in plan.commands):
            raise SystemExit("the README's walkthrough does not start the kiosk with make run")
        if plan.pairing_command() is None:
            raise SystemExit("the README's walkthrough has no `kiosk devices pair CODE` command")
        return plan

    def pairing_command(self) -> Command | None:
        return next((c for c in self.commands if c.argv[1:3] == ["devices", "pair"]), None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Timer:
    def __init__(self) -> None:
        self.rows: list[tuple[str, float]] = []

    def add(self, step: str, seconds: float) -> None:
        self.rows.append((step, round(seconds, 1)))
        print(f"  {seconds:7.1f} s  {step}", file=sys.stderr, flush=True)


def camera_file(folder: Path) -> Path:
    """The person in front of the camera, looping: arms out with a neutral face (to be
    recognised), an O (to confirm), arms out with a smile (the photo); a webcam's small shifts."""
    import cv2

    sys.path.insert(0, str(REPO / "tests" / "browser"))
    from fake_camera import live_jitter, write_y4m

    from kiosk.benchmarks.spoof_frames import swap_face

    gestures, faces = REPO / "tests" / "data" / "gestures", REPO / "tests" / "data" / "faces" / "fr_obama"
    timeline = [(gestures / "composite_obama_arms_out.jpg", faces / "4.jpg", 3.0),
                (gestures / "composite_obama_o.jpg", faces / "4.jpg", 1.5),
                (gestures / "composite_obama_arms_out.jpg", faces / "5.jpg", 2.5)]
    frames = []
    for index, (body, face, seconds) in enumerate(timeline):
        base = swap_face(cv2.imread(str(body)), cv2.imread(str(face)))
        frames.extend(live_jitter(base, int(seconds * FPS), seed=index))
    return write_y4m(folder / "person.y4m", frames)


def first_check_in(database: Path) -> tuple[str, str] | None:
    if not database.exists():
        return None
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as connection:
            return connection.execute(
                "SELECT person.name, attendance_event.timestamp FROM attendance_event "
                "JOIN person ON person.id = attendance_event.person_id "
                "WHERE attendance_event.source = 'kiosk' ORDER BY attendance_event.id LIMIT 1").fetchone()
    except sqlite3.Error:
        return None


def run(source: Path, keep: bool, again: Path | None = None) -> dict:
    readme_text = (source / "README.md").read_text()
    plan = Plan.from_readme(readme_text)
    root = again.parent if again else Path(tempfile.mkdtemp(prefix="kiosk-first-day-"))
    clone, home = root / "kiosk", root / "home"
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(home / "tmp"), "KIOSK_PORT": str(port)}
    for name in ("KIOSK_DATA_DIR", "KIOSK_DATABASE_URL", "VIRTUAL_ENV", "PYTHONPATH"):
        env.pop(name, None)  # a newcomer's shell has none of these
    timer = Timer()
    server: subprocess.Popen | None = None
    server_log = root / "make-run.log"
    print(f"First day in {clone} (port {port}); substitutions:", file=sys.stderr)
    for line in plan.substitutions + ["admin password: typed at the prompt (here: on stdin)",
                                      f"port: {port} instead of 8443 (KIOSK_PORT)",
                                      "pairing code: the one the kiosk shows",
                                      "the self-signed certificate's warning: accepted (ignore_https_errors)"]:
        print(f"  {line}", file=sys.stderr)

    started = time.monotonic()
    if again:  # a clone of an earlier --keep run, set up already: not a first day
        shutil.rmtree(clone / "instance", ignore_errors=True)
        subprocess.run(["git", "-C", str(clone), "pull", "--quiet", "--ff-only"], check=True)
    else:
        subprocess.run(["git", "clone", "--quiet", str(source), str(clone)], check=True)
    timer.add("git pull into the kept clone (NOT a first day: set up already)" if again
              else "git clone (not part of the walkthrough)", time.monotonic() - started)
    head = subprocess.run(["git", "-C", str(clone), "log", "-1", "--format=%h %s"], capture_output=True,
                          text=True).stdout.strip()

    url = f"https://localhost:{port}"
    database = clone / "instance" / "kiosk.sqlite3"
    figures: dict = {"clone": str(clone), "commit": head, "port": port, "load_average_at_start": os.getloadavg()}
    try:
        walkthrough_started = time.monotonic()
        for command in plan.commands:
            label = f"step {command.step}: {command.line.split('  #')[0].strip()}"
            t0 = time.monotonic()
            if command.argv[:2] == ["make", "run"]:
                with open(server_log, "wb") as log:
                    server = subprocess.Popen(command.argv, cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT,
                                              start_new_session=True)
                wait_for_server(server, url, server_log)
                timer.add(f"{label} -> the kiosk answers", time.monotonic() - t0)
                continue
            if command is plan.pairing_command():
                with kiosk_page(url, root) as page:
                    t0 = time.monotonic()
                    page.goto(url + "/")
                    page.wait_for_function("document.getElementById('pairing-code').textContent.trim().length > 0",
                                           timeout=120_000)
                    code = page.locator("#pairing-code").inner_text().strip()
                    timer.add(f"step {command.step}: open the kiosk page -> it shows the pairing code {code}",
                              time.monotonic() - t0)
                    argv = [code if PAIRING_PLACEHOLDER.match(a) else a for a in command.argv]
                    t0 = time.monotonic()
                    run_command(argv, clone, env)
                    timer.add(f"{label.replace(command.argv[3], code)}", time.monotonic() - t0)
                    t0 = time.monotonic()
                    page.wait_for_function("window.kiosk.pairing.paired && document.getElementById('pairing').hidden",
                                           timeout=60_000)
                    timer.add("step 3: paired -> the kiosk starts its camera", time.monotonic() - t0)
                    t0 = time.monotonic()
                    deadline = time.monotonic() + 240
                    found = None
                    while found is None:
                        if time.monotonic() > deadline:
                            raise SystemExit("no check-in was recorded within 4 minutes of pairing; states seen: "
                                             + str(page.evaluate("window.__states || []")))
                        found = first_check_in(database)
                        time.sleep(0.2)
                    timer.add(f"step 4: in front of the camera -> check-in recorded ({found[0]})",
                              time.monotonic() - t0)
                    page.wait_for_function("document.body.dataset.state === 'DONE'", timeout=30_000)
                    figures["kiosk_said"] = page.locator("#prompt").inner_text()
                    figures["checked_in"] = found[0]
                continue
            stdin = ADMIN_PASSWORD + "\n" if command.argv[1:3] == ["admin", "create"] else None
            run_command(command.argv, clone, env, stdin)
            timer.add(label, time.monotonic() - t0)
        total = time.monotonic() - walkthrough_started
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, 2)  # Ctrl-C, as the README says to stop it
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, 9)
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    words = reading_words(readme_text)
    figures.update({
        "steps": [{"step": step, "seconds": seconds} for step, seconds in timer.rows],
        "machine_total_s": round(total, 1),
        "expected_person": plan.enrolled[0],
        "reading_words": words,
        "reading_minutes_estimate": round(words / READING_WPM, 1),
        "load_average_at_end": os.getloadavg(),
        "substitutions": plan.substitutions,
    })
    if figures["checked_in"] != plan.enrolled[0]:
        raise SystemExit(f"the check-in was recorded for {figures['checked_in']}, not {plan.enrolled[0]}")
    return figures


def run_command(argv: list[str], cwd: Path, env: dict, stdin: str | None = None) -> None:
    result = subprocess.run(argv, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise SystemExit(f"README command failed (exit {result.returncode}): {shlex.join(argv)}\n"
                         f"{result.stdout[-2000:]}\n{result.stderr[-3000:]}")


def wait_for_server(server: subprocess.Popen, url: str, log: Path, timeout: float = 1800) -> None:
    """``make run`` is ready for terminal 2 when the kiosk answers (its setup done, the server up)."""
    import requests
    import urllib3

    urllib3.disable_warnings()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"make run stopped (exit {server.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if requests.get(url + "/healthz", verify=False, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit(f"make run did not serve {url} within {timeout} s:\n{log.read_text(errors='replace')[-3000:]}")


class kiosk_page:  # noqa: N801 - a context manager used like a function
    """Chromium with the fake camera, one page, closed at the end."""

    def __init__(self, url: str, root: Path) -> None:
        self.url, self.root = url, root

    def __enter__(self):
        from browser_checkin import CHROMIUM, CHROMIUM_ARGS

        # The README's address is localhost: exempt it, with 127.0.0.1, from the rule that keeps
        # Chromium from looking up other hosts.
        args = [a + ", EXCLUDE localhost" if a.startswith("--host-resolver-rules=") else a for a in CHROMIUM_ARGS]
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        browser_env = {**os.environ, "HOME": str(self.root / "home"), "TMPDIR": str(self.root / "home" / "tmp")}
        self._browser = self._playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, env=browser_env,
            args=args + [f"--use-file-for-fake-video-capture={camera_file(self.root)}"])
        # bypass_csp: the kiosk forbids eval, which Playwright's polling of a condition needs.
        context = self._browser.new_context(viewport={"width": 1280, "height": 720}, ignore_https_errors=True,
                                            bypass_csp=True)
        page = context.new_page()
        page.add_init_script("""window.__states = [];
            new MutationObserver(() => { const s = document.body && document.body.dataset.state;
              if (s && window.__states[window.__states.length - 1] !== s) window.__states.push(s); })
            .observe(document, {subtree: true, attributes: true, attributeFilter: ['data-state']});""")
        page.set_default_timeout(60_000)
        return page

    def __exit__(self, *exc) -> None:
        self._browser.close()
        self._playwright.stop()


def print_table(figures: dict) -> None:
    width = max(len(row["step"]) for row in figures["steps"])
    print(f"{'step'.ljust(width)}  seconds")
    for row in figures["steps"]:
        print(f"{row['step'].ljust(width)}  {row['seconds']:7.1f}")
    print(f"{'measured on this machine: make run -> first check-in recorded'.ljust(width)}  "
          f"{figures['machine_total_s']:7.1f}")
    print(f"\nA person's reading time, an ESTIMATE (not measured): {figures['reading_words']} words in the "
          f"walkthrough at {READING_WPM} words a minute = {figures['reading_minutes_estimate']} min, on top of "
          "the machine time above.")
    print(f"Kiosk said: {figures.get('kiosk_said')!r}; load average {figures['load_average_at_start']} -> "
          f"{figures['load_average_at_end']}; commit {figures['commit']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=REPO,
                        help="the repository to clone (its committed HEAD; default: this checkout)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the clone, its .venv and the server log")
    parser.add_argument("--again", type=Path, metavar="CLONE",
                        help="rerun in the clone an earlier --keep run left (its .venv reused, its site wiped): "
                             "for trying the script or the README, not a first-day figure")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "benchmarks"))
    from browser_checkin import CHROMIUM

    if not CHROMIUM.exists():
        raise SystemExit("needs Debian's chromium at /usr/bin/chromium (make system-deps)")
    if not DATASET.is_dir():
        raise SystemExit(f"needs the real photos in {DATASET}")
    figures = run(args.source.resolve(), args.keep or bool(args.again), args.again.resolve() if args.again else None)
    print_table(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
