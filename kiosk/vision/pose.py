"""MediaPipe BlazePose (``mp.solutions.pose.Pose(model_complexity=1)``) behind one lazy wrapper.

Why complexity 1 only: it is the one pose landmark model bundled inside the
``mediapipe==0.10.21`` wheel; complexity 0 and 2 are downloaded on first use, and nothing may
download at run time here (the kiosks have no internet).

Two modes:

* **static** (``PoseEstimator(tracking=False)``): every image is independent (the CLI,
  enrollment checks, gesture samples recorded from one webcam frame). The person detector
  runs on every call (~29 ms on a 640x480 frame here).
* **tracking** (``PoseEstimator(tracking=True)``): a video stream of *one* kiosk. The
  landmarks of the previous frame give the region of interest of the next one, so the person
  detector only runs when the track is lost (~18 ms), and landmarks are smoothed over time.
  That state belongs to one camera: the kiosk keeps one tracking estimator per kiosk session
  (``KioskSession.pose``); feeding two kiosks' frames to one tracker would make each frame's
  region of interest come from the other camera.

A MediaPipe graph is not thread-safe, so each estimator serialises its calls with its own
lock; :func:`static_pose_estimator` is the process-wide static instance.

Limits from the MediaPipe BlazePose model card: one person (with several people in view it
returns one of them), within about 4 m of the camera, head visible.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .image import bgr_to_rgb
from .lazy import LazyModel, ModelUnavailable
from .native_log import quiet_native_start

POSE_LANDMARK_COUNT = 33

# MediaPipe Pose landmark indices (person's left/right, not the image's).
NOSE = 0
LEFT_EYE_INNER, LEFT_EYE, LEFT_EYE_OUTER = 1, 2, 3
RIGHT_EYE_INNER, RIGHT_EYE, RIGHT_EYE_OUTER = 4, 5, 6
LEFT_EAR, RIGHT_EAR = 7, 8
MOUTH_LEFT, MOUTH_RIGHT = 9, 10
LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12
LEFT_ELBOW, RIGHT_ELBOW = 13, 14
LEFT_WRIST, RIGHT_WRIST = 15, 16
LEFT_HIP, RIGHT_HIP = 23, 24

#: Nose, eyes, ears and mouth corners: what the kiosk checks lies inside the face box.
HEAD_LANDMARKS: tuple[int, ...] = tuple(range(0, 11))
#: Shoulders, elbows, wrists in the column order of the YMCA training rows
#: (left shoulder, right shoulder, left elbow, right elbow, left wrist, right wrist).
ARM_LANDMARKS: tuple[int, ...] = (
    LEFT_SHOULDER,
    RIGHT_SHOULDER,
    LEFT_ELBOW,
    RIGHT_ELBOW,
    LEFT_WRIST,
    RIGHT_WRIST,
)

#: MediaPipe's own visibility cut for drawing a landmark; below it the point is a guess.
DEFAULT_MIN_VISIBILITY = 0.5


#: Larger than any camera frame; also keeps width/height arithmetic far from overflow.
MAX_IMAGE_SIDE = 100_000


def _image_size(size: Any) -> tuple[int, int]:
    """(width, height) as positive whole pixel counts, or ValueError (clients send these in JSON,
    where 1e400 is infinity and NaN slips through)."""
    if not (isinstance(size, (list, tuple)) and len(size) == 2):
        raise ValueError("image_size must be [width, height]")
    sides = []
    for value in size:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError("image_size must be two numbers of pixels")
        if not (math.isfinite(value) and 1 <= value <= MAX_IMAGE_SIDE and float(value).is_integer()):
            raise ValueError(f"image_size must be whole numbers of pixels from 1 to {MAX_IMAGE_SIDE}")
        sides.append(int(value))
    return sides[0], sides[1]


@dataclass(frozen=True)
class PoseLandmarks:
    """The 33 landmarks of one person in one image.

    ``array`` is (33, 4): x and y normalized to the image width and height (0..1, y grows
    downward; points outside the frame fall outside 0..1), z (depth relative to the hips,
    roughly in the units of x; smaller is nearer the camera) and visibility (0..1).
    ``image_size`` is (width, height) in pixels, needed to turn normalized coordinates back
    into true proportions (x and y are scaled by different amounts on a 4:3 frame).
    """

    array: NDArray[Any]
    image_size: tuple[int, int]

    def __post_init__(self) -> None:
        array = np.asarray(self.array, dtype=np.float64)
        if array.shape != (POSE_LANDMARK_COUNT, 4) or not np.all(np.isfinite(array)):
            raise ValueError(f"pose landmarks must be a finite (33, 4) array, got shape {array.shape}")
        width, height = _image_size(self.image_size)
        object.__setattr__(self, "array", array)
        object.__setattr__(self, "image_size", (width, height))

    @property
    def visibility(self) -> NDArray[Any]:
        return self.array[:, 3]

    def pixels(self) -> NDArray[Any]:
        """(33, 2) pixel coordinates (x, y) in the image the landmarks came from."""
        width, height = self.image_size
        return self.array[:, :2] * np.array([width, height], dtype=np.float64)

    def is_visible(self, index: int, min_visibility: float = DEFAULT_MIN_VISIBILITY) -> bool:
        return bool(self.array[index, 3] >= min_visibility)

    def head_pixels(self, min_visibility: float = DEFAULT_MIN_VISIBILITY) -> NDArray[Any]:
        """(k, 2) pixel coordinates of the head landmarks (nose, eyes, ears, mouth) that are visible."""
        indices = [i for i in HEAD_LANDMARKS if self.array[i, 3] >= min_visibility]
        return self.pixels()[indices]

    def head_inside_box(
        self,
        box: tuple[float, float, float, float],
        *,
        margin: float = 0.25,
        min_visibility: float = DEFAULT_MIN_VISIBILITY,
        min_points: int = 3,
        min_fraction: float = 0.8,
    ) -> bool:
        """True when the visible head landmarks lie in the face box ``(x, y, w, h)`` (pixels),
        widened by ``margin`` of its size on each side. Fewer than ``min_points`` visible head
        landmarks is False: a body whose head is not seen cannot vouch for a face."""
        head = self.head_pixels(min_visibility)
        if len(head) < min_points:
            return False
        x, y, w, h = (float(v) for v in box)
        x0, x1 = x - w * margin, x + w * (1 + margin)
        y0, y1 = y - h * margin, y + h * (1 + margin)
        inside = (head[:, 0] >= x0) & (head[:, 0] <= x1) & (head[:, 1] >= y0) & (head[:, 1] <= y1)
        return bool(inside.mean() >= min_fraction)

    def face_on_shoulders(
        self, box: tuple[float, float, float, float], min_visibility: float = DEFAULT_MIN_VISIBILITY
    ) -> tuple[float, float, float] | None:
        """Where the face box ``(x, y, w, h)`` sits on this body: (face width / shoulder width,
        (shoulder line - face centre) / face height, |face centre - shoulders' middle| / shoulder
        width), in pixels; None when a shoulder is not seen. A human head on these shoulders has
        a typical size and height above them; a printed face held over the head does not
        (kiosk.checkin.liveness)."""
        if not (self.is_visible(LEFT_SHOULDER, min_visibility) and self.is_visible(RIGHT_SHOULDER, min_visibility)):
            return None
        points = self.pixels()
        left, right = points[LEFT_SHOULDER], points[RIGHT_SHOULDER]
        shoulder_width = float(np.hypot(*(left - right)))
        x, y, w, h = (float(v) for v in box)
        if shoulder_width < 1.0 or w <= 0 or h <= 0:
            return None
        middle = (left + right) / 2
        centre_x, centre_y = x + w / 2, y + h / 2
        height_above = (float(middle[1]) - centre_y) / h
        return (w / shoulder_width, height_above, abs(centre_x - float(middle[0])) / shoulder_width)

    def arm_points(self) -> NDArray[Any]:
        """(6, 2) shoulders, elbows, wrists in *isotropic* units (image heights, x scaled by the
        aspect ratio), so that distances and angles are true to the scene whatever the frame shape."""
        width, height = self.image_size
        points = self.array[list(ARM_LANDMARKS), :2].copy()
        points[:, 0] *= width / height
        return points

    def arm_visibility(self) -> NDArray[Any]:
        return self.array[list(ARM_LANDMARKS), 3].copy()

    def to_json(self) -> str:
        """The stored form of a gesture sample (``GestureSample.landmarks_json``)."""
        return json.dumps(
            {
                "format": "mediapipe-pose-33",
                "image_size": list(self.image_size),
                "landmarks": [[round(float(v), 5) for v in row] for row in self.array],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> PoseLandmarks:
        return cls.from_payload(json.loads(text))

    @classmethod
    def from_payload(cls, payload: Any, default_image_size: tuple[int, int] = (640, 480)) -> PoseLandmarks:
        """Landmarks from what a client may send or what :meth:`to_json` stored.

        Accepted: ``{"landmarks": rows, "image_size": [w, h]}`` or bare ``rows``, where rows are
        33 lists of ``[x, y, z, visibility]``, ``[x, y, visibility]`` (the form the kiosk frame
        API returns for drawing) or ``[x, y]`` (visibility 1). Without ``image_size`` the kiosk
        camera's 640x480 is assumed. Raises ``ValueError`` with a readable message.
        """
        image_size = default_image_size
        rows = payload
        if isinstance(payload, dict):
            rows = payload.get("landmarks")
            size = payload.get("image_size") or payload.get("frame_size")
            if size is not None:
                image_size = _image_size(size)
        try:
            array = np.asarray(rows, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError("landmarks must be 33 rows of numbers") from err
        if array.ndim != 2 or array.shape[0] != POSE_LANDMARK_COUNT or array.shape[1] not in (2, 3, 4):
            raise ValueError(
                f"landmarks must be 33 rows of [x, y, z, visibility], [x, y, visibility] or [x, y]; got {array.shape}"
            )
        if array.shape[1] == 2:
            array = np.column_stack([array, np.zeros(POSE_LANDMARK_COUNT), np.ones(POSE_LANDMARK_COUNT)])
        elif array.shape[1] == 3:
            array = np.column_stack([array[:, :2], np.zeros(POSE_LANDMARK_COUNT), array[:, 2]])
        return cls(array=array, image_size=image_size)


# MediaPipe notes "Using NORM_RECT without IMAGE_DIMENSIONS ..." once per process, on the first
# frame in which any graph finds a person; until then every call runs in quiet_native_start.
_landmarks_projected = False


class PoseEstimator(LazyModel):
    """One MediaPipe Pose graph (complexity 1) in static or tracking mode.

    ``estimate(bgr)`` returns :class:`PoseLandmarks` or None when no person is found. Calls on
    one instance are serialised by a lock (a MediaPipe graph is not thread-safe). A tracking
    instance must only ever see frames of one camera (one kiosk session); ``reset()`` forgets
    the track (a new person walks up) and ``close()`` frees the graph.
    """

    name = "pose"

    def __init__(
        self,
        tracking: bool = False,
        *,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
    ) -> None:
        super().__init__()
        self.tracking = tracking
        self.min_detection_confidence = min_detection_confidence
        self.min_tracking_confidence = min_tracking_confidence
        self._infer_lock = threading.Lock()
        self._graph_ran = False  # the current graph has run once (its start-up notes are done)

    def _load(self) -> Any:
        try:
            from mediapipe.python.solutions import pose as mp_pose  # noqa: PLC0415 - MediaPipe loads lazily, on the first frame that needs it
        except ImportError as err:  # pragma: no cover - mediapipe is a hard dependency
            raise ModelUnavailable("mediapipe is not installed; install the pinned mediapipe==0.10.21") from err
        try:
            return mp_pose.Pose(
                static_image_mode=not self.tracking,
                model_complexity=1,  # the only bundled model: 0 and 2 would download
                smooth_landmarks=True,
                enable_segmentation=False,
                min_detection_confidence=self.min_detection_confidence,
                min_tracking_confidence=self.min_tracking_confidence,
            )
        except (RuntimeError, FileNotFoundError, OSError) as err:
            raise ModelUnavailable(
                f"The MediaPipe pose model could not be loaded ({err}); mediapipe==0.10.21 bundles "
                "pose_landmark_full.tflite - reinstall it from constraints.txt."
            ) from err

    def estimate(self, bgr: NDArray[Any]) -> PoseLandmarks | None:
        """Landmarks of the person in ``bgr`` (a BGR uint8 image), or None if nobody is seen."""
        if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.shape[0] < 2 or bgr.shape[1] < 2:
            raise ValueError("estimate() needs a BGR image of shape (height, width, 3)")
        rgb = bgr_to_rgb(bgr)
        global _landmarks_projected
        with self._infer_lock:
            if self._graph_ran and _landmarks_projected:
                result = self.model.process(rgb)
            else:
                # Building the graph and its first run print the runtimes' start-up notes
                # (asynchronously, before this first result comes back), and the first frame
                # with a person in the whole process prints one more: these run in here.
                with quiet_native_start():
                    result = self.model.process(rgb)
                self._graph_ran = True
                _landmarks_projected = _landmarks_projected or result.pose_landmarks is not None
        if result.pose_landmarks is None:
            return None
        array = np.array(
            [[lm.x, lm.y, lm.z, lm.visibility] for lm in result.pose_landmarks.landmark], dtype=np.float64
        )
        height, width = bgr.shape[:2]
        return PoseLandmarks(array=array, image_size=(width, height))

    predict = estimate

    def warm_up(self) -> None:
        """Build the graph and run it once (a blank frame), so the first real frame costs what any frame costs."""
        self.estimate(np.zeros((64, 64, 3), np.uint8))

    def reset(self) -> None:
        """Forget the tracked person (the next frame runs the person detector again)."""
        self.close()

    def restart_tracking(self) -> None:
        """Forget the tracked person but keep the graph, so a reused tracker starts a new person
        without building a new ~110 MB graph. The graph is shown a blank frame: with nobody in
        it the track and the landmark smoothing are dropped, and the next frame runs the person
        detector (measured: the landmarks then equal a fresh tracker's). ~40 ms, where
        restarting the graph's run (``reset()``) re-opens its models and made the next frame
        cost ~180 ms."""
        if self._model is not None:
            self.estimate(np.zeros((64, 64, 3), np.uint8))

    def close(self) -> None:
        with self._infer_lock, self._lock:
            graph, self._model = self._model, None
            self._graph_ran = False
            if graph is not None:
                graph.close()


_static_lock = threading.Lock()
_static: PoseEstimator | None = None


def static_pose_estimator() -> PoseEstimator:
    """The process-wide static-mode estimator (single images: CLI, samples, checks)."""
    global _static
    if _static is None:
        with _static_lock:
            if _static is None:
                _static = PoseEstimator(tracking=False)
    return _static
