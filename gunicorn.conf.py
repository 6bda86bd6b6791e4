"""Gunicorn settings for the kiosk (``gunicorn -c gunicorn.conf.py``; the app is named below).

Sized for a 2-core box running TensorFlow, MediaPipe, dlib and OpenCV:

* **One worker, several threads** (``gthread``). Kiosk sessions (the check-in state machine
  and its pose tracker) live in the worker's memory (``kiosk/checkin/sessions.py``), so
  every frame of a kiosk must reach the same process; and each worker would hold its own
  ~1.2 GB of models. Threads still keep both cores busy: the heavy numeric code releases
  the GIL. ``KIOSK_WORKERS`` exists for a deployment whose sessions do not need affinity;
  raise it only then. More capacity comes from more app hosts (one such gunicorn each) on
  one PostgreSQL database, nginx keeping each kiosk on one host (docs/deployment.md).
* **Models load after fork, once per worker, warmed at start** (``preload_app = False``):
  TensorFlow and MediaPipe are not fork-safe, and a master that imported them would hold a
  second copy. ``post_worker_init`` starts the worker's warm-up in a background thread
  (``kiosk/services/warmup.py``; ``KIOSK_WARM_UP=0`` turns it off): every model loads and one
  frame runs through every stage while ``/healthz`` already answers (``"models": "warming"``)
  and the frame API answers 503 ``warming`` (the kiosk page shows "Starting..."); then the
  first frame costs what any frame costs.
* **No periodic recycling** (``max_requests = 0``): restarting the only worker drops every
  kiosk's session and reloads the models; memory stability is a tested property instead
  (tests/reliability/test_memory.py).
* **Graceful**: on SIGTERM/HUP a worker gets ``graceful_timeout`` seconds to finish the
  check-ins in flight (the attendance write is atomic either way).
* **Never facing the network itself**: the gthread worker does a client's TLS handshake and
  reads its request headers and body in a request thread, with no time-out, so four clients
  that connect and send nothing hold all four threads (measured: /healthz stopped answering). Nginx sits in front
  everywhere (``make run`` included: scripts/run_server.sh) with its time-outs and per-address
  limits, and buffers whole requests; gunicorn listens on a Unix socket or loopback. A bind on
  another address is logged as a warning at start (``when_ready``).
* **Request limits** here guard the HTTP layer; the app itself refuses large bodies
  (``MAX_CONTENT_LENGTH`` from ``KIOSK_MAX_UPLOAD_MB``) and huge images (``decode_image``).

Environment: ``KIOSK_BIND`` (comma-separated addresses, default ``127.0.0.1:8000``; the
Docker image binds the Unix socket Nginx reads and a loopback port for its healthcheck),
``KIOSK_WORKERS`` (1), ``KIOSK_THREADS`` (4), ``KIOSK_NUMERIC_THREADS`` (1), ``KIOSK_TIMEOUT_S`` (60),
``KIOSK_ACCESS_LOG`` (``-`` for stderr; off by default: Nginx logs every request already).
"""

from __future__ import annotations

import os


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


wsgi_app = "kiosk:create_app()"

# Warm the models up in each worker as it starts (see post_worker_init) unless KIOSK_WARM_UP=0.
# Read here, not by the app: commands run in the same environment (the Docker image) never warm up.
warm_up_models = os.environ.get("KIOSK_WARM_UP", "1").strip().lower() not in ("0", "false", "no", "off")

# OpenCV's own pixel limit, for every codec: a 10 KB lossless WebP can declare 16383x16383
# and decode to 800 MB (1.6 GB peak, 10 s of CPU) before the app's size check sees it.
# OpenCV reads this once, when cv2 loads, so it is set here, before the workers import it.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", os.environ.get("KIOSK_MAX_IMAGE_PIXELS") or "40000000")

# The numeric libraries one thread each inside a request (TensorFlow's FaceNet, emotion and face
# mesh; OpenCV's DNN liveness and image work): the worker's request threads already keep both
# cores busy with several kiosks, and a library's own thread pool on top of them made the threads
# wait on each other. Measured with real check-ins at every kiosk (tests/reliability/test_load.py,
# docs/capacity.md): 3 kiosks at camera speed with the libraries' defaults, 4-5 with one thread
# each, the same speed for one kiosk. The CLI and `kiosk bench` keep the defaults (one frame at a time).
# TensorFlow's inter-op pool is where a traced function (FaceNet's embedding) runs: with one thread
# there, every embedding of every kiosk waited for the one before it (26 embeddings/s in all from
# 1, 2 or 4 request threads; 45/s with one inter-op thread per core): one per core.
# Read by the libraries when they load, so set here, before the workers import them.
numeric_threads = str(_env_int("KIOSK_NUMERIC_THREADS", 1))
for _name in ("TF_NUM_INTRAOP_THREADS", "OPENCV_FOR_THREADS_NUM"):
    os.environ.setdefault(_name, numeric_threads)
os.environ.setdefault("TF_NUM_INTEROP_THREADS", str(os.cpu_count() or 1))

_bind = os.environ.get("KIOSK_BIND") or "127.0.0.1:8000"
bind = [address.strip() for address in _bind.split(",") if address.strip()]
workers = _env_int("KIOSK_WORKERS", 1)
worker_class = "gthread"
threads = _env_int("KIOSK_THREADS", 4)
preload_app = False

# gthread's heartbeat comes from the worker's main loop, not from request threads, so a
# slow first frame (loading models) does not get the worker killed; a wedged loop does.
timeout = _env_int("KIOSK_TIMEOUT_S", 60)
graceful_timeout = 30
# Longer than Nginx's upstream keepalive_timeout (30 s in nginx.conf): the side that closes
# an idle connection must be Nginx, or a frame POST can race a close and fail with a 502
# (Nginx does not retry non-idempotent requests).
keepalive = 65
max_requests = 0
backlog = 256

# HTTP limits: 8 KB request line and header fields are plenty for the kiosk and the admin
# pages; 50 headers is more than a browser sends. Bodies are limited by the app.
limit_request_line = 8190
limit_request_fields = 50
limit_request_field_size = 8190

# Nginx on the same host (or over the shared Unix socket) is the only trusted proxy; the
# app applies X-Forwarded-* itself with ProxyFix when KIOSK_BEHIND_PROXY=1.
forwarded_allow_ips = "127.0.0.1,::1"

# The heartbeat file lives in RAM (Docker's overlay /tmp can stall a worker's heartbeat).
if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
    worker_tmp_dir = "/dev/shm"

# Gunicorn 25+ opens a control socket under $HOME by default; a kiosk needs no runtime
# control channel, and two servers on one host must not fight over the same path.
control_socket_disable = True

errorlog = "-"
loglevel = os.environ.get("KIOSK_LOG_LEVEL", "info")
accesslog = os.environ.get("KIOSK_ACCESS_LOG") or None
# %(U)s is the path without the query string: a kiosk link carries its device token there.
access_log_format = '%({x-forwarded-for}i)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'


def _exposed(address: str) -> bool:
    """A TCP bind other machines may reach (not a Unix socket, not loopback)."""
    if address.startswith(("unix:", "fd://")):
        return False
    host = address.rsplit(":", 1)[0].strip("[]") if ":" in address else address
    return host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("127.")


def when_ready(server):  # noqa: ANN001 - gunicorn's hook signature
    exposed = [address for address in bind if _exposed(address)]
    if exposed:
        server.log.warning(
            "gunicorn listens on %s: keep it reachable by nginx only. Clients that connect and send "
            "nothing hold its request threads (no time-out); nginx in front closes them "
            "(docs/deployment.md, 'Slow and idle clients').", ", ".join(exposed))


def post_fork(server, worker):  # noqa: ANN001 - gunicorn's hook signature
    # Models are not touched here: the app does not exist yet (post_worker_init warms it).
    server.log.info("Worker %s started", worker.pid)


def post_worker_init(worker):  # noqa: ANN001 - gunicorn's hook signature
    """Clean up after a killed predecessor, then start warming the models, before taking requests."""
    _remove_orphan_photos(worker)
    app = worker.wsgi
    if hasattr(app, "app_context"):
        from kiosk.services.webhook_delivery import start_in_background

        start_in_background(app)  # the webhook outbox is sent from each worker (KIOSK_WEBHOOKS=0: not)
    if warm_up_models and hasattr(app, "app_context"):
        from kiosk.services.warmup import start_warm_up

        start_warm_up(app)
        worker.log.info("Worker %s is warming its models up; the kiosk shows 'Starting...' meanwhile", worker.pid)


def _remove_orphan_photos(worker):  # noqa: ANN001
    """Finish what a killed predecessor left before taking requests.

    A check-in writes its photo files first and commits its row second, so a worker killed
    in between (SIGKILL, the OOM killer, a power cut) leaves photo files no row points at.
    They are removed here, before this worker records anything. With one worker and the
    photos in its own data dir nothing else can be mid check-in, so even files a second old go;
    with several workers, or a media dir shared with other app hosts (KIOSK_MEDIA_DIR), only
    files older than the photos service's safety age (another one may be about to commit them).
    """
    try:
        from kiosk.extensions import db
        from kiosk.services import photos
    except ImportError:  # an app without the photos service: nothing to clean
        return
    app = worker.wsgi
    try:
        with app.app_context():
            alone = workers == 1 and app.config["KIOSK_MEDIA_DIR"] == app.config["KIOSK_DATA_DIR"]
            try:
                if alone:
                    removed = photos.purge_orphan_files(min_age_s=0.0)
                else:
                    removed = photos.purge_orphan_files()
            finally:
                db.session.remove()
    except Exception:  # noqa: BLE001 - a clean-up failure must not keep the kiosk down
        worker.log.exception("Could not remove orphan photo files at worker start")
        return
    if removed:
        worker.log.warning("Removed %d orphan photo file(s) left by an interrupted check-in", removed)
