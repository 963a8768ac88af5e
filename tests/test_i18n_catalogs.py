"""The translations: every text marked in the sources has a translation in every
language, with the same placeholders, and messages.pot is up to date (`make messages`)."""

import importlib.util
import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract
from babel.messages.pofile import read_po

from billing_addon import i18n

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("messages_tool", ROOT / "tools" / "messages.py")
assert _spec is not None and _spec.loader is not None
messages = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(messages)

TRANSLATED = [locale for locale in i18n.LOCALES if locale != i18n.DEFAULT_LOCALE]
_PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)(?:![rsa])?(?::[^{}]*)?\}(?!\})")


def placeholders(text: str) -> set:
    return set(_PLACEHOLDER.findall(text or ""))


def po_files(locale):
    return sorted((i18n.LOCALE_DIR / locale).glob("*.po"))


def catalog_messages(locale):
    """(file name, message) of every entry of every *.po file of ``locale``."""
    for path in po_files(locale):
        with path.open("rb") as po:
            for message in read_po(po, locale=locale):
                if message.id:
                    yield path.name, message


def forms(value):
    return list(value) if isinstance(value, (tuple, list)) else [value]


@pytest.fixture(scope="module")
def extracted():
    return messages.extract_all()


def test_the_template_extractor_finds_every_kind_of_marked_text():
    template = ('% rebase("layout.tpl")\n'
                '<p>{{_("One")}} and {{ngettext("{n} call", "{n} calls", n).format(n=n)}}</p>\n'
                '  % label = _("Two")\n'
                '<a title="{{_("Three")}}">{{\n  _("Four")}}</a> {{"not marked"}}\n')
    found = extract(messages.extract_bottle, io.BytesIO(template.encode()),
                    keywords=messages.KEYWORDS)
    assert [(line, text) for line, text, _c, _x in found] == [
        (2, "One"), (2, ("{n} call", "{n} calls")), (3, "Two"), (4, "Three"), (4, "Four")]


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_marked_text_is_translated(extracted, locale):
    merged = {}
    for _name, message in catalog_messages(locale):
        if message.string and all(forms(message.string)) and not message.fuzzy:
            merged.setdefault(message.id, message)
    missing = [message.id for message in extracted if message.id and message.id not in merged]
    assert not missing, f"{locale}: {len(missing)} texts without a translation, e.g. {missing[:5]}"


@pytest.mark.parametrize("locale", TRANSLATED)
def test_translations_keep_the_placeholders(locale):
    wrong = []
    for name, message in catalog_messages(locale):
        wanted = set().union(*(placeholders(text) for text in forms(message.id)))
        got = [placeholders(text) for text in forms(message.string) if text]
        if got and set().union(*got) != wanted or any(not g <= wanted for g in got):
            wrong.append((name, message.id))
    assert not wrong, f"{locale}: placeholders differ in {wrong[:5]}"


@pytest.mark.parametrize("locale", TRANSLATED)
def test_a_text_in_two_files_has_one_translation(locale):
    seen, differ = {}, []
    for name, message in catalog_messages(locale):
        if message.id in seen and seen[message.id] != message.string:
            differ.append((name, message.id))
        seen.setdefault(message.id, message.string)
    assert not differ, f"{locale}: one text, two translations: {differ[:5]}"


def test_messages_pot_is_up_to_date(extracted):
    with messages.POT.open("rb") as pot:
        committed = {message.id for message in read_po(pot) if message.id}
    current = {message.id for message in extracted if message.id}
    assert committed == current, (
        f"billing_addon/locale/messages.pot is out of date: run `make messages` "
        f"(new: {sorted(current - committed, key=str)[:5]}, "
        f"gone: {sorted(committed - current, key=str)[:5]})")


def test_the_placeholder_check_can_fail():
    assert placeholders("Recharged {count} extensions with {amount}") == {"count", "amount"}
    assert placeholders("{{literal}} {x!r} {y:>4}") == {"x", "y"}
