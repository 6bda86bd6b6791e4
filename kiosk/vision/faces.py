"""Face detection (MediaPipe FaceDetection / BlazeFace), the frame's verdict, quality and alignment.

Everything that looks for faces goes through here: the kiosk loop, enrollment, ``kiosk identify``,
the emotion model. Colour order: every function takes and returns **BGR** ``uint8`` images (as
:func:`kiosk.vision.image.decode_image` produces); the one BGR->RGB conversion for MediaPipe happens
inside :class:`FaceDetector` via :func:`kiosk.vision.image.bgr_to_rgb`.

Detector. BlazeFace comes in two models: *short range* (``model_selection=0``, faces within ~2 m,
the kiosk's case, the default) and *full range* (``model_selection=1``, for a camera farther away).
``KIOSK_FACE_DETECTOR_RANGE=short|full`` picks the primary one. When the primary model finds no face
at all, the other model is asked too (one extra ~2 ms pass, only on empty frames): the short-range
model misses faces that fill less than ~15% of a large photo (group photos, a person far from the
kiosk), and a far face should be answered "please step closer", not "no face". Detections below
``KIOSK_FACE_MIN_CONFIDENCE`` (default 0.5, MediaPipe's own default) are dropped.

Verdict (:func:`analyze_frame`), in this order:

* ``no_face``: nothing detected;
* ``multiple_faces``: another face is at least ``DOMINANT_AREA_RATIO`` (0.5) of the largest face's
  area. Otherwise the largest face is *dominant* and is served: a bystander a step or more behind
  the user (side ratio < ~0.7, i.e. roughly 1.4x farther away) does not block the kiosk. Areas are
  measured on boxes clipped to the image, so a face cut by the frame edge counts for what is visible.
  The kiosk's later checks (the gesturing body must own the served face) cover the rest;
* ``face_too_small``: the served face's box is narrower than ``KIOSK_MIN_FACE_PX`` (default 64 px;
  ~1.4 m from a 640x480 webcam): embeddings of smaller faces are unreliable;
* ``ok``: one usable face. Its :class:`FaceQuality` (blur, brightness) is attached; a dark or
  blurred face is still ``ok`` (a verdict ``kiosk identify`` reports) but :attr:`FrameAnalysis.usable`
  is false and the message asks for better light / to hold still. Enrollment refuses such faces.

Alignment (:func:`crop_face`): the crop is rotated so that the eyes are level, centred on the
detector's box and scaled so that the box side plus ``margin`` on each side fills ``size`` pixels.
Enrollment stores this *canonical crop* (:data:`CANONICAL_CROP_SIZE`, :data:`CANONICAL_CROP_MARGIN`)
and every embedder embeds from it (:func:`face_in_canonical_crop` says where the face is inside it),
so training and serving see faces prepared by the same code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, cast

import cv2
from numpy.typing import NDArray

from .image import bgr_to_rgb
from .lanes import Lanes
from .lazy import LazyModel, ModelUnavailable
from .native_log import quiet_native_start
from .settings import setting

KEYPOINT_NAMES = (
    "right_eye",  # the person's right eye: on the image's left in an unmirrored photo
    "left_eye",
    "nose_tip",
    "mouth_center",
    "right_ear_tragion",
    "left_ear_tragion",
)

DEFAULT_MIN_CONFIDENCE = 0.5
DEFAULT_MIN_FACE_PX = 64
DOMINANT_AREA_RATIO = 0.5

# Quality: measured on the face box resized to QUALITY_SIDE px so that the figures do not depend
# on the face's size in pixels. Thresholds from the project's real photos: the 112 usable photos of
# faces-dev score 26-1700 for sharpness (median 140; the softest are low-resolution LFW faces) and
# 75-186 for brightness; a Gaussian blur of sigma 2 on a 100 px face scores 11, a photo at 30% of
# its exposure 39.
QUALITY_SIDE = 112
MIN_SHARPNESS = 15.0
MIN_BRIGHTNESS = 50.0
MAX_BRIGHTNESS = 235.0

MESSAGES = {
    "ok": "",
    "no_face": "Please look at the camera.",
    "multiple_faces": "One person at a time, please.",
    "face_too_small": "Please step closer.",
    "too_dark": "It is too dark here: please face the light.",
    "too_bright": "Too much light behind or on you: please step out of the glare.",
    "too_blurry": "Please hold still for a moment.",
}


@dataclass(frozen=True)
class Face:
    box: tuple[int, int, int, int]  # x, y, w, h in pixels, clipped to the image
    score: float
    keypoints: dict[str, tuple[int, int]] = field(default_factory=dict, hash=False, compare=False)

    @property
    def area(self) -> int:
        return self.box[2] * self.box[3]

    @property
    def width(self) -> int:
        return self.box[2]

    @property
    def center(self) -> tuple[float, float]:
        x, y, w, h = self.box
        return x + w / 2.0, y + h / 2.0

    def contains(self, point: tuple[float, float], grow: float = 0.0) -> bool:
        """Whether ``point`` (x, y in pixels) is inside the box grown by ``grow`` x its size."""
        x, y, w, h = self.box
        px, py = point
        return (x - grow * w) <= px <= (x + w + grow * w) and (y - grow * h) <= py <= (y + h + grow * h)

    def as_dict(self) -> dict[str, Any]:
        return {
            "box": list(self.box),
            "score": round(self.score, 4),
            "keypoints": {k: list(v) for k, v in self.keypoints.items()},
        }


@dataclass(frozen=True)
class FaceQuality:
    sharpness: float  # variance of the Laplacian of the face, at QUALITY_SIDE px
    brightness: float  # mean grey level of the face, 0..255
    too_dark: bool
    too_bright: bool
    too_blurry: bool

    @property
    def blur(self) -> float:
        """Alias: the variance of the Laplacian (higher = sharper)."""
        return self.sharpness

    @property
    def acceptable(self) -> bool:
        return not (self.too_dark or self.too_bright or self.too_blurry)

    @property
    def problem(self) -> str | None:
        for name in ("too_dark", "too_bright", "too_blurry"):
            if getattr(self, name):
                return name
        return None

    @property
    def score(self) -> float:
        """0..1 summary stored with enrollment samples (1 = sharp and well lit)."""
        sharp = min(1.0, self.sharpness / (4 * MIN_SHARPNESS))
        light = 1.0 - min(1.0, abs(self.brightness - 128.0) / 128.0)
        return round(0.5 * sharp + 0.5 * light, 3)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sharpness": round(self.sharpness, 1),
            "brightness": round(self.brightness, 1),
            "too_dark": self.too_dark,
            "too_bright": self.too_bright,
            "too_blurry": self.too_blurry,
        }


@dataclass
class FrameAnalysis:
    status: str  # ok | no_face | multiple_faces | face_too_small
    face: Face | None  # the face to serve (the dominant one), None unless status is ok or face_too_small
    faces: list[Face]
    quality: FaceQuality | None
    message: str  # what to tell the person in front of the kiosk ("" when all is well)

    @property
    def usable(self) -> bool:
        """One face, big enough, sharp and well lit: worth embedding."""
        return self.status == "ok" and self.face is not None and (self.quality is None or self.quality.acceptable)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "face": self.face.as_dict() if self.face else None,
            "faces": len(self.faces),
            "quality": self.quality.as_dict() if self.quality else None,
            "message": self.message,
        }


@dataclass
class _DetectionLane:
    """One set of detector graphs, used by one frame at a time."""

    graphs: dict[str, Any] = field(default_factory=dict)
    ran: set[str] = field(default_factory=set)  # range models that have run once here


class FaceDetector(LazyModel):
    """MediaPipe FaceDetection (BlazeFace), both range models, loaded on first use.

    MediaPipe's legacy solution graphs are not safe to call from two threads at once, so a graph
    serves one frame at a time. Every frame of every kiosk is detected (twice when the room is
    empty), so the detector keeps its graphs in :class:`~kiosk.vision.lanes.Lanes` (one set per
    core): a frame takes a free set and waits only when every set is busy.
    """

    name = "blazeface"
    _RANGES = {"short": 0, "full": 1}

    def __init__(self, lanes: int | None = None) -> None:
        super().__init__()
        self._lane_count = lanes  # None: lane_count(), read when the model loads

    @property
    def _ran(self) -> set[str]:
        """The range models that have run once in every lane (their start-up notes are done)."""
        if not self.loaded:
            return set()
        return set.intersection(*(lane.ran for lane in self._lanes.all))

    @property
    def _lanes(self) -> Lanes[_DetectionLane]:
        return cast(Lanes[_DetectionLane], self.model["lanes"])

    def _load(self) -> dict[str, Any]:
        try:
            import mediapipe as mp  # noqa: PLC0415 - MediaPipe loads lazily, on the first frame that needs it
        except ImportError as err:  # pragma: no cover - mediapipe is a hard dependency
            raise ModelUnavailable("mediapipe is not installed: face detection is unavailable.") from err
        return {"solutions": mp.solutions.face_detection, "lanes": Lanes(_DetectionLane, self._lane_count)}

    def _graph_for(self, lane: _DetectionLane, rng: str) -> Any:
        """The lane's graph of one range model (the caller holds the lane). Each range's graph is
        built on its first use: the full-range model is only needed when the short-range one finds
        nothing, and a graph built but never run would print its start-up notes later, outside
        quiet_native_start."""
        graph = lane.graphs.get(rng)
        if graph is None:
            # A low floor here; the configured cut is applied in detect() so it can change at run time.
            graph = self.model["solutions"].FaceDetection(model_selection=self._RANGES[rng],
                                                          min_detection_confidence=0.3)
            lane.graphs[rng] = graph
        return graph

    def _process(self, lane: _DetectionLane, rgb: NDArray[Any], rng: str) -> Any:
        if rng in lane.ran:
            return self._graph_for(lane, rng).process(rgb)
        with quiet_native_start():
            result = self._graph_for(lane, rng).process(rgb)
        lane.ran.add(rng)
        return result

    def _run(self, rgb: NDArray[Any], rng: str, min_confidence: float, width: int, height: int) -> list[Face]:
        with self._lanes.take() as lane:
            result = self._process(lane, rgb, rng)
        faces = []
        for det in result.detections or []:
            score = float(det.score[0])
            if score < min_confidence:
                continue
            face = _to_face(det, score, width, height)
            if face is not None and _plausible(face):
                faces.append(face)
        return faces

    def warm_every_lane(self, bgr: NDArray[Any]) -> None:
        """Build and run both range models in every lane (the worker's warm-up), so that no kiosk's
        frame pays for a graph's first run."""
        rgb = bgr_to_rgb(bgr)
        with self._lanes.every() as lanes:
            for lane in lanes:
                for rng in self._RANGES:
                    self._process(lane, rgb, rng)

    def predict(
        self, bgr: NDArray[Any], *, detector_range: str | None = None, min_confidence: float | None = None
    ) -> list[Face]:
        if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.size == 0:
            raise ValueError("detect_faces expects a BGR image of shape (h, w, 3)")
        primary = (detector_range or setting("KIOSK_FACE_DETECTOR_RANGE", "short") or "short").strip().lower()
        if primary not in self._RANGES:
            raise ValueError(f"KIOSK_FACE_DETECTOR_RANGE must be 'short' or 'full', not {primary!r}")
        if min_confidence is None:
            min_confidence = float(setting("KIOSK_FACE_MIN_CONFIDENCE", DEFAULT_MIN_CONFIDENCE))
        height, width = bgr.shape[:2]
        rgb = bgr_to_rgb(bgr)
        faces = self._run(rgb, primary, min_confidence, width, height)
        if not faces:
            other = "full" if primary == "short" else "short"
            faces = self._run(rgb, other, min_confidence, width, height)
        faces = _suppress_overlaps(faces)
        faces.sort(key=lambda f: (f.area, f.score), reverse=True)
        return faces


def _to_face(det: Any, score: float, width: int, height: int) -> Face | None:
    rel = det.location_data.relative_bounding_box
    x0 = max(0, int(round(rel.xmin * width)))
    y0 = max(0, int(round(rel.ymin * height)))
    x1 = min(width, int(round((rel.xmin + rel.width) * width)))
    y1 = min(height, int(round((rel.ymin + rel.height) * height)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    keypoints = {}
    for name, kp in zip(KEYPOINT_NAMES, det.location_data.relative_keypoints):
        keypoints[name] = (int(round(kp.x * width)), int(round(kp.y * height)))
    return Face(box=(x0, y0, x1 - x0, y1 - y0), score=score, keypoints=keypoints)


MAX_ROLL_DEGREES = 60.0


def _plausible(face: Face) -> bool:
    """Reject detections whose eye line is near vertical. BlazeFace's false positives on textures
    (a building's windows, a patterned shirt) come with such keypoints, and nobody using the kiosk
    or posing for an enrollment photo tilts their head past 60 degrees."""
    right, left = face.keypoints.get("right_eye"), face.keypoints.get("left_eye")
    if not right or not left:
        return True
    roll = math.degrees(math.atan2(left[1] - right[1], left[0] - right[0]))
    return abs(roll) <= MAX_ROLL_DEGREES


def box_iou(a: tuple[int, int, int, int] | None, b: tuple[int, int, int, int] | None) -> float:
    """Intersection over union of two (x, y, w, h) boxes; 0 when either is missing."""
    if a is None or b is None:
        return 0.0
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def _contained(a: Face, b: Face) -> float:
    """The share of the smaller box that lies inside the other."""
    ax, ay, aw, ah = a.box
    bx, by, bw, bh = b.box
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    smaller = min(a.area, b.area)
    return ix * iy / smaller if smaller else 0.0


def _suppress_overlaps(faces: list[Face], iou_limit: float = 0.4, containment_limit: float = 0.7) -> list[Face]:
    """Keep the best-scoring box of any overlapping or nested group: one face never counts as two."""
    kept: list[Face] = []
    for face in sorted(faces, key=lambda f: f.score, reverse=True):
        if all(box_iou(face.box, other.box) < iou_limit and _contained(face, other) < containment_limit
               for other in kept):
            kept.append(face)
    return kept


_detector = FaceDetector()


def get_detector() -> FaceDetector:
    return _detector


def detect_faces(
    bgr: NDArray[Any], *, detector_range: str | None = None, min_confidence: float | None = None
) -> list[Face]:
    """Faces in a BGR image, largest first. Boxes are clipped to the image."""
    return _detector.predict(bgr, detector_range=detector_range, min_confidence=min_confidence)


def assess_quality(bgr: NDArray[Any], face: Face) -> FaceQuality:
    """Sharpness (variance of the Laplacian) and brightness of the face region."""
    x, y, w, h = face.box
    region = bgr[y : y + h, x : x + w]
    if region.size == 0:
        return FaceQuality(0.0, 0.0, True, False, True)
    gray = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY)
    gray = cv2.resize(gray, (QUALITY_SIDE, QUALITY_SIDE), interpolation=cv2.INTER_AREA)
    sharpness = float(cv2.Laplacian(gray, cv2.CV_64F).var())
    brightness = float(gray.mean())
    return FaceQuality(
        sharpness=sharpness,
        brightness=brightness,
        too_dark=brightness < MIN_BRIGHTNESS,
        too_bright=brightness > MAX_BRIGHTNESS,
        too_blurry=sharpness < MIN_SHARPNESS,
    )


def pick_dominant(faces: list[Face]) -> Face | None:
    """The face to serve: the largest, if every other face is < DOMINANT_AREA_RATIO of its area."""
    if not faces:
        return None
    largest = max(faces, key=lambda f: f.area)
    if any(f is not largest and f.area >= DOMINANT_AREA_RATIO * largest.area for f in faces):
        return None
    return largest


def analyze_frame(
    bgr: NDArray[Any],
    *,
    faces: list[Face] | None = None,
    min_face_px: int | None = None,
    detector_range: str | None = None,
) -> FrameAnalysis:
    """The frame's verdict (see the module docstring for the rules) and the face to serve."""
    if faces is None:
        faces = detect_faces(bgr, detector_range=detector_range)
    if min_face_px is None:
        min_face_px = int(setting("KIOSK_MIN_FACE_PX", DEFAULT_MIN_FACE_PX))
    if not faces:
        return FrameAnalysis("no_face", None, faces, None, MESSAGES["no_face"])
    face = pick_dominant(faces)
    if face is None:
        return FrameAnalysis("multiple_faces", None, faces, None, MESSAGES["multiple_faces"])
    if min(face.box[2], face.box[3]) < min_face_px:
        return FrameAnalysis("face_too_small", face, faces, None, MESSAGES["face_too_small"])
    quality = assess_quality(bgr, face)
    message = MESSAGES[quality.problem] if quality.problem else ""
    return FrameAnalysis("ok", face, faces, quality, message)
