"""Enrollment: checking a photo, storing its aligned face crop and embedding.

A photo is accepted when the detector's verdict is ``ok`` (one face, or one clearly dominant
face; see :mod:`kiosk.vision.faces`), the face is big enough, sharp enough and lit well enough.
Otherwise :class:`EnrollmentRefused` says why, with ``.code`` one of ``bad_image``, ``no_face``,
``multiple_faces``, ``face_too_small``, ``too_blurry``, ``too_dark``, ``too_bright``.

The admin pages, the JSON API and the CLI all enroll through :func:`enroll_photos`,
:func:`create_person_with_photos` or :func:`enroll_files` and get one :class:`EnrollmentOutcome`
per photo. Every photo of a request is checked first (:func:`check_photo_bytes`, or
:func:`check_photo_batch` for a batch in one embedder call: decode, detect, crop, embed; writes
nothing); then the accepted ones are stored together (:func:`store_samples`, one commit), with the
new person when there is one. So a request that is refused, or fails half-way, leaves nothing: no
person without photos, no sample without its crop, no stray crop. Bulk import
(:mod:`kiosk.services.bulk_import`) uses the same two steps.

What is stored: the canonical aligned crop (PNG, random name, under ``faces/`` in the data dir;
the original photo is not kept), its embedding by the current embedder and the sha256 of the
photo's bytes (so an import can skip a photo that is already enrolled). The crop is written
first; if the database write then fails the file is removed, so no orphan crop is left behind.
A photo whose face is very close to an *other* person's enrolled faces is accepted with a
warning (a possible duplicate enrollment under two names, or a mix-up of photos).

Augmented copies for training are not made here: :func:`kiosk.services.face_training.train_faces`
makes them from the stored crops.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
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
from ..vision.embedders import get_embedder, resolve_embedder_id
from ..vision.face_crop import canonical_crop
from ..vision.faces import MESSAGES, analyze_frame
from ..vision.image import BadImage, decode_image
from . import audit, recognition
from . import people as people_service
from .audit_actions import PHOTO_ENROLLED

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

# Every code a photo's outcome can carry: a refusal (above, and an image that cannot be read) or a
# warning on an accepted photo; the console says them in its language by these codes.
PHOTO_OUTCOME_CODES = (*REFUSAL_MESSAGES, "bad_image", "possible_duplicate", "background_faces")


class EnrollmentRefused(UnprocessableImage):
    """The photo cannot be enrolled; ``code`` says why (see the module docstring)."""


@dataclass
class Photo:
    """One photo to enroll, as it arrived: a name to show back (or the path as given) and its bytes."""

    name: str
    data: bytes

    @property
    def content_hash(self) -> str:
        """sha256 of the bytes (hex), stored with the sample: an import skips a photo already enrolled."""
        return content_hash(self.data)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class PhotoWarning:
    """Why an accepted photo is worth a look: ``code`` (``possible_duplicate``, ``background_faces``),
    the values its message names, and the message in English."""

    code: str
    message: str
    fields: dict


@dataclass
class EnrollmentOutcome:
    """What became of one photo; the admin pages, the JSON API and the CLI all show this."""

    file: str  # the photo's name or path exactly as given
    accepted: bool
    code: str  # "accepted", or why not: bad_image, no_face, multiple_faces, face_too_small, too_blurry, ...
    message: str  # for the admin
    sample: FaceSample | None = None  # the stored sample, when accepted
    warning: str | None = None  # accepted, but worth a look (a possible duplicate enrollment)
    warning_code: str | None = None  # the warning's code, so the console can say it in its language
    warning_fields: dict | None = None


@dataclass
class CheckedPhoto:
    """A photo that passed every check, with its aligned crop and embedding; nothing stored yet."""

    source: str
    crop: np.ndarray
    embedding: np.ndarray
    embedder: str
    quality: float | None
    warning: PhotoWarning | None
    content_hash: str | None = None


@dataclass
class _FoundFace:
    """A photo decoded and checked, its face cropped; not embedded yet."""

    photo: Photo
    crop: np.ndarray
    quality: float | None
    background_faces: int


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


class EnrolledFaces:
    """Everyone's enrolled embeddings by one embedder, to flag a new face that looks like someone else.

    Loaded once per check (or once per import, which adds what it stores with :meth:`add`), so a
    batch of photos costs one query, not one per photo."""

    def __init__(self, embedder: str) -> None:
        rows = db.session.execute(
            select(FaceSample.person_id, FaceSample.embedding).where(
                FaceSample.embedder == embedder, FaceSample.embedding.is_not(None)
            )
        ).all()
        self.embedder = embedder
        self._ids: list[int] = [r[0] for r in rows]
        self._vectors: list[np.ndarray] = [np.frombuffer(r[1], dtype=np.float32) for r in rows]
        self._matrix: tuple[np.ndarray, np.ndarray] | None = None

    def add(self, person_id: int, embedding: np.ndarray) -> None:
        self._ids.append(person_id)
        self._vectors.append(np.asarray(embedding, dtype=np.float32))
        self._matrix = None

    def _arrays(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        if self._matrix is None or self._matrix[1].shape[1:] != (dim,):
            keep = [i for i, v in enumerate(self._vectors) if v.shape == (dim,)]
            ids = np.array([self._ids[i] for i in keep], dtype=np.int64)
            vectors = np.stack([self._vectors[i] for i in keep]) if keep else np.zeros((0, dim), np.float32)
            self._matrix = (ids, vectors)
        return self._matrix

    def duplicate_warning(self, person: Person | None, embedding: np.ndarray) -> PhotoWarning | None:
        """A warning when this face is closer to another person's enrolled face than the model's threshold."""
        ids, vectors = self._arrays(embedding.shape[0])
        others = ids != (person.id if person is not None and person.id is not None else -1)
        if not others.any():
            return None
        distances = np.linalg.norm(vectors[others] - embedding[None, :], axis=1)
        nearest = int(np.argmin(distances))
        if distances[nearest] > recognition.duplicate_threshold(self.embedder):
            return None
        other = db.session.get(Person, int(ids[others][nearest]))
        other_name = other.name if other is not None else "someone else"
        return PhotoWarning(
            "possible_duplicate",
            f"This face looks very much like {other_name}, who is already enrolled: check that these photos are "
            f"of the right person (a duplicate enrollment makes the kiosk confuse them).",
            {"name": other_name},
        )


def _find_face(photo: Photo) -> _FoundFace:
    """Decode, detect, check and crop one photo; raises :class:`EnrollmentRefused`."""
    max_pixels = int(current_app.config.get("KIOSK_MAX_IMAGE_PIXELS", 40_000_000))
    try:
        bgr = decode_image(photo.data, max_pixels=max_pixels)
    except BadImage as err:
        raise EnrollmentRefused(str(err), code="bad_image") from err
    analysis = check_photo(bgr)
    quality = analysis.quality.score if analysis.quality is not None else None
    return _FoundFace(photo, canonical_crop(bgr, analysis.face), quality, len(analysis.faces) - 1)


def check_photo_batch(
    photos: list[tuple[Person | None, Photo]], enrolled: EnrolledFaces | None = None
) -> list[CheckedPhoto | EnrollmentRefused]:
    """Decode, check, crop and embed photos, each for its person (None: a person not created yet);
    one result per photo, in order: a :class:`CheckedPhoto` or the :class:`EnrollmentRefused` saying why not.

    The faces are embedded in one call (FaceNet embeds a batch much faster than one face at a time).
    Writes nothing. Raises ``ModelUnavailable`` (a model file is missing: nobody's photo can be
    enrolled until the operator restores it)."""
    results: list[CheckedPhoto | EnrollmentRefused | None] = [None] * len(photos)
    found: list[tuple[int, _FoundFace]] = []
    for index, (_, photo) in enumerate(photos):
        try:
            found.append((index, _find_face(photo)))
        except EnrollmentRefused as err:
            results[index] = err
    if found:
        embedder_name = resolve_embedder_id()
        embeddings = get_embedder(embedder_name).embed_crops([face.crop for _, face in found])
        enrolled = enrolled if enrolled is not None and enrolled.embedder == embedder_name else None
        enrolled = enrolled or EnrolledFaces(embedder_name)
        for (index, face), embedding in zip(found, embeddings):
            warning = enrolled.duplicate_warning(photos[index][0], embedding)
            if warning is None and face.background_faces:
                warning = PhotoWarning("background_faces", f"{face.background_faces} smaller face(s) in the "
                                       "background were ignored.", {"count": face.background_faces})
            # Only the file's own name is kept with the sample, never the folder it came from.
            source = Path(face.photo.name).name
            results[index] = CheckedPhoto(
                source, face.crop, embedding, embedder_name, face.quality, warning, face.photo.content_hash
            )
    return results  # type: ignore[return-value]


def check_photo_bytes(person: Person | None, photo: Photo) -> CheckedPhoto:
    """Decode, check, crop and embed one photo for ``person`` (None: a person not created yet).
    Writes nothing. Raises :class:`EnrollmentRefused` (the photo's fault) or ``ModelUnavailable``
    (a model file is missing: nobody's photo can be enrolled until the operator restores it)."""
    (result,) = check_photo_batch([(person, photo)])
    if isinstance(result, EnrollmentRefused):
        raise result
    return result


def store_samples(
    person: Person, checked: list[CheckedPhoto], *, before_write: Callable[[list[str]], None] | None = None,
    actor: audit.Actor | str | None = None,
) -> list[FaceSample]:
    """Store the crops and samples of checked photos for ``person`` in one commit.

    Crop files are written first; if anything then fails, every crop written here is removed and
    the transaction rolled back, so no orphan file and no half-stored enrollment is left.
    ``before_write`` is told the crops' paths before any is written: an import journals them, so
    that crops of a process killed between the write and the commit can be found and removed."""
    relatives = [storage.new_relative_path("faces", ".png") for _ in checked]
    if before_write is not None:
        before_write(relatives)
    written: list[str] = []
    try:
        samples = []
        for photo, relative in zip(checked, relatives):
            storage.write_relative(relative, _png(photo.crop))
            written.append(relative)
            sample = FaceSample(
                person=person,
                crop_path=relative,
                source_photo=(photo.source or "")[:MAX_SOURCE_NAME] or None,
                quality=photo.quality,
                content_hash=photo.content_hash,
            )
            sample.set_embedding(photo.embedding, photo.embedder)
            db.session.add(sample)
            samples.append(sample)
        db.session.flush()
        audit.record(PHOTO_ENROLLED, audit.person_target(person), actor=actor,
                     after={"photos": len(samples), "sample_ids": [s.id for s in samples]})
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
        warning = checked.warning
        outcomes.append(EnrollmentOutcome(photo.name, True, "accepted", "Enrolled.", None,
                                          warning and warning.message, warning and warning.code,
                                          warning and warning.fields))
    return outcomes, passed


def _with_samples(outcomes: list[EnrollmentOutcome], samples: list[FaceSample]) -> list[EnrollmentOutcome]:
    stored = iter(samples)
    for outcome in outcomes:
        if outcome.accepted:
            outcome.sample = next(stored)
    return outcomes


def enroll_photo(person: Person, photo: Photo, *, actor: audit.Actor | str | None = None) -> EnrollmentOutcome:
    """Check one photo and, if it passes, store its face for ``person`` (commits)."""
    (outcome,) = enroll_photos(person, [photo], actor=actor)
    return outcome


def enroll_photos(person: Person, photos: list[Photo | EnrollmentOutcome], *,
                  actor: audit.Actor | str | None = None) -> list[EnrollmentOutcome]:
    """Every photo is checked first; then the accepted ones are stored together, in one commit.
    One outcome per photo, in order: each accepted photo is stored even when others are refused.

    A refused photo is an outcome, never an exception. ``ModelUnavailable`` and storage or
    database errors propagate (they are not the photo's fault) and leave nothing stored."""
    outcomes, passed = check_photos(person, photos)
    return _with_samples(outcomes, store_samples(person, passed, actor=actor)) if passed else outcomes


def create_person_with_photos(name: object, external_id: object, photos: list[Photo | EnrollmentOutcome], *,
                              actor: audit.Actor | str | None = None) -> tuple[Person | None, list[EnrollmentOutcome]]:
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
    person = people_service.create_person(name, external_id, commit=False, actor=actor)
    return person, _with_samples(outcomes, store_samples(person, passed, actor=actor))


def enroll_files(name: str, paths: list[str], *, actor: audit.Actor | str | None = None) -> list[EnrollmentOutcome]:
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
        return enroll_photos(person, photos, actor=actor)
    _, outcomes = create_person_with_photos(name, None, photos, actor=actor)
    return outcomes
