"""Export MiniFASNet V2 (crop scale 2.7) and V1SE (scale 4.0) from the upstream PyTorch weights to ONNX.

    python3 -m venv /tmp/torch-venv
    /tmp/torch-venv/bin/pip install torch==2.13.0 onnx numpy opencv-python-headless==4.11.0.86
    /tmp/torch-venv/bin/python training/export_minifasnet.py            # writes models/liveness/*.onnx

Run it in a separate venv: torch never goes into the kiosk's own environment (the kiosk runs the
ONNX files in ``cv2.dnn``). Run once; the results are committed with their sha256 in
``models/liveness/MODEL_CARD.md``.

Source (``--upstream``, default ``../shared/models/silent-face``): the files of
minivision-ai/Silent-Face-Anti-Spoofing (Apache-2.0, PROVENANCE.md there): the two ``.pth`` state
dicts and ``src/model_lib/MiniFASNet.py``, imported from there, not copied. Loading follows upstream's
``AntiSpoofPredict._load_model``: the state dicts were saved from ``nn.DataParallel``, so every key
starts with ``module.``, which is dropped; ``conv6_kernel`` is ``((80 + 15) // 16, (80 + 15) // 16)``
= (5, 5) (upstream's ``get_kernel``). The exported graph is the network in eval mode (batch norm
folded statistics, dropout off) and outputs the 3 logits; the caller applies the softmax, as upstream
does after ``forward``.

Check: every model runs on real face crops (upstream's three sample photos and the kiosk's own test
photos, cut with upstream's crop rule at the model's scale, around an OpenCV Haar-cascade face box)
in torch and in OpenCV's ``cv2.dnn`` from the written file; the largest difference of the logits
and of the softmax must stay below 1e-4, or nothing is written.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_UPSTREAM = REPO.parent / "shared" / "models" / "silent-face"
INPUT_SIZE = 80
OPSET = 11
TOLERANCE = 1e-4

#: output file -> (upstream file, upstream class name, crop scale)
MODELS = {
    "minifasnet_v2.onnx": ("2.7_80x80_MiniFASNetV2.pth", "MiniFASNetV2", 2.7),
    "minifasnet_v1se.onnx": ("4_0_0_80x80_MiniFASNetV1SE.pth", "MiniFASNetV1SE", 4.0),
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_network(upstream: Path, weights_file: str, class_name: str) -> torch.nn.Module:
    sys.path.insert(0, str(upstream / "src"))
    try:
        from model_lib import MiniFASNet as upstream_models  # upstream's definition, as published
    finally:
        sys.path.pop(0)
    kernel = ((INPUT_SIZE + 15) // 16, (INPUT_SIZE + 15) // 16)
    network = getattr(upstream_models, class_name)(conv6_kernel=kernel)
    state = torch.load(upstream / weights_file, map_location="cpu", weights_only=True)
    state = OrderedDict((key.removeprefix("module."), value) for key, value in state.items())
    network.load_state_dict(state)  # strict: a key too many or too few is an error
    return network.eval()


def upstream_crop(bgr: np.ndarray, box: tuple[int, int, int, int], scale: float) -> np.ndarray:
    """Upstream's ``CropImage.crop`` rule (generate_patches.py), re-stated for the check."""
    src_h, src_w = bgr.shape[:2]
    x, y, w, h = box
    scale = min((src_h - 1) / h, (src_w - 1) / w, scale)
    cx, cy = x + w / 2, y + h / 2
    x0, y0, x1, y1 = cx - w * scale / 2, cy - h * scale / 2, cx + w * scale / 2, cy + h * scale / 2
    if x0 < 0:
        x1, x0 = x1 - x0, 0
    if y0 < 0:
        y1, y0 = y1 - y0, 0
    if x1 > src_w - 1:
        x0, x1 = x0 - (x1 - src_w + 1), src_w - 1
    if y1 > src_h - 1:
        y0, y1 = y0 - (y1 - src_h + 1), src_h - 1
    x0, y0, x1, y1 = int(x0), int(y0), int(x1), int(y1)
    return cv2.resize(bgr[y0 : y1 + 1, x0 : x1 + 1], (INPUT_SIZE, INPUT_SIZE))


def check_images(upstream: Path) -> list[Path]:
    photos = sorted((upstream / "sample").glob("*.jpg"))
    photos += sorted((REPO / "tests" / "data" / "faces").glob("fr_*/*.jpg"))
    photos += sorted((REPO / "tests" / "data" / "faces").glob("lfw_*/1.jpg"))
    return photos


def real_face_crops(upstream: Path, scale: float) -> list[np.ndarray]:
    """Face crops as the kiosk feeds them: BGR uint8 80x80, one per photo with a detectable face."""
    cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"))
    crops = []
    for photo in check_images(upstream):
        bgr = cv2.imread(str(photo))
        boxes = cascade.detectMultiScale(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), 1.1, 5, minSize=(40, 40))
        if len(boxes):
            box = max(boxes, key=lambda b: b[2] * b[3])
            crops.append(upstream_crop(bgr, tuple(int(v) for v in box), scale))
    if len(crops) < 5:
        raise SystemExit(f"only {len(crops)} face crops found for the check; expected the sample and test photos")
    return crops


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def export(network: torch.nn.Module, output: Path) -> None:
    dummy = torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE)
    torch.onnx.export(
        network, (dummy,), str(output), opset_version=OPSET, dynamo=False,
        input_names=["input"], output_names=["logits"], do_constant_folding=True,
    )


def compare(network: torch.nn.Module, output: Path, crops: list[np.ndarray]) -> tuple[float, float]:
    """Largest |torch - cv2.dnn| over the crops, for the logits and for the softmax."""
    net = cv2.dnn.readNetFromONNX(str(output))
    worst_logit = worst_prob = 0.0
    for crop in crops:
        x = crop.astype(np.float32).transpose(2, 0, 1)[None]  # BGR, 0..255, NCHW: upstream's to_tensor
        with torch.no_grad():
            expected = network(torch.from_numpy(x)).numpy()
        net.setInput(x)
        got = net.forward()
        worst_logit = max(worst_logit, float(np.abs(got - expected).max()))
        worst_prob = max(worst_prob, float(np.abs(softmax(got) - softmax(expected)).max()))
    return worst_logit, worst_prob


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", type=Path, default=DEFAULT_UPSTREAM, help="the Silent-Face files (PROVENANCE.md)")
    parser.add_argument("--out", type=Path, default=REPO / "models" / "liveness")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, opencv {cv2.__version__}, opset {OPSET}")
    for out_name, (weights_file, class_name, scale) in MODELS.items():
        network = load_network(args.upstream, weights_file, class_name)
        crops = real_face_crops(args.upstream, scale)
        staging = args.out / (out_name + ".tmp")
        export(network, staging)
        worst_logit, worst_prob = compare(network, staging, crops)
        if max(worst_logit, worst_prob) > TOLERANCE:
            staging.unlink()
            raise SystemExit(f"{out_name}: cv2.dnn differs from torch by {worst_logit:.2e} (logits), over {TOLERANCE}")
        staging.replace(args.out / out_name)
        print(
            f"{out_name}: from {weights_file} (sha256 {sha256(args.upstream / weights_file)}), scale {scale}; "
            f"{len(crops)} real face crops: max |diff| logits {worst_logit:.2e}, softmax {worst_prob:.2e}; "
            f"sha256 {sha256(args.out / out_name)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
