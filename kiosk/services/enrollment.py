"""Enrollment: checking a photo, storing its aligned face crop and embedding.

A photo is accepted when the detector's verdict is ``ok`` (one face, or one clearly dominant
face; see :mod:`kiosk.vision.faces`), the face is big enough, sharp enough and lit well enough.
Otherwise :class:`EnrollmentRefused` says why, with ``.code`` one of ``bad_image``, ``no_face``,
``multiple_faces``, ``face_too_small``, ``too_blurry``, ``too_dark``, ``too_bright``.

The admin pages, the JSON API and the CLI all enroll through :func:`enroll_photos`,
:func:`create_person_with_photos` or :func:`enroll_files` and get one :class:`EnrollmentOutcome`
per photo. Every photo of a request is checked first (:func:`check_photo_bytes`: decode, detect,
crop, embed; writes nothing); then the accepted ones are stored together (:func:`store_samples`,
one commit), with the new person when there is one. So a request that is refused, or fails
half-way, leaves nothing: no person without photos, no sample without its crop, no stray crop.

What is stored: the canonical aligned crop (PNG, random name, under ``faces/`` in the data dir;
the original photo is not kept) and its embedding by the current embedder. The crop is written
first; if the database write then fails the file is removed, so no orphan crop is left behind.
A photo whose face is very close to an *other* person's enrolled faces is accepted with a
warning (a possible duplicate enrollment under two names, or a mix-up of photos).

Augmented copies for training are not made here: :func:`kiosk.services.recognition.train_faces`
makes them from the stored crops.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from flask import current_app
from sqlalchemy import select

from .. import storage
from ..errors import UnprocessableImage
from ..extensions import db
from ..models import FaceSample, Person
from ..vision.faces import MESSAGES, analyze_frame, canonical_crop
from ..vision.image import BadImage, decode_image
from . import people as people_service

log = logging.getLogger(__name__)

MAX_SOURCE_NAME = 255

REFUSAL_MESSAGES = {
    "no_face": "No face was found in this photo.",
    "multiple_faces": "More than one face is in this photo: use a photo of this person alone.",
    "face_too_small": (
        "The face is too small in this photo: use a closer photo (the face at least {min_px} pixels wide)."
    ),
    "too_blurry": "The face is blurred in this photo: use a sharper one.",
    "too_dark": "The face is too dark in this photo: use a better lit one.",
    "too_bright": "The face is overexposed in this photo: use one without glare.",
}


class EnrollmentRefused(UnprocessableImage):
    """The photo cannot be enrolled; ``code`` says why (see the module docstring)."""


@dataclass
class Photo:
    """One photo to enroll, as it arrived: a name to show back (or the path as given) and its bytes."""

    name: str
    data: bytes


@dataclass
class EnrollmentOutcome:
    """What became of one photo; the admin pages, the JSON API and the CLI all show this."""

    file: str  # the photo's name or path exactly as given
    accepted: bool
    code: str  # "accepted", or why not: bad_image, no_face, multiple_faces, face_too_small, too_blurry, ...
    message: str  # for the admin
    sample: FaceSample | None = None  # the stored sample, when accepted
    warning: str | None = None  # accepted, but worth a look (a possible duplicate enrollment)


@dataclass
class CheckedPhoto:
    """A photo that passed every check, with its aligned crop and embedding; nothing stored yet."""

    source: str
    crop: np.ndarray
    embedding: np.ndarray
    embedder: str
    quality: float | None
    warning: str | None


def _refuse(code: str, message: str | None = None) -> EnrollmentRefused:
    if message is None:
        min_px = current_app.config.get("KIOSK_MIN_FACE_PX", 64)
        message = REFUSAL_MESSAGES.get(code, MESSAGES.get(code, code)).format(min_px=min_px)
    return EnrollmentRefused(message, code=code)


def check_photo(bgr: np.ndarray):
    """The frame analysis of an enrollment photo, or :class:`EnrollmentRefused`."""
    analysis = analyze_frame(bgr)
    if analysis.status != "ok":
        raise _refuse(analysis.status)
    if analysis.quality is not None and analysis.quality.problem:
        raise _refuse(analysis.quality.problem)
    return analysis


def _png(image: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".png", image)
    if not ok:  # pragma: no cover - a 224x224 uint8 array always encodes
        raise EnrollmentRefused("The face crop could not be encoded.", code="bad_image")
    return buffer.tobytes()


def _duplicate_warning(person: Person | None, embedding: np.ndarray, embedder: str) -> str | None:
    """A warning when this face is closer to another person's enrolled face than the model's threshold."""
    from . import recognition

    query = select(FaceSample.person_id, FaceSample.embedding).where(
        FaceSample.embedder == embedder, FaceSample.embedding.is_not(None)
    )
    if person is not None and person.id is not None:
        query = query.where(FaceSample.person_id != person.id)
    rows = db.session.execute(query).all()
    if not rows:
        return None
    ids = np.array([r[0] for r in rows])
    vectors = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
    if vectors.shape[1] != embedding.shape[0]:
        return None
    distances = np.linalg.norm(vectors - embedding[None, :], axis=1)
    nearest = int(np.argmin(distances))
    if distances[nearest] > recognition.duplicate_threshold(embedder):
        return None
    other = db.session.get(Person, int(ids[nearest]))
    other_name = other.name if other is not None else "someone else"
    return (
        f"This face looks very much like {other_name}, who is already enrolled: check that these photos are "
        f"of the right person (a duplicate enrollment makes the kiosk confuse them)."
    )


def check_photo_bytes(person: Person | None, photo: Photo) -> CheckedPhoto:
    """Decode, check, crop and embed one photo for ``person`` (None: a person not created yet).
    Writes nothing. Raises :class:`EnrollmentRefused` (the photo's fault) or ``ModelUnavailable``
    (a model file is missing: nobody's photo can be enrolled until the operator restores it)."""
    from ..vision.embedders import get_embedder, resolve_embedder_id

    max_pixels = int(current_app.config.get("KIOSK_MAX_IMAGE_PIXELS", 40_000_000))
    try:
        bgr = decode_image(photo.data, max_pixels=max_pixels)
    except BadImage as err:
        raise EnrollmentRefused(str(err), code="bad_image") from err
    analysis = check_photo(bgr)
    crop = canonical_crop(bgr, analysis.face)
    embedder_name = resolve_embedder_id()
    embedding = get_embedder(embedder_name).embed_crops([crop])[0]
    warning = _duplicate_warning(person, embedding, embedder_name)
    if warning is None and len(analysis.faces) > 1:
        warning = f"{len(analysis.faces) - 1} smaller face(s) in the background were ignored."
    quality = analysis.quality.score if analysis.quality is not None else None
    # Only the file's own name is kept with the sample, never the folder it came from.
    return CheckedPhoto(Path(photo.name).name, crop, embedding, embedder_name, quality, warning)


def store_samples(person: Person, checked: list[CheckedPhoto]) -> list[FaceSample]:
    """Store the crops and samples of checked photos for ``person`` in one commit.

    Crop files are written first; if anything then fails, every crop written here is removed and
    the transaction rolled back, so no orphan file and no half-stored enrollment is left."""
    written: list[str] = []
    try:
        samples = []
        for photo in checked:
            relative = storage.store_bytes("faces", _png(photo.crop), ".png")
            written.append(relative)
            sample = FaceSample(
                person=person,
                crop_path=relative,
                source_photo=(photo.source or "")[:MAX_SOURCE_NAME] or None,
                quality=photo.quality,
            )
            sample.set_embedding(photo.embedding, photo.embedder)
            db.session.add(sample)
            samples.append(sample)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        for relative in written:
            storage.remove(relative)
        raise
    return samples


def check_photos(person: Person | None, photos: list[Photo | EnrollmentOutcome]) -> tuple[
        list[EnrollmentOutcome], list[CheckedPhoto]]:
    """Check every photo (``person`` None: someone not created yet); writes nothing. Returns an
    outcome per photo, in order, and the photos that passed. An item that is already an outcome
    (a file that could not be read) is passed through. ``ModelUnavailable`` propagates."""
    outcomes: list[EnrollmentOutcome] = []
    passed: list[CheckedPhoto] = []
    for photo in photos:
        if isinstance(photo, EnrollmentOutcome):
            outcomes.append(photo)
            continue
        try:
            checked = check_photo_bytes(person, photo)
        except EnrollmentRefused as err:
            outcomes.append(EnrollmentOutcome(photo.name, False, err.code, str(err)))
            continue
        passed.append(checked)
        outcomes.append(EnrollmentOutcome(photo.name, True, "accepted", "Enrolled.", None, checked.warning))
    return outcomes, passed


def _with_samples(outcomes: list[EnrollmentOutcome], samples: list[FaceSample]) -> list[EnrollmentOutcome]:
    stored = iter(samples)
    for outcome in outcomes:
        if outcome.accepted:
            outcome.sample = next(stored)
    return outcomes


def enroll_photo(person: Person, photo: Photo) -> EnrollmentOutcome:
    """Check one photo and, if it passes, store its face for ``person`` (commits)."""
    (outcome,) = enroll_photos(person, [photo])
    return outcome


def enroll_photos(person: Person, photos: list[Photo | EnrollmentOutcome]) -> list[EnrollmentOutcome]:
    """Every photo is checked first; then the accepted ones are stored together, in one commit.
    One outcome per photo, in order: each accepted photo is stored even when others are refused.

    A refused photo is an outcome, never an exception. ``ModelUnavailable`` and storage or
    database errors propagate (they are not the photo's fault) and leave nothing stored."""
    outcomes, passed = check_photos(person, photos)
    return _with_samples(outcomes, store_samples(person, passed)) if passed else outcomes


def create_person_with_photos(name: object, external_id: object,
                              photos: list[Photo | EnrollmentOutcome]) -> tuple[Person | None, list[EnrollmentOutcome]]:
    """Add a person with their first photos: the name is checked, then every photo, and only then
    are the person and the accepted photos' samples written, in one transaction.

    Returns (the person, one outcome per photo); the person is None, and nothing is written,
    when every photo is refused. Raises InvalidInput or Conflict for the name or external id,
    before any photo is looked at. Anything that fails after that (a model file missing, the
    disk, the database) rolls back the person with the samples and removes the crops written."""
    name, external_id = people_service.check_new_person(name, external_id)
    outcomes, passed = check_photos(None, photos)
    if not passed:
        return None, outcomes
    person = people_service.create_person(name, external_id, commit=False)
    return person, _with_samples(outcomes, store_samples(person, passed))


def enroll_files(name: str, paths: list[str]) -> list[EnrollmentOutcome]:
    """Enroll image files for the person called ``name`` (created if new, only with at least one
    accepted photo); one outcome per path. Raises InvalidInput for a bad name; a bad or unreadable
    photo is a refused outcome, never an exception."""
    photos: list[Photo | EnrollmentOutcome] = []
    for given in paths:
        try:
            photos.append(Photo(given, Path(given).read_bytes()))
        except OSError as err:
            photos.append(EnrollmentOutcome(given, False, "bad_image", f"Cannot read {given}: {err.strerror or err}."))
    person = people_service.find_person(name)
    if person is not None:
        return enroll_photos(person, photos)
    _, outcomes = create_person_with_photos(name, None, photos)
    return outcomes
