"""The PBX administrator's area (Addons -> Billing): Settings, with the Activate Billing
switch, System Information, the billing.ac download and the license upload; and the
Billing Manager, which creates billing users, sets their passwords and disables them."""

from __future__ import annotations

from typing import List

import bottle

from billing_addon import departments, i18n, settings, settle_queue, store
from billing_addon.i18n import N_, _

from . import auth, roles
from .core import Route, WebCore, decoded
from .exports import attachment

# -- Settings: activation and license ------------------------------------------------------


def admin_home(ui: WebCore):
    bottle.redirect("/admin/settings")


def admin_settings(ui: WebCore):
    status = ui.activation.status() if ui.activation is not None else None
    return ui.render("admin_settings.tpl", title=_("Billing Settings"), status=status,
                     max_upload_kb=ui.max_upload // 1024, damaged=list(store.damaged),
                     settlements=settle_queue.status())


def _licensing(ui: WebCore):
    """The activation, or a 503 error page when licensing is missing on this box."""
    if ui.activation is None:
        raise ui.error_page(503, _("Licensing is not available on this box."))
    return ui.activation


def admin_activation(ui: WebCore):
    activation = _licensing(ui)
    on = decoded(bottle.request.forms).get("activate") == "1"
    try:
        status = activation.activate() if on else activation.deactivate()
    except Exception as exc:  # noqa: BLE001 - e.g. the device cannot be identified
        ui.flash(_("Billing was not activated: {reason}").format(reason=exc), "error")
        bottle.redirect("/admin/settings")
    ui.forget_activation()
    if on:
        if not status.activated:  # refused: no trial could start (the reason says why)
            ui.flash(_("Billing was not activated: {reason}.").format(
                reason=getattr(status, "trial_problem", None)), "error")
        elif status.licensed:
            ui.flash(_("Billing activated (licensed: Never Expires)."))
        elif status.state == "expired":
            ui.flash(_("Billing is switched on, but the trial has expired: upload a license "
                       "to let billing users sign in."), "error")
        else:
            ui.flash(_("Billing activated. Trial: {days} day(s) left.").format(days=status.days_left))
    else:
        ui.flash(_("Billing deactivated: no call is billed or blocked, billing users cannot "
                   "sign in."))
    bottle.redirect("/admin/settings")


def admin_billing_ac(ui: WebCore):
    activation = _licensing(ui)
    try:
        data = activation.billing_ac()
    except Exception as exc:  # noqa: BLE001 - identity errors vary by board
        ui.flash(_("The billing source file could not be made: {reason}").format(reason=exc), "error")
        bottle.redirect("/admin/settings")
    attachment("billing.ac", "application/octet-stream")
    return data


# hwlicense's refusals by code (hwlicense.results.Code), for the languages other than
# English; English keeps hwlicense's own wording, the one its command line prints
LICENSE_REFUSALS = {
    "empty": N_("the file is empty"),
    "too-large": N_("the file is too large"),
    "not-text": N_("the file is not a license"),
    "unknown-format": N_("the file is not a license"),
    "wrong-kind": N_("the file is a billing.ac, not a license"),
    "unsupported-version": N_("the license is of a newer format than this add-on reads"),
    "malformed": N_("the license file is damaged or cut short"),
    "truncated": N_("the license file is damaged or cut short"),
    "checksum": N_("the license file is damaged or cut short"),
    "no-trusted-keys": N_("the license is not signed by a trusted key"),
    "unknown-key": N_("the license is not signed by a trusted key"),
    "bad-signature": N_("the license is not signed by a trusted key"),
    "wrong-product": N_("the license is for another product"),
    "wrong-model": N_("the file is not a valid license for this device"),
    "wrong-device": N_("the file is not a valid license for this device"),
    "policy": N_("the file is not a valid license for this device"),
    "no-feature": N_("the license does not include billing"),
    "no-identity": N_("the identity of this device could not be read"),
    "storage": N_("the license could not be stored on this device"),
}


def _refusal_reason(result: object) -> str:
    """hwlicense's reason without its own "license refused:" (the flash says it once)."""
    code = getattr(result, "code", None)
    code = getattr(code, "value", code)  # a Code, a str enum
    if i18n.current() != i18n.DEFAULT_LOCALE and code in LICENSE_REFUSALS:
        return _(LICENSE_REFUSALS[code])
    reason = (getattr(result, "reason", "") or "").strip()
    if reason.lower().startswith("license refused:"):
        reason = reason[len("license refused:"):].strip()
    return reason.rstrip(".") or _("the file is not a valid license for this device")


def admin_license(ui: WebCore):
    activation = _licensing(ui)
    upload = bottle.request.files.get("license")
    if upload is None:
        ui.flash(_("Choose the license file to upload."), "error")
        bottle.redirect("/admin/settings")
    data = upload.file.read(ui.max_upload + 1)
    if len(data) > ui.max_upload:
        ui.flash(_("License refused: the file is larger than {kb} KB.").format(kb=ui.max_upload // 1024),
                 "error")
        bottle.redirect("/admin/settings")
    result = activation.upload_license(data)
    ui.forget_activation()
    if getattr(result, "ok", False):
        ui.flash(_("License uploaded and verified. Time of expiration: Never Expires."))
    else:
        reason = _refusal_reason(result)
        ui.flash(_("License refused: {reason}. Nothing was changed.").format(reason=reason), "error")
    bottle.redirect("/admin/settings")


# -- Billing Manager: the bill-xxx users ----------------------------------------------------


def _users_page(ui: WebCore, created=None, errors=None, confirm_random: str = "",
                http_status: int = 200):
    """The Billing Manager's list; ``created`` is (user name, password) to show once;
    ``confirm_random`` the user whose new random password awaits confirmation."""
    return ui.render("admin_users.tpl", http_status=http_status, title=_("Billing Manager"),
                     users=auth.list_users(), errors=errors or {}, created=created,
                     language_names=i18n.NAMES, box_default=settings.get("language"),
                     confirm_random=confirm_random, role_labels=roles.ROLE_LABELS,
                     all_departments=departments.choices(), managed=departments.managers())


def admin_users(ui: WebCore):
    session = ui.session()
    created = None
    if session is not None:  # a password made by the POST before the redirect: shown once
        created, session.shown_once = session.shown_once, None
    return _users_page(ui, created=created)


def _show_once(ui: WebCore, username: str, password: str) -> None:
    """Redirect to the list, which shows the new password once: reloading it neither
    repeats the action nor shows the password again."""
    session = ui.session()
    if session is not None:
        session.shown_once = (username, password)
    bottle.redirect("/admin/users")


def admin_user_add(ui: WebCore):
    try:
        role = decoded(bottle.request.forms).get("role", auth.BILLING)
        user, password = auth.create_billing_user(role=role)
    except auth.AuthError as exc:
        ui.flash(str(exc), "error")
        bottle.redirect("/admin/users")
    ui.flash(_("Billing user {user} created.").format(user=user.username))
    _show_once(ui, user.username, password)


def admin_user_password(ui: WebCore):
    form = decoded(bottle.request.forms)
    username = form.get("username", "")
    new = form.get("password", "")
    if not new and form.get("random") != "1":  # an empty field: ask before resetting
        if auth.get_user(username) is None:
            return _users_page(ui, errors={username: _("no such billing user")}, http_status=400)
        return _users_page(ui, confirm_random=username)
    try:
        password = auth.set_password(username, new or None)
    except auth.AuthError as exc:
        return _users_page(ui, errors={username: str(exc)}, http_status=400)
    ui.sessions.drop_user(username)
    ui.flash(_("Password of {user} changed.").format(user=username))
    if new:
        bottle.redirect("/admin/users")
    _show_once(ui, username, password)


def admin_user_locale(ui: WebCore):
    """The administrator sets a billing user's language (empty: the box's default)."""
    form = decoded(bottle.request.forms)
    username, chosen = form.get("username", ""), form.get("locale", "").strip()
    try:
        auth.set_locale(username, chosen or None)
    except auth.AuthError as exc:
        return _users_page(ui, errors={username: str(exc)}, http_status=400)
    ui.flash(_("Language of {user} saved.").format(user=username))
    bottle.redirect("/admin/users")


def admin_user_role(ui: WebCore):
    """The administrator sets a billing user's role and, for a department manager, the
    departments they manage; the user's sessions end (the next sign-in has the new role)."""
    form = decoded(bottle.request.forms)
    username, role = form.get("username", ""), form.get("role", "")
    try:
        chosen = [departments.parse_id(d) for d in form.getall("department")] if role == auth.MANAGER else []
        with store.money_txn():  # a refused department leaves the role as it was too
            user = auth.set_role(username, role)
            departments.set_managed(user.id, chosen)
    except (auth.AuthError, departments.DepartmentError) as exc:
        return _users_page(ui, errors={username: str(exc)}, http_status=400)
    ui.sessions.drop_user(username)
    ui.flash(_("Role of {user} saved: {role}.").format(user=username, role=_(roles.ROLE_LABELS[role])))
    bottle.redirect("/admin/users")


def admin_user_enabled(ui: WebCore):
    form = decoded(bottle.request.forms)
    username = form.get("username", "")
    enabled = form.get("enabled") == "1"
    try:
        auth.set_enabled(username, enabled)
    except auth.AuthError as exc:
        ui.flash(str(exc), "error")
        bottle.redirect("/admin/users")
    if not enabled:
        ui.sessions.drop_user(username)
    done = _("Billing user {user} enabled.") if enabled else _("Billing user {user} disabled.")
    ui.flash(done.format(user=username))
    bottle.redirect("/admin/users")


ROUTES: List[Route] = [
    ("/admin", "GET", auth.ADMIN, admin_home),
    ("/admin/settings", "GET", auth.ADMIN, admin_settings),
    ("/admin/activation", "POST", auth.ADMIN, admin_activation),
    ("/admin/billing.ac", "GET", auth.ADMIN, admin_billing_ac),
    ("/admin/license", "POST", auth.ADMIN, admin_license),
    ("/admin/users", "GET", auth.ADMIN, admin_users),
    ("/admin/users/add", "POST", auth.ADMIN, admin_user_add),
    ("/admin/users/password", "POST", auth.ADMIN, admin_user_password),
    ("/admin/users/enabled", "POST", auth.ADMIN, admin_user_enabled),
    ("/admin/users/locale", "POST", auth.ADMIN, admin_user_locale),
    ("/admin/users/role", "POST", auth.ADMIN, admin_user_role),
]
