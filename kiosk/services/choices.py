"""Names chosen from a fixed list (an API token's scopes, a webhook's events), given as a list or as
text separated by commas or spaces: one check, so both refuse the same mistakes the same way."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import InvalidInput


def chosen_names(value: object, allowed: Sequence[str], *, noun: str, unknown_code: str, missing_code: str,
                 missing_message: str) -> list[str]:
    """The names in ``value``, checked against ``allowed``, de-duplicated, in ``allowed``'s order.

    Raises InvalidInput ``unknown_code`` (not a list of text, or a name not allowed) or
    ``missing_code`` (no name at all, with ``missing_message``)."""
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, (list, tuple)) or not all(isinstance(name, str) for name in value):
        raise InvalidInput(f"{noun.capitalize()}s must be a list of names.", code=unknown_code)
    wanted = [name.strip() for name in value if name.strip()]
    unknown = [name for name in wanted if name not in allowed]
    if unknown:
        raise InvalidInput(f"Unknown {noun} {unknown[0]!r}: use {', '.join(allowed)}.", code=unknown_code)
    if not wanted:
        raise InvalidInput(missing_message, code=missing_code)
    return sorted(set(wanted), key=list(allowed).index)
