"""The ``kiosk`` command line (a Flask CLI group; ``flask --app kiosk`` works too).

Each module in this package owns one area and exposes ``register(app)``, which adds its
commands to ``app.cli``; they are all registered by :func:`register_commands`.
``kiosk db ...`` comes from Flask-Migrate.

Conventions for commands that look at images (scripts read their output): one JSON object per line
per image (see :mod:`kiosk.cli.jsonl`); a bad image never stops the command, its line says
``bad_image``. Exit status: 0 done; 1 nothing done or refused (the command could not run, an
enrollment whose every photo was refused, an import that accepted none); 2 a usage error (click's).
"""

from __future__ import annotations

import copy
import functools
import importlib
import pkgutil

import click
from flask import Flask
from flask.cli import FlaskGroup

# SQLSTATE of PostgreSQL's "undefined table" / "undefined column"; SQLite says it in words.
_MISSING_SCHEMA_SQLSTATES = {"42P01", "42703"}
_MISSING_SCHEMA_WORDS = ("no such table", "no such column")


HELPER_MODULES = ("jsonl", "progress", "waiting")  # output helpers, no commands


def register_commands(app: Flask) -> None:
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("_") or module.name in HELPER_MODULES:
            continue
        importlib.import_module(f"{__name__}.{module.name}").register(app)
    if isinstance(app.cli.commands.get("db"), click.Group):
        app.cli.commands["db"] = OperatorDbGroup.view_of(app.cli.commands["db"])
    for name, command in app.cli.commands.items():
        # Flask-Migrate's group is how the tables are made. The command objects are the modules'
        # own, shared by every app a process creates: wrapped once, or each new app would wrap
        # them again (a test run creating a thousand apps ran out of stack in a command).
        if name != "db" and not getattr(command.invoke, "explains_missing_schema", False):
            command.invoke = _explain_missing_schema(command.invoke)


class OperatorDbGroup(click.Group):
    """``kiosk db``: Flask-Migrate's group as an operator sees it. Its help lists what running a
    site needs; the developers' commands (migrate, revision, downgrade, stamp...) and its options
    still work, they are only not listed."""

    SHOWN = ("upgrade", "current", "history")

    @classmethod
    def view_of(cls, group: click.Group) -> OperatorDbGroup:
        params = [copy.copy(param) for param in group.params]  # copies: Flask-Migrate's own stay as they are
        for param in params:
            param.hidden = True
        return cls(
            name=group.name,
            commands=group.commands,
            callback=group.callback,
            params=params,
            short_help="The database: upgrade, current, history.",
            help="The kiosk's database: `kiosk db upgrade` applies the migrations (safe to repeat); "
            "`current` and `history` say where it stands.",
            context_settings=group.context_settings,
        )

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in self.SHOWN if name in self.commands]


class KioskGroup(FlaskGroup):
    """The ``kiosk`` command: Flask's group, with only the kiosk's commands and options in its help.
    Flask's ``run``, ``shell`` and ``routes`` and its ``--app``, ``--env-file`` and ``--debug`` options
    still work (``flask --app kiosk`` shows them as usual)."""

    FLASK_COMMANDS = frozenset({"run", "shell", "routes"})

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.params = [copy.copy(param) for param in self.params]  # Flask's options are shared objects
        for param in self.params:
            if param.name in {"app", "env_file", "debug"}:
                param.hidden = True

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in super().list_commands(ctx) if name not in self.FLASK_COMMANDS]


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

    invoke_explained.explains_missing_schema = True  # type: ignore[attr-defined]
    return invoke_explained


def _create_app() -> Flask:
    from .. import create_app
    from ..config import ConfigError

    try:
        return create_app()
    except ConfigError as err:  # a setting the kiosk cannot run with: say which, no traceback
        raise click.ClickException(f"{err} Fix the setting and run the command again.") from err


@click.group(cls=KioskGroup, create_app=_create_app, add_version_option=False, load_dotenv=False)
def main() -> None:
    """Face-recognition attendance kiosk: database, people, models and reports."""
