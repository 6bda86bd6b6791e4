"""The languages the kiosk speaks, and their catalogues (``kiosk/translations/<code>/LC_MESSAGES``).

English is the source language: its text is in the code and the templates. German, French and
Spanish are ``.po`` catalogues kept in the repository; ``scripts/setup.sh`` compiles them, and
:func:`compile_catalogues` (run by ``create_app``) compiles again any ``.mo`` that is missing or
older than its ``.po``, so a fresh checkout or an edited catalogue works without a step to
remember. Nothing is downloaded: the CLDR data for dates and numbers ships in Babel's wheel.

No Flask here: the check-in engine and the services get a plain ``gettext`` (:func:`gettext_for`);
the web layer picks the language (``kiosk/web/i18n.py``).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

#: Code -> the language's name in itself (what a language switch shows).
LANGUAGES: dict[str, str] = {"en": "English", "de": "Deutsch", "fr": "Français", "es": "Español"}
SOURCE_LANGUAGE = "en"
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
DOMAIN = "messages"

Gettext = Callable[[str], str]

log = logging.getLogger(__name__)


def language_code(value: object) -> str | None:
    """The supported language ``value`` names ("de", "de-DE", "DE_at"), or None."""
    if not isinstance(value, str):
        return None
    code = value.strip().replace("_", "-").split("-")[0].lower()
    return code if code in LANGUAGES else None


def catalogue_path(code: str, suffix: str = ".po") -> Path:
    return TRANSLATIONS_DIR / code / "LC_MESSAGES" / f"{DOMAIN}{suffix}"


def compile_catalogues() -> list[str]:
    """Compile each translated ``.po`` whose ``.mo`` is missing or older; returns the codes
    compiled. The file is written whole and renamed into place, so two workers starting at once
    never read half a catalogue."""
    compiled = []
    for code in LANGUAGES:
        if code == SOURCE_LANGUAGE:
            continue
        source, target = catalogue_path(code), catalogue_path(code, ".mo")
        if target.exists() and target.stat().st_mtime >= source.stat().st_mtime:
            continue
        with source.open("rb") as handle:
            catalogue = read_po(handle, locale=code)
        try:
            descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".messages-", suffix=".mo")
        except OSError as err:  # a read-only install: setup (or the image build) compiled what it has
            log.warning("The %s catalogue could not be compiled (%s); run scripts/setup.sh.", code, err)
            continue
        try:
            with os.fdopen(descriptor, "wb") as handle:
                write_mo(handle, catalogue)
            os.replace(temporary, target)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
        compiled.append(code)
    translations.cache_clear()
    return compiled


@lru_cache(maxsize=len(LANGUAGES))
def translations(code: str) -> NullTranslations:
    if code == SOURCE_LANGUAGE:
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS_DIR), [code], DOMAIN)


def gettext_for(code: str | None) -> Gettext:
    """``gettext`` in the language ``code`` (the source language for None or an unknown code)."""
    return translations(language_code(code) or SOURCE_LANGUAGE).gettext


def mark(message: str) -> str:
    """Marks ``message`` for the catalogues where it is defined; it is translated where it is shown."""
    return message
