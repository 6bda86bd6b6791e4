"""Do several kiosks' frames run at once? Each per-frame model called from 1, 2 and 4 threads at
once, in the server's thread settings, with one copy of each model (before issue 26's lanes) and
with the lanes (``KIOSK_MODEL_LANES``), and FaceNet with TensorFlow's inter-op pool of one thread
(before) and of one per core (gunicorn.conf.py now).

    .venv/bin/python benchmarks/concurrent_models.py [--seconds 3] [--json FILE]

Each variant runs in a child process (TensorFlow reads its thread settings once, when it loads;
the lanes are made when a model loads), on a real photo (tests/data/faces/fr_obama/1.jpg, scaled to
640x480): face detection on the face and on an empty room (the empty room runs both range models),
the passive liveness score, the face landmarks (the smile's mouth), FaceNet's embedding. It prints
calls per second in all for each thread count, and how much two threads gain over one
(``x1.0``: the calls queue for one copy; ``x2.0``: both cores). Measured, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PHOTO = REPO / "tests" / "data" / "faces" / "fr_obama" / "1.jpg"
THREADS = (1, 2, 4)
SERVER_THREADS = {"TF_NUM_INTRAOP_THREADS": "1", "OPENCV_FOR_THREADS_NUM": "1"}  # gunicorn.conf.py's
VARIANTS = {
    "before": {"KIOSK_MODEL_LANES": "1", "TF_NUM_INTEROP_THREADS": "1"},
    "now": {"KIOSK_MODEL_LANES": "", "TF_NUM_INTEROP_THREADS": str(os.cpu_count() or 1)},
}


def child(seconds: float) -> dict:
    """In the child: calls per second of each model from 1, 2 and 4 threads."""
    import threading

    import cv2
    import numpy as np

    from kiosk.vision import face_mesh, faces, liveness
    from kiosk.vision.embedders import get_embedder
    from kiosk.vision.face_crop import canonical_crop
    from kiosk.vision.image import load_image

    frame = cv2.resize(load_image(PHOTO), (640, 480), interpolation=cv2.INTER_AREA)
    room = np.full_like(frame, 96)
    face = faces.analyze_frame(frame).face
    assert face is not None, f"no face found in {PHOTO}"
    crop = canonical_crop(frame, face)
    embedder, mesh, live = get_embedder("facenet"), face_mesh.get_face_mesh(), liveness.passive_liveness()
    faces.get_detector().warm_every_lane(frame)
    live.warm_every_lane(frame, face.box)
    calls = {
        "detection, a face": lambda: faces.detect_faces(frame),
        "detection, empty room": lambda: faces.detect_faces(room),
        "liveness": lambda: live.predict(frame, face.box),
        "face landmarks": lambda: mesh.predict(frame, face),
        "facenet embedding": lambda: embedder.embed_crops([crop]),
    }
    for call in calls.values():  # every lane's first run (mesh, embedder) before the clock starts
        for _ in range(4):
            call()
    figures: dict = {}
    for name, call in calls.items():
        per_threads = {}
        for threads in THREADS:
            done = [0] * threads
            stop = time.perf_counter() + seconds

            def work(index: int, call=call, done=done, stop=stop) -> None:
                while time.perf_counter() < stop:
                    call()
                    done[index] += 1

            workers = [threading.Thread(target=work, args=(index,)) for index in range(threads)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            per_threads[threads] = round(sum(done) / seconds, 1)
        figures[name] = per_threads
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per model and thread count (default 3)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.seconds)))
        return 0
    results = {}
    for variant, settings in VARIANTS.items():
        env = {**os.environ, **SERVER_THREADS, **settings, "TF_CPP_MIN_LOG_LEVEL": "2"}
        run = subprocess.run([sys.executable, __file__, "--child", "--seconds", str(args.seconds)], env=env,
                             capture_output=True, text=True, cwd=REPO, check=False)
        if run.returncode != 0:
            print(run.stderr[-2000:], file=sys.stderr)
            return 1
        results[variant] = {"settings": settings, "calls_per_s": json.loads(run.stdout.strip().splitlines()[-1])}
    print(f"calls per second in all from {', '.join(map(str, THREADS))} threads (cores: {os.cpu_count()}):")
    for name in results["before"]["calls_per_s"]:
        cells = []
        for variant in VARIANTS:
            rates = results[variant]["calls_per_s"][name]
            gain = rates["2"] / rates["1"] if rates.get("1") else 0.0
            cells.append(f"{variant} {' / '.join(str(rates[str(t)]) for t in THREADS)} (x{gain:.2f})")
        print(f"  {name:22s} " + " | ".join(cells))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
