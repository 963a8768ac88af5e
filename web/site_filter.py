"""The Site filter of the reports (Call Log, Recharge History, Statistics, Extensions)
on a store shared by several boxes (sites.py): offered only when the store has more
than one site; its value is in the query as ``site``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

import bottle

from billing_addon import sites
from billing_addon.i18n import _

if TYPE_CHECKING:  # core offers ``choices`` to every template
    from .core import WebCore


def choices() -> List[Tuple[str, str]]:
    """(value, label) of the filter's options beyond "All sites" (none: no filter shown):
    each site of the store, and the group-wide accounts."""
    names = sites.in_store()
    if len(names) < 2:
        return []
    return [(name, name) for name in names] + [(sites.GROUP_WIDE, _("Group-wide accounts"))]


def from_query(errors: Dict[str, str]) -> Optional[str]:
    """The site the query's filter chose (None: every site); a malformed one is an
    error of the ``site`` field, and filters nothing."""
    from .core import decoded

    value = decoded(bottle.request.query).get("site", "")
    try:
        return sites.chosen(value[:41])
    except ValueError:
        errors["site"] = _("unknown site {site}").format(site=repr(value[:40]))
        return None


def for_export(ui: WebCore) -> Optional[str]:
    """``from_query`` for a download: a malformed one is an error page (400)."""
    errors: Dict[str, str] = {}
    site = from_query(errors)
    if errors:
        raise ui.error_page(400, errors["site"])
    return site


def shown() -> bool:
    """Whether reports show the Site filter and column (two or more sites)."""
    return len(sites.in_store()) > 1
