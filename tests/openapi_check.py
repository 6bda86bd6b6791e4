"""Checking a real answer of /api/v1 against the OpenAPI description the app serves: the
operation's response for that status (or ``default``), its media type, and its JSON Schema
(2020-12, the dialect of OpenAPI 3.1), references resolved within the document."""

from __future__ import annotations

import re

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCUMENT_URI = "urn:kiosk-openapi"


def _template_matches(template: str, path: str) -> bool:
    pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
    return re.match(pattern, path) is not None


def operation_for(document: dict, method: str, path: str) -> tuple[str, dict]:
    """(template, operation) of ``path`` below the server URL (``/attendance/3``)."""
    exact = [t for t in document["paths"] if t == path]
    candidates = exact or [t for t in document["paths"] if _template_matches(t, path)]
    assert candidates, f"{path} is not described"
    template = candidates[0]
    operation = document["paths"][template].get(method.lower())
    assert operation is not None, f"{method} {template} is not described"
    return template, operation


def check_response(document: dict, method: str, path: str, response) -> None:  # noqa: ANN001 - a test response
    """Raises AssertionError (or a jsonschema ValidationError) when the answer breaks the description."""
    template, operation = operation_for(document, method, path)
    responses = operation["responses"]
    described = responses.get(str(response.status_code)) or responses.get("default")
    assert described is not None, f"{method} {template}: status {response.status_code} is not described"
    content = described.get("content", {})
    media = response.mimetype
    assert media in content, f"{method} {template} {response.status_code}: {media} is not described"
    if media != "application/json":
        return
    pointer = "/".join(["#", "paths", template.replace("/", "~1"), method.lower(), "responses",
                        str(response.status_code) if str(response.status_code) in responses else "default",
                        "content", "application~1json", "schema"])
    registry = Registry().with_resource(DOCUMENT_URI, Resource.from_contents(document,
                                                                            default_specification=DRAFT202012))
    validator = Draft202012Validator({"$ref": DOCUMENT_URI + pointer}, registry=registry,
                                     format_checker=FormatChecker())
    validator.validate(response.get_json())
