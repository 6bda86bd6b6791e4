"""The kiosk's frame API (contract: docs/frame-api.md). Thin: the work is in
``kiosk.services.checkin``. These routes carry no admin authority, so they are exempt from
CSRF; while pairing is required (the default), only paired kiosks may use them
(``kiosk/web/device_link.py``; pairing itself is ``kiosk_pairing.py``). Every request is counted
against the request limits (``kiosk.services.throttle``): a paired kiosk's as its own, anything
else per client address (so a flood of unpaired requests turns from 401 into 429)."""

from __future__ import annotations

from flask import current_app, g, jsonify, request, send_file, session, url_for

from ...checkin.sessions import DEVICE_CLIENT_PREFIX
from ...errors import InvalidInput, KioskError
from ...extensions import csrf
from ...services import checkin, devices, throttle
from ...vision.image import BadImage, image_size
from ..device_link import require_paired_kiosk
from ..i18n import current_language
from . import api_bp

SESSION_KEY = "kiosk_session"
FRAME_TYPES = ("image/jpeg", "image/png", "image/webp")


class UnsupportedMediaType(KioskError):
    status = 415
    code = "unsupported_media_type"


class FrameTooLarge(KioskError):
    status = 413
    code = "frame_too_large"


def _require_device() -> None:
    # Names the paired device (g.kiosk_device) whenever a valid token comes along, so its events
    # carry its name; refuses (401 kiosk_not_paired) an invalid token, and no token while
    # pairing is required; then counts the request (429 rate_limited over the limit).
    try:
        device = require_paired_kiosk()
    except devices.KioskNotPaired:
        throttle.count_kiosk_request(None, request.remote_addr)
        raise
    throttle.count_kiosk_request(device.id if device is not None else None, request.remote_addr)


def _frame_bytes() -> bytes:
    if request.mimetype in FRAME_TYPES:
        return request.get_data(cache=False)
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("frame")
        if upload is None:
            raise KioskError("The form has no 'frame' file field.", code="missing_field")
        return upload.read()
    raise UnsupportedMediaType(
        f"Frames must be sent as image/jpeg (or multipart with a 'frame' field), not {request.mimetype or 'no type'}."
    )


def _refuse_oversized(data: bytes) -> bytes:
    """Refuse, from its header alone, a frame larger than any the kiosk page sends (it scales each
    one to next_frame.width, 640 px at most on its longer side): decoding a 7000x5700 JPEG costs
    about half a second of CPU, a 640x480 one a few milliseconds. Nothing is decoded or stored."""
    try:
        width, height = image_size(data)
    except BadImage as err:
        raise InvalidInput(str(err), code="bad_image") from err
    limit = current_app.config["KIOSK_MAX_FRAME_SIDE"]
    if width > limit or height > limit:
        raise FrameTooLarge(
            f"The camera frame is too large ({width}x{height} pixels): the kiosk takes frames of at most "
            f"{limit} pixels on each side. Reload the kiosk page; if this comes back, see an administrator.",
            width=width, height=height, max_side=limit,
        )
    return data


def _client() -> str:
    """Whose session a new one is (``SessionRegistry``): the paired device (by id: a rename keeps
    its session), else the browser's address (behind Nginx: KIOSK_BEHIND_PROXY=1)."""
    device = g.get("kiosk_device")
    return f"{DEVICE_CLIENT_PREFIX}{device.id}" if device is not None else f"address:{request.remote_addr or 'unknown'}"


def _kiosk_id() -> str:
    """The paired device's name when the kiosk presented a token, else the site's KIOSK_ID."""
    device = g.get("kiosk_device")
    return device.name if device is not None else current_app.config["KIOSK_ID"]


def _photo_url(token: str) -> str:
    return url_for("api.kiosk_photo", token=token)


def _answer(session_id: str | None, payload: dict):
    if session_id is not None:
        session[SESSION_KEY] = session_id
    response = jsonify(payload)
    response.headers["Cache-Control"] = "no-store"
    return response


@api_bp.post("/kiosk/frames")
@csrf.exempt
def kiosk_frames():
    _require_device()
    session_id, payload = checkin.process_frame(session.get(SESSION_KEY), _refuse_oversized(_frame_bytes()), _client(),
                                                kiosk_id=_kiosk_id(), photo_url=_photo_url,
                                                language=current_language())
    return _answer(session_id, payload)


@api_bp.get("/kiosk/state")
def kiosk_state():
    _require_device()
    return _answer(*checkin.current_state(session.get(SESSION_KEY), photo_url=_photo_url, client=_client(),
                                          language=current_language()))


@api_bp.post("/kiosk/reset")
@csrf.exempt
def kiosk_reset():
    _require_device()
    return _answer(*checkin.reset(session.get(SESSION_KEY), client=_client(), language=current_language()))


TOUCH_ANSWERS = {"yes": True, "no": False}


@api_bp.post("/kiosk/answer")
@csrf.exempt
def kiosk_answer():
    """Yes or No by touch while the kiosk asks for a confirmation (off unless KIOSK_TOUCH_CONFIRM)."""
    _require_device()
    body = request.get_json(silent=True) if request.is_json else None
    choice = body.get("answer") if isinstance(body, dict) else None
    if choice not in TOUCH_ANSWERS:
        raise InvalidInput('Send a JSON body {"answer": "yes"} or {"answer": "no"}.', code="bad_answer")
    return _answer(*checkin.answer_by_touch(session.get(SESSION_KEY), TOUCH_ANSWERS[choice], client=_client(),
                                            photo_url=_photo_url, language=current_language()))


@api_bp.get("/kiosk/photos/<token>")
def kiosk_photo(token: str):
    _require_device()
    path = checkin.photo_path(session.get(SESSION_KEY), token, client=_client())
    response = send_file(path, mimetype="image/png", max_age=0)
    response.headers["Cache-Control"] = "no-store, private"
    return response
