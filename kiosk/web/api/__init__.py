"""JSON API under /api/v1/. One module per area in this package registers its routes on
``api_bp``; every module is imported here, so adding an area is adding a file."""

from __future__ import annotations

import importlib
import pkgutil

from flask import Blueprint

api_bp = Blueprint("api", __name__, url_prefix="/api/v1")

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
