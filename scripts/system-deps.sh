#!/usr/bin/env bash
# Debian packages the kiosk uses.
#   scripts/system-deps.sh         what the tests use: Chromium + ChromeDriver (browser tests),
#                                  nginx (proxy tests, and `make run`), openssl (self-signed
#                                  certificates), PostgreSQL's server (the database tests run on
#                                  it too, in a throwaway cluster the tests make with initdb).
#                                  Needs root (or sudo) the first time.
#   scripts/system-deps.sh --run   what `make run` uses: nginx (in front of gunicorn, see
#                                  scripts/run_server.sh) and openssl. Never fails: without apt,
#                                  root or password-less sudo it says what to install and `make
#                                  run` serves this machine only.
# Installs only what is missing.
set -euo pipefail
mode=${1:-tests}
need=()
[ -x /usr/sbin/nginx ] || need+=(nginx)
command -v openssl >/dev/null || need+=(openssl)
if [ "$mode" != "--run" ]; then
  [ -x /usr/bin/chromium ] || need+=(chromium)
  [ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
fi
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ "$mode" = "--run" ]; then
  if ! command -v apt-get >/dev/null || { [ -n "$sudo" ] && ! sudo -n true 2>/dev/null; }; then
    echo "make run would like nginx in front of the kiosk; install it with: sudo apt-get install ${need[*]}" >&2
    exit 0
  fi
  echo "Installing Debian packages for make run: ${need[*]}"
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"; }; then
    echo "Could not install ${need[*]}: make run serves this machine only until it is installed." >&2
  fi
  exit 0
fi
echo "Installing Debian packages for the tests: ${need[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
