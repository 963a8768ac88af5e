"""The operator's language.  Every text a user reads is marked for translation with
``_("...")`` (or ``ngettext`` for counts, ``N_`` for texts kept in module constants and
translated where they are shown) and looked up in the catalog of the *current locale*:
the locale of the user whose request this thread is serving (set by the web layer for
each request), English elsewhere (the command line, the call path, mail).

A locale's catalog is every ``*.po`` file in ``billing_addon/locale/<locale>/`` (one file
per part of the product, so that parts can be translated apart), read once with Babel.

Part of the pure core: nothing here touches the database or the web."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import gettext as _gettext
import io
from pathlib import Path
from typing import Iterator

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LOCALES = ("en", "zh_CN", "es")
DEFAULT_LOCALE = "en"
# each language named in itself, as the language pickers show it
NAMES = {"en": "English", "zh_CN": "简体中文", "es": "Español"}

_current: contextvars.ContextVar[str] = contextvars.ContextVar("billing_locale", default=DEFAULT_LOCALE)


@functools.cache
def translations(locale: str) -> _gettext.NullTranslations:
    """The catalog of ``locale`` (English, the source language, is no catalog)."""
    files = sorted((LOCALE_DIR / locale).glob("*.po")) if locale != DEFAULT_LOCALE else []
    if not files:
        return _gettext.NullTranslations()
    merged = Catalog(locale=locale)
    for path in files:
        with path.open("rb") as po:
            for message in read_po(po, locale=locale):
                if message.id and message.string and not message.fuzzy and message.id not in merged:
                    merged[message.id] = message
    mo = io.BytesIO()
    write_mo(mo, merged)
    mo.seek(0)
    return _gettext.GNUTranslations(mo)


def current() -> str:
    return _current.get()


def set_current(locale: str) -> None:
    """Make ``locale`` this thread's language (the web layer, at the start of a request)."""
    _current.set(locale if locale in LOCALES else DEFAULT_LOCALE)


@contextlib.contextmanager
def using(locale: str) -> Iterator[None]:
    """Run a block in ``locale`` (a statement or an export made for a user)."""
    token = _current.set(locale if locale in LOCALES else DEFAULT_LOCALE)
    try:
        yield
    finally:
        _current.reset(token)


def _(message: str) -> str:
    return translations(current()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark a text for extraction only; it is translated with ``_`` where it is shown."""
    return message
