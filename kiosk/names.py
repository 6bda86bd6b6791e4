"""The rules for people's names (and their external ids): how typed text is cleaned, what is
refused, and when two names are the same person. No Flask here: the people service, the CLI and
the database model all use these functions.

A name is what the kiosk says on screen and what the reports print, typed (or pasted) by an
admin, so:

* it is Unicode NFC (one code point sequence per written form: "é" is one character);
* any run of whitespace (spaces, tabs, line breaks, no-break spaces) becomes one space, and the
  ends are trimmed;
* invisible formatting characters are **removed**: zero-width spaces and joiners, the word
  joiner, byte-order marks, soft hyphens, left-to-right/right-to-left marks, embeddings,
  overrides and isolates (Unicode category Cf). They come in with copy and paste, change
  nothing a person sees, and make two names that look the same differ;
* control characters (NUL, BEL, ESC, DEL and the like), unassigned and private-use code points
  are **refused**: they are never part of a name and some would draw on a terminal or a CSV;
* one word may not mix Latin, Greek and Cyrillic letters: the look-alike letters of those
  alphabets ("Jоe" with a Cyrillic "о") make a second person look like the first;
* two names are the **same person** when their :func:`name_key` is equal: compatibility forms
  and case folded ("JOE BIDEN", "Ｊｏｅ Ｂｉｄｅｎ" and "Joe Biden" are one name).
"""

from __future__ import annotations

import unicodedata

from .errors import InvalidInput

MAX_NAME_LENGTH = 120  # Person.name is String(120)
MAX_EXTERNAL_ID_LENGTH = 64  # Person.external_id is String(64)
MAX_NAME_KEY_LENGTH = 255  # Person.name_key is String(255); a few characters expand under NFKC

_WHITESPACE_CONTROLS = frozenset("\t\n\v\f\r\x85")
_LOOKALIKE_SCRIPTS = ("LATIN", "GREEK", "CYRILLIC")


def _code(ch: str) -> str:
    return f"U+{ord(ch):04X}"


_REFUSED = {
    "Cc": "a control character",
    "Cn": "an unassigned character",
    "Co": "a private-use character",
    "Cs": "a lone surrogate",
}


def clean_text(value: object, what: str, *, max_length: int, code: str, too_long_code: str) -> str:
    """``value`` cleaned by the rules above, or InvalidInput saying what is wrong (``code``, or
    ``too_long_code`` past ``max_length``). ``what`` names the field for the message ("A name")."""
    if value is not None and not isinstance(value, str):
        # JSON may carry a list, a number or NaN where text belongs: refuse, never str() it.
        raise InvalidInput(f"{what} must be text.", code=code)
    kept: list[str] = []
    for ch in unicodedata.normalize("NFC", value or ""):
        category = unicodedata.category(ch)
        if ch in _WHITESPACE_CONTROLS or category in ("Zs", "Zl", "Zp"):
            kept.append(" ")
        elif category == "Cf":
            continue  # invisible formatting: dropped (see the module docstring)
        elif category in _REFUSED:
            raise InvalidInput(
                f"{what} contains {_REFUSED[category]} ({_code(ch)}), which cannot be part of it; "
                "type it again without it.",
                code=code,
            )
        else:
            kept.append(ch)
    text = unicodedata.normalize("NFC", " ".join("".join(kept).split()))
    if len(text) > max_length:
        raise InvalidInput(f"{what} is at most {max_length} characters.", code=too_long_code)
    return text


def _check_one_alphabet_per_word(name: str) -> None:
    for word in name.split(" "):
        scripts = {
            script
            for ch in word
            if ch.isalpha() and (script := unicodedata.name(ch, "").split(" ")[0]) in _LOOKALIKE_SCRIPTS
        }
        if len(scripts) > 1:
            mixed = " and ".join(sorted(s.title() for s in scripts))
            raise InvalidInput(
                f"The word {word!r} mixes {mixed} letters, which look alike but are different: "
                "type it again in one alphabet.",
                code="mixed_scripts",
            )


def clean_name(value: object) -> str:
    """A person's name by the rules above; InvalidInput (``invalid_name``, ``missing_name``,
    ``name_too_long``, ``mixed_scripts``) otherwise."""
    name = clean_text(value, "A name", max_length=MAX_NAME_LENGTH, code="invalid_name", too_long_code="name_too_long")
    if not name:
        raise InvalidInput("A person needs a name.", code="missing_name")
    if len(name_key(name)) > MAX_NAME_KEY_LENGTH:
        raise InvalidInput(f"A name is at most {MAX_NAME_LENGTH} characters.", code="name_too_long")
    _check_one_alphabet_per_word(name)
    return name


def clean_external_id(value: object) -> str | None:
    """An external id (staff number, badge id) by the same rules, at most 64 characters; None if blank."""
    text = clean_text(value, "An external id", max_length=MAX_EXTERNAL_ID_LENGTH, code="invalid_external_id",
                      too_long_code="external_id_too_long")
    return text or None


def name_key(name: str) -> str:
    """What two names must share to be the same person: NFKC with case folded (Unicode's
    NFKC_Casefold, less its removal of ignorables, which :func:`clean_name` already dropped)."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return unicodedata.normalize("NFKC", folded)
