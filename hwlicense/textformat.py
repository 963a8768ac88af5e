"""The strict line format shared by billing.ac and license files.

A header line ``KIND VERSION`` then ``key: value`` lines, ASCII, each ending in LF.  A
file whose every line ends in CRLF (mail clients) is read as LF; anything else that
is not exactly this shape is refused, so a single changed byte never goes unnoticed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hwlicense.results import Code, FormatError

AC_KIND = "BILLING-AC"
LICENSE_KIND = "BILLING-LICENSE"
KIND_NAMES = {AC_KIND: "a billing.ac source file", LICENSE_KIND: "a license file"}
MAX_SIZE = 64 * 1024

_HEADER = re.compile(r"^(BILLING-[A-Z]+) ([1-9][0-9]{0,5})$")
_FIELD = re.compile(r"^([a-z][a-z0-9-]*): ([\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)$")


@dataclass(frozen=True)
class Document:
    """A parsed file: its kind, format version, fields in order, and the LF-form bytes."""

    kind: str
    version: int
    fields: tuple[tuple[str, str], ...]
    text: bytes

    def get(self, key: str) -> str:
        """The single value of ``key``; FormatError when missing or repeated."""
        values = self.all(key)
        if len(values) != 1:
            what = "missing" if not values else "repeated"
            raise FormatError(Code.MALFORMED, f"field {key!r} is {what}")
        return values[0]

    def all(self, key: str) -> list[str]:
        return [v for k, v in self.fields if k == key]


def serialize(kind: str, version: int, fields: list[tuple[str, str]]) -> bytes:
    """Render a document; values are checked so what we write we can read back."""
    lines = [f"{kind} {version}"]
    for key, value in fields:
        line = f"{key}: {value}"
        if not _FIELD.match(line):
            raise ValueError(f"field {key!r} has an unwritable value {value!r}")
        lines.append(line)
    return ("\n".join(lines) + "\n").encode("ascii")


def size_refusal(size: int, want: str) -> str:
    """Why a file of ``size`` bytes is refused: its real size and the limit."""
    shown = f"{size / 1024 / 1024:.1f} MiB" if size >= 1024 * 1024 else f"{size / 1024:.1f} KiB"
    return (f"the file is {shown} ({size} bytes); {want} is at most "
            f"{MAX_SIZE // 1024} KiB ({MAX_SIZE} bytes)")


def parse(data: bytes, expected_kind: str, supported_version: int) -> Document:
    """Parse ``data`` as ``expected_kind``; FormatError with a Code and reason otherwise.

    ``data`` must be the whole file (a reader that stops after MAX_SIZE + 1 bytes should
    report the real size itself, with ``size_refusal``)."""
    want = KIND_NAMES[expected_kind]
    if not data:
        raise FormatError(Code.EMPTY, f"the file is empty; expected {want}")
    if len(data) > MAX_SIZE:
        raise FormatError(Code.TOO_LARGE, size_refusal(len(data), want))
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise FormatError(Code.NOT_TEXT, f"the file is binary, not {want}") from None
    first, _, _ = text.partition("\n")
    header = _HEADER.match(first[:-1] if first.endswith("\r") else first)
    if header is None:
        raise FormatError(Code.UNKNOWN_FORMAT, f"the file is not {want} (unknown first line)")
    kind, version = header.group(1), int(header.group(2))
    if kind != expected_kind:
        other = KIND_NAMES.get(kind, f"a {kind} file")
        raise FormatError(Code.WRONG_KIND, f"the file is {other}, not {want}")
    if version > supported_version:
        raise FormatError(
            Code.UNSUPPORTED_VERSION,
            f"{want} of format version {version} is newer than this software "
            f"understands ({supported_version}); upgrade the billing add-on or tool",
        )
    data = _lf_form(data, want)
    text = data.decode("ascii")
    if not text.endswith("\n"):
        raise FormatError(
            Code.TRUNCATED, f"the file does not end with a line end (cut short?): {want}"
        )
    fields = []
    for number, line in enumerate(text[:-1].split("\n")[1:], start=2):
        match = _FIELD.match(line)
        if match is None:
            raise FormatError(Code.MALFORMED, f"line {number} is not 'key: value': {line[:60]!r}")
        fields.append((match.group(1), match.group(2)))
    return Document(kind, version, tuple(fields), data)


def _lf_form(data: bytes, want: str) -> bytes:
    """CRLF everywhere -> LF; a lone CR anywhere is damage."""
    if b"\r" not in data:
        return data
    if data.count(b"\r") == data.count(b"\r\n") == data.count(b"\n"):
        return data.replace(b"\r\n", b"\n")
    raise FormatError(Code.MALFORMED, "the file has stray or mixed line ends (CR characters "
                      f"outside CRLF pairs): it is not an unchanged copy of {want}")
