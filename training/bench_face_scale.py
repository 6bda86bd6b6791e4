"""Scale benchmark of the face classifier: 1,000 identities x 20 samples (synthetic embeddings).

    .venv/bin/python training/bench_face_scale.py                 # 1000 x 20, 128-d (dlib's size)
    .venv/bin/python training/bench_face_scale.py --dim 512       # FaceNet's size

Builds the model with ``kiosk.vision.face_model.build_face_model`` (the code ``kiosk train
faces`` runs), once without and once with the cross-validation that ``train faces`` reports,
and times one classification (SVM rows + unknown check). Targets: <= 60 s, <= 5 ms per face.
Synthetic embeddings are unit vectors clustered by person; the fit time depends on their number
and size, not on where they came from. Same as ``KIOSK_BENCH_SLOW=1 kiosk bench --only face_training_scale``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kiosk.benchmarks.faces import training_scale_figures  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description="Time the face model's training and classification at scale.")
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--per-person", type=int, default=20)
    parser.add_argument("--dim", type=int, default=128)
    args = parser.parse_args()
    print(json.dumps(training_scale_figures(args.people, args.per_person, args.dim), indent=2))


if __name__ == "__main__":
    main()
