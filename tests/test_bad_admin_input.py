"""Admin requests carrying values at or past the edges of what the code can hold: dates in
year 9999 or 0001, ids above 2^63-1, a ``next`` with CR/LF, pose landmarks with NaN or
infinity. Each is answered with a 4xx and a message a person can read, never a 500 (issue
13, items 8, 9 and the landmark lists), and writes nothing. Also what the admin API shows:
no server paths, one charset on an export (item 13)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from gesture_helpers import skeleton

from kiosk.extensions import db
from kiosk.models import GestureSample


@pytest.fixture
def admin(client, sign_in_admin):
    client.csrf = sign_in_admin(client)
    return client


def message_of(response) -> str:
    if response.is_json:
        return response.get_json()["message"]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text))


OUT_OF_RANGE_DATES = [
    "/api/v1/attendance?from=9999-12-31&to=9999-12-31",
    "/api/v1/attendance?from=0001-01-01&to=0001-01-01",
    "/api/v1/attendance?to=9999-12-31",
    "/api/v1/attendance/daily?from=9999-12-01&to=9999-12-31",
    "/api/v1/attendance/export?from=9999-12-31&to=9999-12-31&format=csv",
    "/api/v1/attendance/export?from=0001-01-01&to=0001-01-02&format=xlsx",
    "/api/v1/attendance/summary?month=9999-12",
    "/api/v1/attendance/summary?month=0001-01",
    "/admin/attendance?to=9999-12-31",
    "/admin/attendance?from=0001-01-01&to=0001-01-01",
    "/admin/attendance/export?from=9999-12-31&to=9999-12-31&format=csv",
    "/admin/attendance/person/{person}?to=9999-12-31",
    "/admin/reports?month=0001-01",
    "/admin/reports?month=9999-12",
]


@pytest.mark.parametrize("url", OUT_OF_RANGE_DATES)
def test_dates_the_code_cannot_handle_are_a_400_with_a_message(admin, make_person, url):
    response = admin.get(url.format(person=make_person("Ada Lovelace").id))
    assert response.status_code == 400, (url, response.status_code)
    assert "outside the dates the kiosk reports on (1900-01-01 to 9998-12-31)" in message_of(response)
    if response.is_json:
        assert response.get_json()["error"] == "date_out_of_range"


def test_the_edges_of_the_supported_range_still_work(admin):
    for url in ("/api/v1/attendance?from=9998-12-31&to=9998-12-31", "/api/v1/attendance?from=1900-01-01&to=1900-01-01",
                "/api/v1/attendance/summary?month=9998-12", "/admin/reports?month=1900-01",
                "/api/v1/attendance/export?from=9998-12-01&to=9998-12-31&format=csv"):
        assert admin.get(url).status_code == 200, url


def test_kiosk_export_refuses_such_dates_too(runner, tmp_path):
    result = runner.invoke(args=["export", "--from", "9999-12-31", "--to", "9999-12-31",
                                 "--output", str(tmp_path / "out.csv")])
    assert result.exit_code != 0 and "outside the dates" in result.output
    assert not (tmp_path / "out.csv").exists()


HUGE = "99999999999999999999"  # > 2^63 - 1


@pytest.mark.parametrize("method, url", [
    ("GET", f"/api/v1/people/{HUGE}"),
    ("PATCH", f"/api/v1/people/{HUGE}"),
    ("DELETE", f"/api/v1/people/{HUGE}"),
    ("GET", f"/api/v1/people/{HUGE}/deletion"),
    ("POST", f"/api/v1/people/{HUGE}/samples"),
    ("DELETE", f"/api/v1/people/1/samples/{HUGE}"),
    ("GET", f"/api/v1/attendance/{HUGE}"),
    ("PATCH", f"/api/v1/attendance/{HUGE}"),
    ("GET", f"/api/v1/attendance?person_id={HUGE}"),
    ("GET", f"/api/v1/attendance/export?from=2025-01-01&to=2025-01-02&format=csv&person_id={HUGE}"),
    ("GET", f"/admin/people/{HUGE}"),
    ("GET", f"/admin/people/1/samples/{HUGE}/crop"),
    ("GET", f"/admin/attendance/{HUGE}"),
    ("GET", f"/admin/attendance/{HUGE}/photo.png"),
    ("GET", f"/admin/attendance/person/{HUGE}"),
    ("GET", f"/admin/attendance?person_id={HUGE}"),
    ("POST", f"/admin/people/{HUGE}/rename"),
    ("GET", f"/api/v1/people/{2**63}"),
])
def test_ids_beyond_any_row_are_404(admin, make_person, method, url):
    make_person("Ada Lovelace")
    response = admin.open(url, method=method, json={"name": "x", "memo": "x"} if method != "GET" else None,
                          headers={"X-CSRFToken": admin.csrf})
    assert response.status_code == 404, (method, url, response.status_code, response.text[:200])
    assert message_of(response)


def test_the_largest_row_id_itself_is_an_ordinary_404(admin):
    response = admin.get(f"/api/v1/people/{2**63 - 1}")
    assert response.status_code == 404 and response.get_json()["message"] == "No such person."


# ---------------------------------------------------------------------------- next


@pytest.mark.parametrize("next_url", ["/%0D%0AX", "/admin/%0ASet-Cookie:x=1", "/admin%09people", "/%00"])
def test_a_next_with_control_characters_is_ignored(client, sign_in_admin, next_url):
    form = client.get(f"/auth/login?next={next_url}")
    assert form.status_code == 200
    assert "next=" not in form.text  # not carried into the form
    from kiosk.services.accounts import create_admin

    create_admin("admin", "correct horse battery")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    answer = client.post(f"/auth/login?next={next_url}",
                         data={"username": "admin", "password": "correct horse battery", "csrf_token": token})
    assert answer.status_code == 303 and answer.location == "/admin/"


# ---------------------------------------------------------------------------- landmarks


def sample_body(landmarks_payload) -> str:
    # JSON as a client may send it: NaN and Infinity literals, and 1e400 (infinity once parsed).
    return json.dumps({"label": "O", "landmarks": landmarks_payload}).replace("Infinity", "1e400")


@pytest.mark.parametrize("case, payload", [
    ("image_size 1e400", {"landmarks": skeleton("O"), "image_size": [float("inf"), 480]}),
    ("image_size NaN", {"landmarks": skeleton("O"), "image_size": [float("nan"), 480]}),
    ("image_size -inf", {"landmarks": skeleton("O"), "image_size": [640, float("-inf")]}),
    ("image_size 1e300", {"landmarks": skeleton("O"), "image_size": [1e300, 480]}),
    ("image_size 0", {"landmarks": skeleton("O"), "image_size": [0, 480]}),
    ("image_size fraction", {"landmarks": skeleton("O"), "image_size": [640.5, 480]}),
    ("image_size text", {"landmarks": skeleton("O"), "image_size": ["640", "480"]}),
    ("image_size true", {"landmarks": skeleton("O"), "image_size": [True, 480]}),
    ("landmark NaN", {"landmarks": [[float("nan"), 0.5, 0, 1]] + skeleton("O")[1:]}),
    ("landmark Infinity", {"landmarks": skeleton("O")[:11] + [[float("inf"), 0.45, 0, 1]] + skeleton("O")[12:]}),
    ("visibility NaN", {"landmarks": [row[:3] + [float("nan")] for row in skeleton("O")]}),
    ("bare rows with -Infinity", [[0.5, float("-inf")]] * 33),
])
def test_landmarks_and_image_size_must_be_finite_numbers(admin, case, payload):
    response = admin.post("/api/v1/models/gestures/samples", data=sample_body(payload),
                          content_type="application/json", headers={"X-CSRFToken": admin.csrf})
    assert response.status_code == 400, (case, response.status_code, response.text[:200])
    assert response.get_json()["error"] == "bad_landmarks"
    assert "finite" in response.get_json()["message"] or "pixels" in response.get_json()["message"]
    assert db.session.scalar(db.select(db.func.count(GestureSample.id))) == 0


# ---------------------------------------------------------------------------- what the API shows


def strings_in(value) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings_in(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings_in(item)]
    return [value] if isinstance(value, str) else []


def test_the_models_api_shows_no_server_paths(app, admin):
    data_dir = str(Path(app.config["KIOSK_DATA_DIR"]))
    repo = str(Path(__file__).resolve().parent.parent)
    answer = admin.get("/api/v1/models").get_json()
    assert answer["gestures"]["model"]["file"] == "gesture_classifier.joblib"
    for text in strings_in(answer):
        assert not text.startswith("/") and data_dir not in text and repo not in text, text
    # A broken face model: the admin reads why without the file's path.
    (Path(data_dir) / "models").mkdir(exist_ok=True)
    from kiosk.services import face_model_file, recognition

    face_model_file.model_path().write_bytes(b"not a model")
    recognition.get_recognizer().invalidate()
    broken = admin.get("/api/v1/models").get_json()
    for text in strings_in(broken):
        assert data_dir not in text and repo not in text, text
    assert "$KIOSK_DATA_DIR/models/faces.joblib is unreadable" in json.dumps(broken)


def test_an_export_names_its_charset_once(admin):
    for url in ("/api/v1/attendance/export?from=2025-01-01&to=2025-01-31&format=csv",
                "/admin/attendance/export?from=2025-01-01&to=2025-01-31&format=csv"):
        response = admin.get(url)
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8", url
    xlsx = admin.get("/api/v1/attendance/export?from=2025-01-01&to=2025-01-31&format=xlsx")
    assert xlsx.headers["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
