"""The reliability suite (``make reliability`` = ``pytest -m reliability -s``): load, memory,
bad input, faults and security, against a real deployment on loopback: the shipped
gunicorn.conf.py behind the shipped nginx.conf, on a site with enrolled people and a trained
face model. Separate from the unit tests (every test here is marked ``reliability`` and
skipped by ``make test``); it prints its figures as it goes, again at the end, and writes
them to artifacts/reliability.json.

Fixtures:
- ``site``: a data dir prepared once per run through the ``kiosk`` command line (migrations,
  an admin, people enrolled from tests/data/faces, ``kiosk train faces``).
- ``make_stack(env=None, **options)``: a private copy of that site served by gunicorn behind
  nginx; stopped at the end of the test (or module, for ``module_stack``).
- ``postgres_site`` / ``make_cluster(hosts=2)``: the same site on a real PostgreSQL server, served
  by several app hosts behind one nginx (tests/reliability/test_scaleout.py).

The check-ins here stream the capture composite, one still photo of a face: the liveness check would
(rightly) keep each as a suspected spoof, so these deployments run with ``KIOSK_LIVENESS_POLICY=off``
(STACK_DEFAULTS) and measure load, memory, faults and scale-out as before. Liveness through the frame
API with live-like people and attacks is tested in tests/test_liveness_api.py. The capacity run
(``test_kiosks_at_camera_speed``) streams a live-like person (``check_in_visit``) and judges liveness
as a site does.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "nginx"))

from kiosk_stack import Cluster, Stack, kiosk_cli, kiosk_frame_jpeg, nginx_available  # noqa: E402
from reliability_kit import (  # noqa: E402
    ADMIN_PASSWORD,
    ADMIN_USER,
    ENROLLED,
    EXTRA_ENROLLMENT,
    FACES,
    GESTURES,
    STRANGERS,
    Visit,
    collected_report,
    write_report,
)

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.reliability)
            if not nginx_available():
                item.add_marker(pytest.mark.skip(reason="needs Debian's nginx: scripts/system-deps.sh"))


def pytest_terminal_summary(terminalreporter):
    figures = collected_report()
    if not figures:
        return
    terminalreporter.section("reliability figures")
    for section, values in figures.items():
        terminalreporter.write_line(f"{section}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    path = write_report()
    if path:
        terminalreporter.write_line(f"(written to {path})")


@dataclass
class Site:
    data_dir: Path
    trained: bool
    train_output: str


def _checked(result, what: str) -> str:
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Site:
    data_dir = tmp_path_factory.mktemp("site") / "data"
    _checked(kiosk_cli(data_dir, "db", "upgrade"), "kiosk db upgrade")
    _checked(kiosk_cli(data_dir, "admin", "create", ADMIN_USER, "--password-stdin", stdin=ADMIN_PASSWORD + "\n"),
             "kiosk admin create")
    # Enrolling and training use other parts of the kiosk: when they fail, the tests that need
    # a trained site skip with the reason (``trained_site``); the others still run.
    for name, folder in ENROLLED.items():
        images = [str(path) for path in sorted((FACES / folder).glob("*.jpg")) + EXTRA_ENROLLMENT.get(name, [])]
        enrolled = kiosk_cli(data_dir, "people", "enroll", name, *images, timeout_s=600)
        if enrolled.returncode != 0:
            return Site(data_dir, False, f"kiosk people enroll failed: {enrolled.stderr[-800:]}")
    trained = kiosk_cli(data_dir, "train", "faces", timeout_s=900)
    return Site(data_dir, trained.returncode == 0, trained.stdout[-800:] + trained.stderr[-800:])


@dataclass
class PostgresSite:
    """The same site on PostgreSQL (several app hosts): the database ``template`` (people enrolled
    and the face model trained, through the ``kiosk`` command line) and its shared ``media_dir``."""

    template: str
    media_dir: Path


@pytest.fixture(scope="session")
def postgres_site(postgres_server, postgres_template, tmp_path_factory) -> PostgresSite:
    name = "kiosk_reliability_site"
    url = postgres_server.create_database(name, template=postgres_template)
    root = tmp_path_factory.mktemp("pg-site")
    env = {"KIOSK_DATABASE_URL": url, "KIOSK_MEDIA_DIR": str(root / "media")}
    data_dir = root / "data"
    _checked(kiosk_cli(data_dir, "admin", "create", ADMIN_USER, "--password-stdin", stdin=ADMIN_PASSWORD + "\n",
                       env=env), "kiosk admin create")
    for person, folder in ENROLLED.items():
        images = [str(path) for path in sorted((FACES / folder).glob("*.jpg")) + EXTRA_ENROLLMENT.get(person, [])]
        enrolled = kiosk_cli(data_dir, "people", "enroll", person, *images, env=env, timeout_s=600)
        _checked(enrolled, "kiosk people enroll")
    _checked(kiosk_cli(data_dir, "train", "faces", env=env, timeout_s=900), "kiosk train faces")
    return PostgresSite(name, root / "media")


@pytest.fixture
def make_cluster(tmp_path_factory, postgres_server, postgres_site):
    """``make_cluster(hosts=2, env=None)``: app hosts (gunicorn each, own data dir) on a private copy
    of the PostgreSQL site and its media, behind one nginx; stopped at the end of the test."""
    import uuid

    clusters: list[Cluster] = []
    databases: list[str] = []

    def make(hosts: int = 2, env: dict | None = None) -> Cluster:
        root = tmp_path_factory.mktemp("cluster")
        name = f"kiosk_cluster_{uuid.uuid4().hex[:10]}"
        url = postgres_server.create_database(name, template=postgres_site.template)
        databases.append(name)
        shutil.copytree(postgres_site.media_dir, root / "media")
        cluster = Cluster(root, url, hosts=hosts, env={**STACK_DEFAULTS, **(env or {})}, media_dir=root / "media")
        clusters.append(cluster)
        return cluster.start()

    yield make
    for cluster in clusters:
        cluster.stop()
    for name in databases:
        postgres_server.drop_database(name)


@pytest.fixture
def trained_site(site) -> Site:
    if not site.trained:
        pytest.skip(f"no trained site (enroll + train faces): {site.train_output[-500:]}")
    return site


STACK_DEFAULTS = {"KIOSK_LIVENESS_POLICY": "off"}


def _stack_factory(root_factory, site: Site, stacks: list[Stack]):
    def make(env: dict | None = None, **options) -> Stack:
        root = root_factory()
        data_dir = root / "data"
        shutil.copytree(site.data_dir, data_dir)
        stack = Stack(root, env={**STACK_DEFAULTS, **(env or {})}, data_dir=data_dir, **options)
        stacks.append(stack)
        return stack.start()

    return make


@pytest.fixture
def make_stack(tmp_path_factory, site):
    stacks: list[Stack] = []
    yield _stack_factory(lambda: tmp_path_factory.mktemp("stack"), site, stacks)
    for stack in stacks:
        stack.stop()


@pytest.fixture(scope="module")
def module_stack(tmp_path_factory, site):
    """One deployment shared by a module's tests (default settings)."""
    stacks: list[Stack] = []
    stack = _stack_factory(lambda: tmp_path_factory.mktemp("stack"), site, stacks)()
    yield stack
    stack.stop()


# ---------------------------------------------------------------------------- frames


@pytest.fixture(scope="session")
def frames() -> dict[str, list[bytes]]:
    """640x480 JPEG frames from real photos, by kind."""
    import cv2
    import numpy as np

    def jpegs(paths):
        return [kiosk_frame_jpeg(path) for path in paths]

    rng = np.random.default_rng(7)
    empty_room = []
    for level in (30, 90, 160):
        image = np.clip(rng.normal(level, 12, (480, 640, 3)), 0, 255).astype(np.uint8)
        empty_room.append(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes())
    return {
        "enrolled": jpegs(sorted((FACES / "fr_obama").glob("*.jpg"))[1:]
                          + sorted((FACES / "lfw_Colin_Powell").glob("*.jpg"))),
        "strangers": jpegs([p for folder in STRANGERS for p in sorted((FACES / folder).glob("*.jpg"))]),
        "crowd": jpegs(sorted((FACES / "_multi").glob("*.jpg"))[:4]),
        "empty": empty_room,
        # A person holding still in front of a live camera: the exposure drifts by a grey level or
        # two from frame to frame (the very same picture again is a frozen camera, which the
        # identity vote counts only every SAME_PICTURE_PATIENCE_S).
        "capture_obama": live_variants(kiosk_frame_jpeg(GESTURES / "composite_obama_both_arms_up.jpg"), 6),
    }


def live_variants(jpeg: bytes, count: int) -> list[bytes]:
    import cv2
    import numpy as np

    from kiosk.benchmarks.checkin import live

    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return [cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes() for frame in live(image, count)]


@pytest.fixture(scope="session")
def check_in_visit():
    """Barack Obama checking in as a live person (tests/liveness_helpers.py: his own face on his own
    body making the gestures, the exposure drifting; this site enrolled those face photos too): arms
    out with a neutral face to be identified, the O, then his smile; and the empty room when he has left. At
    640 px (identifying, confirming, smiling) and 320 px (what a message screen asks for)."""
    import cv2
    import liveness_helpers
    import numpy as np

    def at_widths(images) -> dict[int, list[bytes]]:
        return {width: [frame_jpeg(image, width) for image in images] for width in (640, 320)}

    def frame_jpeg(image, width: int) -> bytes:
        height = width * 3 // 4
        scale = min(width / image.shape[1], height / image.shape[0])
        resized = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                             interpolation=cv2.INTER_AREA)
        frame = np.full((height, width, 3), 40, dtype=np.uint8)
        top, left = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
        frame[top:top + resized.shape[0], left:left + resized.shape[1]] = resized
        return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()

    live = liveness_helpers.live_frames()
    rng = np.random.default_rng(11)
    room = [np.clip(rng.normal(level, 6, (480, 640, 3)), 0, 255).astype(np.uint8) for level in (96, 98, 97, 99)]
    return Visit(arriving=at_widths(live[("arms_out", "neutral")]), making_the_o=at_widths(live[("o", "neutral")]),
                 smiling=at_widths(live[("o", "smiling")]), empty_room=at_widths(room))
