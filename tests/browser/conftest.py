"""Shared fixtures for the real-browser tests (BRIEF section 8).

- ``tls_cert``: a self-signed certificate for 127.0.0.1 (openssl), made once per session.
- ``browser_scratch``: HOME/TMPDIR for Chromium and gunicorn (they write crash dumps,
  NSS databases and control sockets there; never the developer's home).
- ``prepare_data_dir()``: a fresh data dir holding the migrated database (the session
  template of tests/conftest.py), ready for a test to enroll people or add an admin.
- ``start_https_app(data_dir, env=None)``: the real app under gunicorn with
  ``--certfile/--keyfile`` on 127.0.0.1 (a free port); returns an ``HttpsApp`` with
  ``.url``; stopped at the end of the session.
- ``launch_chromium(video=None, fake_ui=True, extra_args=())``: Debian's
  /usr/bin/chromium driven by Playwright (never ``playwright install``), with a fake camera
  fed from ``video`` (a .y4m file; ``None`` = no file flag); closed at the end of the test.
- The fake-camera file (``write_y4m``, ``webcam_frames``) is made by ``fake_camera.py``
  in this folder (a plain module: ``from fake_camera import write_y4m``).

Every test in this folder is marked ``browser`` and skipped when Chromium is not installed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pytest

CHROMIUM = Path("/usr/bin/chromium")
REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = REPO_ROOT / "artifacts"

# BRIEF section 8: the flags verified on these machines. The host-resolver rule stops
# Chromium from looking up Google hosts forever when there is no internet.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--ignore-certificate-errors",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
FAKE_CAMERA_ARGS = ["--use-fake-device-for-media-stream"]
FAKE_UI_ARG = "--use-fake-ui-for-media-stream"  # grants the camera without a prompt



def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists():
                item.add_marker(pytest.mark.skip(reason="needs Debian's chromium at /usr/bin/chromium"))


# ---------------------------------------------------------------- HTTPS app


@pytest.fixture(scope="session")
def browser_scratch(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("browser-home")
    (folder / "tmp").mkdir()
    return folder


@pytest.fixture(scope="session")
def tls_cert(browser_scratch) -> tuple[Path, Path]:
    cert, key = browser_scratch / "cert.pem", browser_scratch / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="session")
def prepare_data_dir(tmp_path_factory, migrated_db_template):
    """``prepare_data_dir(name="data")`` -> a new data dir with the migrated database in it."""

    def prepare(name: str = "data") -> Path:
        folder = tmp_path_factory.mktemp(name) / "data"
        folder.mkdir()
        shutil.copy(migrated_db_template, folder / "kiosk.sqlite3")
        return folder

    return prepare


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class HttpsApp:
    url: str
    data_dir: Path
    log_path: Path
    process: subprocess.Popen = field(repr=False)

    cert: Path | None = None

    def wait_ready(self, timeout: float = 60.0, path: str = "/healthz") -> HttpsApp:
        """Block until ``path`` answers 200 (raises with the server log if it never does):
        /healthz once the server is up, /readyz once its models are warm too."""
        import requests

        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(self.url + path, verify=str(self.cert), timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer on {self.url} within {timeout} s:\n{self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            # SIGINT is gunicorn's quick shutdown; SIGTERM would wait out graceful_timeout.
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def browser_env(scratch: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(HOME=str(scratch), TMPDIR=str(scratch / "tmp"), TF_CPP_MIN_LOG_LEVEL="2")
    return env


@pytest.fixture(scope="session")
def start_https_app(browser_scratch, tls_cert):
    """Factory: ``start_https_app(data_dir, env={...}, wait=True, warm_up=False)`` -> a running
    ``HttpsApp`` (``wait=False``: return at once, call ``.wait_ready()`` later, to overlap its
    start-up).

    One gunicorn worker: the kiosk keeps each session's state machine in the worker's
    memory. Threads let the page's state/reset calls and the health check overlap a slow
    first frame. ``warm_up=True`` starts it with the shipped gunicorn.conf.py, whose worker
    loads every model at start (as ``make run`` does); otherwise the models load on first use
    (the page's own tests need none). ``--timeout`` covers a first load on a busy 2-core machine.
    """
    cert, key = tls_cert
    started: list[HttpsApp] = []

    def start(data_dir: Path, env: dict[str, str] | None = None, timeout: float = 60.0, wait: bool = True,
              warm_up: bool = False) -> HttpsApp:
        port = _free_port()
        log_path = Path(data_dir).parent / f"gunicorn-{port}.log"
        server_env = browser_env(browser_scratch)
        server_env.update(KIOSK_DATA_DIR=str(data_dir), KIOSK_SECURE_COOKIES="1")
        server_env.update(env or {})
        config = ["-c", str(REPO_ROOT / "gunicorn.conf.py")] if warm_up else []
        server_env["KIOSK_WARM_UP"] = "1" if warm_up else "0"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", *config, "--bind", f"127.0.0.1:{port}",
                 "--certfile", str(cert), "--keyfile", str(key),
                 "--workers", "1", "--threads", "4", "--timeout", "180", "--graceful-timeout", "5",
                 "--access-logfile", "-", "kiosk:create_app()"],
                cwd=REPO_ROOT, env=server_env, stdout=log, stderr=subprocess.STDOUT,
            )
        app = HttpsApp(url=f"https://127.0.0.1:{port}", data_dir=Path(data_dir), log_path=log_path,
                       process=process, cert=cert)
        started.append(app)
        return app.wait_ready(timeout) if wait else app

    yield start
    for app in started:
        app.stop()


# ---------------------------------------------------------------- Chromium


@pytest.fixture
def launch_chromium(playwright_instance, browser_scratch):
    """Factory: ``launch_chromium(video=PATH.y4m, fake_ui=True, extra_args=())`` -> Browser.

    ``video=None`` leaves out ``--use-file-for-fake-video-capture`` (Chromium's own test
    pattern camera); ``fake_ui=False`` leaves out the auto-accept of the camera prompt, so
    headless Chromium denies the camera.
    """
    browsers = []

    def launch(video: Path | None = None, fake_ui: bool = True, extra_args: Iterable[str] = ()):
        args = list(CHROMIUM_ARGS) + FAKE_CAMERA_ARGS
        if fake_ui:
            args.append(FAKE_UI_ARG)
        if video is not None:
            args.append(f"--use-file-for-fake-video-capture={video}")
        args.extend(extra_args)
        browser = playwright_instance.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=args, env=browser_env(browser_scratch), timeout=60_000,
        )
        browsers.append(browser)
        return browser

    yield launch
    for browser in browsers:
        try:
            browser.close()
        except Exception:  # noqa: BLE001 - a crashed browser must not hide the test's own failure
            pass
