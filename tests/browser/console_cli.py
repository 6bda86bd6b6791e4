"""The ``kiosk`` command line against a browser test's server data dir (admins, attendance, reports):
``kiosk_cli(data_dir, "admin", "create", NAME, "--password-stdin", stdin=PASSWORD + "\\n")``.
``env`` adds settings (a site's time zone); the command must succeed; its output is returned."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def kiosk_cli(data_dir: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    environment = {"KIOSK_DATA_DIR": str(data_dir), "TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin",
                   "HOME": str(data_dir.parent), **(env or {})}
    result = subprocess.run([str(Path(sys.executable).parent / "kiosk"), *args], input=stdin, env=environment,
                            capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stdout
