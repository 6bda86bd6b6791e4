"""Settings of the model wrappers, read one way: the running app's config, else the environment.

``kiosk.vision`` knows no Flask. The app factory hands it a way to reach the running app's
config (:func:`read_app_config_with`); inside an app (a request, a CLI command, a test's app
context) a setting comes from that config, the same place the rest of the kiosk reads it.
Outside one (training scripts, ``kiosk bench``'s stages, notebooks) it comes from the
``KIOSK_*`` environment variable, else the default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

REPO_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"

_app_config: Callable[[], Mapping[str, Any] | None] | None = None


def read_app_config_with(app_config: Callable[[], Mapping[str, Any] | None]) -> None:
    """``app_config()`` returns the running app's config, or None when no app is running."""
    global _app_config
    _app_config = app_config


def setting(name: str, default: Any = None) -> Any:
    """``name`` from the running app's config, else from the environment, else ``default``."""
    config = _app_config() if _app_config is not None else None
    if config is not None:
        return config.get(name, default)
    value = os.environ.get(name)
    return default if value in (None, "") else value


def models_dir() -> Path:
    """Where the shipped models are (``KIOSK_MODELS_DIR``, default ``models/`` in the repo)."""
    return Path(setting("KIOSK_MODELS_DIR") or REPO_MODELS_DIR)


def data_dir() -> Path | None:
    """The site's data dir (``KIOSK_DATA_DIR``), where site-trained models live; None when unset."""
    value = setting("KIOSK_DATA_DIR")
    return Path(value) if value else None
