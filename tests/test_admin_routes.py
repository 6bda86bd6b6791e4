"""Every admin route: anonymous refused, CSRF enforced, and what each one does (Flask test client).

CSRF stays ON everywhere in this file: the helper signs in through the real form and sends the
page's token (form field or X-CSRFToken header) like the browser does. Face samples here are made
directly in the database with a real crop file (these tests are about the admin routes, not about
enrollment, which tests/test_admin_enrollment.py exercises with the real models).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import factories
import pytest

from kiosk import storage
from kiosk.extensions import db
from kiosk.models import AttendanceEvent, FaceSample, Person
from kiosk.vision.image import encode_jpeg, load_image

MY_API_MODULES = {"kiosk.web.api.people", "kiosk.web.api.attendance", "kiosk.web.api.models_admin"}
STATE_CHANGING = {"POST", "PATCH", "DELETE", "PUT"}


class AdminSession:
    """A signed-in test client that sends the CSRF token the way the pages do."""

    def __init__(self, client, token: str):
        self.client = client
        self.token = token

    def get(self, url, **kw):
        return self.client.get(url, **kw)

    def post(self, url, data=None, **kw):
        data = dict(data or {})
        data.setdefault("csrf_token", self.token)
        return self.client.post(url, data=data, **kw)

    def api(self, method, url, **kw):
        headers = {"X-CSRFToken": self.token, **kw.pop("headers", {})}
        return self.client.open(url, method=method, headers=headers, **kw)


@pytest.fixture
def admin(client, sign_in_admin):
    return AdminSession(client, sign_in_admin(client))


@pytest.fixture
def face_image(faces_data):
    return load_image(faces_data / "lfw_Colin_Powell" / "1.jpg")


def add_sample(person: Person, image) -> FaceSample:
    """A face sample row with a real crop file (no embedding: not needed by these routes)."""
    return factories.sample(person, encode_jpeg(image[60:190, 60:190]), ".jpg", quality=0.8, source_photo="powell.jpg")


def add_check_in(person: Person, image, when: datetime, **kw) -> AttendanceEvent:
    from kiosk.services.attendance import record_check_in

    result = record_check_in(person, image, happy=0.7, identification_score=0.9, now=when, **kw)
    assert not result.duplicate
    return result.event


# ---------------------------------------------------------------------------- route inventory


def admin_routes(app):
    """(rule, method) for every admin page and every admin API route."""
    routes = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if rule.endpoint.startswith("admin.") or view.__module__ in MY_API_MODULES:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                routes.append((rule, method))
    return routes


def build(app, rule) -> str:
    values = {}
    for name in rule.arguments:
        values[name] = "faces" if name == "kind" else ("nojob" if name == "job_id" else 1)
    return app.url_map.bind("localhost").build(rule.endpoint, values)


def test_the_inventory_covers_the_console(app):
    endpoints = {rule.endpoint for rule, _ in admin_routes(app)}
    assert len(admin_routes(app)) >= 44
    for expected in (
        "admin.dashboard", "admin.people", "admin.person_page", "admin.person_enroll", "admin.person_delete",
        "admin.sample_crop", "admin.attendance", "admin.attendance_export", "admin.event_photo", "admin.event_memo",
        "admin.reports_page", "admin.models_page", "admin.models_train", "admin.gestures_page",
        "api.people_list", "api.people_enroll", "api.enrollment_check_frame", "api.attendance_export",
        "api.attendance_update", "api.models_train", "api.models_job", "api.models_gesture_record",
    ):
        assert expected in endpoints


def test_every_admin_route_refuses_anonymous_users(app, client):
    # A valid anonymous CSRF token, so the refusal comes from the access check, not from CSRF.
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/auth/login").text).group(1)
    checked = 0
    for rule, method in admin_routes(app):
        url = build(app, rule)
        response = client.open(url, method=method, headers={"X-CSRFToken": token})
        if url.startswith("/api/"):
            assert response.status_code == 401, (method, url, response.status_code)
            assert response.get_json()["error"] == "unauthorized", (method, url)
        else:
            assert response.status_code == 302, (method, url, response.status_code)
            assert "/auth/login" in response.location, (method, url)
        checked += 1
    assert checked >= 44


def test_every_state_changing_admin_route_enforces_csrf(app, admin, make_person, face_image):
    person = make_person("Ada Lovelace")
    add_sample(person, face_image)
    changing = [(rule, method) for rule, method in admin_routes(app) if method in STATE_CHANGING]
    assert len(changing) >= 18
    for rule, method in changing:
        url = build(app, rule)
        response = admin.client.open(url, method=method, data={"name": "Changed", "active": "0", "memo": "x"})
        assert response.status_code == 400, (method, url, response.status_code)
        if url.startswith("/api/"):
            assert response.get_json()["error"] == "csrf_failed", (method, url)
        else:
            assert "reload the page" in response.text, (method, url)
    # ... and nothing happened.
    db.session.expire_all()
    person = db.session.get(Person, person.id)
    assert person is not None and person.name == "Ada Lovelace" and person.active and len(person.samples) == 1


def test_a_wrong_token_is_refused_too(admin, make_person):
    person = make_person("Ada")
    response = admin.client.open(f"/api/v1/people/{person.id}", method="DELETE", headers={"X-CSRFToken": "forged"})
    assert response.status_code == 400
    assert db.session.get(Person, person.id) is not None


# ---------------------------------------------------------------------------- dashboard


def test_dashboard_shows_today_and_a_server_made_chart(app, admin, make_person, face_image):
    person = make_person("Ada Lovelace")
    add_check_in(person, face_image, datetime.now(timezone.utc) - timedelta(minutes=5))
    page = admin.get("/admin/")
    assert page.status_code == 200
    assert "<svg" in page.text and 'class="bar"' in page.text
    assert "Ada Lovelace" in page.text
    assert re.search(r"<strong>1</strong> present today", page.text)
    assert "cdn" not in page.text.lower() and "https://" not in page.text


# ---------------------------------------------------------------------------- people


def test_people_list_and_search(admin, make_person):
    make_person("Ada Lovelace", external_id="E-1")
    make_person("Grace Hopper")
    page = admin.get("/admin/people?q=grace")
    assert "Grace Hopper" in page.text and "Ada Lovelace" not in page.text
    assert "Ada Lovelace" in admin.get("/admin/people?q=e-1").text
    api = admin.get("/api/v1/people?q=ada").get_json()
    assert [p["name"] for p in api["people"]] == ["Ada Lovelace"]


def test_add_a_person_from_the_page(admin):
    response = admin.post("/admin/people", {"name": "  Ada   Lovelace ", "external_id": "E-7"})
    assert response.status_code == 303
    person = db.session.scalar(db.select(Person).where(Person.name == "Ada Lovelace"))
    assert person is not None and person.external_id == "E-7"
    assert response.location.endswith(f"/admin/people/{person.id}")
    page = admin.get(response.location)
    assert "Ada Lovelace was added" in page.text and "No photos yet" in page.text
    duplicate = admin.post("/admin/people", {"name": "ada lovelace"})
    assert duplicate.status_code == 409 and "already exists" in duplicate.text
    blank = admin.post("/admin/people", {"name": "   "})
    assert blank.status_code == 400 and "needs a name" in blank.text
    missing = admin.post("/admin/people", {"external_id": "x"})
    assert missing.status_code == 400 and "no &#39;name&#39; field" in missing.text


def test_people_api_create_get_update(admin):
    created = admin.api("POST", "/api/v1/people", json={"name": "Grace Hopper", "external_id": "G-1"})
    assert created.status_code == 201
    person_id = created.get_json()["id"]
    assert admin.api("POST", "/api/v1/people", json={}).get_json()["error"] == "missing_name"
    assert admin.api("POST", "/api/v1/people", json={"name": "Grace Hopper"}).status_code == 409
    assert admin.api("POST", "/api/v1/people", data="[1]", content_type="application/json").status_code == 400
    renamed = admin.api("PATCH", f"/api/v1/people/{person_id}", json={"name": "Grace B. Hopper", "active": False})
    assert renamed.status_code == 200
    assert renamed.get_json()["name"] == "Grace B. Hopper" and renamed.get_json()["active"] is False
    assert admin.api("PATCH", f"/api/v1/people/{person_id}", json={"active": "maybe"}).status_code == 400
    assert admin.api("PATCH", f"/api/v1/people/{person_id}", json={}).get_json()["error"] == "nothing_to_change"
    got = admin.get(f"/api/v1/people/{person_id}").get_json()
    assert got["name"] == "Grace B. Hopper" and got["face_samples"] == []


def test_rename_and_deactivate_from_the_page(admin, make_person):
    ada, grace = make_person("Ada"), make_person("Grace")
    assert admin.post(f"/admin/people/{ada.id}/rename", {"name": "Ada King"}).status_code == 303
    assert db.session.get(Person, ada.id).name == "Ada King"
    clash = admin.post(f"/admin/people/{ada.id}/rename", {"name": "grace"})
    assert clash.status_code == 409 and "already exists" in clash.text
    assert admin.post(f"/admin/people/{ada.id}/rename", {}).status_code == 400
    assert admin.post(f"/admin/people/{grace.id}/active", {"active": "0"}).status_code == 303
    db.session.expire_all()
    assert db.session.get(Person, grace.id).active is False
    assert "Activate" in admin.get(f"/admin/people/{grace.id}").text
    assert admin.post(f"/admin/people/{grace.id}/active", {"active": "1"}).status_code == 303
    db.session.expire_all()
    assert db.session.get(Person, grace.id).active is True
    assert admin.post(f"/admin/people/{grace.id}/active", {}).status_code == 400
    assert admin.post(f"/admin/people/{grace.id}/active", {"active": "perhaps"}).status_code == 400


def test_unknown_person_is_a_404_everywhere(admin):
    for url in ("/admin/people/999", "/admin/people/999/delete", "/admin/attendance/person/999",
                "/admin/people/999/samples/1/crop"):
        response = admin.get(url)
        assert response.status_code == 404, url
        assert "No such" in response.text
    for method, url in (("GET", "/api/v1/people/999"), ("PATCH", "/api/v1/people/999"),
                        ("DELETE", "/api/v1/people/999"), ("POST", "/api/v1/people/999/samples")):
        response = admin.api(method, url, json={"name": "x"})
        assert response.status_code == 404, (method, url)
        assert response.get_json() == {"error": "not_found", "message": "No such person."}
    assert admin.post("/admin/people/999/delete").status_code == 404
    assert admin.get("/admin/attendance?person_id=999").status_code == 404
    assert admin.get("/api/v1/attendance?person_id=abc").status_code == 400


def test_face_crops_are_served_by_id_to_admins_only(app, admin, make_person, face_image, tmp_path):
    ada, grace = make_person("Ada"), make_person("Grace")
    sample = add_sample(ada, face_image)
    crop = admin.get(f"/admin/people/{ada.id}/samples/{sample.id}/crop")
    assert crop.status_code == 200 and crop.mimetype == "image/jpeg"  # this test stored a JPEG crop
    assert crop.data == storage.resolve(sample.crop_path).read_bytes()
    assert "no-store" in crop.headers["Cache-Control"]
    # Another person's id in the URL does not reach this crop.
    assert admin.get(f"/admin/people/{grace.id}/samples/{sample.id}/crop").status_code == 404
    # A stored path that escapes the data dir (a tampered row) is never served.
    secret = Path(app.config["KIOSK_DATA_DIR"]).parent / "secret.jpg"
    secret.write_bytes(b"\xff\xd8\xff secret")
    sample.crop_path = "../secret.jpg"
    db.session.commit()
    response = admin.get(f"/admin/people/{ada.id}/samples/{sample.id}/crop")
    assert response.status_code == 404 and b"secret" not in response.data
    # The page shows the crops with their quality.
    sample.crop_path = storage.store_bytes("faces", encode_jpeg(face_image), ".jpg")
    db.session.commit()
    page = admin.get(f"/admin/people/{ada.id}")
    assert f"/admin/people/{ada.id}/samples/{sample.id}/crop" in page.text
    assert "good 0.80" in page.text and "powell.jpg" in page.text


def test_removing_one_sample(admin, make_person, face_image):
    ada = make_person("Ada")
    keep, drop = add_sample(ada, face_image), add_sample(ada, face_image)
    dropped_file = storage.resolve(drop.crop_path)
    response = admin.post(f"/admin/people/{ada.id}/samples/{drop.id}/delete")
    assert response.status_code == 303
    assert db.session.get(FaceSample, drop.id) is None and not dropped_file.exists()
    assert db.session.get(FaceSample, keep.id) is not None
    assert admin.api("DELETE", f"/api/v1/people/{ada.id}/samples/{keep.id}").status_code == 200
    assert admin.api("DELETE", f"/api/v1/people/{ada.id}/samples/{keep.id}").status_code == 404


def test_deletion_says_what_it_deletes_then_removes_rows_and_files(admin, make_person, face_image):
    ada, grace = make_person("Ada Lovelace"), make_person("Grace")
    samples = [add_sample(ada, face_image) for _ in range(3)]
    now = datetime.now(timezone.utc)
    events = [add_check_in(ada, face_image, now - timedelta(days=d)) for d in (1, 2)]
    other = add_check_in(grace, face_image, now - timedelta(days=1))
    files = [storage.resolve(s.crop_path) for s in samples]
    files += [storage.resolve(p) for e in events for p in (e.photo_path, e.original_photo_path)]
    assert len(files) == 7 and all(f.is_file() for f in files)

    confirm = admin.get(f"/admin/people/{ada.id}/delete")
    assert confirm.status_code == 200
    assert re.search(r'data-count="samples">3<', confirm.text)
    assert re.search(r'data-count="events">2<', confirm.text)
    assert re.search(r'data-count="photos">4<', confirm.text)
    assert "cannot be undone" in confirm.text
    preview = admin.get(f"/api/v1/people/{ada.id}/deletion").get_json()
    assert preview == {"name": "Ada Lovelace", "samples": 3, "learned_samples": 0, "events": 2, "photos": 4, "files": 7}
    assert db.session.get(Person, ada.id) is not None  # looking is not deleting

    done = admin.post(f"/admin/people/{ada.id}/delete")
    assert done.status_code == 303 and done.location.endswith("/admin/people")
    deleted = "Deleted Ada Lovelace: 3 face sample(s), 2 attendance event(s) and 7 file(s)"
    assert deleted in admin.get(done.location).text
    db.session.expire_all()
    assert db.session.get(Person, ada.id) is None
    assert db.session.scalar(db.select(db.func.count(FaceSample.id)).where(FaceSample.person_id == ada.id)) == 0
    events_left = db.select(db.func.count(AttendanceEvent.id)).where(AttendanceEvent.person_id == ada.id)
    assert db.session.scalar(events_left) == 0
    assert not any(f.exists() for f in files)
    # Someone else's data is untouched.
    assert db.session.get(AttendanceEvent, other.id) is not None
    assert storage.resolve(db.session.get(AttendanceEvent, other.id).photo_path).is_file()


def test_delete_through_the_api(admin, make_person, face_image):
    ada = make_person("Ada")
    sample = add_sample(ada, face_image)
    crop = storage.resolve(sample.crop_path)
    response = admin.api("DELETE", f"/api/v1/people/{ada.id}")
    assert response.status_code == 200
    assert response.get_json()["deleted"] == {"name": "Ada", "samples": 1, "events": 0, "files": 1}
    assert not crop.exists() and db.session.get(Person, ada.id) is None


# ---------------------------------------------------------------------------- attendance


@pytest.fixture
def seoul_day(app, make_person, face_image):
    """Two people on 3 March 2025 in Seoul (UTC+9); Ada comes and goes, Grace only comes."""
    app.config["KIOSK_TIMEZONE"] = "Asia/Seoul"
    app.config["KIOSK_REPEAT_RULE"] = "check_out"
    app.config["KIOSK_DUPLICATE_WINDOW_MINUTES"] = 24 * 60
    ada, grace = make_person("Ada Lovelace"), make_person("Grace Hopper")
    utc = timezone.utc
    ada_in = add_check_in(ada, face_image, datetime(2025, 3, 3, 0, 2, tzinfo=utc))  # 09:02
    ada_out = add_check_in(ada, face_image, datetime(2025, 3, 3, 9, 30, tzinfo=utc))  # 18:30, a check-out
    grace_in = add_check_in(grace, face_image, datetime(2025, 3, 2, 23, 55, tzinfo=utc))  # 08:55 on the 3rd
    return {"ada": ada, "grace": grace, "ada_in": ada_in, "ada_out": ada_out, "grace_in": grace_in}


def test_day_view_in_the_site_time_zone(admin, seoul_day):
    page = admin.get("/admin/attendance?from=2025-03-03&to=2025-03-03")
    assert page.status_code == 200
    # The date as the console's language writes it.
    assert "Monday, March 3, 2025" in page.text and "2 present" in page.text
    assert "09:02" in page.text and "18:30" in page.text and "08:55" in page.text
    assert "Asia/Seoul" in page.text
    assert f"/admin/attendance/{seoul_day['ada_in'].id}/photo.png" in page.text
    # Nothing on the 2nd in Seoul, although Grace's event is on the 2nd in UTC.
    assert "No check-ins in this range" in admin.get("/admin/attendance?from=2025-03-02&to=2025-03-02").text
    only_grace = admin.get(f"/admin/attendance?from=2025-03-03&to=2025-03-03&person_id={seoul_day['grace'].id}")
    assert "08:55" in only_grace.text and "09:02" not in only_grace.text


def test_person_view(admin, seoul_day):
    page = admin.get(f"/admin/attendance/person/{seoul_day['ada'].id}?from=2025-03-01&to=2025-03-31")
    assert page.status_code == 200
    assert "1 day present" in page.text and "Mon 2025-03-03" in page.text
    assert "09:02" in page.text and "18:30" in page.text


def test_attendance_filters_are_validated(admin):
    bad = admin.get("/admin/attendance?from=yesterday&to=2025-03-03")
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text
    assert admin.get("/admin/attendance?from=2025-03-05&to=2025-03-01").status_code == 400
    assert admin.get("/api/v1/attendance?from=2025-03-05&to=2025-03-01").get_json()["error"] == "bad_range"
    assert admin.get("/api/v1/attendance?view=weeks").get_json()["error"] == "bad_view"
    assert admin.get("/admin/reports?month=2025-13").status_code == 400
    assert admin.get("/admin/attendance/export?from=2025-03-01&to=2025-03-02&format=pdf").status_code == 400
    assert admin.get("/api/v1/attendance/export?from=2025-03-01&format=csv").get_json()["error"] == "missing_date"


def test_attendance_api(admin, seoul_day):
    events = admin.get("/api/v1/attendance?from=2025-03-03&to=2025-03-03").get_json()
    assert events["timezone"] == "Asia/Seoul"
    assert [(e["person"], e["time"], e["kind"]) for e in events["events"]] == [
        ("Grace Hopper", "08:55:00", "check_in"),
        ("Ada Lovelace", "09:02:00", "check_in"),
        ("Ada Lovelace", "18:30:00", "check_out"),
    ]
    assert events["events"][1]["timestamp"] == "2025-03-03T09:02:00+09:00"
    days = admin.get("/api/v1/attendance?from=2025-03-03&to=2025-03-03&view=days").get_json()["days"]
    ada = next(d for d in days if d["person"] == "Ada Lovelace")
    assert ada["time_in"] == "2025-03-03T09:02:00+09:00" and ada["time_out"] == "2025-03-03T18:30:00+09:00"
    summary = admin.get("/api/v1/attendance/summary?month=2025-03").get_json()
    assert {p["name"]: p["days_present"] for p in summary["people"]} == {"Ada Lovelace": 1, "Grace Hopper": 1}
    daily = admin.get("/api/v1/attendance/daily?from=2025-03-02&to=2025-03-03").get_json()["days"]
    assert daily == [{"date": "2025-03-02", "present": 0}, {"date": "2025-03-03", "present": 2}]
    one = admin.get(f"/api/v1/attendance/{seoul_day['ada_out'].id}").get_json()
    assert one["kind"] == "check_out" and one["photo_url"].endswith("/photo.png")
    assert admin.get("/api/v1/attendance/9999").status_code == 404


def test_export_downloads(admin, seoul_day):
    csv_response = admin.get("/admin/attendance/export?from=2025-03-03&to=2025-03-03&format=csv")
    assert csv_response.status_code == 200
    assert csv_response.headers["Content-Disposition"] == 'attachment; filename="attendance_2025-03-03_2025-03-03.csv"'
    assert csv_response.mimetype == "text/csv" and csv_response.headers["X-Export-Rows"] == "3"
    import csv
    import io

    rows = list(csv.reader(io.StringIO(csv_response.data.decode("utf-8-sig"))))
    assert rows[0][:5] == ["event_id", "date", "time", "time_zone", "person"] and len(rows) == 4
    second = dict(zip(rows[0], rows[2]))
    assert second["memo"] == "Ada Lovelace\n2025-03-03 09:02"  # the default memo has two lines
    assert second["time_zone"] == "Asia/Seoul"
    xlsx = admin.get("/api/v1/attendance/export?from=2025-03-03&to=2025-03-03&format=xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    from kiosk.services.reports import read_xlsx_rows

    assert len(read_xlsx_rows(xlsx.data)) == 4


def test_monthly_report_page(admin, seoul_day):
    page = admin.get("/admin/reports?month=2025-03")
    assert page.status_code == 200 and "March 2025" in page.text
    assert "Ada Lovelace" in page.text and "18:30" in page.text and "<svg" in page.text
    assert "/admin/attendance/export?" in page.text


def test_event_page_memo_and_png_download(admin, seoul_day):
    event = seoul_day["ada_in"]
    old_png = storage.resolve(event.photo_path)
    old_bytes = old_png.read_bytes()
    page = admin.get(f"/admin/attendance/{event.id}")
    assert page.status_code == 200 and "Download PNG" in page.text and "Ada Lovelace" in page.text

    photo = admin.get(f"/admin/attendance/{event.id}/photo.png")
    assert photo.status_code == 200 and photo.data == old_bytes and photo.data[:8] == b"\x89PNG\r\n\x1a\n"
    download = admin.get(f"/admin/attendance/{event.id}/photo.png?download=1")
    assert download.headers["Content-Disposition"].startswith("attachment; filename=checkin_")
    assert download.headers["Content-Disposition"].endswith(".png")
    original = admin.get(f"/admin/attendance/{event.id}/photo.png?original=1&download=1")
    assert original.status_code == 200 and original.data[:3] == b"\xff\xd8\xff"

    saved = admin.post(f"/admin/attendance/{event.id}/memo", {"memo": "Happy birthday Ada!"})
    assert saved.status_code == 303
    db.session.expire_all()
    event = db.session.get(AttendanceEvent, event.id)
    assert event.memo == "Happy birthday Ada!"
    new_bytes = admin.get(f"/admin/attendance/{event.id}/photo.png").data
    assert new_bytes[:8] == b"\x89PNG\r\n\x1a\n" and new_bytes != old_bytes
    assert not old_png.exists()  # the old rendering was replaced, not left behind

    api = admin.api("PATCH", f"/api/v1/attendance/{event.id}", json={"memo": "Line one\nLine two"})
    assert api.status_code == 200 and api.get_json()["memo"] == "Line one\nLine two"
    assert admin.api("PATCH", f"/api/v1/attendance/{event.id}", json={"memo": "x" * 300}).status_code == 400
    assert admin.api("PATCH", f"/api/v1/attendance/{event.id}", json={"memo": 5}).get_json()["error"] == "bad_memo"
    assert admin.api("PATCH", f"/api/v1/attendance/{event.id}", json={}).get_json()["error"] == "missing_memo"
    assert admin.post(f"/admin/attendance/{event.id}/memo", {}).status_code == 400


def test_deleting_an_event_removes_its_photos(admin, seoul_day):
    event = seoul_day["grace_in"]
    files = [storage.resolve(event.photo_path), storage.resolve(event.original_photo_path)]
    response = admin.post(f"/admin/attendance/{event.id}/delete")
    assert response.status_code == 303
    assert db.session.get(AttendanceEvent, event.id) is None
    assert not any(f.exists() for f in files)
    other = seoul_day["ada_in"]
    assert admin.api("DELETE", f"/api/v1/attendance/{other.id}").status_code == 200
    assert admin.api("DELETE", f"/api/v1/attendance/{other.id}").status_code == 404


def test_purged_photo_is_a_clear_404(admin, seoul_day):
    event = seoul_day["ada_in"]
    storage.resolve(event.photo_path).unlink()
    response = admin.get(f"/admin/attendance/{event.id}/photo.png")
    assert response.status_code == 404 and "missing" in response.text
    event.photo_path = None
    event.original_photo_path = None
    db.session.commit()
    assert "no photo" in admin.get(f"/admin/attendance/{event.id}").text.lower()


# ---------------------------------------------------------------------------- uploads: sizes and shapes


def test_too_large_upload_is_a_413(app, admin, make_person):
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    ada = make_person("Ada")
    from io import BytesIO

    response = admin.api("POST", f"/api/v1/people/{ada.id}/samples",
                         data={"photos": (BytesIO(b"\xff\xd8\xff" + b"0" * 2_000_000), "big.jpg")})
    assert response.status_code == 413
    assert response.get_json()["error"] == "too_large" and "1 MB" in response.get_json()["message"]


def test_enrollment_without_photos_is_a_400(admin, make_person):
    ada = make_person("Ada")
    api = admin.api("POST", f"/api/v1/people/{ada.id}/samples", data={})
    assert api.status_code == 400 and api.get_json()["error"] == "missing_photos"
    page = admin.post(f"/admin/people/{ada.id}/enroll", {})
    assert page.status_code == 400 and "Choose at least one photo" in page.text
    bad_json = admin.api("POST", f"/api/v1/people/{ada.id}/samples", json={"images": ["not base64!"]})
    assert bad_json.status_code == 400 and bad_json.get_json()["error"] == "bad_base64"
    no_frame = admin.api("POST", "/api/v1/enrollment/check-frame", data={})
    assert no_frame.status_code == 400 and no_frame.get_json()["error"] == "missing_frame"
