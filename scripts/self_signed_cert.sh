#!/usr/bin/env bash
# Makes DIR/kiosk.crt and DIR/kiosk.key, a self-signed certificate for this kiosk, unless a
# certificate is already there and valid for at least 7 more days (a site's real certificate
# placed there is never touched). Browsers only allow the camera on HTTPS pages.
#   scripts/self_signed_cert.sh DIR [NAME,NAME,...]
# NAMEs (DNS names or IP addresses) go into subjectAltName; localhost and 127.0.0.1 are
# always included, and so are this machine's host name and addresses. Uses openssl, or the
# Python `cryptography` package when openssl is missing (PYTHON selects the interpreter).
set -euo pipefail
dir=${1:?usage: self_signed_cert.sh DIR [NAME,...]}
extra=${2:-${KIOSK_TLS_NAMES:-}}
cert="$dir/kiosk.crt" key="$dir/kiosk.key"
mkdir -p "$dir"

if [ -s "$cert" ] && [ -s "$key" ]; then
  if ! command -v openssl >/dev/null || openssl x509 -checkend $((7 * 86400)) -noout -in "$cert" >/dev/null 2>&1; then
    exit 0
  fi
  if ! openssl x509 -noout -issuer -subject -in "$cert" | grep -q "kiosk self-signed"; then
    echo "WARNING: $cert expires within 7 days; it is not ours, so it is left for you to renew." >&2
    exit 0
  fi
  echo "Renewing the self-signed certificate in $dir (it expires within 7 days)." >&2
fi

names="localhost,127.0.0.1,$(hostname 2>/dev/null || true),$(hostname -I 2>/dev/null | tr ' ' ',' || true),$extra"
san=""
IFS=',' read -r -a list <<< "$names"
declare -A seen=()
for name in "${list[@]}"; do
  name=$(echo "$name" | tr -d '[:space:]')
  [ -n "$name" ] && [ -z "${seen[$name]:-}" ] || continue
  seen[$name]=1
  if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then san+="IP:$name,"; else san+="DNS:$name,"; fi
done
san=${san%,}

tmp=$(mktemp -d "$dir/.new-cert.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
umask 077
if command -v openssl >/dev/null; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
    -keyout "$tmp/kiosk.key" -out "$tmp/kiosk.crt" \
    -subj "/O=kiosk self-signed/CN=$(hostname 2>/dev/null || echo localhost)" \
    -addext "subjectAltName=$san" -addext "basicConstraints=critical,CA:FALSE" \
    -addext "extendedKeyUsage=serverAuth" >/dev/null 2>&1
else
  if ! "${PYTHON:-python3}" -c "import cryptography" 2>/dev/null; then
    echo "Cannot make a certificate: neither openssl nor the Python 'cryptography' package is available" \
         "(apt-get install openssl)." >&2
    exit 1
  fi
  SAN="$san" OUT="$tmp" "${PYTHON:-python3}" - <<'PY'
import datetime, ipaddress, os, socket
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

names = []
for entry in os.environ["SAN"].split(","):
    kind, value = entry.split(":", 1)
    names.append(x509.IPAddress(ipaddress.ip_address(value)) if kind == "IP" else x509.DNSName(value))
key = ec.generate_private_key(ec.SECP256R1())
subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kiosk self-signed"),
                     x509.NameAttribute(NameOID.COMMON_NAME, socket.gethostname() or "localhost")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256()))
out = os.environ["OUT"]
with open(os.path.join(out, "kiosk.key"), "wb") as fh:
    fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption()))
with open(os.path.join(out, "kiosk.crt"), "wb") as fh:
    fh.write(cert.public_bytes(serialization.Encoding.PEM))
PY
fi
chmod 600 "$tmp/kiosk.key"
chmod 644 "$tmp/kiosk.crt"
# Key first, then certificate: a reader that sees the new certificate also sees its key.
mv -f "$tmp/kiosk.key" "$key"
mv -f "$tmp/kiosk.crt" "$cert"
echo "Self-signed certificate for ${san//,/ } in $dir (browsers will ask to trust it once)." >&2
