"""The Settings page of the billing user: currency, time zone and what happens to a call
no rate matches (``billing_addon.settings`` checks and keeps them)."""

from __future__ import annotations

from typing import Dict, List

import bottle

from billing_addon import money, settings

from . import auth
from .core import Route, WebCore, decoded


def billing_settings(ui: WebCore):
    errors: Dict[str, str] = {}
    values = settings.get_all()
    if bottle.request.method == "POST":
        form = decoded(bottle.request.forms)
        wanted = {"currency": form.get("currency", ""), "timezone": form.get("timezone", ""),
                  "unrated_policy": form.get("unrated_policy", values["unrated_policy"])}
        for key in ("hotel_name", "hotel_address", "checkout_status"):  # for statements
            wanted[key] = form.get(key, values[key])
        for key, value in wanted.items():
            try:
                settings.OPTIONS[key].check(value)
            except settings.SettingError as exc:
                errors[key] = str(exc)
        if not errors:
            for key, value in wanted.items():
                settings.put(key, value)
            ui.flash("Settings saved.")
            bottle.redirect("/settings")
        values.update(wanted)
    return ui.render("settings.tpl", http_status=400 if errors else 200, title="Settings",
                     values=values, errors=errors, currencies=money.CURRENCIES)


ROUTES: List[Route] = [
    ("/settings", ["GET", "POST"], auth.BILLING, billing_settings),
]
