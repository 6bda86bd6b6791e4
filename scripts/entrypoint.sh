#!/bin/sh
# Docker entrypoint. With no arguments (or "serve"): make a self-signed certificate in
# $KIOSK_TLS_DIR for Nginx if none is there yet, apply the database migrations, then run
# gunicorn (gunicorn.conf.py; the image binds the Unix socket Nginx proxies to and a loopback
# port for the healthcheck). Anything else is run as a command in the same environment, e.g.
#   docker compose exec app kiosk admin create alice
#   docker compose run --rm app kiosk devices add lobby
set -eu
app_dir=$(cd "$(dirname "$0")/.." && pwd)
: "${KIOSK_DATA_DIR:=/data}"
export KIOSK_DATA_DIR
# Photos and face crops are biometric data: not readable by other users.
umask 027

if [ "$#" -gt 0 ] && [ "$1" != "serve" ]; then
  exec "$@"
fi

mkdir -p "$KIOSK_DATA_DIR"
if [ ! -w "$KIOSK_DATA_DIR" ]; then
  echo "The data dir $KIOSK_DATA_DIR is not writable by $(id -un) (uid $(id -u)): fix the volume's owner." >&2
  exit 1
fi
if [ -n "${KIOSK_TLS_DIR:-}" ]; then
  # Nginx reads the certificate from this shared volume; a real one placed there is kept.
  (umask 022 && "$app_dir/scripts/self_signed_cert.sh" "$KIOSK_TLS_DIR")
fi
kiosk db upgrade
exec gunicorn -c "$app_dir/gunicorn.conf.py"
