"""The ``kiosk`` command line (a Flask CLI group; ``flask --app kiosk`` works too).

Each module in this package owns one area and exposes ``register(app)``, which adds its
commands to ``app.cli``; they are all registered by :func:`register_commands`.
``kiosk db ...`` comes from Flask-Migrate.

Conventions for commands that look at images (BRIEF section 4): one JSON object per line
per image (see :mod:`kiosk.cli.jsonl`); a bad image never stops the command, its line says
``bad_image``; the exit status is non-zero only when the command itself could not run.
"""

from __future__ import annotations

import importlib
import pkgutil

import click
from flask import Flask
from flask.cli import FlaskGroup


def register_commands(app: Flask) -> None:
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("_") or module.name == "jsonl":
            continue
        importlib.import_module(f"{__name__}.{module.name}").register(app)


def _create_app() -> Flask:
    from .. import create_app
    from ..config import ConfigError

    try:
        return create_app()
    except ConfigError as err:  # a setting the kiosk cannot run with: say which, no traceback
        raise click.ClickException(f"{err} Fix the setting and run the command again.") from err


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False, load_dotenv=False)
def main() -> None:
    """Face-recognition attendance kiosk: database, people, models and reports."""
