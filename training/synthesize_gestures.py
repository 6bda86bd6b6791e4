"""Synthesized arm skeletons for the gesture classifier (seeded, deterministic).

There is no real X data, the YMCA rows have one performer, and ``idle`` in the real rows covers
only dancing, one arched arm and hands on the head. So every class is also drawn from a simple
2-D body model, with the hard negatives an attendance kiosk sees: one arm up, pointing, arms
down, hands on hips, hands on the head, folded arms, hands clasped in front, a hand to the face.

The body model, in shoulder widths (x to the image right, y down, shoulders at (+-0.5, 0)):

* upper arm 0.68-0.95 and forearm 0.65-0.95 shoulder widths (measured on the YMCA rows:
  ~0.76 and ~0.89 in the A pose), each shortened by a foreshortening factor when the segment
  points towards the camera (elbows forward in the X, forearms forward when pointing);
* a pose is either two segment angles per arm, or a wrist target reached by two-link inverse
  kinematics with the elbow bent outward or downward, as a body does;
* then the whole skeleton is rotated (+-10 degrees: a leaning person or a tilted camera),
  the shoulders tilted, Gaussian noise of 0.5-5 % of the shoulder width added to every point
  (MediaPipe jitter), scaled to 6-45 % of the image height and moved anywhere in the frame.

Classes (angles: 0 = arm horizontal pointing away from the body, 90 = straight up):

* **O**: both wrists above the head (1.1-2.0 shoulder widths above the shoulder line) and
  joined (0-0.75 apart, may overlap), elbows out and at or above shoulder height;
* **X**: elbows below the shoulders (0.3-0.95 lower, often forward so the upper arm looks
  shorter), each wrist
  0.08-0.65 shoulder widths past the body's midline, between just above the shoulders and the
  lower chest, at least 0.2 above its own elbow, the two forearms crossing each other;
* **capture**: both arms raised 25-85 degrees, nearly straight, wrists more than 1.4 apart
  and at least half a shoulder width above the shoulders;
* **idle**: arms down, hands on hips, one arm up (raised, waving or over the head), pointing,
  T-pose, leaning sideways with one arm arched over the head (the YMCA C), hands on the head
  (wrists at head height, apart: the YMCA M), hands clasped behind
  the head (wrists together at head height, elbows out), folded arms (forearms
  level, each wrist at the other elbow), hands crossed low in front (wrists crossed below the
  elbows), hands clasped in front, hands at the chest uncrossed, a hand to the face.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from kiosk.gesture_vocabulary import GESTURES, IDLE, Gesture

Arm = tuple[np.ndarray, np.ndarray]  # (elbow, wrist) in shoulder widths


def _direction(side: int, angle_deg: float) -> np.ndarray:
    """Unit vector for an arm of ``side`` (+1 image right, -1 image left) at ``angle_deg``."""
    a = np.radians(angle_deg)
    return np.array([side * np.cos(a), -np.sin(a)])


class _Body:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.upper = rng.uniform(0.68, 0.95)
        self.fore = rng.uniform(0.65, 0.95)

    def shoulder(self, side: int) -> np.ndarray:
        return np.array([0.5 * side, 0.0])

    def by_angles(self, side: int, upper_deg: float, fore_deg: float, shorten=(1.0, 1.0)) -> Arm:
        elbow = self.shoulder(side) + self.upper * shorten[0] * _direction(side, upper_deg)
        wrist = elbow + self.fore * shorten[1] * _direction(side, fore_deg)
        return elbow, wrist

    def reach(self, side: int, wrist: np.ndarray, bend: str = "out", shorten=(1.0, 1.0)) -> Arm | None:
        """Two-link IK: the elbow that puts the wrist at ``wrist``, or None if out of reach."""
        shoulder = self.shoulder(side)
        l1, l2 = self.upper * shorten[0], self.fore * shorten[1]
        offset = wrist - shoulder
        d = float(np.linalg.norm(offset))
        if d >= l1 + l2 or d <= abs(l1 - l2) or d < 1e-6:
            return None
        along = (l1**2 - l2**2 + d**2) / (2 * d)
        h = np.sqrt(max(l1**2 - along**2, 0.0))
        base = shoulder + offset * along / d
        normal = np.array([-offset[1], offset[0]]) / d
        candidates = [base + h * normal, base - h * normal]
        if bend == "out":
            elbow = max(candidates, key=lambda e: side * e[0])
        elif bend == "up":
            elbow = min(candidates, key=lambda e: e[1])
        else:  # "down"
            elbow = max(candidates, key=lambda e: e[1])
        return elbow, np.asarray(wrist, dtype=np.float64)


def _segments_cross(p1, p2, q1, q2) -> bool:
    def orient(a, b, c):
        return np.sign((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))

    return orient(p1, p2, q1) != orient(p1, p2, q2) and orient(q1, q2, p1) != orient(q1, q2, p2)


# ---------------------------------------------------------------------------- gesture recipes
# Each returns (arm a, arm b) for side +1 and side -1, or None to draw again.


def _o(body: _Body, rng) -> tuple[Arm, Arm] | None:
    centre = np.array([rng.normal(0, 0.08), rng.uniform(-2.0, -1.1)])
    gap = rng.uniform(-0.12, 0.75)
    wa = centre + np.array([gap / 2, rng.normal(0, 0.05)])
    wb = centre - np.array([gap / 2, rng.normal(0, 0.05)])
    shorten = (rng.uniform(0.85, 1.0), rng.uniform(0.85, 1.0))
    a = body.reach(+1, wa, "out", shorten)
    b = body.reach(-1, wb, "out", shorten)
    if a is None or b is None or a[0][1] > 0.1 or b[0][1] > 0.1:
        return None
    return a, b


def _capture(body: _Body, rng) -> tuple[Arm, Arm] | None:
    base = rng.uniform(25, 85)
    arms = []
    for side in (+1, -1):
        upper = np.clip(base + rng.normal(0, 8), 15, 88)
        fore = np.clip(upper + rng.normal(5, 12), 15, 100)
        arms.append(body.by_angles(side, upper, fore, (rng.uniform(0.8, 1.0), rng.uniform(0.8, 1.0))))
    (ea, wa), (eb, wb) = arms
    if wa[0] - wb[0] < 1.4 or wa[1] > -0.5 or wb[1] > -0.5:
        return None
    return arms[0], arms[1]


def _x(body: _Body, rng) -> tuple[Arm, Arm] | None:
    arms = []
    height = rng.uniform(-0.45, 0.7)
    for side in (+1, -1):
        # Elbows hang below the shoulders, often forward (so the upper arm looks shorter).
        elbow = np.array([side * rng.uniform(0.1, 0.75), rng.uniform(0.3, 0.95)])
        upper = np.linalg.norm(elbow - body.shoulder(side))
        wrist = np.array([-side * rng.uniform(0.08, 0.65), height + rng.normal(0, 0.08)])
        fore = np.linalg.norm(wrist - elbow)
        if not (0.4 * body.upper <= upper <= body.upper and 0.45 * body.fore <= fore <= body.fore):
            return None
        if wrist[1] > elbow[1] - 0.2:  # a raised X, not folded arms
            return None
        arms.append((elbow, wrist))
    (ea, wa), (eb, wb) = arms
    if not _segments_cross(ea, wa, eb, wb):
        return None
    return arms[0], arms[1]


def _arm_down(body: _Body, rng, side: int) -> Arm:
    upper = rng.uniform(-102, -65)
    return body.by_angles(side, upper, upper + rng.uniform(-10, 45), (rng.uniform(0.8, 1.0), rng.uniform(0.5, 1.0)))


def _arm_on_hip(body: _Body, rng, side: int) -> Arm | None:
    wrist = np.array([side * rng.uniform(0.35, 0.7), rng.uniform(1.1, 1.7)])
    return body.reach(side, wrist, "out", (rng.uniform(0.85, 1.0), rng.uniform(0.8, 1.0)))


def _arm_up(body: _Body, rng, side: int) -> Arm | None:
    kind = rng.integers(3)
    if kind == 0:  # raised straight-ish, like half a V or a hand up in class
        upper = rng.uniform(30, 100)
        return body.by_angles(side, upper, upper + rng.normal(5, 12))
    if kind == 1:  # waving: elbow out near shoulder height, forearm up
        return body.by_angles(side, rng.uniform(-20, 35), rng.uniform(60, 120), (1.0, rng.uniform(0.8, 1.0)))
    wrist = np.array([rng.uniform(-0.3, 0.4) * side, rng.uniform(-1.9, -1.0)])  # one hand over the head
    return body.reach(side, wrist, "out")


def _arm_head(body: _Body, rng, side: int) -> Arm | None:
    wrist = np.array([side * rng.uniform(0.3, 0.9), rng.uniform(-0.95, -0.1)])
    return body.reach(side, wrist, "out", (rng.uniform(0.85, 1.0), rng.uniform(0.75, 1.0)))


def _arm_point(body: _Body, rng, side: int) -> Arm:
    upper = rng.uniform(-25, 30)
    return body.by_angles(side, upper, upper + rng.normal(0, 8), (rng.uniform(0.5, 1.0), rng.uniform(0.4, 1.0)))


def _arm_face(body: _Body, rng, side: int) -> Arm | None:
    wrist = np.array([side * rng.uniform(-0.15, 0.45), rng.uniform(-0.8, 0.1)])
    return body.reach(side, wrist, "down", (rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0)))


def _one_free_arm(make_active: Callable) -> Callable:
    def recipe(body: _Body, rng) -> tuple[Arm, Arm] | None:
        side = int(rng.choice([+1, -1]))
        active = make_active(body, rng, side)
        rest = [_arm_down, _arm_on_hip][int(rng.random() < 0.3)](body, rng, -side)
        if active is None or rest is None:
            return None
        return (active, rest) if side == +1 else (rest, active)

    return recipe


def _both(make_arm: Callable) -> Callable:
    def recipe(body: _Body, rng) -> tuple[Arm, Arm] | None:
        a, b = make_arm(body, rng, +1), make_arm(body, rng, -1)
        return None if a is None or b is None else (a, b)

    return recipe


def _t_pose(body: _Body, rng) -> tuple[Arm, Arm]:
    arms = []
    for side in (+1, -1):
        upper = rng.uniform(-15, 12)
        arms.append(body.by_angles(side, upper, upper + rng.normal(0, 8)))
    return arms[0], arms[1]


def _folded(body: _Body, rng) -> tuple[Arm, Arm] | None:
    elbows = [
        body.shoulder(s) + body.upper * rng.uniform(0.75, 1.0) * _direction(s, rng.uniform(-105, -72))
        for s in (+1, -1)
    ]
    arms = []
    for i, side in enumerate((+1, -1)):
        other = elbows[1 - i]
        wrist = other + np.array([side * rng.uniform(-0.1, 0.3), rng.uniform(-0.2, 0.15)])
        if np.linalg.norm(wrist - elbows[i]) > body.fore * 1.05:
            return None
        arms.append((elbows[i], wrist))
    return arms[0], arms[1]


def _behind_head(body: _Body, rng) -> tuple[Arm, Arm] | None:
    """Hands clasped behind the head (a stretch): wrists close together at head height, elbows
    out wide. Not an O: the hands are not above the head."""
    centre = np.array([rng.normal(0, 0.05), rng.uniform(-0.75, -0.2)])
    half = rng.uniform(0.0, 0.25)
    shorten = (rng.uniform(0.8, 1.0), rng.uniform(0.6, 1.0))
    a = body.reach(+1, centre + [half, 0], "out", shorten)
    b = body.reach(-1, centre - [half, 0], "out", shorten)
    return None if a is None or b is None else (a, b)


def _side_bend(body: _Body, rng) -> tuple[Arm, Arm, float] | None:
    """Leaning to one side with one arm arched over the head, the other low and out (the YMCA C
    and a stretch). The third value tilts the whole body by 15-45 degrees."""
    side = int(rng.choice([+1, -1]))
    wrist = np.array([side * rng.uniform(-1.1, 0.3), rng.uniform(-1.6, -0.6)])
    over = body.reach(side, wrist, str(rng.choice(["out", "up"])))
    upper = rng.uniform(-75, -10)
    low = body.by_angles(-side, upper, upper + rng.normal(0, 15))
    if over is None:
        return None
    tilt = -side * rng.uniform(15, 45)  # the raised arm's shoulder goes up: leaning away from it
    return ((over, low) if side == +1 else (low, over)) + (tilt,)


def _crossed_low(body: _Body, rng) -> tuple[Arm, Arm] | None:
    """Hands crossed in front of the hips: wrists past the midline but below the elbows."""
    height = rng.uniform(1.15, 1.9)
    shorten = (rng.uniform(0.85, 1.0), rng.uniform(0.7, 1.0))
    a = body.reach(+1, np.array([-rng.uniform(0.0, 0.3), height + rng.normal(0, 0.06)]), "out", shorten)
    b = body.reach(-1, np.array([rng.uniform(0.0, 0.3), height + rng.normal(0, 0.06)]), "out", shorten)
    if a is None or b is None or a[1][1] < a[0][1] + 0.2 or b[1][1] < b[0][1] + 0.2:
        return None
    return a, b


def _clasped(body: _Body, rng) -> tuple[Arm, Arm] | None:
    centre = np.array([rng.normal(0, 0.05), rng.uniform(0.3, 1.6)])
    half = rng.uniform(0.0, 0.15)
    shorten = (rng.uniform(0.8, 1.0), rng.uniform(0.5, 1.0))
    a = body.reach(+1, centre + [half, 0], "down", shorten)
    b = body.reach(-1, centre - [half, 0], "down", shorten)
    return None if a is None or b is None else (a, b)


def _chest_uncrossed(body: _Body, rng) -> tuple[Arm, Arm] | None:
    arms = []
    for side in (+1, -1):
        wrist = np.array([side * rng.uniform(0.0, 0.55), rng.uniform(0.1, 1.2)])
        arm = body.reach(side, wrist, "down", (rng.uniform(0.7, 1.0), rng.uniform(0.45, 1.0)))
        if arm is None:
            return None
        arms.append(arm)
    return arms[0], arms[1]


IDLE_RECIPES: dict[str, tuple[float, Callable]] = {
    "arms_down": (0.18, _both(_arm_down)),
    "hands_on_hips": (0.07, _both(_arm_on_hip)),
    "one_arm_up": (0.15, _one_free_arm(_arm_up)),
    "pointing": (0.08, _one_free_arm(_arm_point)),
    "t_pose": (0.05, _t_pose),
    "side_bend_arm_over_head": (0.06, _side_bend),
    "hands_on_head": (0.10, _both(_arm_head)),
    "hands_behind_head": (0.06, _behind_head),
    "folded_arms": (0.12, _folded),
    "hands_crossed_low": (0.07, _crossed_low),
    "hands_clasped_front": (0.08, _clasped),
    "hands_at_chest_uncrossed": (0.07, _chest_uncrossed),
    "hand_to_face": (0.08, _one_free_arm(_arm_face)),
}
GESTURE_RECIPES: dict[str, Callable] = {Gesture.O: _o, Gesture.X: _x, Gesture.CAPTURE: _capture}


def _place(rng: np.random.Generator, a: Arm, b: Arm, tilt_deg: float = 0.0, noise: float | None = None) -> np.ndarray:
    """Shoulder-width skeleton -> isotropic image units (rotated, tilted, noisy, scaled, moved)."""
    points = np.array([[0.5, 0.0], [-0.5, 0.0], a[0], b[0], a[1], b[1]], dtype=np.float64)
    points[:2, 1] += rng.normal(0, 0.03, 2)  # shoulders never sit exactly level
    angle = np.radians(tilt_deg + np.clip(rng.normal(0, 5), -10, 10))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = points @ rotation.T
    sigma = rng.uniform(0.005, 0.05) if noise is None else noise
    points += rng.normal(0, sigma, points.shape)
    scale = rng.uniform(0.06, 0.45)
    centre = np.array([rng.uniform(0.2, 1.6), rng.uniform(0.2, 0.8)])
    return centre + points * scale


def synthesize(counts: dict[str, int], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``counts`` per gesture (O, X, capture, idle) -> (arms (N, 6, 2), labels (N,), recipe names (N,))."""
    rng = np.random.default_rng(seed)
    arms, labels, kinds = [], [], []
    idle_names = list(IDLE_RECIPES)
    idle_weights = np.array([IDLE_RECIPES[n][0] for n in idle_names])
    idle_weights /= idle_weights.sum()
    for label in GESTURES:
        made = 0
        while made < counts.get(label, 0):
            body = _Body(rng)
            if label == IDLE:
                kind = idle_names[int(rng.choice(len(idle_names), p=idle_weights))]
                recipe = IDLE_RECIPES[kind][1]
            else:
                kind, recipe = label, GESTURE_RECIPES[label]
            pose = None
            for _ in range(1000):  # rejection sampling: redraw the same recipe until it fits
                pose = recipe(body, rng)
                if pose is not None:
                    break
                body = _Body(rng)
            if pose is None:
                raise RuntimeError(f"recipe {kind} never produced a pose")
            arms.append(_place(rng, *pose))  # a recipe may add a body tilt as a third value
            labels.append(label)
            kinds.append(kind if label != IDLE else f"{IDLE}/{kind}")
            made += 1
    return np.asarray(arms), np.asarray(labels), np.asarray(kinds)


if __name__ == "__main__":  # a quick look: counts per recipe
    import collections

    _, _, names = synthesize({Gesture.O: 200, Gesture.X: 200, Gesture.CAPTURE: 200, Gesture.IDLE: 800}, seed=1)
    for name, n in sorted(collections.Counter(names).items()):
        print(f"{name:32s} {n}")
