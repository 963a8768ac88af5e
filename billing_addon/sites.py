"""Sites: several boxes (one per property of a hotel group) on one central store.

Each box has a site name (``[store] site``); empty is a box on its own, whose rows all
have site '' (every SQLite box), so every condition below then selects what it
selected before sites existed.  The rules, each written once here as the SQL every
lookup uses:

- an extension belongs to the site of the box that made it: 1001 at two hotels is two
  extensions.  A phone is looked up by number among this site's rows and the group-wide
  accounts (``number_scope``);
- an account (PIN billing) is the site's or group-wide (site ''): a staff calling card
  usable at every property.  A number names one payer within a site: an account cannot
  take a number an extension of its site (of any site, when group-wide) has, nor the
  reverse (``number_taken``);
- a call belongs to the site of the box that saw it: a uniqueid is looked up among this
  site's calls only (``call_scope``; two boxes' Asterisk uniqueids may collide);
- a rate is shared (site '') or the site's; a box rates with its site's rates and the
  shared ones, and a site's rate replaces a shared one with the same prefix, number
  length and time block (``overlay``).

The current site is set once at start (cli, daemon, web app) from the config.  A site
name is letters, digits, '.', '_' and '-' (``parse_name``), so it is written into the
SQL as a literal: the many statements that take a list of numbers or uniqueids
(``store.sql_in``) keep their parameters as they are.
"""

from __future__ import annotations

import re
from typing import Iterable, List, Optional

from . import store

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
_current = ""


def parse_name(value: str) -> str:
    """A site name as the config and the forms take it; ValueError says what is wrong."""
    value = (value or "").strip()
    if value and not _NAME.fullmatch(value):
        raise ValueError("a site name is 1 to 40 letters, digits, '.', '_' or '-', "
                         "starting with a letter or digit")
    return value


def set_current(name: str) -> None:
    """This box's site (from ``[store] site``); '' for a box on its own."""
    global _current
    _current = parse_name(name)


def current() -> str:
    return _current


def literal(name: str) -> str:
    """``name`` (a valid site name, or '') as an SQL string literal."""
    return "'" + parse_name(name) + "'"


def _column(alias: str, column: str) -> str:
    return f"{alias}.{column}" if alias else column


def number_scope(alias: str = "") -> str:
    """The extension rows a number typed or dialed at this box may name: this site's
    extensions and accounts, and the group-wide accounts.  (The IN lets PostgreSQL use
    its (site, number) index.)"""
    site, kind = _column(alias, "site"), _column(alias, "kind")
    if not _current:
        return f"{site} = ''"
    here = literal(_current)
    return f"{site} IN ({here}, '') AND ({site} = {here} OR {kind} = 'account')"


def call_scope(alias: str = "") -> str:
    """This site's calls (a uniqueid is unique within a site)."""
    return f"{_column(alias, 'site')} = {literal(_current)}"


def rate_scope(alias: str = "") -> str:
    """The rates this box rates with: the shared ones and its site's."""
    site = _column(alias, "site")
    if not _current:
        return f"{site} = ''"
    return f"{site} IN ('', {literal(_current)})"


def report_scope(site: str, alias: str = "") -> str:
    """A report's Site filter: the rows of ``site`` (already checked by ``parse_name``);
    no condition when '' (every site)."""
    return f"{_column(alias, 'site')} = {literal(site)}" if site else ""


def clashes(site: str, kind: str) -> str:
    """The rows whose number a new row of ``kind`` ('extension' or 'account') at
    ``site`` may not take: an extension or an account of a site clashes with the rows
    of its site and the group-wide accounts; a group-wide account with every row."""
    if kind == "account" and not site:
        return "1 = 1"
    if not site:
        return "site = ''"
    return f"site IN ({literal(site)}, '') AND (site = {literal(site)} OR kind = 'account')"


def number_clash(number: str, site: str, kind: str):
    """The row (kind, site) that keeps ``number`` from a new ``kind`` at ``site``, or None."""
    return store.sql_one(f"SELECT kind, site FROM extension WHERE number = ? AND "
                         f"{clashes(site, kind)} LIMIT 1", (number,))


def in_store() -> List[str]:
    """The site names the store's extensions have ('' left out), sorted: a report
    shows its Site filter when there are two or more."""
    return sorted(row[0] for row in store.sql(
        "SELECT DISTINCT site FROM extension WHERE site != ''").fetchall())


def overlay(site_rates: Iterable, shared_rates: Iterable) -> List:
    """The rates a site rates with: its own, and the shared ones but those replaced by
    one of its own with the same prefix, number length and time block."""
    own = list(site_rates)
    replaced = {(r.prefix, r.length, r.start, r.end) for r in own if r.active}
    return own + [r for r in shared_rates
                  if (r.prefix, r.length, r.start, r.end) not in replaced]


GROUP_WIDE = "-"  # a Site filter's value for the rows of no site (group-wide accounts)


def chosen(text: str) -> Optional[str]:
    """A report's Site filter as the query has it: '' is no filter (None), '-' the rows
    of no site (''), else a site name; ValueError when it is none of them."""
    text = (text or "").strip()
    if not text:
        return None
    if text == GROUP_WIDE:
        return ""
    return parse_name(text)
