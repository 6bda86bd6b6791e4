#!/usr/bin/env bash
# `make run`: the kiosk over HTTPS with one command, without Docker.
#   - a self-signed certificate in <data dir>/tls/ on first run (scripts/self_signed_cert.sh;
#     browsers only allow the camera on HTTPS pages);
#   - `kiosk db upgrade` (safe to repeat);
#   - with nginx installed (scripts/system-deps.sh): nginx on 0.0.0.0:${KIOSK_PORT:-8443} with TLS,
#     running the shipped nginx.conf (its time-outs and limits; scripts/render_nginx_conf.py changes
#     only the site lines), in front of gunicorn (gunicorn.conf.py) on a Unix socket in a private
#     folder only this user can enter. gunicorn alone cannot face a network: its request threads
#     wait without a time-out for clients that connect and send nothing (docs/deployment.md);
#   - without nginx (or with KIOSK_RUN_WITHOUT_NGINX=1): gunicorn serves TLS itself on 127.0.0.1
#     only, so that only this machine can reach it, with a warning.
# Both stop when either stops, and on Ctrl-C or SIGTERM.
# Environment: KIOSK_DATA_DIR (default instance/), KIOSK_PORT (8443), KIOSK_TLS_NAMES (extra
# host names/IPs for the certificate), KIOSK_BIN (folder with kiosk/gunicorn; .venv/bin),
# KIOSK_ACCESS_LOG (nginx's access log: a file, or - for stderr; off by default),
# KIOSK_RUN_WITHOUT_NGINX (1: gunicorn alone, on loopback).
# The Docker deployment (docker-compose.yml) does not use this script: see docs/deployment.md.
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

nginx_bin=${KIOSK_NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
mime_types=/etc/nginx/mime.types
if [ "${KIOSK_RUN_WITHOUT_NGINX:-0}" = "1" ] || [ ! -x "$nginx_bin" ] || [ ! -f "$mime_types" ]; then
  if [ "${KIOSK_RUN_WITHOUT_NGINX:-0}" != "1" ]; then
    echo "WARNING: nginx is not installed, so gunicorn serves HTTPS alone, and on this machine only" >&2
    echo "  (127.0.0.1): other machines cannot reach the kiosk. Without nginx in front, a few clients" >&2
    echo "  that connect and send nothing stall gunicorn, so it is not offered to the network." >&2
    echo "  Install nginx (sudo apt-get install nginx, or make system-deps) and run make run again." >&2
  fi
  echo "Kiosk on https://localhost:$port/ (admin console: https://localhost:$port/admin/), this machine only; data in $KIOSK_DATA_DIR" >&2
  echo "A new kiosk shows a pairing code: approve it on https://localhost:$port/admin/devices or with: $bin/kiosk devices pair CODE" >&2
  # No proxy in front: the app must not trust X-Forwarded-* from clients.
  export KIOSK_BEHIND_PROXY=0
  export KIOSK_BIND="127.0.0.1:$port"
  exec "$bin/gunicorn" -c "$repo/gunicorn.conf.py" \
    --certfile "$tls_dir/kiosk.crt" --keyfile "$tls_dir/kiosk.key"
fi

# gunicorn on a Unix socket in a folder only this user can enter (mktemp -d makes it 0700): no
# other local user and no other machine reaches it, so the X-Forwarded-* headers it trusts are
# nginx's own. (A short path: Unix socket paths are limited to 107 bytes.)
run_dir=$(mktemp -d "${TMPDIR:-/tmp}/kiosk-run.XXXXXX")
socket="$run_dir/gunicorn.sock"
prefix="$KIOSK_DATA_DIR/nginx"  # nginx's pid file and request-body temp files
mkdir -p "$prefix"
render_options=()
[ "$(id -u)" -eq 0 ] && render_options+=(--run-as-root)
access_log=${KIOSK_ACCESS_LOG:-off}
[ "$access_log" = "-" ] && access_log=/dev/stderr
"$bin/python" "$repo/scripts/render_nginx_conf.py" --listen "0.0.0.0:$port" --upstream "unix:$socket" \
  --cert "$tls_dir/kiosk.crt" --key "$tls_dir/kiosk.key" --static-parent "$repo" --mime-types "$mime_types" \
  --access-log "$access_log" "${render_options[@]}" > "$prefix/nginx.conf"
nginx=("$nginx_bin" -e stderr -p "$prefix/" -c "$prefix/nginx.conf")
if ! "${nginx[@]}" -t -q; then
  echo "nginx refused its configuration ($prefix/nginx.conf): see above." >&2
  rm -rf "$run_dir"
  exit 1
fi

gunicorn_pid="" nginx_pid=""
stop() {
  trap - TERM INT HUP
  if [ -n "$nginx_pid" ]; then kill -TERM "$nginx_pid" 2>/dev/null || true; fi
  if [ -n "$gunicorn_pid" ]; then kill -TERM "$gunicorn_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$run_dir"
}
trap 'stop; exit 143' TERM
trap 'stop; exit 130' INT
trap 'stop; exit 129' HUP

export KIOSK_BEHIND_PROXY=1  # nginx is the socket's only client
export KIOSK_BIND="unix:$socket"
KIOSK_ACCESS_LOG="" "$bin/gunicorn" -c "$repo/gunicorn.conf.py" &  # nginx logs requests when asked
gunicorn_pid=$!
# The master binds the socket before its worker loads the app: a second or two.
for _ in $(seq 1 600); do
  [ -S "$socket" ] && break
  if ! kill -0 "$gunicorn_pid" 2>/dev/null; then
    status=0
    wait "$gunicorn_pid" || status=$?
    stop
    exit "$status"
  fi
  sleep 0.1
done
"${nginx[@]}" -g "daemon off;" &
nginx_pid=$!
echo "Kiosk on https://localhost:$port/ (admin console: https://localhost:$port/admin/); data in $KIOSK_DATA_DIR" >&2
echo "A new kiosk shows a pairing code: approve it on https://localhost:$port/admin/devices or with: $bin/kiosk devices pair CODE" >&2
echo "(nginx on port $port in front of gunicorn; its time-outs and limits: docs/deployment.md)" >&2
status=0
wait -n "$gunicorn_pid" "$nginx_pid" || status=$?
if kill -0 "$nginx_pid" 2>/dev/null; then stopped=gunicorn; else stopped=nginx; fi
echo "Stopping the kiosk: $stopped exited (status $status)." >&2
stop
exit "$status"
