#!/usr/bin/env bash
# `make run`: the kiosk over HTTPS with one command, without Nginx or Docker.
#   - a self-signed certificate in <data dir>/tls/ on first run (scripts/self_signed_cert.sh;
#     browsers only allow the camera on HTTPS pages);
#   - `kiosk db upgrade` (safe to repeat);
#   - gunicorn with the shipped gunicorn.conf.py on 0.0.0.0:${KIOSK_PORT:-8443} with TLS.
# Environment: KIOSK_DATA_DIR (default instance/), KIOSK_PORT (8443), KIOSK_TLS_NAMES (extra
# host names/IPs for the certificate), KIOSK_BIN (folder with kiosk/gunicorn; .venv/bin).
# Behind Nginx (docker-compose.yml) this script is not used: see docs/deployment.md.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
bin=${KIOSK_BIN:-$repo/.venv/bin}
if [ ! -x "$bin/gunicorn" ] || [ ! -x "$bin/kiosk" ]; then
  echo "No kiosk environment in $bin: run 'make setup' (or scripts/setup.sh) first." >&2
  exit 1
fi

export KIOSK_DATA_DIR=${KIOSK_DATA_DIR:-$repo/instance}
mkdir -p "$KIOSK_DATA_DIR"
KIOSK_DATA_DIR=$(cd "$KIOSK_DATA_DIR" && pwd)
port=${KIOSK_PORT:-8443}
tls_dir="$KIOSK_DATA_DIR/tls"

# gunicorn and Keras write under $HOME; a service account may have none.
if [ -z "${HOME:-}" ] || [ ! -d "$HOME" ] || [ ! -w "$HOME" ]; then
  export HOME="$KIOSK_DATA_DIR/home"
  mkdir -p "$HOME"
fi
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
# Photos and face crops are biometric data: not readable by other local users.
umask 027

PYTHON="$bin/python" scripts/self_signed_cert.sh "$tls_dir"
"$bin/kiosk" db upgrade

echo "Kiosk on https://localhost:$port/ (admin console: https://localhost:$port/admin/); data in $KIOSK_DATA_DIR" >&2
# No proxy in front: the app must not trust X-Forwarded-* from clients.
export KIOSK_BEHIND_PROXY=0
export KIOSK_BIND="0.0.0.0:$port"
exec "$bin/gunicorn" -c "$repo/gunicorn.conf.py" \
  --certfile "$tls_dir/kiosk.crt" --keyfile "$tls_dir/kiosk.key"
