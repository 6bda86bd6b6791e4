"""Output helpers for the JSON-lines commands (``identify``, ``gesture``, ``emotion``)."""

from __future__ import annotations

import json
import math
from typing import Any

import click


def _clean(value: Any) -> Any:
    # numpy scalars and NaN would make invalid JSON; round floats for readable lines.
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else round(value, 4)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def emit(record: dict[str, Any]) -> None:
    """Print one JSON object on its own line and flush (consumers read line by line)."""
    click.echo(json.dumps(_clean(record), ensure_ascii=False))
