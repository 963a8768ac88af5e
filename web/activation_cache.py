"""The activation's answers as the web UI asks them on every request: may billing users
sign in, and the trial notice they see.  Each answer is kept for ``SIGN_IN_CACHE_S``
seconds so that a page does not read the license files again for each guard and
each render; ``forget`` drops them when the administrator changes the activation.
What is kept is the activation's answer; the sentences are made for each request, in
its user's language (hwlicense, which stands alone, speaks English)."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, Tuple, TypeVar

from billing_addon import localefmt, settings
from billing_addon.i18n import _

SIGN_IN_CACHE_S = 2.0
TRIAL_NOTICE_DAYS = 7  # billing users see the trial's end this many days ahead
TRIAL_DAYS = 30  # hwlicense.trial.TRIAL_DAYS (web imports no licensing module)
T = TypeVar("T")


class ActivationCache:
    """Short-lived answers of an activation (``hwlicense.activation.Activation`` or a
    stand-in with the same methods; ``None`` when licensing is missing)."""

    def __init__(self, activation):
        self.activation = activation
        self._answers: Dict[str, Tuple[float, Any]] = {}  # question -> (when asked, answer)
        self._lock = threading.Lock()

    def may_sign_in(self) -> Tuple[bool, str]:
        if self.activation is None:
            return False, _("Licensing is not available on this box: billing users cannot sign in.")
        allowed, _english = self._remembered("may_sign_in", self.activation.may_sign_in)
        if allowed:
            return True, ""
        status = self._remembered("status", self.activation.status)
        if status.state == "deactivated":
            return False, _("Billing is deactivated. The PBX administrator can activate it under "
                            "Addons -> Billing -> Settings.")
        if status.expiration is None:
            return False, _("The {days}-day billing trial expired and no license is uploaded. Ask "
                            "the PBX administrator to download billing.ac under Addons -> Billing "
                            "-> Settings, get a license from the sales team and upload it."
                            ).format(days=TRIAL_DAYS)
        return False, _("The {days}-day billing trial expired on {date} and no license is "
                        "uploaded. Ask the PBX administrator to download billing.ac under Addons "
                        "-> Billing -> Settings, get a license from the sales team and upload it."
                        ).format(days=TRIAL_DAYS, date=localefmt.date(status.expiration, settings.zone()))

    def trial_notice(self) -> str:
        """Billing users are told a week ahead that the trial ends (after it they cannot
        sign in), so that a license can be bought in time."""
        if self.activation is None:
            return ""
        return self._ask_trial_notice()

    def forget(self) -> None:
        with self._lock:
            self._answers.clear()

    def _ask_trial_notice(self) -> str:
        status = self._remembered("status", self.activation.status)
        if (status.state == "active" and not status.licensed and status.days_left is not None
                and status.days_left <= TRIAL_NOTICE_DAYS and status.expiration is not None):
            ends = localefmt.datetime(status.expiration, settings.zone(), seconds=False)
            return _("The billing trial ends on {ends} ({days} day(s) left). After that billing "
                     "users cannot sign in: ask the PBX administrator to upload a license "
                     "before then.").format(ends=ends, days=status.days_left)
        return ""

    def _remembered(self, question: str, ask: Callable[[], T]) -> T:
        """The answer to ``question`` given less than ``SIGN_IN_CACHE_S`` ago, else ``ask()``'s."""
        now = time.monotonic()
        with self._lock:
            at, answer = self._answers.get(question, (0.0, None))
            if now - at < SIGN_IN_CACHE_S and at:
                return answer
        answer = ask()
        with self._lock:
            self._answers[question] = (now, answer)
        return answer
