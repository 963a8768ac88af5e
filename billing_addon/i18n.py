"""The operator's language.  Every text a user reads is marked for translation with
``_("...")`` (or ``ngettext`` for counts, ``N_`` for texts kept in module constants and
translated where they are shown) and looked up in the catalog of the *current locale*:
the locale of the user whose request this thread is serving (set by the web layer for
each request), English elsewhere (the command line, the call path, mail).

Part of the pure core: nothing here touches the database or the web."""

from __future__ import annotations

import contextlib
import contextvars
import gettext as _gettext
from typing import Iterator

LOCALES = ("en", "zh_CN", "es")
DEFAULT_LOCALE = "en"

_current: contextvars.ContextVar[str] = contextvars.ContextVar("billing_locale", default=DEFAULT_LOCALE)


def translations(locale: str) -> _gettext.NullTranslations:
    """The catalog of ``locale`` (English, the source language, is no catalog)."""
    return _gettext.NullTranslations()


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
