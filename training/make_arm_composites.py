"""Make the arm composites the browser benchmark's camera plays: one real photo of Barack Obama
waving one arm, his arm cut out and put back at other angles, then mirrored at his nose.

There is no photo of anyone making the kiosk's O (models/gesture/MODEL_CARD.md), so this
builds one from real pixels. Source: ``../shared/datasets/faces-dev/_multi/4.jpg`` (the
face_recognition project's ``obama_and_biden.jpg``; see tests/data/gestures/SOURCES.csv). Steps:

1. MediaPipe Pose (the kiosk's own model, static mode) finds Obama's raised arm (his left:
   shoulder, elbow, wrist and hand on the image's right) in the crop x 900-2000;
2. GrabCut, seeded with capsules around the upper arm, forearm and hand, cuts the arm out;
   the arm's place is filled by OpenCV inpainting (visibly smeared: these are composites);
3. the arm is put back as three rigid pieces: the upper arm turned about the shoulder and the
   forearm about the elbow so that the wrist reaches a target (two-link inverse kinematics,
   the elbow out), the hand turned about the wrist to a given direction;
4. the image right of the nose (x >= 1240) is joined to its mirror image, so both arms do the
   same; the result is cut to one 4:3 window (head, arms and chest; the same for every pose, so
   the face does not move between them) and saved at the kiosk's 640x480.

Poses written to tests/data/gestures/:

* ``composite_obama_arms_out.jpg``: arms held out to the sides, hands in view (read as idle;
  hands in view, so the pose tracker already sees them when they go up);
* ``composite_obama_o.jpg``: wrists joined above the head, palms together (read as O);
* ``composite_obama_v.jpg``: the arm as photographed, raised and out (read as capture).

Run: ``.venv/bin/python training/make_arm_composites.py`` (needs ../shared/datasets). It prints
what the kiosk's models read on each picture.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SOURCE = REPO.parent / "shared" / "datasets" / "faces-dev" / "_multi" / "4.jpg"
OUT = REPO / "tests" / "data" / "gestures"
CROP_X = (900, 2000)  # Obama's half of the photo, for the pose model
WINDOW = (0, 990, 100, 1420)  # top, bottom, left, right in the mirrored picture (4:3)
FRAME = (640, 480)

# name: (wrist target in source pixels, elbow bends outward, hand direction in degrees or None)
POSES = {
    "arms_out": ((1750.0, 700.0), False, None),
    "o": ((1265.0, 255.0), True, -110.0),
    "v": (None, True, None),  # the arm as photographed
}


def _landmarks(image: np.ndarray) -> dict[str, np.ndarray]:
    from kiosk.vision.pose import PoseEstimator

    x0, x1 = CROP_X
    found = PoseEstimator(tracking=False).estimate(image[:, x0:x1])
    if found is None:
        raise SystemExit("the pose model found nobody in the source photo")
    height = image.shape[0]

    def point(index: int) -> np.ndarray:
        x, y = found.array[index, :2]
        return np.array([x * (x1 - x0) + x0, y * height])

    # MediaPipe indices: 0 nose, 11 left shoulder, 13 left elbow, 15 left wrist, 17/19 left pinky/index.
    return {"nose": point(0), "shoulder": point(11), "elbow": point(13), "wrist": point(15),
            "tip": (point(17) + point(19)) / 2}


def _capsule(shape: tuple[int, int], a: np.ndarray, b: np.ndarray, radius: float) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.line(mask, tuple(int(v) for v in a), tuple(int(v) for v in b), 255, int(2 * radius))
    for end in (a, b):
        cv2.circle(mask, tuple(int(v) for v in end), int(radius), 255, -1)
    return mask


def _segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip(((points - a) @ ab) / (ab @ ab), 0, 1)
    return np.linalg.norm(points - (a + t[:, None] * ab), axis=1)


def _arm_pieces(image: np.ndarray, p: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Masks of the whole arm and of its upper arm, forearm and hand pieces."""
    shape = image.shape[:2]
    shoulder, elbow, wrist, tip = p["shoulder"], p["elbow"], p["wrist"], p["tip"]
    probable = cv2.bitwise_or(_capsule(shape, shoulder + (elbow - shoulder) * 0.25, elbow, 70),
                              _capsule(shape, elbow, tip + (tip - wrist) * 0.3, 62))
    seeds = np.full(shape, cv2.GC_BGD, np.uint8)
    seeds[cv2.dilate(probable, np.ones((60, 60), np.uint8)) > 0] = cv2.GC_PR_BGD
    seeds[probable > 0] = cv2.GC_PR_FGD
    seeds[_capsule(shape, shoulder + (elbow - shoulder) * 0.45, elbow, 25) > 0] = cv2.GC_FGD
    seeds[_capsule(shape, elbow, wrist, 22) > 0] = cv2.GC_FGD
    cv2.grabCut(image, seeds, None, np.zeros((1, 65)), np.zeros((1, 65)), 5, cv2.GC_INIT_WITH_MASK)
    arm = (seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)

    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]]
    points = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)
    nearer_upper = (_segment_distance(points, shoulder, elbow) <= _segment_distance(points, elbow, tip)).reshape(shape)
    along = ((points - elbow) @ (wrist - elbow) / np.linalg.norm(wrist - elbow)).reshape(shape)
    past_wrist = along > np.linalg.norm(wrist - elbow) - 10
    upper = ((_capsule(shape, shoulder + (elbow - shoulder) * 0.1, elbow, 64) > 0) | arm) & nearer_upper
    forearm = arm & ~nearer_upper & ~past_wrist
    hand = arm & ~nearer_upper & past_wrist
    as_mask = lambda m: m.astype(np.uint8) * 255  # noqa: E731
    return as_mask(arm), as_mask(upper), as_mask(forearm), as_mask(hand)


def _elbow_for(shoulder: np.ndarray, wrist: np.ndarray, upper: float, fore: float, outward: bool) -> np.ndarray:
    distance = min(np.linalg.norm(wrist - shoulder), upper + fore - 1)
    bend = math.acos((upper**2 + distance**2 - fore**2) / (2 * upper * distance))
    towards = math.atan2(wrist[1] - shoulder[1], wrist[0] - shoulder[0])
    angle = towards + (bend if outward else -bend)
    return shoulder + upper * np.array([math.cos(angle), math.sin(angle)])


def _angle(vector: np.ndarray) -> float:
    return math.atan2(vector[1], vector[0])


def _moved(image: np.ndarray, base: np.ndarray, mask: np.ndarray, pivot: np.ndarray, turn: float,
           to: np.ndarray) -> np.ndarray:
    """``base`` with the piece ``mask`` of ``image`` turned by ``turn`` about ``pivot``, ``pivot`` moved to ``to``."""
    c, s = math.cos(turn), math.sin(turn)
    rotation = np.array([[c, -s], [s, c]])
    matrix = np.hstack([rotation, (to - rotation @ pivot)[:, None]]).astype(np.float32)
    size = (image.shape[1], image.shape[0])
    piece = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR)
    alpha = cv2.GaussianBlur(cv2.warpAffine(mask, matrix, size), (5, 5), 0).astype(np.float32)[..., None] / 255
    return (base * (1 - alpha) + piece * alpha).astype(np.uint8)


def compose(image: np.ndarray, p: dict[str, np.ndarray], masks, wrist_to, outward: bool, hand_deg) -> np.ndarray:
    arm, upper, forearm, hand = masks
    shoulder, elbow, wrist, tip = p["shoulder"], p["elbow"], p["wrist"], p["tip"]
    shape = image.shape[:2]
    if wrist_to is None:
        result = image.copy()
    else:
        wrist_to = np.asarray(wrist_to)
        gone = cv2.bitwise_or(arm, cv2.bitwise_or(_capsule(shape, elbow, tip + (tip - wrist) * 0.4, 80),
                                                  _capsule(shape, shoulder + (elbow - shoulder) * 0.5, elbow, 70)))
        result = cv2.inpaint(image, cv2.dilate(gone, np.ones((31, 31), np.uint8)), 9, cv2.INPAINT_TELEA)
        new_elbow = _elbow_for(shoulder, wrist_to, np.linalg.norm(elbow - shoulder), np.linalg.norm(wrist - elbow),
                               outward)
        result = _moved(image, result, upper, shoulder, _angle(new_elbow - shoulder) - _angle(elbow - shoulder),
                        shoulder)
        forearm_turn = _angle(wrist_to - new_elbow) - _angle(wrist - elbow)
        result = _moved(image, result, forearm, elbow, forearm_turn, new_elbow)
        hand_turn = forearm_turn if hand_deg is None else math.radians(hand_deg) - _angle(tip - wrist)
        result = _moved(image, result, hand, wrist, hand_turn, wrist_to)
    nose_x = int(round(p["nose"][0]))
    right = result[:, nose_x:]
    mirrored = np.concatenate([right[:, ::-1], right], axis=1)
    top, bottom, left, right_edge = WINDOW
    return cv2.resize(mirrored[top:bottom, left:right_edge], FRAME, interpolation=cv2.INTER_AREA)


def main() -> None:
    from kiosk.vision import gestures
    from kiosk.vision.faces import analyze_frame
    from kiosk.vision.pose import PoseEstimator

    image = cv2.imread(str(SOURCE))
    if image is None:
        raise SystemExit(f"{SOURCE} is missing (../shared/datasets)")
    points = _landmarks(image)
    masks = _arm_pieces(image, points)
    for name, (wrist_to, outward, hand_deg) in POSES.items():
        frame = compose(image, points, masks, wrist_to, outward, hand_deg)
        path = OUT / f"composite_obama_{name}.jpg"
        cv2.imwrite(str(path), frame, [cv2.IMWRITE_JPEG_QUALITY, 92])
        landmarks = PoseEstimator(tracking=False).estimate(frame)
        reading = gestures.classify(landmarks) if landmarks is not None else None
        analysis = analyze_frame(frame)
        print(f"{path.relative_to(REPO)}: face {analysis.status} {analysis.face.box if analysis.face else ''}, "
              f"gesture {reading.gesture if reading else None} {reading.score if reading else 0:.3f}")


if __name__ == "__main__":
    main()
