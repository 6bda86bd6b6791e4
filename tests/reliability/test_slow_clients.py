"""Slow and idle clients (issue 21, part 1): while one kiosk streams frames at the camera's pace,
an attacker on another loopback address (127.0.0.2: limits are per address) opens

  (a) 4 TCP connections that send one byte (0x16, the start of a TLS record) and then nothing,
  (b) 4 TLS connections that send half a request line and headers and then nothing,
  (c) 500 TCP connections that send nothing,
  (d) 50 frame uploads whose body trickles (64 bytes a second), then stops.

Against the deployment (the shipped nginx.conf in front of gunicorn, as ``make run`` and
docker-compose serve it) each attack must leave the kiosk's p95 round trip within 2x of the quiet
figure measured in the same run, /healthz under 1 s, every frame answered, and every attack
connection closed by the server after nginx's time-out (client_header_timeout, or
client_body_timeout after the last byte of a trickle) plus a margin.

The same attacks against gunicorn serving TLS itself (``make run`` before issue 21; today its
fallback without nginx, KIOSK_RUN_WITHOUT_NGINX=1) give the "before" figures: bounded (5 s per
attack, 3 s per frame, 2 s per /healthz, then the attacker hangs up itself and the server is
given time to recover), printed next to the new ones and never asserted. Everything runs on
loopback only. About 2.5 minutes, both servers' warm-ups included.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from kiosk_stack import free_port, https_session, server_env, wait_until
from reliability_kit import Kiosk, KioskRun, percentile, report, run_kiosks

from kiosk.config import REPO_ROOT

ATTACKER = "127.0.0.2"  # the attack's own address: the kiosk and /healthz come from 127.0.0.1
NGINX_CONF = (REPO_ROOT / "nginx.conf").read_text()
HEADER_TIMEOUT_S = int(re.search(r"^\s*client_header_timeout (\d+)s;", NGINX_CONF, re.MULTILINE).group(1))
BODY_TIMEOUT_S = int(re.search(r"^\s*client_body_timeout (\d+)s;", NGINX_CONF, re.MULTILINE).group(1))
RELEASE_MARGIN_S = 10  # generous: a loaded machine may take a while to run nginx's timers

QUIET_S = 6.0
ATTACK_S = 6.0  # the kiosk streams this long under each attack
BEFORE_ATTACK_S = 5.0  # against gunicorn alone: short, it stalls
BEFORE_FRAME_TIMEOUT_S = 3.0
BEFORE_HEALTH_TIMEOUT_S = 2.0
HEALTH_TIMEOUT_S = 10.0
TRICKLE_BYTES, TRICKLE_EVERY_S = 64, 1.0


# ---------------------------------------------------------------------------- targets


class GunicornAlone:
    """``make run`` as it was before issue 21: gunicorn serving TLS itself (scripts/run_server.sh's
    fallback without nginx, bound to 127.0.0.1), on a copy of the site."""

    def __init__(self, root: Path, site_dir: Path) -> None:
        self.data_dir = root / "data"
        shutil.copytree(site_dir, self.data_dir)
        self.port = free_port()
        self.log_path = root / "run_server.log"
        self.env = server_env(self.data_dir, {"KIOSK_PORT": self.port, "KIOSK_RUN_WITHOUT_NGINX": "1",
                                              "KIOSK_BIN": Path(sys.executable).parent})
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def cert(self) -> Path:
        return self.data_dir / "tls" / "kiosk.crt"

    def session(self) -> requests.Session:
        return https_session(self.cert)

    def launch(self) -> GunicornAlone:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([str(REPO_ROOT / "scripts" / "run_server.sh")], cwd=REPO_ROOT, env=self.env,
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def wait_ready(self, timeout_s: float = 300) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"run_server.sh exited:\n{self.log_path.read_text()[-3000:]}")
            if not self.cert.exists():
                return False
            with contextlib.suppress(requests.RequestException):
                return self.session().get(self.url + "/readyz", timeout=3).status_code == 200
            return False

        wait_until(ready, timeout_s, 0.3, f"gunicorn alone on {self.port}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._log.close()


class ThroughNginx:
    """The deployment of the reliability suite (the shipped nginx.conf in front of gunicorn): the
    HTTPS port the attacks and the kiosk use."""

    def __init__(self, stack) -> None:
        self.stack = stack
        self.url, self.port, self.cert = stack.url, stack.nginx.https_port, stack.nginx.cert

    def session(self) -> requests.Session:
        return self.stack.session()


# ---------------------------------------------------------------------------- attacks


@dataclass
class Attack:
    """The attacker's connections: each socket, when it last sent a byte, and when the server
    closed it (None while open)."""

    name: str
    sockets: list[socket.socket] = field(default_factory=list)
    last_sent: dict[int, float] = field(default_factory=dict)
    closed_at: dict[int, float] = field(default_factory=dict)
    not_established: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _trickler: threading.Thread | None = None

    def add(self, sock: socket.socket | None) -> None:
        if sock is None:
            self.not_established += 1
            return
        self.sockets.append(sock)
        self.last_sent[id(sock)] = time.monotonic()

    def poll_closed(self) -> int:
        """Notice connections the server closed (EOF or reset); returns how many are still open."""
        open_ = [s for s in self.sockets if id(s) not in self.closed_at]
        if not open_:
            return 0
        with contextlib.suppress(ValueError, OSError):
            readable, _, _ = select.select(open_, [], [], 0.2)
            for sock in readable:
                if _read_until_closed(sock):
                    self.closed_at[id(sock)] = time.monotonic()
        return len([s for s in self.sockets if id(s) not in self.closed_at])

    def wait_released(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.poll_closed() == 0:
                return True
        return self.poll_closed() == 0

    def release_seconds(self) -> float | None:
        """Longest time from a connection's last byte to the server closing it."""
        times = [self.closed_at[id(s)] - self.last_sent[id(s)] for s in self.sockets if id(s) in self.closed_at]
        return round(max(times), 1) if times else None

    def start_trickle(self, sockets: list[ssl.SSLSocket]) -> None:
        def trickle() -> None:
            while not self._stop.wait(TRICKLE_EVERY_S):
                for sock in sockets:
                    if id(sock) in self.closed_at:
                        continue
                    try:
                        sock.sendall(b"\0" * TRICKLE_BYTES)
                        self.last_sent[id(sock)] = time.monotonic()
                    except (OSError, ssl.SSLError):
                        self.closed_at.setdefault(id(sock), time.monotonic())

        self._trickler = threading.Thread(target=trickle, name=f"trickle {self.name}", daemon=True)
        self._trickler.start()

    def stop_sending(self) -> None:
        self._stop.set()
        if self._trickler is not None:
            self._trickler.join(timeout=30)

    def hang_up(self) -> None:
        self.stop_sending()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()


def _read_until_closed(sock: socket.socket) -> bool:
    """Read what is there; True when the server has closed the connection."""
    try:
        sock.setblocking(False)
        data = sock.recv(65536)
    except (ssl.SSLWantReadError, BlockingIOError):
        return False
    except (OSError, ssl.SSLError):
        return True  # reset (nginx resets timed-out connections) or a broken TLS session
    return not data


def _tcp(port: int, timeout_s: float = 5) -> socket.socket | None:
    try:
        return socket.create_connection(("127.0.0.1", port), timeout=timeout_s, source_address=(ATTACKER, 0))
    except OSError:
        return None


def _tls(port: int, timeout_s: float) -> tuple[ssl.SSLSocket | None, bool]:
    """A TLS connection and whether its handshake completed within ``timeout_s``. One that did
    not (a stalled gunicorn never gets to it) stays open: it waits in the server's queue, so it
    is still part of the attack."""
    raw = _tcp(port)
    if raw is None:
        return None, False
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    raw.settimeout(timeout_s)
    sock = context.wrap_socket(raw, server_hostname="127.0.0.1", do_handshake_on_connect=False)
    try:
        sock.do_handshake()
    except (OSError, ssl.SSLError):
        return sock, False
    return sock, True


def _in_parallel(count: int, open_one) -> list:
    with ThreadPoolExecutor(max_workers=min(count, 50)) as pool:
        return list(pool.map(lambda _: open_one(), range(count)))


def one_byte(port: int, handshake_timeout_s: float) -> Attack:
    attack = Attack("a_one_byte_x4")
    for sock in _in_parallel(4, lambda: _tcp(port)):
        if sock is not None:
            sock.sendall(b"\x16")
        attack.add(sock)
    return attack


def partial_tls_requests(port: int, handshake_timeout_s: float) -> Attack:
    attack = Attack("b_partial_tls_request_x4")
    for sock, established in _in_parallel(4, lambda: _tls(port, handshake_timeout_s)):
        if established:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slo")
        elif sock is not None:
            attack.not_established += 1
        attack.add(sock)
    return attack


def idle_connections(port: int, handshake_timeout_s: float) -> Attack:
    attack = Attack("c_idle_tcp_x500")
    for sock in _in_parallel(500, lambda: _tcp(port)):
        attack.add(sock)
    return attack


def slow_uploads(port: int, handshake_timeout_s: float, frame_size: int = 60_000) -> Attack:
    attack = Attack("d_slow_upload_x50")
    head = (f"POST /api/v1/kiosk/frames HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
            f"Content-Length: {frame_size}\r\n\r\n").encode() + b"\xff\xd8\xff"
    established_ones = []
    for sock, established in _in_parallel(50, lambda: _tls(port, handshake_timeout_s)):
        if established:
            with contextlib.suppress(OSError, ssl.SSLError):
                sock.sendall(head)
            established_ones.append(sock)
        elif sock is not None:
            attack.not_established += 1
        attack.add(sock)
    attack.start_trickle(established_ones)
    return attack


ATTACKS = (one_byte, partial_tls_requests, idle_connections, slow_uploads)


# ---------------------------------------------------------------------------- measuring


@dataclass
class HealthProbe:
    """/healthz from a new connection (a new kiosk or a monitor), every 0.25 s."""

    url: str
    cert: Path
    timeout_s: float
    times_s: list[float] = field(default_factory=list)
    failures: int = 0

    def run(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                with https_session(self.cert) as session:
                    ok = session.get(self.url + "/healthz", timeout=self.timeout_s).status_code == 200
            except requests.RequestException:
                ok = False
            elapsed = time.monotonic() - started
            self.times_s.append(elapsed)
            self.failures += 0 if ok else 1
            time.sleep(max(0.0, 0.25 - elapsed))

    @property
    def max_s(self) -> float | None:
        return round(max(self.times_s), 2) if self.times_s else None


def stream(target, frames: list[bytes], seconds: float, frame_timeout_s: float, health_timeout_s: float) -> dict:
    """One kiosk at the camera's pace for ``seconds``, /healthz probed meanwhile. A frame that
    got no answer counts as its time-out in the percentiles."""
    kiosk = KioskRun("kiosk", frames, timeout_s=frame_timeout_s)
    probe = HealthProbe(target.url, target.cert, health_timeout_s)
    prober = threading.Thread(target=probe.run, args=(time.monotonic() + seconds,), daemon=True)
    prober.start()
    elapsed = run_kiosks([kiosk], lambda: Kiosk(target), seconds)
    prober.join(timeout=seconds + health_timeout_s + 30)
    unanswered = kiosk.statuses.get("no answer", 0)
    times = kiosk.latencies_ms + [frame_timeout_s * 1000] * unanswered
    return {
        "frames": len(kiosk.latencies_ms), "unanswered": unanswered,
        "frames_per_s": round(len(kiosk.latencies_ms) / elapsed, 1),
        "p50_ms": round(percentile(times, 50), 1) if times else None,
        "p95_ms": round(percentile(times, 95), 1) if times else None,
        "statuses": {str(k): v for k, v in kiosk.statuses.items()},
        "healthz_max_s": probe.max_s, "healthz_failures": probe.failures,
    }


def under_attack(target, make_attack, frames, *, seconds, frame_timeout_s, health_timeout_s,
                 handshake_timeout_s) -> tuple[Attack, dict]:
    started = time.monotonic()
    attack = make_attack(target.port, handshake_timeout_s)
    figures = stream(target, frames, seconds, frame_timeout_s, health_timeout_s)
    figures["connections"] = len(attack.sockets)
    figures["attack_set_up_s"] = round(time.monotonic() - started - seconds, 1)
    if attack.not_established:
        figures["not_established"] = attack.not_established
    return attack, figures


# ---------------------------------------------------------------------------- the test


def test_slow_and_idle_clients_cannot_stall_the_kiosk(trained_site, make_stack, frames, tmp_path_factory):
    kiosk_frames = frames["empty"] + frames["crowd"]  # the kiosk stays IDLE: the same work per frame throughout

    # Both servers warm their models up at the same time (about half a minute each).
    before_target = GunicornAlone(tmp_path_factory.mktemp("gunicorn-alone"), trained_site.data_dir).launch()
    try:
        stack = ThroughNginx(make_stack())
        before_target.wait_ready()

        # -- before: gunicorn serving TLS itself (bounded; figures only) ------------------------
        before = {"quiet": stream(before_target, kiosk_frames, QUIET_S, BEFORE_FRAME_TIMEOUT_S,
                                  BEFORE_HEALTH_TIMEOUT_S)}
        for make_attack in ATTACKS:
            attack, figures = under_attack(before_target, make_attack, kiosk_frames, seconds=BEFORE_ATTACK_S,
                                           frame_timeout_s=BEFORE_FRAME_TIMEOUT_S,
                                           health_timeout_s=BEFORE_HEALTH_TIMEOUT_S, handshake_timeout_s=3)
            attack.poll_closed()
            figures["closed_by_server"] = f"{len(attack.closed_at)}/{len(attack.sockets)}"
            attack.hang_up()  # the attacker leaves; gunicorn's threads get their EOF
            recovered = time.monotonic()
            wait_until(lambda: _healthy(before_target), 60, 0.2, "gunicorn alone to recover")
            figures["recovered_after_hang_up_s"] = round(time.monotonic() - recovered, 1)
            before[attack.name] = figures
        before_target.stop()

        # -- after: nginx in front (asserted) ---------------------------------------------------
        after = {"quiet": stream(stack, kiosk_frames, QUIET_S, 120, HEALTH_TIMEOUT_S)}
        for make_attack in ATTACKS:
            attack, figures = under_attack(stack, make_attack, kiosk_frames, seconds=ATTACK_S, frame_timeout_s=120,
                                           health_timeout_s=HEALTH_TIMEOUT_S, handshake_timeout_s=10)
            attack.stop_sending()
            timeout_s = BODY_TIMEOUT_S if attack.name.startswith("d_") else HEADER_TIMEOUT_S
            figures["all_released"] = attack.wait_released(timeout_s + RELEASE_MARGIN_S)
            figures["closed_by_server"] = f"{len(attack.closed_at)}/{len(attack.sockets)}"
            figures["release_after_last_byte_max_s"] = attack.release_seconds()
            attack.hang_up()
            after[attack.name] = figures
        after["quiet_again"] = stream(stack, kiosk_frames, QUIET_S, 120, HEALTH_TIMEOUT_S)
    finally:
        before_target.stop()

    quiet_p95 = max(after["quiet"]["p95_ms"], after["quiet_again"]["p95_ms"])
    attacks = [key for key in after if key not in ("quiet", "quiet_again")]
    for name in attacks:
        report(f"slow_clients.{name}", nginx_timeout_s=BODY_TIMEOUT_S if name.startswith("d_") else HEADER_TIMEOUT_S,
               quiet_p95_ms=quiet_p95, after=after[name], before=before[name],
               before_quiet_p95_ms=before["quiet"]["p95_ms"])
    report("slow_clients.quiet", after=after["quiet"], after_again=after["quiet_again"], before=before["quiet"])

    problems = []
    for name in attacks:
        figures = after[name]
        if figures["unanswered"] or set(figures["statuses"]) != {"200"}:
            problems.append((name, "frames not all answered 200", figures["statuses"]))
        if figures["p95_ms"] > 2 * quiet_p95:
            problems.append((name, f"p95 {figures['p95_ms']} ms > 2 x quiet {quiet_p95} ms"))
        if figures["healthz_failures"] or figures["healthz_max_s"] >= 1.0:
            problems.append((name, f"/healthz max {figures['healthz_max_s']} s, {figures['healthz_failures']} failed"))
        if not figures["all_released"]:
            problems.append((name, f"connections still open: closed {figures['closed_by_server']}"))
        if figures.get("not_established"):
            problems.append((name, f"{figures['not_established']} attack connections were not even set up"))
    assert not problems, problems


def _healthy(target) -> bool:
    with contextlib.suppress(requests.RequestException):
        return target.session().get(target.url + "/healthz", timeout=2).status_code == 200
    return False


@pytest.fixture(autouse=True)
def _attacker_address_exists():
    try:
        with socket.socket() as sock:
            sock.bind((ATTACKER, 0))
    except OSError:
        pytest.skip(f"{ATTACKER} is not a loopback address here")
