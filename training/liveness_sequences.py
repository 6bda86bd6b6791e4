"""Per-sequence liveness evaluation: whole check-ins through the kiosk's engine with every real model.

Attacks and live-like people are built from real photos (``kiosk.benchmarks.spoof_frames``): a
print of an enrolled person held over the face of a body that makes the gestures (still, moved by
a hand, a smiling print), the photo on a phone screen; and the enrolled person's own face going
from a neutral photo to a smiling one on the same body. Each sequence is played at the camera's
15 frames a second through ``kiosk.checkin.pipeline.analyse_frame`` and a real ``CheckInMachine``
(the site's default configuration): arms out until recognised, the confirm gesture (the O, then
both arms up), then the face the sequence shows while the kiosk waits. It counts how many attacks
check in and how many live sequences are refused (kept as suspects).

The face model is trained in memory on the people the test site enrolls (tests/data/faces), with
the configured embedder; nothing is written.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kiosk.benchmarks.checkin import live
from kiosk.benchmarks.spoof_frames import held_print, phone_screen, swap_face, wobble
from kiosk.checkin.machine import CheckInMachine, MachineConfig, RecordOutcome, State
from kiosk.checkin.pipeline import analyse_frame
from kiosk.vision.embedders import get_embedder, resolve_embedder_id
from kiosk.vision.face_crop import canonical_crop
from kiosk.vision.face_model import TrainingSample, build_face_model, embed_with_augmentations
from kiosk.vision.faces import analyze_frame
from kiosk.vision.liveness import passive_liveness
from kiosk.vision.pose import PoseEstimator

REPO = Path(__file__).resolve().parents[1]
FACES = REPO / "tests" / "data" / "faces"
GESTURES = REPO / "tests" / "data" / "gestures"
SMILING_PRINT = REPO / "tests" / "data" / "liveness_sequences" / "bush_smiling_lfw_6.jpg"
FPS = 15.0
ENROLLED = {  # as tests/face_helpers.py: the test site's people and their enrollment photos
    "Colin Powell": ("lfw_Colin_Powell", (1, 2, 3)),
    "George W Bush": ("lfw_George_W_Bush", (1, 2, 3)),
    "Hugo Chavez": ("lfw_Hugo_Chavez", (1, 2, 3)),
    "Tony Blair": ("lfw_Tony_Blair", (2, 3, 4)),
    "Barack Obama": ("fr_obama", (1, 2, 3)),
}


@dataclass
class Match:
    person_id: int | None
    person: str | None
    score: float | None
    distance: float | None = None


class InMemoryIdentify:
    def __init__(self) -> None:
        self.embedder_id = resolve_embedder_id()
        self.embedder = get_embedder(self.embedder_id)
        self.names: dict[int, str] = {}
        samples = []
        for person_id, (name, (folder, numbers)) in enumerate(ENROLLED.items(), start=1):
            self.names[person_id] = name
            for number in numbers:
                bgr = cv2.imread(str(FACES / folder / f"{number}.jpg"))
                face = analyze_frame(bgr).face
                vector, augmented = embed_with_augmentations(self.embedder, canonical_crop(bgr, face))
                samples.append(TrainingSample(len(samples) + 1, person_id, vector, augmented))
        self.model = build_face_model(samples, self.embedder_id, cross_validate=False)

    def __call__(self, bgr, face) -> Match:
        vector = self.embedder.embed_crops([canonical_crop(bgr, face)])[0]
        person_id, score, distance = self.model.classify(vector[None])[0]
        return Match(person_id, self.names.get(person_id) if person_id else None, score, distance)


@dataclass
class Outcome:
    recorded: list[Any] = field(default_factory=list)
    suspects: list[Any] = field(default_factory=list)

    def recent_event(self, person_id):
        return None

    def record(self, person_id, frame, happy, identification_score, evidence=None, liveness=None):
        self.recorded.append((person_id, liveness))
        return RecordOutcome("check_in", datetime.now(timezone.utc), None)

    def record_suspect(self, person_id, frame, happy, identification_score, liveness, neutral_frame, policy):
        self.suspects.append((person_id, liveness))
        return RecordOutcome("needs_review", datetime.now(timezone.utc), None)


@dataclass
class Sequence:
    name: str
    kind: str  # attack | live
    phases: list[tuple[list[np.ndarray], str | None, int]]  # (frames, stop at state, most frames)
    claimed: str  # who the sequence shows (the print's person, or the live person)


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    if image is None:
        raise FileNotFoundError(path)
    return image


def build_sequences() -> list[Sequence]:
    bodies = {pose: _read(GESTURES / f"composite_obama_{pose}.jpg") for pose in ("arms_out", "o", "v")}
    sequences: list[Sequence] = []

    def attack(name: str, make, claimed: str) -> None:
        frames = {pose: make(body, pose) for pose, body in bodies.items()}
        sequences.append(Sequence(name, "attack", [(frames["arms_out"], "CONFIRMING", 45), (frames["o"], "SMILING", 15),
                                                   (frames["v"], None, 150)], claimed))

    victims = [("George W Bush", "lfw_George_W_Bush", 4), ("George W Bush", "lfw_George_W_Bush", 5),
               ("Colin Powell", "lfw_Colin_Powell", 4), ("Colin Powell", "lfw_Colin_Powell", 5),
               ("Hugo Chavez", "lfw_Hugo_Chavez", 4), ("Hugo Chavez", "lfw_Hugo_Chavez", 5),
               ("Tony Blair", "lfw_Tony_Blair", 5), ("Tony Blair", "lfw_Tony_Blair", 1)]
    for name, folder, number in victims:
        photo = _read(FACES / folder / f"{number}.jpg")
        attack(f"print still {folder}/{number}", lambda body, _p, ph=photo: live(held_print(body, ph)), name)
        attack(f"print moved {folder}/{number}",
               lambda body, _p, ph=photo, n=number: [held_print(body, ph, shift=s, angle=a)
                                                     for s, a in wobble(12, seed=n)],
               name)
        attack(f"phone {folder}/{number}", lambda body, _p, ph=photo: live(phone_screen(body, ph)), name)
    smiling = _read(SMILING_PRINT)
    attack("smiling print still", lambda body, _p: live(held_print(body, smiling)), "George W Bush")
    attack("smiling print moved",
           lambda body, _p: [held_print(body, smiling, shift=s, angle=a) for s, a in wobble(12, seed=9)],
           "George W Bush")
    for scale in (0.7, 1.3):
        photo = _read(FACES / "lfw_George_W_Bush" / "4.jpg")
        attack(f"print scale {scale}", lambda body, _p, sc=scale, ph=photo: live(held_print(body, ph, scale=sc)),
               "George W Bush")

    obama = {n: _read(FACES / "fr_obama" / f"{n}.jpg") for n in (1, 2, 3, 4, 5)}
    for neutral, smile in itertools.product((4, 2, 3), (5, 1)):
        faces = {pose: {mood: live(swap_face(body, obama[n])) for mood, n in (("neutral", neutral), ("smile", smile))}
                 for pose, body in bodies.items()}
        sequences.append(Sequence(f"live obama {neutral}->{smile} (arms up)", "live", [
            (faces["arms_out"]["neutral"], "CONFIRMING", 45), (faces["v"]["neutral"], "SMILING", 30),
            (faces["v"]["neutral"], None, 6), (faces["arms_out"]["smile"], None, 120)], "Barack Obama"))
        sequences.append(Sequence(f"live obama {neutral}->{smile} (O)", "live", [
            (faces["arms_out"]["neutral"], "CONFIRMING", 45), (faces["o"]["neutral"], "SMILING", 45),
            (faces["o"]["smile"], None, 120)], "Barack Obama"))
    return sequences


def play(sequence: Sequence, identify: InMemoryIdentify) -> dict[str, Any]:
    machine = CheckInMachine(config=MachineConfig(), backend=Outcome())
    pose = PoseEstimator(tracking=True)
    now = 1000.0
    machine.reset(now)
    states = []
    try:
        for frames, stop, most in sequence.phases:
            for index in range(most):
                now += 1 / FPS
                analyse_frame(machine, frames[index % len(frames)], identify, pose, now=now,
                              passive_liveness=passive_liveness())
                states.append(machine.state.value)
                ended = machine.state in (State.DONE, State.CANCELLED, State.UNKNOWN, State.IDLE)
                if machine.state.value == stop or ended \
                        and len(states) > 1 and states[-2] in ("SMILING", "CONFIRMING"):
                    break
            if machine.state in (State.DONE, State.CANCELLED, State.UNKNOWN):
                break
    finally:
        pose.close()
    backend: Outcome = machine.backend  # type: ignore[assignment]
    verdict = (backend.recorded or backend.suspects or [(None, None)])[0][1]
    return {
        "name": sequence.name, "kind": sequence.kind, "claimed": sequence.claimed,
        "identified": machine.person_name, "checked_in": bool(backend.recorded), "suspect": bool(backend.suspects),
        "final": machine.state.value, "failed": list(verdict.failed) if verdict else None,
    }


def evaluate_sequences(log=print) -> list[dict[str, Any]]:
    identify = InMemoryIdentify()
    results = []
    for sequence in build_sequences():
        result = play(sequence, identify)
        results.append(result)
        log(f"  {result['kind']:6s} {result['name']:34s} identified={result['identified'] or '-':14s} "
            f"checked_in={result['checked_in']!s:5s} suspect={result['suspect']!s:5s} failed={result['failed']}")
    return results


def print_sequence_table(results: list[dict[str, Any]]) -> None:
    attacks = [r for r in results if r["kind"] == "attack"]
    lives = [r for r in results if r["kind"] == "live"]
    recognised = [r for r in attacks if r["identified"] == r["claimed"]]
    print()
    print("Per sequence (kiosk engine, every real model, 15 frames/s, default policy: review)")
    print("| sequences | count | recognised as the claimed person | checked in | kept as suspect |")
    print("|---|---:|---:|---:|---:|")
    print(f"| attacks (print, moved print, smiling print, phone) | {len(attacks)} | {len(recognised)} | "
          f"{sum(r['checked_in'] for r in attacks)} | {sum(r['suspect'] for r in attacks)} |")
    print(f"| live-like (neutral, then smiling) | {len(lives)} | "
          f"{sum(r['identified'] == r['claimed'] for r in lives)} | "
          f"{sum(r['checked_in'] for r in lives)} | {sum(r['suspect'] for r in lives)} |")
    apcer = sum(r["checked_in"] for r in recognised) / len(recognised) if recognised else None
    bpcer = sum(r["suspect"] for r in lives) / len(lives) if lives else None
    print(f"APCER (recognised attacks that checked in): {apcer if apcer is None else round(apcer, 3)}; "
          f"BPCER (live sequences refused): {bpcer if bpcer is None else round(bpcer, 3)}")
