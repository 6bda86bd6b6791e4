#!/usr/bin/env python3
"""The shipped nginx.conf for `make run` (scripts/run_server.sh): one box, nginx in front of one
gunicorn on a private Unix socket. Prints the configuration on stdout.

Only the site lines change, each of which must occur exactly once in nginx.conf (so an edit
there that no longer matches fails loudly instead of serving a different configuration): the
HTTPS listen address, the app's socket, the certificate (absolute paths), the static files'
root, mime.types, the access log; the port-80 redirect is left out (`make run` serves HTTPS on
one port, like before). Every time-out and limit is the shipped file's.

    render_nginx_conf.py --listen 0.0.0.0:8443 --upstream unix:/tmp/kiosk-run.X/gunicorn.sock \\
        --cert DIR/kiosk.crt --key DIR/kiosk.key --static-parent REPO --mime-types /etc/nginx/mime.types \\
        [--access-log PATH|off] [--run-as-root]

Standard library only: it runs before anything else is checked.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
REDIRECT_BLOCK = re.compile(r"\n[ \t]*# BEGIN http-redirect.*?# END http-redirect[^\n]*\n", re.DOTALL)


def render(text: str, *, listen: str, upstream: str, cert: str, key: str, static_parent: str, mime_types: str,
           access_log: str = "off", run_as_root: bool = False) -> str:
    text, removed = REDIRECT_BLOCK.subn("\n", text)
    if removed != 1:
        raise ValueError("nginx.conf should contain one '# BEGIN http-redirect' ... '# END http-redirect' block")
    log = "access_log off;" if access_log == "off" else f"access_log {access_log} kiosk;"
    lines = {
        "listen 443 ssl default_server;": f"listen {listen} ssl default_server;",
        "server unix:/run/kiosk/gunicorn.sock max_fails=1 fail_timeout=10s;": f"server {upstream};",
        "server unix:/run/kiosk/gunicorn-2.sock max_fails=1 fail_timeout=10s;": "",
        "ssl_certificate certs/kiosk.crt;": f"ssl_certificate {cert};",
        "ssl_certificate_key certs/kiosk.key;": f"ssl_certificate_key {key};",
        "root /srv/kiosk;": f"root {static_parent};",
        "include mime.types;": f"include {mime_types};",
        "access_log /dev/stdout kiosk;": log,
    }
    for line, replacement in lines.items():
        count = text.count(line)
        if count != 1:
            raise ValueError(f"nginx.conf should contain {line!r} exactly once, found {count}")
        text = text.replace(line, replacement)
    if run_as_root:
        # Started by root, nginx's workers would run as "nobody", which can reach neither the app's
        # socket (private to the user running make run) nor a checkout only root can read.
        text = text.replace("worker_processes auto;", "user root;\nworker_processes auto;", 1)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", required=True, help="address:port of HTTPS, e.g. 0.0.0.0:8443")
    parser.add_argument("--upstream", required=True, help="gunicorn's address, e.g. unix:/path/gunicorn.sock")
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--static-parent", default=str(REPO_ROOT), help="the folder holding static/")
    parser.add_argument("--mime-types", default="/etc/nginx/mime.types")
    parser.add_argument("--access-log", default="off", help="a file, /dev/stderr, or off (the default)")
    parser.add_argument("--run-as-root", action="store_true")
    parser.add_argument("--template", default=str(REPO_ROOT / "nginx.conf"))
    args = parser.parse_args(argv)
    try:
        text = render(Path(args.template).read_text(), listen=args.listen, upstream=args.upstream,
                      cert=str(Path(args.cert).resolve()), key=str(Path(args.key).resolve()),
                      static_parent=str(Path(args.static_parent).resolve()), mime_types=args.mime_types,
                      access_log=args.access_log, run_as_root=args.run_as_root)
    except (OSError, ValueError) as err:
        print(f"render_nginx_conf: {err}", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
