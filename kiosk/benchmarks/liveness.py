"""Bench stages ``liveness`` (MiniFASNet V2 + V1SE on one face in cv2.dnn) and ``face_mesh`` (the mouth's
shape for the expression cue), median ms.

Figures: ``both_models_ms`` (crops + both networks, what :meth:`PassiveLiveness.predict` costs per
face), ``per_model_ms`` (each network's forward pass alone) and the load time. The face comes from
``tests/data/liveness/silent-face/real/image_T1.jpg``, detected once outside the timing.
"""

from __future__ import annotations

import time
from pathlib import Path

from . import BenchContext, median_ms, stage

_SAMPLE = Path(__file__).resolve().parents[2] / "tests/data/liveness/silent-face/real/image_T1.jpg"


@stage("liveness")
def bench_liveness(ctx: BenchContext) -> dict:
    from ..vision.faces import detect_faces
    from ..vision.image import load_image
    from ..vision.liveness import liveness_input, passive_liveness

    bgr = load_image(_SAMPLE)
    box = detect_faces(bgr)[0].box
    model = passive_liveness()
    start = time.perf_counter()
    model.warm_up()
    figures: dict = {"load_s": round(time.perf_counter() - start, 2)}
    figures["both_models_ms"] = median_ms(lambda: model.predict(bgr, box), ctx.repeat, ctx.warmup)
    per_model = {}
    for network, scale in model.model.all[0]:  # one lane's pair of networks
        x = liveness_input(bgr, box, scale, model.box_scale)

        def forward(network=network, x=x):
            network.setInput(x)
            network.forward()

        per_model[f"scale_{scale}"] = median_ms(forward, ctx.repeat, ctx.warmup)
    figures["per_model_ms"] = per_model
    return figures


@stage("face_mesh")
def bench_face_mesh(ctx: BenchContext) -> dict:
    """The mouth's shape for the liveness expression cue (MediaPipe face landmarks, one face)."""
    from ..vision.face_mesh import get_face_mesh
    from ..vision.faces import detect_faces
    from ..vision.image import load_image

    bgr = load_image(_SAMPLE)
    face = detect_faces(bgr)[0]
    model = get_face_mesh()
    start = time.perf_counter()
    model.predict(bgr, face)
    figures: dict = {"load_s": round(time.perf_counter() - start, 2)}
    figures["mouth_shape_ms"] = median_ms(lambda: model.predict(bgr, face), ctx.repeat, ctx.warmup)
    return figures
