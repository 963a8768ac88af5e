"""Low balance: which extensions are below their threshold, the alert e-mail once per
crossing, and the outbox that sends it through the SMTP server set in Settings.

Nothing here runs on the call path: authorize only compares the balance it already read
(calls.py).  The daemon's mail thread calls ``queue_alerts`` and ``send_due``; a mail
that fails is tried again with back-off (``BACKOFF``) and its error shows in Settings.
"""

from __future__ import annotations

import importlib
import logging
import socket
import sys
from email.message import EmailMessage
from types import ModuleType
from typing import Dict, List, Optional, Tuple

from . import money, settings
from .i18n import _
from .store import MailOutbox, money_txn, now_utc, sql, sql_one

log = logging.getLogger("billing_addon.lowbalance")

SMTP_TIMEOUT = 10.0  # seconds for every SMTP connect/read: a hanging server is given up
BACKOFF = (60, 300, 900, 3600)  # seconds before the next try, by attempts made (last repeats)
BATCH = 10  # mails sent per round at most


# the threshold of an extension: its own, else the Settings default (NULL: off)
_LOW = ("billing_enabled = 1 AND balance < COALESCE(low_balance_threshold, ?)")


def default_threshold() -> Optional[int]:
    return settings.threshold_units(settings.get("low_balance_threshold"))


def low_condition() -> Tuple[str, tuple]:
    """SQL condition on ``extension`` for "below its threshold", and its parameters."""
    return _LOW, (default_threshold(),)


def low_count() -> int:
    condition, params = low_condition()
    return sql_one(f"SELECT COUNT(*) FROM extension WHERE {condition}", params)[0]


def _alert_body(rows: List[tuple], currency: str) -> str:
    lines = ["These extensions fell below their low-balance threshold:", ""]
    for number, name, balance, threshold in rows:
        lines.append(f"  {number} {name}: balance {money.format_amount(balance, currency)}, "
                     f"threshold {money.format_amount(threshold, currency)}")
    lines += ["", "Recharge them on the Extensions page of the billing add-on."]
    return "\n".join(lines)


_CROSSED = ("SELECT id, number, name, balance, COALESCE(low_balance_threshold, ?) "
            f"FROM extension WHERE {_LOW} AND low_alerted_utc IS NULL ORDER BY number")
_BACK_ABOVE = ("SELECT id FROM extension WHERE low_alerted_utc IS NOT NULL "
               f"AND NOT COALESCE({_LOW}, 1 = 0)")


def queue_alerts(at: Optional[int] = None) -> int:
    """Queue one e-mail for the extensions that crossed below their threshold since the
    last round, and re-arm those back at or above it.  Returns how many crossed.  A
    round with nothing to do writes nothing (it runs every few seconds)."""
    at = now_utc() if at is None else at
    default = default_threshold()
    if not (sql(_CROSSED, (default, default)).fetchone() or sql(_BACK_ABOVE, (default,)).fetchone()):
        return 0
    with money_txn():
        crossed = sql(_CROSSED, (default, default)).fetchall()
        back = [row[0] for row in sql(_BACK_ABOVE, (default,)).fetchall()]
        if back:
            sql("UPDATE extension SET low_alerted_utc = NULL WHERE id IN ({})".format(
                ",".join("?" * len(back))), tuple(back))
        if not crossed:
            return 0
        sql("UPDATE extension SET low_alerted_utc = ? WHERE id IN ({})".format(
            ",".join("?" * len(crossed))), (at,) + tuple(row[0] for row in crossed))
        recipients = settings.get("alert_emails")
        if recipients:  # no address: the crossing is noted all the same, nobody is told
            subject = (f"Low balance: extension {crossed[0][1]}" if len(crossed) == 1
                       else f"Low balance: {len(crossed)} extensions")
            body = _alert_body([row[1:] for row in crossed], settings.get("currency"))
            MailOutbox.create(recipients=recipients, subject=subject, body=body,
                              created_utc=at, next_try_utc=at)
    return len(crossed)


def smtp_settings() -> Dict[str, str]:
    """The SMTP settings, the password included (never for display)."""
    values = settings.get_all()
    values["smtp_password"] = settings.get("smtp_password")
    return values


def send(recipients: str, subject: str, body: str, conf: Optional[Dict[str, str]] = None,
         timeout: float = SMTP_TIMEOUT) -> None:
    """Send one e-mail now; raises ``MailError`` with a one-line reason."""
    conf = conf or smtp_settings()
    host, port, security = conf["smtp_host"], int(conf["smtp_port"]), conf["smtp_security"]
    to = settings.addresses(recipients)
    if not host:
        raise MailError(_("no SMTP server is set in Settings"))
    if not to:
        raise MailError(_("no recipient address"))
    message = EmailMessage()
    message["From"] = conf["smtp_from"] or conf["smtp_user"] or f"billing@{socket.gethostname()}"
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message.set_content(body)
    smtplib = _smtplib(tls=security != "none")
    try:
        if security == "tls":
            client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=_tls_context())
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            if security == "starttls":
                client.starttls(context=_tls_context())
            if conf["smtp_user"]:
                client.login(conf["smtp_user"], conf["smtp_password"])
            client.send_message(message, to_addrs=to)
    except (smtplib.SMTPException, OSError, ValueError) as exc:
        raise MailError(_reason(smtplib, exc)) from None


def _smtplib(tls: bool) -> ModuleType:
    """smtplib, with TLS when asked.  ``billing-addon serve`` keeps the ssl module out
    of the process (pbx/cli.py, ~5 MB); mail over STARTTLS/TLS lets it in, and smtplib,
    which looks for ssl when first imported, is loaded again to see it."""
    if tls and "ssl" in sys.modules and sys.modules["ssl"] is None:
        del sys.modules["ssl"]
    import smtplib

    if tls and not getattr(smtplib, "_have_ssl", False):
        smtplib = importlib.reload(smtplib)
    return smtplib


def _tls_context():
    import ssl

    return ssl.create_default_context()


def _reason(smtplib: ModuleType, exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(
            exc.smtp_error, bytes) else str(exc.smtp_error)
        return _("the server answered {code} {text}").format(code=exc.smtp_code, text=text)[:200]
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return _("the server refused every recipient")
    if isinstance(exc, (socket.timeout, TimeoutError)) or "timed out" in str(exc):
        return _("the server did not answer in time")
    return (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:200]


class MailError(Exception):
    """An e-mail that could not be sent; the message says why (one line)."""


def backoff(attempts: int) -> int:
    return BACKOFF[min(attempts, len(BACKOFF)) - 1] if attempts > 0 else 0


def send_due(at: Optional[int] = None, timeout: float = SMTP_TIMEOUT) -> Tuple[int, int]:
    """Send the queued e-mails that are due.  Returns (sent, failed)."""
    at = now_utc() if at is None else at
    due = list(MailOutbox.select().where(MailOutbox.sent_utc.is_null(),
                                         MailOutbox.next_try_utc <= at)
               .order_by(MailOutbox.id).limit(BATCH))
    sent = failed = 0
    conf = smtp_settings() if due else {}
    for mail in due:
        try:
            send(mail.recipients, mail.subject, mail.body, conf, timeout)
        except MailError as exc:
            failed += 1
            attempts = mail.attempts + 1
            log.warning("low-balance e-mail %d not sent (attempt %d): %s", mail.id, attempts, exc)
            with money_txn():
                MailOutbox.update(attempts=attempts, last_error=str(exc),
                                  next_try_utc=at + backoff(attempts)).where(
                    MailOutbox.id == mail.id).execute()
            continue
        sent += 1
        with money_txn():
            MailOutbox.update(sent_utc=at, attempts=mail.attempts + 1, last_error="").where(
                MailOutbox.id == mail.id).execute()
    return sent, failed


def failures(limit: int = 10) -> List[MailOutbox]:
    """Queued e-mails whose last try failed, newest first (shown in Settings)."""
    return list(MailOutbox.select().where(MailOutbox.sent_utc.is_null(),
                                          MailOutbox.last_error != "")
                .order_by(MailOutbox.id.desc()).limit(limit))
