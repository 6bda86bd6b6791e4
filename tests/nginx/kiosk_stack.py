"""A real deployment on loopback for tests: gunicorn (the shipped gunicorn.conf.py) behind
Debian's nginx (the shipped nginx.conf, rendered with test ports, a generated self-signed
certificate and the repository's static/ folder).

Used by tests/nginx/ and tests/reliability/. Everything listens on 127.0.0.1 on free ports,
runs in its own process group, and is stopped (TERM, then KILL after a bounded wait) when
the fixture ends. Every wait loop here is bounded in time.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Callable

import requests
import urllib3

from kiosk.config import REPO_ROOT

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
PYTHON = sys.executable
MIME_TYPES = Path("/etc/nginx/mime.types")

# The exact lines of the shipped nginx.conf that a test deployment changes. Each must occur
# exactly once: if nginx.conf is edited so that one no longer matches, rendering fails
# loudly instead of silently testing a different configuration.
NGINX_SITE_LINES = {
    "listen 80 default_server;": "listen 127.0.0.1:{http_port} default_server;",
    "listen 443 ssl default_server;": "listen 127.0.0.1:{https_port} ssl default_server;",
    "return 301 https://$host$request_uri;": "return 301 https://$host:{https_port}$request_uri;",
    "server unix:/run/kiosk/gunicorn.sock max_fails=1 fail_timeout=10s;": "{upstream_servers}",
    "server unix:/run/kiosk/gunicorn-2.sock max_fails=1 fail_timeout=10s;": "",
    "root /srv/kiosk;": "root {static_parent};",
    "access_log /dev/stdout kiosk;": "access_log {log_dir}/access.log kiosk;",
    "error_log stderr warn;": "error_log {log_dir}/error.log warn;",
}

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)


def nginx_available() -> bool:
    return Path(NGINX).is_file() and os.access(NGINX, os.X_OK) and MIME_TYPES.is_file()


_ports_given: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, and one this process has not handed out before: the ports of a
    cluster's hosts are all chosen before any of them binds, and the kernel may offer the same
    free port twice (two hosts on one port once made nginx's two upstreams the same host)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.1, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval_s)
    raise TimeoutError(f"gave up after {timeout_s:.0f} s waiting for {what or predicate}")


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def make_self_signed_cert(folder: Path, name: str = "kiosk") -> tuple[Path, Path]:
    """A 2-day self-signed certificate for 127.0.0.1/localhost (BRIEF section 8)."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        [OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


def render_nginx_conf(*, http_port: int, https_port: int, upstream: str | list[str], static_parent: Path,
                      log_dir: Path) -> str:
    """The shipped nginx.conf with only its site-specific lines changed (see NGINX_SITE_LINES);
    ``upstream`` is one app server's address or several (their ``server`` lines replace the
    shipped ones, with the shipped parameters)."""
    text = (REPO_ROOT / "nginx.conf").read_text()
    servers = [upstream] if isinstance(upstream, str) else list(upstream)
    upstream_servers = "\n        ".join(f"server {address} max_fails=1 fail_timeout=10s;" for address in servers)
    values = {"http_port": http_port, "https_port": https_port, "upstream_servers": upstream_servers,
              "static_parent": static_parent, "log_dir": log_dir}
    for line, replacement in NGINX_SITE_LINES.items():
        count = text.count(line)
        if count != 1:
            raise AssertionError(f"nginx.conf should contain {line!r} exactly once, found {count}")
        text = text.replace(line, replacement.format(**values))
    return text


def kiosk_cli(data_dir: Path, *args: str, env: dict | None = None, stdin: str | None = None,
              timeout_s: float = 300) -> subprocess.CompletedProcess:
    """Run the ``kiosk`` console script's entry point against this checkout and ``data_dir``."""
    return subprocess.run(
        [PYTHON, "-c", "import sys; from kiosk.cli import main; sys.argv[0] = 'kiosk'; main()", *args],
        cwd=REPO_ROOT, env=server_env(data_dir, env), input=stdin, capture_output=True, text=True,
        timeout=timeout_s,
    )


_REGISTER_DEVICES = (
    "import json, secrets, sys\n"
    "from kiosk import create_app\n"
    "from kiosk.services.devices import register_device\n"
    "with create_app().app_context():\n"
    "    tag = secrets.token_hex(3)\n"
    "    print(json.dumps([register_device(f'Test kiosk {tag} {i}')[1] for i in range(int(sys.argv[1]))]))\n"
)
_TOKENS_LOCK = threading.Lock()


def device_tokens(data_dir: Path, env: dict | None, count: int) -> list[str]:
    """``count`` new paired-kiosk tokens in the deployment's database (one process for all)."""
    result = subprocess.run([PYTHON, "-c", _REGISTER_DEVICES, str(count)], cwd=REPO_ROOT,
                            env=server_env(data_dir, env), capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"registering kiosk devices failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def kiosk_token(target) -> str:
    """A token of a kiosk device of its own for one more test kiosk of ``target`` (a Stack, a
    Cluster, or anything with ``data_dir`` and ``env``): kiosks must be paired, and each paired
    kiosk has one session, so test kiosks that stand for different browsers are different devices.
    Registered 16 at a time and kept on ``target`` (on the stack it wraps, for a wrapper with ``stack``)."""
    target = getattr(target, "stack", target)
    host = target.hosts[0] if hasattr(target, "hosts") else target
    with _TOKENS_LOCK:
        pool = target.__dict__.setdefault("_kiosk_tokens", [])
        if not pool:
            pool.extend(device_tokens(host.data_dir, host.env, 16))
        return pool.pop()


def server_env(data_dir: Path, extra: dict | None = None) -> dict:
    home = data_dir.parent / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "KIOSK_DATA_DIR": str(data_dir),
        "HOME": str(home),  # gunicorn and keras write under $HOME
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("KIOSK_DATABASE_URL", None)
    env.update({k: str(v) for k, v in (extra or {}).items()})
    return env


def _stop_group(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout_s: float = 30) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


class Gunicorn:
    """gunicorn -c gunicorn.conf.py on 127.0.0.1:port, as the Docker entrypoint starts it."""

    def __init__(self, data_dir: Path, *, env: dict | None = None, app_uri: str | None = None,
                 pythonpath: Path | None = None, workers: int | None = None, threads: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.log_path = data_dir.parent / f"gunicorn-{self.port}.log"
        extra = {"KIOSK_BIND": f"127.0.0.1:{self.port}", "KIOSK_BEHIND_PROXY": "1", **(env or {})}
        if workers is not None:
            extra["KIOSK_WORKERS"] = workers
        if threads is not None:
            extra["KIOSK_THREADS"] = threads
        self.env = server_env(data_dir, extra)
        self.args = [PYTHON, "-m", "gunicorn", "-c", str(REPO_ROOT / "gunicorn.conf.py")]
        if pythonpath is not None:
            self.args += ["--pythonpath", str(pythonpath)]
        if app_uri:
            self.args.append(app_uri)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 120) -> Gunicorn:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.args, cwd=REPO_ROOT, env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(self._healthy, timeout_s, 0.2, f"gunicorn on port {self.port} (log: {self.log_path})")
        return self

    def _healthy(self) -> bool:
        """Ready to serve the kiosk: /readyz answers 200 once the worker's models are warm
        (gunicorn.conf.py warms them at start; frames sent before would get 503 warming)."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self.log_tail()}")
        with contextlib.suppress(requests.RequestException):
            return requests.get(self.url + "/readyz", timeout=2).status_code == 200
        return False

    def log_tail(self, chars: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    @property
    def master_pid(self) -> int:
        return self.proc.pid

    def worker_pids(self) -> list[int]:
        return child_pids(self.proc.pid)

    def wait_for_workers(self, count: int, exclude: set[int] = frozenset(), timeout_s: float = 60) -> list[int]:
        wait_until(lambda: len([p for p in self.worker_pids() if p not in exclude]) >= count, timeout_s, 0.1,
                   f"{count} gunicorn worker(s)")
        return [p for p in self.worker_pids() if p not in exclude]

    def stop(self) -> None:
        if self.proc is not None:
            _stop_group(self.proc, signal.SIGTERM, timeout_s=40)
            self._log.close()


class Nginx:
    """Debian's nginx running the rendered shipped nginx.conf in a private prefix."""

    def __init__(self, prefix: Path, upstream: str | list[str], *, static_parent: Path = REPO_ROOT) -> None:
        self.prefix = prefix
        self.http_port, self.https_port = free_port(), free_port()
        conf_dir = prefix / "conf"
        (conf_dir / "certs").mkdir(parents=True, exist_ok=True)
        self.cert, self.key = make_self_signed_cert(conf_dir / "certs")
        shutil.copy(MIME_TYPES, conf_dir / "mime.types")
        self.log_dir = prefix / "logs"
        self.log_dir.mkdir(exist_ok=True)
        self.conf = conf_dir / "nginx.conf"
        self.conf.write_text(render_nginx_conf(
            http_port=self.http_port, https_port=self.https_port, upstream=upstream,
            static_parent=static_parent, log_dir=self.log_dir,
        ))
        self.proc: subprocess.Popen | None = None

    @property
    def https(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @staticmethod
    def _globals() -> list[str]:
        # Run as root (CI), the shipped file's workers would run as "nobody", which cannot
        # enter pytest's private (0700) temp folders where the test prefix lives.
        return ["user root;"] if os.geteuid() == 0 else []

    def start(self, timeout_s: float = 20) -> Nginx:
        check = subprocess.run([NGINX, "-t", "-p", f"{self.prefix}/", "-c", str(self.conf),
                                *(["-g", " ".join(self._globals())] if self._globals() else [])],
                               capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t failed on the rendered config:\n{check.stderr}")
        self.proc = subprocess.Popen(
            [NGINX, "-p", f"{self.prefix}/", "-c", str(self.conf), "-g", " ".join(["daemon off;", *self._globals()])],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )
        wait_until(lambda: self._alive() and port_open(self.https_port) and port_open(self.http_port),
                   timeout_s, 0.05, f"nginx on ports {self.http_port}/{self.https_port}")
        return self

    def _alive(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"nginx exited: {self.proc.stderr.read().decode(errors='replace')}\n{self.error_log()}")
        return True

    def error_log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.log_dir / "error.log").read_text(errors="replace")[-4000:]
        return ""

    def stop(self) -> None:
        if self.proc is not None:
            _stop_group(self.proc, signal.SIGTERM, timeout_s=15)
            self.proc.stderr.close()


def child_pids(parent: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            # The command name may contain spaces: the fields after its closing ")" are fixed.
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                children.append(int(entry.name))
    return sorted(children)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def https_session(cert: Path | None = None) -> requests.Session:
    """A client for the test deployment: verifies against ``cert`` (the generated self-signed
    certificate) when given. ``trust_env`` is off so that no proxy or CA bundle from the
    environment applies (requests lets REQUESTS_CA_BUNDLE override ``verify=False``)."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(cert) if cert else False
    return session


def tls_handshake(port: int, *, version: ssl.TLSVersion) -> tuple[str, str]:
    """(protocol, cipher) negotiated when the client offers only ``version``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # offering TLS 1.1 is the point
        context.minimum_version = context.maximum_version = version
    if version < ssl.TLSVersion.TLSv1_2:
        context.set_ciphers("ALL:@SECLEVEL=0")  # let the client offer old protocols at all
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return tls.version(), tls.cipher()[0]


class _Deployment:
    """App hosts (``hosts``: gunicorn each) behind one ``nginx``; ``start()`` migrates the database
    and starts them all, ``stop()`` stops them all."""

    hosts: list[Gunicorn]
    nginx: Nginx

    def migrate(self) -> None:
        first = self.hosts[0]
        result = kiosk_cli(first.data_dir, "db", "upgrade", env=first.env)
        if result.returncode != 0:
            raise RuntimeError(f"kiosk db upgrade failed:\n{result.stderr}")

    def start(self):
        self.migrate()
        try:
            for host in self.hosts:
                host.start()
            self.nginx.start()
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def url(self) -> str:
        return self.nginx.https

    def session(self) -> requests.Session:
        """An HTTPS client that verifies the deployment's certificate."""
        return https_session(self.nginx.cert)

    def kiosk_session(self) -> requests.Session:
        """:meth:`session` as a paired kiosk of its own (``X-Kiosk-Token``)."""
        session = self.session()
        session.headers["X-Kiosk-Token"] = kiosk_token(self)
        return session

    def stop(self) -> None:
        self.nginx.stop()
        for host in self.hosts:
            host.stop()


class Stack(_Deployment):
    """gunicorn + nginx started together; ``stop()`` stops both."""

    def __init__(self, root: Path, *, env: dict | None = None, app_uri: str | None = None,
                 pythonpath: Path | None = None, workers: int | None = None, threads: int | None = None,
                 data_dir: Path | None = None) -> None:
        self.root = root
        self.data_dir = data_dir or (root / "data")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.gunicorn = Gunicorn(self.data_dir, env=env, app_uri=app_uri, pythonpath=pythonpath,
                                 workers=workers, threads=threads)
        self.hosts = [self.gunicorn]
        self.nginx = Nginx(root / "nginx", f"127.0.0.1:{self.gunicorn.port}")


class Cluster(_Deployment):
    """Several app hosts behind one nginx, sharing one database and one media dir: the layout of
    docs/deployment.md for a site that outgrew one box. Each host is a gunicorn (the shipped
    gunicorn.conf.py) with its own data dir; the shipped nginx.conf routes each kiosk to one of
    them by its routing cookie. ``hosts[i]`` is a :class:`Gunicorn`."""

    def __init__(self, root: Path, database_url: str, *, hosts: int = 2, env: dict | None = None,
                 media_dir: Path | None = None) -> None:
        import secrets

        self.root = root
        self.media_dir = media_dir or root / "media"
        self.media_dir.mkdir(parents=True, exist_ok=True)
        self.env = {"KIOSK_DATABASE_URL": database_url, "KIOSK_MEDIA_DIR": str(self.media_dir),
                    "SECRET_KEY": secrets.token_hex(32), **(env or {})}
        self.hosts = []
        for number in range(1, hosts + 1):
            data_dir = root / f"host{number}" / "data"
            data_dir.mkdir(parents=True, exist_ok=True)
            self.hosts.append(Gunicorn(data_dir, env=self.env))
        self.nginx = Nginx(root / "nginx", [f"127.0.0.1:{host.port}" for host in self.hosts])

    def host_index(self, upstream: str) -> int:
        """Which host (0, 1, ...) an nginx ``$upstream_addr`` names (the last one tried, if several)."""
        address = upstream.split(",")[-1].strip()
        return next(i for i, host in enumerate(self.hosts) if address == f"127.0.0.1:{host.port}")

    def routed(self) -> list[dict]:
        """nginx's access log: one dict per request (method, path, status, upstream, route)."""
        with contextlib.suppress(OSError):
            lines = (self.nginx.log_dir / "access.log").read_text(errors="replace").splitlines()
            return [match.groupdict() for line in lines if (match := _ACCESS_LINE.search(line))]
        return []

    def kill_host(self, index: int) -> None:
        """SIGKILL a host's gunicorn, master and worker: the machine is gone, nothing shuts down cleanly."""
        host = self.hosts[index]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(host.proc.pid, signal.SIGKILL)
        host.proc.wait(timeout=30)


_ACCESS_LINE = re.compile(r'"(?P<method>\S+) (?P<path>\S+) [^"]*" (?P<status>\d{3}) .* '
                          r'upstream=(?P<upstream>.*) route=(?P<route>\S+)$')


def kiosk_frame_jpeg(photo: Path, size: tuple[int, int] = (640, 480), quality: int = 85) -> bytes:
    """A real photo as a kiosk camera would send it: scaled into a 640x480 frame (letterboxed)
    and JPEG-encoded like the page's canvas.toBlob."""
    import cv2
    import numpy as np

    image = cv2.imread(str(photo))
    if image is None:
        raise FileNotFoundError(photo)
    width, height = size
    scale = min(width / image.shape[1], height / image.shape[0])
    resized = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
                         interpolation=cv2.INTER_AREA)
    frame = np.full((height, width, 3), 40, dtype=np.uint8)
    top, left = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    frame[top:top + resized.shape[0], left:left + resized.shape[1]] = resized
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()
