"""Property-based fuzzing of /api/v1 with Schemathesis (pinned in constraints.txt), through a real
deployment (gunicorn behind nginx over HTTPS, the shipped configs), with an API token of the admin
scope: every operation of /api/v1/openapi.json with valid and invalid input, in every phase
(coverage, fuzzing, stateful sequences). The checks: no server error, status codes, content types
and bodies as described, invalid input refused (4xx), deleted things gone. Figures: requests sent,
how many 5xx (must be 0), failures (must be 0)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from kiosk_stack import kiosk_cli
from reliability_kit import report

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,"
          "negative_data_rejection,use_after_free,ensure_resource_availability")
SEED = 20261207  # fixed: a run repeats what failed


def test_schemathesis_finds_no_server_error_and_no_schema_break(trained_site, make_stack, tmp_path):
    stack = make_stack()
    created = kiosk_cli(stack.data_dir, "tokens", "create", "fuzzer", "--scope", "admin", "--json",
                        env=stack.gunicorn.env)
    assert created.returncode == 0, created.stderr
    token = json.loads(created.stdout)["token"]
    har = tmp_path / "fuzz.har"
    run = subprocess.run(
        [str(Path(sys.executable).parent / "st"), "run", f"{stack.url}/api/v1/openapi.json",
         "-H", f"Authorization: Bearer {token}", "--tls-verify", str(stack.nginx.cert), "-c", CHECKS,
         "--max-examples", "40", "--workers", "1", "--seed", str(SEED), "--request-timeout", "60",
         "--report", "har", "--report-har-path", str(har), "--output-truncate", "true"],
        capture_output=True, text=True, timeout=1800, cwd=tmp_path,
    )
    output = run.stdout + run.stderr
    entries = json.loads(har.read_text())["log"]["entries"] if har.is_file() else []
    statuses = Counter(entry["response"]["status"] for entry in entries)
    cases = re.search(r"(\d+) generated", output)
    report("api_fuzzing", requests=len(entries), test_cases=int(cases.group(1)) if cases else None,
           server_errors=sum(n for status, n in statuses.items() if status >= 500),
           statuses=dict(sorted(statuses.items())), exit_code=run.returncode)
    assert run.returncode == 0, output[-6000:]
    assert entries, "Schemathesis sent nothing"
    assert not any(status >= 500 for status in statuses), statuses
