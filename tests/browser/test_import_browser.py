"""Bulk import in a real browser: headless Debian Chromium (Playwright) against the real app under
gunicorn over HTTPS, real models, real photos (the staff directory of tests/import_helpers.py plus
three more people). An admin signs in, opens People > Import many people, uploads a ZIP, watches
the progress bar move to 100% while the kiosk keeps answering frames, and reads the summary.
Screenshots go to artifacts/screenshots/ (git-ignored)."""

from __future__ import annotations

import math
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from import_helpers import STAFF, write_folder, write_zip
from kiosk_devices import register_kiosk

pytestmark = [pytest.mark.browser, pytest.mark.models]  # the server enrolls with the real models

REPO_ROOT = Path(__file__).resolve().parents[2]

FACES = REPO_ROOT / "tests" / "data" / "faces"
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
ADMIN_USER, ADMIN_PASSWORD = "import-admin", "a long enough passphrase"
TIMEOUT_MS = 120_000


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"admin-import-{name}.png"), full_page=True)


def staff_zip(folder: Path) -> tuple[Path, dict]:
    staff = dict(STAFF)
    staff["Tony Blair"] = [(f"{i}.jpg", FACES / "lfw_Tony_Blair" / f"{i}.jpg") for i in (2, 3, 4)]
    staff["Barack Obama"] = [(f"{i}.jpg", FACES / "fr_obama" / f"{i}.jpg") for i in (1, 2, 3, 4, 5)]
    staff["Joe Biden"] = [(f"{i}.jpg", FACES / "fr_biden" / f"{i}.jpg") for i in (1, 2)]
    photos = write_folder(folder / "staff", staff)
    return write_zip(folder / "staff.zip", photos), staff


def test_admin_uploads_a_zip_and_watches_the_import_to_its_summary(prepare_data_dir, start_https_app,
                                                                   launch_chromium, tmp_path):
    data_dir = prepare_data_dir("import-console")
    subprocess.run([str(Path(sys.executable).parent / "kiosk"), "admin", "create", ADMIN_USER, "--password-stdin"],
                   input=ADMIN_PASSWORD + "\n", text=True, check=True, capture_output=True, cwd=REPO_ROOT,
                   env={"KIOSK_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    server = start_https_app(data_dir)
    kiosk_token = register_kiosk(data_dir, "Import watcher")  # kiosks must be paired
    archive, staff = staff_zip(tmp_path)
    total = sum(len(photos) for photos in staff.values())

    browser = launch_chromium()
    page = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))

    page.goto(server.url + "/admin/people")
    page.get_by_label("Username").fill(ADMIN_USER)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/people")
    page.get_by_role("link", name="Import many people").click()
    page.wait_for_url("**/admin/people/import")
    page.locator("#import-source").set_input_files(str(archive))
    page.get_by_role("button", name="Import").click()
    page.wait_for_url("**/admin/people/import?job=*")
    page.wait_for_selector("#import-progress")
    shot(page, "01-started")

    # Follow the bar as the page's script updates it; meanwhile the kiosk answers frames.
    frame = (FACES / "lfw_Colin_Powell" / "3.jpg").read_bytes()
    kiosk = requests.Session()
    kiosk.headers["X-Kiosk-Token"] = kiosk_token
    seen: list[tuple[str, float]] = []  # (step, the bar's value)
    frames_while_running = 0
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if page.locator("#import-summary").count():
            break
        try:
            # Read in one go: the page's script may update the bar between two separate reads,
            # pairing an old value with a new step.
            state = page.evaluate("""() => {
                const job = document.getElementById("import-job");
                if (!job) return null;
                return {value: document.getElementById("import-progress").getAttribute("value"),
                        running: job.dataset.jobState, phase: job.dataset.phase || "",
                        percent: document.getElementById("import-percent").innerText,
                        stage: document.getElementById("import-stage").innerText};
            }""")
        except Exception:  # noqa: BLE001 - the page reloads itself when the job ends
            continue
        if state is None:
            continue
        value, running, phase = float(state["value"]), state["running"], state["phase"]
        percent, stage = state["percent"], state["stage"]
        seen.append((phase, value))
        counted = re.search(r"photo (\d+) of (\d+)", stage)
        if counted and phase == "importing":  # the percentage agrees with "photo N of M"
            assert percent == f"{math.floor(100 * int(counted[1]) / int(counted[2]) + 0.5)}%", (percent, stage)
        if running in ("queued", "running"):
            answer = kiosk.post(server.url + "/api/v1/kiosk/frames", data=frame, verify=str(server.cert),
                                headers={"Content-Type": "image/jpeg"}, timeout=60)
            assert answer.status_code == 200, answer.text
            frames_while_running += 1
            if len(seen) == 3:
                shot(page, "02-running")
        time.sleep(0.3)
    page.wait_for_selector("#import-summary")
    shot(page, "03-summary")

    final = float(page.locator("#import-progress").get_attribute("value"))
    assert final == 1.0 and page.locator("#import-percent").inner_text() == "100%"
    assert any(0 < v < 1 for _, v in seen), seen  # the bar moved while the import ran
    for step in {phase for phase, _ in seen}:  # and never went back within a step
        values = [v for phase, v in seen if phase == step]
        assert values == sorted(values), (step, values)
    assert frames_while_running >= 1

    facts = {name: page.locator(f'[data-fact="{name}"]').inner_text()
             for name in ("people_created", "accepted", "refused_total", "duplicates")}
    assert facts == {"people_created": "6", "accepted": str(total - 3), "refused_total": "2", "duplicates": "1"}
    assert page.locator('[data-refused="multiple_faces"]').inner_text() == "1"
    assert page.locator('[data-refused="bad_image"]').inner_text() == "1"
    assert "The face model was retrained once: 6 people" in page.locator('[data-fact="training"]').inner_text()
    look_at = page.locator("#import-summary table.results tbody tr")
    assert look_at.count() >= 2 and "George W Bush" in page.locator("#import-summary table.results").inner_text()
    skipped = page.get_by_role("table", name="Duplicates skipped").inner_text()  # the duplicate, by person and photo
    assert "Hugo Chavez" in skipped and "Hugo Chavez/2.jpg" in skipped
    assert errors == []

    with sqlite3.connect(data_dir / "kiosk.sqlite3") as connection:
        people = dict(connection.execute(
            "SELECT p.name, count(s.id) FROM person p JOIN face_sample s ON s.person_id = p.id GROUP BY p.name"
        ).fetchall())
    assert people == {"Colin Powell": 2, "Hugo Chavez": 2, "George W Bush": 1, "Tony Blair": 3,
                      "Barack Obama": 5, "Joe Biden": 2}
    assert (data_dir / "models" / "faces.joblib").is_file()
