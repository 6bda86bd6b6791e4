"""The face detector's verdicts, quality check and alignment, with the real BlazeFace on real photos
(tests/data/faces, sources in SOURCES.csv). No app needed: the detector reads its settings from the
app config when there is one, else uses its defaults."""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.vision import face_crop, faces
from kiosk.vision import lanes as lanes_module
from kiosk.vision.face_crop import canonical_crop, crop_face
from kiosk.vision.faces import Face, analyze_frame, detect_faces, pick_dominant
from kiosk.vision.image import load_image

pytestmark = pytest.mark.models  # real models: make test-fast skips these

FACES = Path(__file__).resolve().parent / "data" / "faces"
GROUP_PHOTOS = sorted((FACES / "_multi").glob("*.jpg"), key=lambda p: int(p.stem))
# _multi/3.jpg (deepface's "img11_reflection") shows ONE person: the "reflection" is in her eyes.
# Every other _multi photo has two or more people of similar size.
SINGLE_PERSON_IN_MULTI = {"3.jpg"}
SINGLE_FACE_PHOTOS = [
    FACES / "fr_obama" / "1.jpg",
    FACES / "fr_biden" / "2.jpg",
    FACES / "lfw_Colin_Powell" / "1.jpg",
    FACES / "lfw_Ariel_Sharon" / "2.jpg",
    FACES / "lfw_George_W_Bush" / "3.jpg",
]


def eye_roll_degrees(face: Face) -> float:
    (rx, ry), (lx, ly) = face.keypoints["right_eye"], face.keypoints["left_eye"]
    return math.degrees(math.atan2(ly - ry, lx - rx))


@pytest.mark.parametrize("photo", GROUP_PHOTOS, ids=lambda p: p.name)
def test_group_photos_answer_multiple_faces(photo):
    analysis = analyze_frame(load_image(photo))
    if photo.name in SINGLE_PERSON_IN_MULTI:
        assert analysis.status == "ok" and len(analysis.faces) == 1
        return
    assert analysis.status == "multiple_faces", (photo.name, [f.box for f in analysis.faces])
    assert len(analysis.faces) >= 2
    assert analysis.face is None
    assert analysis.message == "One person at a time, please."


@pytest.mark.parametrize("photo", SINGLE_FACE_PHOTOS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_single_face_photos_are_ok(photo):
    image = load_image(photo)
    analysis = analyze_frame(image)
    assert analysis.status == "ok" and analysis.usable
    face = analysis.face
    x, y, w, h = face.box
    assert 0 <= x and 0 <= y and x + w <= image.shape[1] and y + h <= image.shape[0]
    assert set(face.keypoints) == set(faces.KEYPOINT_NAMES)
    # The person's right eye appears on the image's left in an unmirrored photo.
    assert face.keypoints["right_eye"][0] < face.keypoints["left_eye"][0]
    assert face.contains(face.keypoints["nose_tip"])
    assert 0.5 <= face.score <= 1.0
    assert analysis.quality is not None and analysis.quality.acceptable and analysis.message == ""


def test_faces_are_sorted_largest_first():
    found = detect_faces(load_image(GROUP_PHOTOS[1]))  # _multi/2.jpg: a selfie of several people
    assert len(found) >= 2
    assert [f.area for f in found] == sorted((f.area for f in found), reverse=True)


def test_no_face_in_an_empty_scene():
    # A real photo with nobody in it: the bottom of a group photo, below the faces.
    group = load_image(FACES / "_multi" / "1.jpg")
    analysis = analyze_frame(group[-300:, :600])
    assert analysis.status == "no_face" and analysis.face is None and analysis.faces == []
    assert analysis.message == "Please look at the camera."
    assert analyze_frame(np.full((480, 640, 3), 128, np.uint8)).status == "no_face"


def test_small_far_face_asks_to_step_closer():
    face = load_image(FACES / "lfw_Colin_Powell" / "1.jpg")
    frame = np.full((480, 640, 3), 120, np.uint8)
    frame[190:290, 270:370] = cv2.resize(face, (100, 100), interpolation=cv2.INTER_AREA)  # face ~40 px
    analysis = analyze_frame(frame)
    assert analysis.status == "face_too_small"
    assert analysis.face is not None and analysis.face.box[2] < faces.DEFAULT_MIN_FACE_PX
    assert analysis.message == "Please step closer."
    # The same frame with a lower minimum (a site setting) is served.
    assert analyze_frame(frame, min_face_px=32).status == "ok"


def _side_by_side(big: np.ndarray, small: np.ndarray, small_side: int) -> np.ndarray:
    """A 640x480 frame: the user in front (a 340 px photo), a bystander beside (``small_side`` px)."""
    canvas = np.full((480, 640, 3), 110, np.uint8)
    canvas[70:410, 0:340] = cv2.resize(big, (340, 340), interpolation=cv2.INTER_AREA)
    canvas[120 : 120 + small_side, 340 : 340 + small_side] = cv2.resize(
        small, (small_side, small_side), interpolation=cv2.INTER_AREA
    )
    return canvas


def test_dominant_face_rule():
    bush = load_image(FACES / "lfw_George_W_Bush" / "4.jpg")
    blair = load_image(FACES / "lfw_Tony_Blair" / "3.jpg")
    # A bystander much smaller than the user (area < half): the user is served.
    far = analyze_frame(_side_by_side(bush, blair, 160))
    assert len(far.faces) == 2, [f.box for f in far.faces]
    assert far.faces[1].area < faces.DOMINANT_AREA_RATIO * far.faces[0].area
    assert far.status == "ok" and far.face is far.faces[0] and far.face.box[0] < 340
    # Two people of about the same size: nobody is served.
    near = analyze_frame(_side_by_side(bush, blair, 300))
    assert len(near.faces) == 2 and near.status == "multiple_faces"


def test_pick_dominant_threshold():
    big = Face((0, 0, 100, 100), 0.9, {})
    assert pick_dominant([big, Face((200, 0, 70, 70), 0.9, {})]) is big  # 49% of the area
    assert pick_dominant([big, Face((200, 0, 71, 71), 0.9, {})]) is None  # 50.4%
    assert pick_dominant([]) is None


def test_quality_flags_blur_and_darkness():
    photo = load_image(FACES / "lfw_Colin_Powell" / "1.jpg")
    blurred = analyze_frame(cv2.GaussianBlur(cv2.resize(photo, (500, 500)), (0, 0), 9))
    assert blurred.status == "ok" and blurred.quality.too_blurry and not blurred.usable
    assert blurred.message == faces.MESSAGES["too_blurry"]
    dark = analyze_frame((photo * 0.25).astype(np.uint8))
    assert dark.status == "ok" and dark.quality.too_dark and not dark.usable
    assert "dark" in dark.message
    sharp = analyze_frame(photo)
    assert sharp.quality.sharpness > 5 * blurred.quality.sharpness
    assert 0.0 <= sharp.quality.score <= 1.0


def test_crop_levels_the_eyes_of_a_tilted_face():
    photo = load_image(FACES / "fr_obama" / "1.jpg")
    h, w = photo.shape[:2]
    rotation = cv2.getRotationMatrix2D((w / 2, h / 2), 20, 1.0)
    tilted = cv2.warpAffine(photo, rotation, (w, h), borderMode=cv2.BORDER_REPLICATE)
    face = analyze_frame(tilted).face
    assert abs(eye_roll_degrees(face)) > 12  # the detector sees the tilt
    crop = crop_face(tilted, face, size=224, margin=0.3)
    assert crop.shape == (224, 224, 3) and crop.dtype == np.uint8
    again = detect_faces(crop)
    assert again, "the aligned crop still shows a face"
    assert abs(eye_roll_degrees(again[0])) < 6


def test_canonical_crop_centres_the_face_and_keeps_bgr():
    photo = load_image(FACES / "fr_biden" / "1.jpg")  # 970x2204: a big face, shrunk without aliasing
    face = analyze_frame(photo).face
    crop = canonical_crop(photo, face)
    assert crop.shape == (face_crop.CANONICAL_CROP_SIZE, face_crop.CANONICAL_CROP_SIZE, 3)
    inner = face_crop.face_in_canonical_crop().box
    found = detect_faces(crop)[0]
    cx, cy = found.center
    assert abs(cx - (inner[0] + inner[2] / 2)) < 0.1 * inner[2]
    assert abs(cy - (inner[1] + inner[3] / 2)) < 0.15 * inner[3]
    # Colour order: a pure blue BGR image stays blue in the crop.
    blue = np.zeros((300, 300, 3), np.uint8)
    blue[..., 0] = 255
    assert crop_face(blue, Face((100, 100, 100, 100), 1.0, {}), 64, 0.2)[..., 0].min() == 255


def test_detector_refuses_what_is_not_a_colour_image():
    with pytest.raises(ValueError):
        detect_faces(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="KIOSK_FACE_DETECTOR_RANGE"):
        detect_faces(np.zeros((10, 10, 3), np.uint8), detector_range="medium")


def test_full_range_option_finds_small_faces_in_big_photos():
    # obama_and_biden.jpg (2000x1428): faces ~200 px, too small a share of the photo for the
    # short-range model; the full-range model (the option, and the fallback) finds both.
    photo = load_image(FACES / "_multi" / "4.jpg")
    assert len(detect_faces(photo, detector_range="full")) == 2
    assert analyze_frame(photo, detector_range="short").status == "multiple_faces"


def test_detector_range_setting_is_read_from_the_app(app):
    app.config["KIOSK_FACE_DETECTOR_RANGE"] = "sideways"
    with pytest.raises(ValueError):
        detect_faces(load_image(FACES / "fr_obama" / "1.jpg"))
    app.config["KIOSK_FACE_DETECTOR_RANGE"] = "full"
    assert len(detect_faces(load_image(FACES / "fr_obama" / "1.jpg"))) == 1


# --------------------------------------------------------------------------- detection lanes


def _detect_in_thread(detector: faces.FaceDetector, bgr) -> tuple[threading.Thread, list]:
    found: list = []
    thread = threading.Thread(target=lambda: found.append(detector.predict(bgr)), daemon=True)
    thread.start()
    return thread, found


def test_a_frame_is_detected_while_another_holds_a_lane():
    """Two kiosks' frames are detected at the same time (issue 26): with every frame of every kiosk
    going through one graph, 8 kiosks queued for it while a core stood idle."""
    bgr = load_image(SINGLE_FACE_PHOTOS[0])
    detector = faces.FaceDetector(lanes=2)
    detector.warm_every_lane(bgr)
    with detector._lanes.take():  # another kiosk's frame is being detected
        thread, found = _detect_in_thread(detector, bgr)
        thread.join(timeout=60)
        assert not thread.is_alive() and len(found[0]) == 1


def test_with_one_lane_a_frame_waits_for_the_frame_before_it():
    bgr = load_image(SINGLE_FACE_PHOTOS[0])
    detector = faces.FaceDetector(lanes=1)
    with detector._lanes.take():
        thread, found = _detect_in_thread(detector, bgr)
        thread.join(timeout=0.5)
        assert thread.is_alive() and not found  # it cannot run while the only lane is taken
    thread.join(timeout=60)
    assert len(found[0]) == 1


def test_every_lane_finds_the_same_faces_and_the_warm_up_runs_them_all():
    photo = load_image(GROUP_PHOTOS[0])
    detector = faces.FaceDetector(lanes=3)
    assert detector._ran == set()
    detector.warm_every_lane(photo)
    assert detector._ran == {"short", "full"} and all(lane.ran == {"short", "full"} for lane in detector._lanes.all)
    answers = []
    for _ in range(3):  # free lanes are taken in turn: three frames, three lanes
        answers.append([(face.box, round(face.score, 4)) for face in detector.predict(photo)])
    assert len(answers[0]) >= 2 and answers[0] == answers[1] == answers[2]


@pytest.mark.parametrize(("value", "lanes"), [("", min(4, os.cpu_count() or 1)), ("3", 3), (" 1 ", 1)])
def test_model_lanes_setting(monkeypatch, value, lanes):
    monkeypatch.setenv("KIOSK_MODEL_LANES", value)
    assert lanes_module.lane_count() == lanes
    assert len(faces.FaceDetector()._lanes) == lanes
