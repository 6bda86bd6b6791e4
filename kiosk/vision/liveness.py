"""Passive liveness: a per-frame presentation-attack cue from MiniFASNet (Silent-Face-Anti-Spoofing).

Two small networks from minivision-ai/Silent-Face-Anti-Spoofing (Apache-2.0), exported once to ONNX
(``training/export_minifasnet.py``; files, hashes and figures in ``models/liveness/MODEL_CARD.md``)
and run by OpenCV's ``cv2.dnn`` (no extra runtime): MiniFASNet V2 reads the face with 2.7x its box
around it, V1SE with 4.0x, so the frame of a phone or a screen held up to the camera is in view.

Preprocessing is upstream's (``generate_patches.CropImage`` and ``anti_spoof_predict``): the crop
square is the face box times the scale, centred on the box, shrunk to fit the image and slid back
inside it (never padded), resized to 80x80 with bilinear interpolation; the network reads BGR floats
0..255 (upstream's ``to_tensor`` does not divide by 255), NCHW. Each outputs 3 logits; upstream sums
the two softmaxes and class 1 is "real": :meth:`PassiveLiveness.predict` returns that sum's class-1
share (sum / 2), 0..1, higher = live.

Face boxes. Upstream crops around a box from its own SSD face detector trained on WIDER FACE, which
frames forehead to chin; BlazeFace's box (:class:`kiosk.vision.faces.Face`) is tighter. The box is
grown by :data:`BOX_SCALE` about its centre before the crop rule (see the model card for how it was
chosen).

A cue, not a gate: on 2,795 public frames the per-frame AUC is 0.80, well under what a gate would
need (the model card has the figures and :data:`DEFAULT_FRAME_THRESHOLD`'s reason). The project's
own test photos are digital photos, not recaptures, and score as live (median ~0.99). The check-in engine
should combine it over frames with other evidence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from .lanes import Lanes
from .lazy import LazyModel, ModelUnavailable
from .settings import models_dir

INPUT_SIZE = 80
#: ONNX file -> the crop scale upstream trained it with (its weights' file name says it).
MODEL_FILES: dict[str, float] = {"minifasnet_v2.onnx": 2.7, "minifasnet_v1se.onnx": 4.0}
REAL_CLASS = 1
#: BlazeFace box side -> the side of the box upstream's detector would draw (see the module docstring).
BOX_SCALE = 1.0
#: Per-frame cut: a score at or above it reads "live". The equal-error point on 2,795 public live and
#: replayed frames (APCER 28%, BPCER 25%; training/evaluate_liveness.py): as one vote among many frames
#: neither error is favoured, and higher cuts reject half the live frames (BPCER 49% at 0.5). The
#: model card has the trade-off table; re-choose it on the kiosk's own camera.
DEFAULT_FRAME_THRESHOLD = 0.1


def crop_box(
    image_width: int, image_height: int, box: tuple[float, float, float, float], scale: float
) -> tuple[int, int, int, int]:
    """Upstream's crop rule: (x0, y0, x1, y1), inclusive, of ``box`` (x, y, w, h) grown ``scale`` times
    about its centre, the scale lowered until it fits the image, then moved back inside it."""
    x, y, w, h = box
    w, h = max(1, w), max(1, h)
    scale = min((image_height - 1) / h, (image_width - 1) / w, scale)
    cx, cy = x + w / 2.0, y + h / 2.0
    x0, x1 = cx - w * scale / 2.0, cx + w * scale / 2.0
    y0, y1 = cy - h * scale / 2.0, cy + h * scale / 2.0
    if x0 < 0:
        x0, x1 = 0.0, x1 - x0
    if y0 < 0:
        y0, y1 = 0.0, y1 - y0
    if x1 > image_width - 1:
        x0, x1 = x0 - (x1 - image_width + 1), image_width - 1.0
    if y1 > image_height - 1:
        y0, y1 = y0 - (y1 - image_height + 1), image_height - 1.0
    return int(x0), int(y0), int(x1), int(y1)


def scaled_box(box: tuple[int, int, int, int], factor: float) -> tuple[float, float, float, float]:
    """``box`` grown ``factor`` times about its centre (BlazeFace's box -> upstream's detector's)."""
    x, y, w, h = box
    return x + w * (1 - factor) / 2.0, y + h * (1 - factor) / 2.0, w * factor, h * factor


def liveness_input(
    bgr: NDArray[Any], box: tuple[int, int, int, int], scale: float, box_scale: float = BOX_SCALE
) -> NDArray[Any]:
    """The network input for one model: float32 (1, 3, 80, 80), BGR 0..255."""
    height, width = bgr.shape[:2]
    x0, y0, x1, y1 = crop_box(width, height, scaled_box(box, box_scale), scale)
    patch = cv2.resize(bgr[y0 : y1 + 1, x0 : x1 + 1], (INPUT_SIZE, INPUT_SIZE))
    return patch.astype(np.float32).transpose(2, 0, 1)[None]


def _softmax(logits: NDArray[Any]) -> NDArray[Any]:
    exp = np.exp(logits - logits.max())
    return cast(NDArray[Any], exp / exp.sum())


class PassiveLiveness(LazyModel):
    """MiniFASNet V2 + V1SE in ``cv2.dnn``; ``predict(bgr, box)`` -> 0..1, higher = live.

    A ``cv2.dnn.Net`` keeps its input and output blobs, so one network must not run in two threads
    at once: the networks are kept in :class:`~kiosk.vision.lanes.Lanes` (a pair per core, ~2 MB
    each), and a prediction (~4 ms for both networks) takes a free pair.
    """

    name = "liveness"

    def __init__(self, folder: str | Path | None = None, box_scale: float = BOX_SCALE) -> None:
        super().__init__()
        self._folder = Path(folder) if folder else None
        self.box_scale = box_scale  # another value only to calibrate it (training/evaluate_liveness.py)

    def _path(self, file_name: str) -> Path:
        path = (self._folder or models_dir() / "liveness") / file_name
        if not path.is_file():
            raise ModelUnavailable(
                f"The liveness model file {path} is missing. It ships in the repository (models/liveness/, "
                "see MODEL_CARD.md there; training/export_minifasnet.py makes it again from the upstream "
                "weights); set KIOSK_MODELS_DIR to the folder that holds liveness/ if the models live elsewhere."
            )
        return path

    def _load(self) -> Lanes[list[tuple[Any, float]]]:
        return Lanes(self._networks)  # every copy made now: a missing or broken file is reported with its name

    def _networks(self) -> list[tuple[Any, float]]:
        networks = []
        for file_name, scale in MODEL_FILES.items():
            path = self._path(file_name)
            try:
                network = cv2.dnn.readNetFromONNX(str(path))
            except cv2.error as err:
                raise ModelUnavailable(
                    f"The liveness model {path} could not be loaded ({str(err).strip().splitlines()[-1]}); restore it "
                    "from the repository or run training/export_minifasnet.py (models/liveness/MODEL_CARD.md)."
                ) from err
            networks.append((network, scale))
        return networks

    def class_probabilities(self, bgr: NDArray[Any], box: tuple[int, int, int, int]) -> NDArray[Any]:
        """Each model's softmax (rows: V2, V1SE; columns: upstream's 3 classes, 1 = real)."""
        if not isinstance(bgr, np.ndarray) or bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.size == 0:
            raise ValueError("passive liveness needs a BGR image of shape (h, w, 3)")
        inputs = [liveness_input(bgr, box, scale, self.box_scale) for scale in MODEL_FILES.values()]
        rows = []
        with self.model.take() as networks:
            for (network, _), x in zip(networks, inputs):
                network.setInput(x)
                rows.append(_softmax(network.forward().reshape(-1)))
        return np.stack(rows)

    def warm_every_lane(self, bgr: NDArray[Any], box: tuple[int, int, int, int]) -> None:
        """Run every lane's networks once (the worker's warm-up): no kiosk's frame pays a first run."""
        inputs = [liveness_input(bgr, box, scale, self.box_scale) for scale in MODEL_FILES.values()]
        with self.model.every() as lanes:
            for networks in lanes:
                for (network, _), x in zip(networks, inputs):
                    network.setInput(x)
                    network.forward()

    def predict(self, bgr: NDArray[Any], box: tuple[int, int, int, int]) -> float:
        """How live the face in ``box`` (x, y, w, h in pixels, as :attr:`Face.box`) looks: 0..1."""
        probabilities = self.class_probabilities(bgr, box)
        return float(np.clip(probabilities.sum(axis=0)[REAL_CLASS] / len(probabilities), 0.0, 1.0))


_passive_liveness = PassiveLiveness()


def passive_liveness() -> PassiveLiveness:
    """The process-wide liveness model, loaded on first use."""
    return _passive_liveness
