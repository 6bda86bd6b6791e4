"""Server paths out of what the web answers.

Messages about model files and folders are written for the operator, with the file's path
(``kiosk train faces`` prints them, the log keeps them). The same text reaches an admin's
browser through an error answer or the models API, where a path tells nothing useful and maps
the server for anyone who gets hold of an admin session. So every such text passes through
:func:`hide_server_paths` on its way out: a path in the data dir is shown as
``$KIOSK_DATA_DIR/...``, one in the models dir as ``$KIOSK_MODELS_DIR/...`` (the settings an
operator knows), any other path on the server's disk by its file name only. Site paths such as
``/admin/people`` are left alone: their first folder does not exist on the disk.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath
from typing import Any

from flask import current_app

# An absolute path: a slash, then path characters up to a space, a quote or the end. Trailing
# punctuation that ends a sentence stays outside ("... in /x/y.").
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~$/-])/(?:[\w.@+-]+/)*[\w.@+-]*[\w@+-]")


def _shown(path: str, roots: list[tuple[str, str]]) -> str:
    for root, label in roots:
        if path == root or path.startswith(root + "/"):
            return label + path[len(root):]
    top = path.split("/")[1]
    if top and os.path.isdir("/" + top):
        return PurePosixPath(path).name or path
    return path


def _roots() -> list[tuple[str, str]]:
    config = current_app.config
    roots = [
        (str(config.get("KIOSK_DATA_DIR") or ""), "$KIOSK_DATA_DIR"),
        (str(config.get("KIOSK_MODELS_DIR") or ""), "$KIOSK_MODELS_DIR"),
    ]
    # The longest first, should one folder be inside the other.
    return sorted(((root.rstrip("/"), label) for root, label in roots if root), key=lambda r: -len(r[0]))


def hide_server_paths(value: Any) -> Any:
    """``value`` (text, or dicts and lists holding text) with every absolute path rewritten."""
    if isinstance(value, str):
        if "/" not in value:
            return value
        roots = _roots()
        return _ABSOLUTE_PATH.sub(lambda match: _shown(match.group(0), roots), value)
    if isinstance(value, dict):
        return {key: hide_server_paths(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [hide_server_paths(item) for item in value]
    return value
