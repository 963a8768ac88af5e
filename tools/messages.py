"""`make messages`: every text marked for translation in billing_addon/ and web/ (the
Python sources and the bottle templates) into billing_addon/locale/messages.pot, the
template translators start from (docs/translating.md).

Python files go through Babel's own extractor with the keywords of billing_addon.i18n
(``_``, ``ngettext``, ``N_``).  A bottle template is not Python, so ``extract_bottle``
first takes out its Python parts (the ``{{ ... }}`` expressions and the ``%`` lines),
each on the line it came from, and hands them to the same extractor."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path
from typing import Iterable, Iterator

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir, extract_python
from babel.messages.pofile import write_po

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("billing_addon", "web")
POT = ROOT / "billing_addon" / "locale" / "messages.pot"
KEYWORDS = {"_": None, "ngettext": (1, 2), "N_": None}

_EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.S)
_CODE_LINE = re.compile(r"^\s*%(?!%)(.*)$")


def template_code(text: str) -> str:
    """The Python of a bottle template, line for line: a ``%`` line's code, or the
    ``{{ }}`` expressions of a line (an expression spanning lines stays on its first)."""
    lines = text.split("\n")
    out = [""] * len(lines)
    for number, line in enumerate(lines):
        code = _CODE_LINE.match(line)
        if code:
            out[number] = code.group(1).strip()
    for match in _EXPRESSION.finditer(text):
        number = text.count("\n", 0, match.start())
        if not _CODE_LINE.match(lines[number]):
            expression = " ".join(match.group(1).split())
            out[number] = f"{out[number]}; {expression}" if out[number] else expression
    return "\n".join(out) + "\n"


def extract_bottle(fileobj, keywords, comment_tags, options) -> Iterator[tuple]:
    """A Babel extraction method for bottle templates (see the module doc)."""
    code = template_code(fileobj.read().decode(options.get("encoding", "utf-8")))
    yield from extract_python(io.BytesIO(code.encode("utf-8")), keywords, comment_tags, {})


def extract_all() -> Catalog:
    """Every marked text of the sources, with where it is used."""
    catalog = Catalog(project="billing-addon", charset="utf-8", fuzzy=False)
    method_map = [("**.py", "python"), ("**.tpl", extract_bottle)]
    for source in SOURCES:
        found: Iterable[tuple] = extract_from_dir(str(ROOT / source), method_map=method_map,
                                                  keywords=KEYWORDS, strip_comment_tags=True)
        for filename, lineno, message, comments, context in found:
            catalog.add(message, None, [(f"{source}/{filename}", lineno)],
                        auto_comments=comments, context=context)
    return catalog


def _undated(pot: bytes) -> bytes:
    return re.sub(rb'"POT-Creation-Date: [^"]*"\n', b"", pot)


def main() -> int:
    catalog = extract_all()
    out = io.BytesIO()
    write_po(out, catalog, width=100, sort_output=True)
    old = POT.read_bytes() if POT.exists() else b""
    if _undated(old) != _undated(out.getvalue()):  # only the date changed: keep the file
        POT.write_bytes(out.getvalue())
    print(f"{POT.relative_to(ROOT)}: {len(catalog)} texts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
