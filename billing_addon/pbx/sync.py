"""Extension sync: read the extension list from the PBX's Asterisk configuration.

Sources, chosen by file name: ``pjsip*.conf`` (sections with ``type=endpoint``,
templates resolved), ``sip*.conf`` (``type=friend|peer|user``), ``users*.conf`` (every
section but ``[general]``).  The name comes from ``callerid="Name" <1001>`` or
``fullname=``.  Only section names that look like extensions (``number_pattern``,
digits by default) count, so trunks such as ``[my-provider]`` are left out.

New extensions are added with billing off; names follow the PBX; an extension that
disappeared keeps all its data and is only marked ``missing`` (and unmarked when it
comes back).  When no file could be read nothing is marked missing.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

import peewee as pw

from .. import accounts, sites
from ..store import Extension, money_txn, now_utc

log = logging.getLogger("billing_addon.pbx.sync")

DEFAULT_PATTERN = r"^[0-9]{1,16}$"
_SECTION = re.compile(r"^\[([^\]]+)\]\s*(?:\(([^)]*)\))?")
_INCLUDE = re.compile(r'^#(try)?include\s+"?([^"]+?)"?\s*$')
_CALLERID = re.compile(r'^\s*"?([^"<]*?)"?\s*(?:<([^>]*)>)?\s*$')
MAX_DEPTH = 5


@dataclass
class Section:
    name: str
    options: Dict[str, str] = field(default_factory=dict)
    templates: List[str] = field(default_factory=list)
    is_template: bool = False


def _strip_comment(line: str) -> str:
    out, i = [], 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if ch == ";":
            break
        out.append(ch)
        i += 1
    return "".join(out).strip()


def parse_conf(path: str, depth: int = 0) -> List[Section]:
    """The sections of an Asterisk .conf file, following ``#include`` (relative paths
    are taken from the file's folder)."""
    sections: List[Section] = []
    current: Optional[Section] = None
    with open(path, encoding="utf-8", errors="replace") as fh:
        for raw in fh:
            line = _strip_comment(raw)
            if not line:
                continue
            include = _INCLUDE.match(line)
            if include:
                target = include.group(2)
                if not os.path.isabs(target):
                    target = os.path.join(os.path.dirname(path), target)
                if depth < MAX_DEPTH and os.path.exists(target):
                    sections.extend(parse_conf(target, depth + 1))
                elif not include.group(1):
                    log.warning("%s: included file %s not found", path, target)
                continue
            match = _SECTION.match(line)
            if match:
                flags = [t.strip() for t in (match.group(2) or "").split(",") if t.strip()]
                current = Section(match.group(1).strip(), is_template="!" in flags,
                                  templates=[t for t in flags if t not in ("!", "+")])
                sections.append(current)
                continue
            if current is None:
                continue
            key, sep, value = line.partition("=")
            if sep:
                current.options[key.strip().lower()] = value.lstrip(">").strip()
    return sections


def _resolve(sections: List[Section]) -> List[Tuple[Section, Dict[str, str]]]:
    """Each non-template section with its templates' options under its own."""
    by_name: Dict[str, Section] = {}
    for section in sections:
        by_name.setdefault(section.name, section)

    def options(section: Section, seen: Tuple[str, ...] = ()) -> Dict[str, str]:
        merged: Dict[str, str] = {}
        for name in section.templates:
            parent = by_name.get(name)
            if parent is not None and name not in seen:
                merged.update(options(parent, seen + (name,)))
        merged.update(section.options)
        return merged

    return [(s, options(s)) for s in sections if not s.is_template]


def caller_name(callerid: str) -> str:
    """'"Ext 1001" <1001>' -> 'Ext 1001'."""
    match = _CALLERID.match(callerid or "")
    return match.group(1).strip() if match else ""


def extensions_of(path: str) -> Dict[str, str]:
    """number -> name of the extensions one configuration file defines."""
    kind = os.path.basename(path).lower()
    found: Dict[str, str] = {}
    for section, opts in _resolve(parse_conf(path)):
        if section.name.lower() in ("general", "authentication", "global", "system"):
            continue
        type_ = opts.get("type", "").lower()
        if kind.startswith("pjsip") and type_ != "endpoint":
            continue
        if kind.startswith("sip") and type_ not in ("friend", "peer", "user"):
            continue
        name = caller_name(opts.get("callerid", "")) or opts.get("fullname", "").strip()
        found[section.name] = name or found.get(section.name, "")
    return found


@dataclass
class SyncResult:
    files_read: List[str] = field(default_factory=list)
    added: List[str] = field(default_factory=list)
    renamed: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    returned: List[str] = field(default_factory=list)


def configured_files(cfg) -> List[str]:
    """``[sync] files`` of a config; relative names are taken from the INI file's
    folder, like the config's other paths."""
    base = os.path.dirname(os.path.abspath(cfg.path)) if cfg.path else os.getcwd()
    return [f if os.path.isabs(f) else os.path.join(base, f) for f in cfg.get("sync", "files").split()]


def read_extensions(files: Iterable[str], pattern: str = DEFAULT_PATTERN) -> Tuple[Dict[str, str], List[str]]:
    wanted = re.compile(pattern)
    found: Dict[str, str] = {}
    read: List[str] = []
    for path in files:
        if not os.path.exists(path):
            continue
        try:
            for number, name in extensions_of(path).items():
                if wanted.match(number):
                    found[number] = name or found.get(number, "")
            read.append(path)
        except OSError as exc:
            log.warning("cannot read %s: %s", path, exc)
    return found, read


def sync(files: Iterable[str], pattern: str = DEFAULT_PATTERN) -> SyncResult:
    """Bring the extension list in line with the PBX configuration (see module doc)."""
    found, read = read_extensions(files, pattern)
    result = SyncResult(files_read=read)
    if not read:
        log.info("extension sync: no PBX configuration file found; nothing changed")
        return result
    existing = {e.number: e for e in Extension.select().where(pw.SQL(sites.number_scope()))}
    for number in [n for n, e in existing.items() if e.kind == "account"]:
        # an account is no phone of the PBX: never added, renamed or marked missing here
        if number in found:
            log.warning("PBX extension %s has the number of an account: its calls are "
                        "denied (account-caller) until one of them is renumbered", number)
            del found[number]
        del existing[number]
    for number, name in sorted(found.items()):
        if number not in existing:
            try:
                accounts.ensure_extension(number, name, source="pbx")
                result.added.append(number)
            except accounts.AccountError as exc:
                log.warning("extension %r not added: %s", number, exc)
    now = now_utc()
    with money_txn():
        for number, ext in existing.items():
            updates: dict = {}
            if number in found:
                name = found[number][:80]
                if name and name != ext.name:
                    updates[Extension.name] = name
                    result.renamed.append(number)
                if ext.missing:
                    updates[Extension.missing] = False
                    result.returned.append(number)
                if ext.source != "pbx":
                    updates[Extension.source] = "pbx"
            elif ext.source == "pbx" and not ext.missing:
                updates[Extension.missing] = True
                result.missing.append(number)
            if updates:
                updates[Extension.updated_utc] = now
                Extension.update(updates).where(Extension.id == ext.id).execute()
    if result.added or result.renamed or result.missing or result.returned:
        log.info("extension sync: %d added, %d renamed, %d missing, %d back",
                 len(result.added), len(result.renamed), len(result.missing), len(result.returned))
    return result
