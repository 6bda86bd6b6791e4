"""A paired kiosk's language as a device setting: set on the Devices page (audit-logged), read by
the kiosk page (``<html lang>``, the lessons) and by every prompt the server sends that kiosk; the
browser's own ``?lang=`` choice counts only for a kiosk left on the site's default."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from kiosk.errors import InvalidInput, NotFound
from kiosk.extensions import db
from kiosk.models import AuditEntry, KioskDevice
from kiosk.services import devices
from kiosk.services.audit_actions import DEVICE_LANGUAGE_CHANGED


def language_entries() -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == DEVICE_LANGUAGE_CHANGED)
                                   .order_by(AuditEntry.id)))


@pytest.mark.both_databases  # the column comes from the migration on PostgreSQL too
def test_the_service_sets_and_clears_a_kiosks_language_and_logs_each_change(app):
    device, _token = devices.register_device("Lobby")
    assert device.language is None
    devices.set_device_language(device.id, "de", actor="alice")
    devices.set_device_language(device.id, "de", actor="alice")  # no change: nothing logged
    devices.set_device_language(device.id, "", actor="alice")
    db.session.expire_all()
    assert db.session.get(KioskDevice, device.id).language is None
    logged = language_entries()
    assert [(json.loads(e.before_json), json.loads(e.after_json)) for e in logged] == [
        ({"language": None}, {"language": "de"}), ({"language": "de"}, {"language": None})]
    assert {e.actor for e in logged} == {"alice"} and {e.target_label for e in logged} == {"Lobby"}


@pytest.mark.parametrize("value", ["xx", "DE ", "de-DE", 3, "english"])
def test_a_language_the_kiosk_does_not_speak_is_refused_and_changes_nothing(app, value):
    device, _token = devices.register_device(f"Hall {value!r}")
    with pytest.raises(InvalidInput, match="en, de, fr, es"):
        devices.set_device_language(device.id, value)
    db.session.expire_all()
    assert db.session.get(KioskDevice, device.id).language is None and language_entries() == []


def test_no_such_kiosk_is_not_found(app):
    with pytest.raises(NotFound):
        devices.set_device_language(987654, "fr")


def form_token(client) -> str:
    import re

    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/admin/devices").text).group(1)


def test_the_devices_page_sets_the_language_the_kiosk_page_and_prompts_then_speak(app, client, sign_in_admin):
    kiosk = app.test_client()
    kiosk.pair("Front door")
    device_id = devices.get_device("Front door").id
    # The kiosk browser once chose French itself.
    assert '<html lang="fr">' in kiosk.get("/?lang=fr").text

    sign_in_admin(client)
    page = client.get("/admin/devices").text
    assert f'id="language-{device_id}"' in page and "Site default (English)" in page
    saved = client.post(f"/admin/devices/{device_id}/language",
                        data={"language": "de", "csrf_token": form_token(client)})
    assert saved.status_code == 303
    assert "Front door speaks Deutsch" in client.get("/admin/devices").text
    assert 'value="de" lang="de" selected' in client.get("/admin/devices").text

    # The administrator's setting wins over the browser's own choice, on the page and in the prompts.
    html = kiosk.get("/").text
    assert '<html lang="de">' in html and "Legen Sie die Hände über dem Kopf zusammen." in html
    assert '<html lang="de">' in kiosk.get("/?lang=fr").text
    assert kiosk.post("/api/v1/kiosk/reset").get_json()["prompt"] == "Schauen Sie zum Anmelden in die Kamera"

    # Back to the site's default: the browser's own choice counts again.
    client.post(f"/admin/devices/{device_id}/language", data={"language": "", "csrf_token": form_token(client)})
    assert '<html lang="fr">' in kiosk.get("/").text
    assert kiosk.post("/api/v1/kiosk/reset").get_json()["prompt"] == "Regardez la caméra pour pointer"
    assert len(language_entries()) == 2


def test_a_forged_language_is_a_400_that_writes_nothing(app, client, sign_in_admin):
    device, _token = devices.register_device("Side door")
    sign_in_admin(client)
    refused = client.post(f"/admin/devices/{device.id}/language",
                          data={"language": "tlh", "csrf_token": form_token(client)})
    assert refused.status_code == 400 and "en, de, fr, es" in refused.text
    missing = client.post("/admin/devices/987654/language", data={"language": "de", "csrf_token": form_token(client)})
    assert missing.status_code == 404
    db.session.expire_all()
    assert db.session.get(KioskDevice, device.id).language is None and language_entries() == []


# -- what the server says to the kiosk screen when it refuses a request ----------------------------


def test_a_refused_frame_is_explained_in_the_kiosks_language_with_the_servers_words_as_detail(app):
    kiosk = app.test_client()
    kiosk.pair("Loading bay")
    devices.set_device_language(devices.get_device("Loading bay").id, "fr")
    refused = kiosk.post("/api/v1/kiosk/frames", data=b"not a picture", content_type="application/json")
    assert refused.status_code == 415
    body = refused.get_json()
    assert body["message"] == "L'image de la caméra n'est pas arrivée ; la borne réessaie."
    assert "image/jpeg" in body["detail"]
    unreadable = kiosk.post("/api/v1/kiosk/frames", data=b"\xff\xd8 half a jpeg", content_type="image/jpeg")
    assert unreadable.status_code == 400
    assert unreadable.get_json()["message"] == "L'image de la caméra n'a pas pu être lue ; la borne réessaie."
    answer = kiosk.post("/api/v1/kiosk/answer", json={"answer": "maybe"})
    assert answer.status_code == 400
    assert answer.get_json()["message"] == "La réponse n'est pas arrivée ; veuillez répondre à nouveau."


def test_a_kiosk_that_is_not_paired_is_told_so_in_its_browsers_language(app):
    browser = app.test_client(paired=False)
    browser.get("/?lang=es")  # this browser's own choice: it has no device yet
    refused = browser.post("/api/v1/kiosk/frames", data=b"x", content_type="image/jpeg")
    assert refused.status_code == 401 and refused.get_json()["error"] == "kiosk_not_paired"
    assert refused.get_json()["message"] == "Este quiosco no está vinculado: consulte a un administrador."
    pending = browser.post("/api/v1/kiosk/pairing").get_json()
    assert pending["status"] == "pending" and pending["message"].startswith("Este quiosco no está vinculado")


def test_the_console_and_the_api_keep_the_services_own_words(app, client, sign_in_admin):
    sign_in_admin(client)
    answer = client.post("/admin/devices/987654/language", data={"language": "de", "csrf_token": form_token(client)},
                         headers={"Accept": "application/json"})
    assert answer.status_code == 404 and "detail" not in answer.get_json()
