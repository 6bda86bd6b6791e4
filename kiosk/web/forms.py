"""Reading what a request sent: form or JSON fields, booleans, memos and enrollment photos.

Shared by the admin pages and the JSON API, so a field is accepted or refused for the same
reason whichever way it arrives. Everything here raises ``InvalidInput`` (400) with a message
for the admin.
"""

from __future__ import annotations

import base64
import binascii
import os

from flask import request

from ..errors import InvalidInput
from ..services.enrollment import Photo

# More than a phone's burst but bounded: each photo runs the detector and the embedder.
MAX_PHOTOS_PER_REQUEST = 40
MAX_SOURCE_NAME = 120


def form_or_json() -> dict:
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise InvalidInput("The request body must be a JSON object.", code="bad_json")
        return body
    return request.form.to_dict()


def parse_bool(value: object, field: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise InvalidInput(f"{field} must be true or false.", code="bad_boolean", field=field)


def memo_text(value: object) -> str:
    """The memo as sent; the photo service normalises it (up to 3 lines, 200 characters)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput("The memo must be text.", code="bad_memo")
    return value


def display_name(filename: str | None, index: int) -> str:
    # Only the base name, for showing back to the admin; never used as a path.
    name = os.path.basename((filename or "").replace("\\", "/")).strip()
    return (name or f"photo {index + 1}")[:MAX_SOURCE_NAME]


def decode_data_url(value: object, index: int) -> bytes:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"Image {index + 1} is not a data URL string.", code="bad_image_field")
    payload = value.split(",", 1)[1] if value.startswith("data:") and "," in value else value
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as err:
        raise InvalidInput(f"Image {index + 1} is not valid base64.", code="bad_base64") from err


def read_uploads(field: str = "photos") -> list[Photo]:
    """The photos of an enrollment request: multipart files under ``field``, or JSON data URLs.

    Raises InvalidInput when there is none or too many (a specific message for each)."""
    photos: list[Photo] = []
    if request.is_json:
        body = request.get_json(silent=True)
        images = body.get("images") if isinstance(body, dict) else None
        if not isinstance(images, list):
            raise InvalidInput('Send {"images": [data URL, ...]} or multipart photos.', code="missing_photos")
        names = body.get("names") if isinstance(body.get("names"), list) else []
        for i, value in enumerate(images):
            name = names[i] if i < len(names) and isinstance(names[i], str) else f"webcam shot {i + 1}"
            photos.append(Photo(display_name(name, i), decode_data_url(value, i)))
    else:
        for i, file in enumerate(request.files.getlist(field)):
            if not file.filename and not file.content_length:
                continue  # the browser sends an empty part when no file was chosen
            photos.append(Photo(display_name(file.filename, i), file.read()))
    if not photos:
        raise InvalidInput("Choose at least one photo to enroll.", code="missing_photos", field=field)
    if len(photos) > MAX_PHOTOS_PER_REQUEST:
        raise InvalidInput(
            f"At most {MAX_PHOTOS_PER_REQUEST} photos at once; send the rest in another batch.", code="too_many_photos",
            max_photos=MAX_PHOTOS_PER_REQUEST,
        )
    return photos
