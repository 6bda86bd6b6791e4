"""The ``kiosk`` command line (a Flask CLI group; ``flask --app kiosk`` works too).

Each module in this package owns one area and exposes ``register(app)``, which adds its
commands to ``app.cli``; they are all registered by :func:`register_commands`.
``kiosk db ...`` comes from Flask-Migrate.

Conventions for commands that look at images (BRIEF section 4): one JSON object per line
per image (see :mod:`kiosk.cli.jsonl`); a bad image never stops the command, its line says
``bad_image``; the exit status is non-zero only when the command itself could not run.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

import click
from flask import Flask
from flask.cli import FlaskGroup

# SQLSTATE of PostgreSQL's "undefined table" / "undefined column"; SQLite says it in words.
_MISSING_SCHEMA_SQLSTATES = {"42P01", "42703"}
_MISSING_SCHEMA_WORDS = ("no such table", "no such column")


HELPER_MODULES = ("jsonl", "progress")  # output helpers, no commands


def register_commands(app: Flask) -> None:
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("_") or module.name in HELPER_MODULES:
            continue
        importlib.import_module(f"{__name__}.{module.name}").register(app)
    for name, command in app.cli.commands.items():
        if name != "db":  # Flask-Migrate's group is how the tables are made
            command.invoke = _explain_missing_schema(command.invoke)


def is_missing_schema(err: Exception) -> bool:
    """A database error that means the tables are not there (or are older than this code)."""
    original = getattr(err, "orig", None)
    if getattr(original, "sqlstate", None) in _MISSING_SCHEMA_SQLSTATES:
        return True
    return any(words in str(original or err).lower() for words in _MISSING_SCHEMA_WORDS)


def _explain_missing_schema(invoke):
    """Every command (but ``kiosk db``) answers a database that was never migrated with what to
    do, not a traceback; ``flask --app kiosk ...`` goes through here too."""

    @functools.wraps(invoke)
    def invoke_explained(ctx: click.Context):
        from sqlalchemy.exc import OperationalError, ProgrammingError

        try:
            return invoke(ctx)
        except (OperationalError, ProgrammingError) as err:
            if not is_missing_schema(err):
                raise
            raise click.ClickException(
                "The kiosk's database has no tables yet (or older ones than this version needs): "
                "run `kiosk db upgrade` first, then this command again."
            ) from None

    return invoke_explained


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
