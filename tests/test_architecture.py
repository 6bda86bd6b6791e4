"""The import rule of docs/architecture.md, read from the source with ``ast`` (every import
statement, including those inside functions): web -> services -> checkin -> vision, the base
modules below them all, and the check-in engine and the model wrappers free of Flask."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "kiosk"

# Higher may import lower, never the reverse. The base modules (settings, errors, tables,
# files, the site clock, the name rules, the languages) sit under every layer.
BASE = {"kiosk.config", "kiosk.errors", "kiosk.extensions", "kiosk.models", "kiosk.timekeeping_models",
        "kiosk.integration_tables", "kiosk.device_tables", "kiosk.storage", "kiosk.sitetime", "kiosk.names",
        "kiosk.gesture_vocabulary", "kiosk.languages"}
LAYERS = {"kiosk.vision": 1, "kiosk.checkin": 2, "kiosk.services": 3, "kiosk.web": 4}
TOP = 5  # the app factory (kiosk/__init__.py), the CLI and the benchmarks wire everything together
# Setup-time tools (run by `make setup` through the CLI, never by a running kiosk): they may use
# vision and the base modules; no runtime layer imports them.
SETUP_TOOLS = "kiosk.setup_tools"
RUNTIME = ("kiosk.vision", "kiosk.checkin", "kiosk.services", "kiosk.web")
FLASK_FREE = ("kiosk.vision", "kiosk.checkin", SETUP_TOOLS)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    relative = Path(*name.split("."))
    return (PACKAGE_DIR.parent / relative.with_suffix(".py")).is_file() or (
        PACKAGE_DIR.parent / relative / "__init__.py"
    ).is_file()


def imported_modules(source: str, importer: str, is_package: bool = False) -> list[tuple[str, int]]:
    """Every module ``source`` imports, as absolute names, with the line; ``from X import y`` counts
    as ``X.y`` when ``y`` is a module. Imports inside functions and classes are included."""
    package = importer if is_package else importer.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.append((candidate if is_module(candidate) else target, node.lineno))
    return found


def layer_of(name: str) -> float | None:
    """The layer of a kiosk module; None for third-party modules."""
    if name == "kiosk" or name.startswith(("kiosk.cli", "kiosk.benchmarks")):
        return TOP
    if name in BASE:
        return 0
    if name == SETUP_TOOLS or name.startswith(SETUP_TOOLS + "."):
        return LAYERS["kiosk.vision"] + 0.5  # above vision, below every other runtime layer
    for prefix, layer in LAYERS.items():
        if name == prefix or name.startswith(prefix + "."):
            return layer
    return None


def kiosk_modules() -> list[tuple[str, Path]]:
    return sorted((module_name(path), path) for path in PACKAGE_DIR.rglob("*.py"))


def upward_imports() -> list[str]:
    problems = []
    for name, path in kiosk_modules():
        mine = layer_of(name)
        assert mine is not None, f"{name} belongs to no layer: add it to docs/architecture.md and this test"
        for target, line in imported_modules(path.read_text(), name, path.name == "__init__.py"):
            theirs = layer_of(target)
            if theirs is None or theirs <= mine:
                continue
            if name.startswith("kiosk.cli") and target == "kiosk":
                continue  # the CLI registration pair: the commands get create_app, the factory registers them
            problems.append(f"{path.relative_to(PACKAGE_DIR.parent)}:{line} imports {target}")
    return problems


def forbidden_in_engine(target: str) -> bool:
    """Flask (and its extensions and werkzeug), the services and the web layer."""
    top = target.split(".")[0]
    return (
        top in ("flask", "werkzeug")
        or top.startswith("flask_")
        or target in ("kiosk.services", "kiosk.web")
        or target.startswith(("kiosk.services.", "kiosk.web."))
    )


def flask_in_engine() -> list[str]:
    problems = []
    for name, path in kiosk_modules():
        if not name.startswith(FLASK_FREE):
            continue
        for target, line in imported_modules(path.read_text(), name, path.name == "__init__.py"):
            if forbidden_in_engine(target):
                problems.append(f"{path.relative_to(PACKAGE_DIR.parent)}:{line} imports {target}")
    return problems


def test_no_module_imports_a_higher_layer():
    assert upward_imports() == []


def test_the_runtime_never_imports_the_setup_tools():
    found = [
        f"{path.relative_to(PACKAGE_DIR.parent)}:{line} imports {target}"
        for name, path in kiosk_modules()
        if name.startswith(RUNTIME)
        for target, line in imported_modules(path.read_text(), name, path.name == "__init__.py")
        if target == SETUP_TOOLS or target.startswith(SETUP_TOOLS + ".")
    ]
    assert found == []


def test_the_check_in_engine_and_the_model_wrappers_know_no_flask():
    assert flask_in_engine() == []


def test_admin_pages_use_services_not_the_json_api():
    pages = [(name, path) for name, path in kiosk_modules()
             if name == "kiosk.web.admin" or name.startswith("kiosk.web.admin.")]
    assert len(pages) > 1
    for name, path in pages:
        imported = imported_modules(path.read_text(), name, path.name == "__init__.py")
        assert [t for t, _ in imported if t.startswith("kiosk.web.api")] == [], name


MAX_MODULE_LINES = 450
# Modules still over MAX_MODULE_LINES, each with why; the list only shrinks.
LONG_MODULES = {
    "kiosk/services/import_sources.py": "over before the split into packages; its readers (folder, ZIP, CSV): the seam",
}


def line_count(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)  # what `wc -l` says, but for a last line without a newline


def test_no_module_is_longer_than_450_lines():
    """One home per concern: a module that grows past this has two concerns in it, split it."""
    too_long = {
        str(path.relative_to(PACKAGE_DIR.parent)): line_count(path)
        for _, path in kiosk_modules()
        if line_count(path) > MAX_MODULE_LINES
    }
    assert sorted(set(too_long) - set(LONG_MODULES)) == [], too_long
    # A module that got short enough leaves the list.
    assert sorted(set(LONG_MODULES) - set(too_long)) == [], too_long


REQUEST_STATE = {"flask.g", "flask.request", "flask.session", "flask.url_for"}
# Services that still reach into the request; the list only shrinks.
REQUEST_STATE_ALLOWED: set[str] = set()


def request_state_used(source: str) -> set[str]:
    """``flask.g``, ``flask.request``, ``flask.session`` and ``url_for`` as ``source`` uses them:
    imported from flask (anywhere, also inside functions) or reached as ``flask.<name>``."""
    used = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module == "flask":
            used |= {f"flask.{alias.name}" for alias in node.names} & REQUEST_STATE
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "flask":
            used |= {f"flask.{node.attr}"} & REQUEST_STATE
    return used


def test_services_do_not_reach_into_the_request():
    """Services take what a request carries as arguments: they also run from the CLI, jobs and tests."""
    offenders = {
        str(path.relative_to(PACKAGE_DIR.parent)): sorted(request_state_used(path.read_text()))
        for name, path in kiosk_modules()
        if name.startswith("kiosk.services") and request_state_used(path.read_text())
    }
    assert sorted(set(offenders) - REQUEST_STATE_ALLOWED) == [], offenders
    assert sorted(REQUEST_STATE_ALLOWED - set(offenders)) == [], "fixed: take it off REQUEST_STATE_ALLOWED"


def test_the_request_state_check_sees_each_way_in():
    for source in ("from flask import g\n", "def f():\n    from flask import url_for\n",
                   "import flask\nflask.session.clear()\n", "from flask import current_app, request\n"):
        assert request_state_used(source), source
    assert request_state_used("from flask import current_app\nimport flask\nflask.current_app\n") == set()


# (source, the module it is in, an import the checker must see)
IMPORT_EXAMPLES = (
    ("def f():\n    from ..services import recognition\n", "kiosk.checkin.pipeline", "kiosk.services.recognition"),
    ("def f():\n    import flask\n", "kiosk.vision.faces", "flask"),
    ("from flask import current_app\n", "kiosk.vision.faces", "flask"),
    ("from ...web.errors import error_response\n", "kiosk.vision.x.y", "kiosk.web.errors"),
    ("from . import machine\n", "kiosk.checkin", "kiosk.checkin.machine"),
)


def test_the_checker_sees_every_kind_of_import():
    """The rule can fail: imports inside functions, relative and ``from`` imports are all seen."""
    for source, importer, expected in IMPORT_EXAMPLES:
        found = [t for t, _ in imported_modules(source, importer, is_package=importer == "kiosk.checkin")]
        assert expected in found, (source, importer, found)


def test_what_the_engine_may_not_import():
    for target in ("flask", "flask_login", "werkzeug.exceptions", "kiosk.services.recognition", "kiosk.web"):
        assert forbidden_in_engine(target), target
    for target in ("kiosk.errors", "kiosk.vision.faces", "numpy", "flaskish"):
        assert not forbidden_in_engine(target), target
