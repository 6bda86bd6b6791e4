"""What a command waits for, told to the person at the terminal.

Loading the models (TensorFlow, MediaPipe, dlib) takes seconds on a small box; a command that
says nothing meanwhile looks stuck. The line goes to stderr and only when stderr is a terminal:
stdout stays the command's answer (JSON lines that scripts parse), and logs and pipes stay clean.
"""

from __future__ import annotations

import sys

import click


def say_waiting(what: str) -> None:
    """``Loading the face models...`` on a terminal's stderr; nothing elsewhere."""
    if _is_terminal(sys.stderr):
        click.echo(what, err=True)


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced stream
        return False


__all__ = ["say_waiting"]
