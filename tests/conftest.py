"""Shared fixtures: ``app`` (testing config on a fresh data dir with the real migrations
applied), ``client``, ``runner``, ``make_person``, and paths to the real test images.

The database is built once per session by running the Alembic migrations (the same path
as ``kiosk db upgrade``) and copied for each test, so every test starts from the migrated
schema without paying for the migrations again.

Model wrappers are loaded at most once per process (they are module-level lazy
singletons), so tests that use the same model share it across the session.
"""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

import pytest
from flask import g
from flask.testing import FlaskClient

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# No webhook sender thread in apps the tests build from the environment (it would outlive their data
# dir); the webhook tests turn it on for their app, the reliability suite for its servers.
os.environ.setdefault("KIOSK_WEBHOOKS", "0")

from kiosk import create_app  # noqa: E402
from kiosk.config import TestingConfig  # noqa: E402
from kiosk.extensions import db  # noqa: E402

TESTS_DIR = Path(__file__).resolve().parent
DATA_DIR = TESTS_DIR / "data"
SHARED_DATASETS = TESTS_DIR.parent.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def migrated_db_template(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("template-db")
    app = create_app(TestingConfig(folder))
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    return folder / "kiosk.sqlite3"


# --------------------------------------------------------------------------- the `models` marker

# Fixtures that load the real models (FaceNet on TensorFlow, MediaPipe, the emotion and liveness
# networks), in this process or in a server they start: a test that uses one is a `models` test.
# `make test-fast` runs every test that is neither `models` nor `reliability`.
MODEL_FIXTURES = frozenset({
    "trained_site", "trained_app", "postgres_trained_site", "postgres_site", "one_photo_site", "enrolled_server",
})


def pytest_collection_modifyitems(config, items):
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.models)


from kiosk.vision.lazy import LazyModel  # noqa: E402

_model_uses: list[str] = []
_load_model = LazyModel.model.fget
# The gesture classifier is a small scikit-learn model read from a file in milliseconds: not what
# the marker is about.
LIGHT_MODELS = frozenset({"gesture"})


def _counted_model(self):
    if self.name not in LIGHT_MODELS:
        _model_uses.append(self.name)
    return _load_model(self)


LazyModel.model = property(_counted_model)  # type: ignore[method-assign] - counts every use in this process


@pytest.fixture(autouse=True)
def _models_marker_tells_the_truth(request):
    """A test that is not marked `models` fails if it used a real model here: `make test-fast`
    must not load one."""
    before = len(_model_uses)
    yield
    used = sorted(set(_model_uses[before:]))
    if used and request.node.get_closest_marker("models") is None:
        pytest.fail(f"this test used the real model(s) {', '.join(used)}: mark it `models` "
                    "(pytestmark = pytest.mark.models, or use a fixture of MODEL_FIXTURES)", pytrace=False)


# --------------------------------------------------------------------------- the two database engines


def pytest_generate_tests(metafunc):
    """Tests marked ``both_databases`` run once on SQLite and once on a real PostgreSQL server
    (``sqlite_only`` opts a single test of such a module out)."""
    definition = metafunc.definition
    if (
        "database_url" in metafunc.fixturenames
        and definition.get_closest_marker("both_databases")
        and not definition.get_closest_marker("sqlite_only")
    ):
        metafunc.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL cluster for the whole run (tests/postgres_server.py). Skipped with
    the reason where Debian's postgresql package is missing, except in CI, where that fails."""
    from postgres_server import start_throwaway_server

    try:
        server = start_throwaway_server()
    except LookupError as err:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{err}; CI runs the PostgreSQL tests, so the package must be installed", pytrace=False)
        pytest.skip(str(err))
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def postgres_template(postgres_server, tmp_path_factory) -> str:
    """The name of a database migrated once with the real Alembic history (``kiosk db upgrade``);
    each test gets a copy (``CREATE DATABASE ... TEMPLATE``)."""
    from flask_migrate import upgrade

    name = "kiosk_template"
    url = postgres_server.create_database(name)
    app = create_app(TestingConfig(tmp_path_factory.mktemp("pg-template"), database_url=url))
    with app.app_context():
        upgrade()
        db.session.remove()
        db.engine.dispose()
    return name


@pytest.fixture
def postgres_database(postgres_server, postgres_template):
    """A fresh, migrated PostgreSQL database for one test; its SQLAlchemy URL."""
    import uuid

    name = f"kiosk_{uuid.uuid4().hex[:12]}"
    url = postgres_server.create_database(name, template=postgres_template)
    yield url
    postgres_server.drop_database(name)


# Who the PostgreSQL site knows: fewer people than the SQLite trained site, enough to tell apart.
POSTGRES_SITE_PEOPLE = ("Colin Powell", "George W Bush", "Barack Obama")


@pytest.fixture(scope="session")
def postgres_trained_site(postgres_server, postgres_template, tmp_path_factory) -> tuple[str, Path]:
    """(database name, data dir) of a site enrolled and trained once on PostgreSQL (real photos,
    real models; POSTGRES_SITE_PEOPLE): the face model is in its database. Tests use copies."""
    from face_helpers import build_site

    name = "kiosk_trained_site"
    url = postgres_server.create_database(name, template=postgres_template)
    folder = tmp_path_factory.mktemp("pg-trained-site")
    build_site(folder, None, database_url=url, people=POSTGRES_SITE_PEOPLE)
    return name, folder


@pytest.fixture
def postgres_site(postgres_server, postgres_trained_site) -> str:
    """A private copy of the trained PostgreSQL site's database; its URL."""
    import uuid

    name = f"kiosk_site_{uuid.uuid4().hex[:12]}"
    url = postgres_server.create_database(name, template=postgres_trained_site[0])
    yield url
    postgres_server.drop_database(name)


@pytest.fixture
def database_url(request, data_dir, migrated_db_template) -> str:
    """The ``app``'s database: a copy of the migrated SQLite template in the data dir, or (for
    ``both_databases`` tests, parametrised) a fresh migrated PostgreSQL database."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return request.getfixturevalue("postgres_database")
    shutil.copy(migrated_db_template, data_dir / "kiosk.sqlite3")
    return "sqlite:///" + str(data_dir / "kiosk.sqlite3")


@pytest.fixture
def data_dir(tmp_path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


_test_kiosks = itertools.count(1)


class FreshGlobalsClient(FlaskClient):
    """A test client whose every request starts with an empty ``flask.g``, and a paired kiosk.

    The ``app`` fixture keeps an app context open so tests can use the database directly; a
    request made inside it reuses that context, so without this Flask-Login's cached user
    and Flask-WTF's CSRF token would leak from one request to the next, unlike in production.

    Kiosks must be paired (KIOSK_REQUIRE_PAIRING, on by default): the first time a client calls
    ``/api/v1/kiosk/...`` it registers a device of its own and sends its ``X-Kiosk-Token`` from
    then on, as a paired kiosk does. ``app.test_client(paired=False)`` is an unpaired browser
    (tests about pairing itself); ``client.pair()`` pairs one explicitly."""

    def __init__(self, *args, paired: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.paired = paired
        self.device_token: str | None = None
        self.device_name: str | None = None

    def pair(self, name: str | None = None) -> str:
        """Register a device for this client and send its token with every request; its token."""
        from kiosk.services.devices import register_device

        with self.application.app_context():
            device, token = register_device(name or f"Test kiosk {next(_test_kiosks)}")
            self.device_name = device.name
        self.device_token = token
        self.environ_base["HTTP_X_KIOSK_TOKEN"] = token
        return token

    def open(self, *args, **kwargs):
        path = args[0] if args and isinstance(args[0], str) else kwargs.get("path", "")
        if self.paired and self.device_token is None and isinstance(path, str) and path.startswith("/api/v1/kiosk/"):
            self.pair()
        g.__dict__.clear()
        try:
            return super().open(*args, **kwargs)
        finally:
            g.__dict__.clear()


@pytest.fixture
def app(data_dir, database_url):
    app = create_app(TestingConfig(data_dir, database_url=database_url))
    app.test_client_class = FreshGlobalsClient
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_person(app):
    """Factory: ``make_person("Ada")`` creates and commits a person."""
    from kiosk.services.people import create_person

    def factory(name: str = "Ada Lovelace", external_id: str | None = None):
        return create_person(name, external_id)

    return factory


@pytest.fixture(scope="session")
def trained_site(tmp_path_factory, migrated_db_template) -> tuple[Path, dict]:
    """(data dir, train_faces summary) of a site trained once per session on real photos
    (who: tests/face_helpers.py). Tests use a private copy through ``trained_app``."""
    from face_helpers import build_site

    folder = tmp_path_factory.mktemp("trained-face-site")
    return folder, build_site(folder, migrated_db_template)


@pytest.fixture
def trained_app(tmp_path, trained_site):
    """An app on a private copy of the trained site, inside an app context: a test may delete
    people or retrain without disturbing the others, and no test pays for enrollment again."""
    from kiosk.services import recognition

    source, _ = trained_site
    folder = tmp_path / "site"
    shutil.copytree(source, folder)
    app = create_app(TestingConfig(folder))
    app.test_client_class = FreshGlobalsClient
    with app.app_context():
        recognition.get_recognizer().invalidate()
        yield app
        # The kiosk sessions its frames opened hold pose trackers from a pool of four: give them back.
        from kiosk.checkin.sessions import registry

        registry.close_all()
        db.session.remove()
        db.engine.dispose()


from factories import ADMIN_PASSWORD  # noqa: E402 - one home for the test admin's password


@pytest.fixture
def sign_in_admin():
    """Factory: creates the admin ``admin``, signs ``client`` in through the real form (with
    its CSRF token) and returns the token the admin pages expose for API calls. Works in the app
    context the test has open (``app`` through ``client``, or ``trained_app``)."""
    import re

    from kiosk.services.accounts import create_admin

    def sign_in(client) -> str:
        create_admin("admin", ADMIN_PASSWORD)
        form_token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/auth/login").text).group(1)
        response = client.post(
            "/auth/login", data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": form_token}
        )
        assert response.status_code == 303, response.text
        return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/admin/").text).group(1)

    return sign_in


@pytest.fixture(scope="session")
def faces_data() -> Path:
    """Real face photos copied into the repo (sources in tests/data/faces/SOURCES.csv)."""
    return DATA_DIR / "faces"


@pytest.fixture(scope="session")
def playwright_instance():
    """One Playwright driver for the whole session: the sync API refuses a second one while
    the first is running, so the browser and nginx suites share this."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"{SHARED_DATASETS} is not beside the repo")
    return SHARED_DATASETS
