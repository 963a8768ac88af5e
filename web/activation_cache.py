"""The activation's answers as the web UI asks them on every request: may billing users
sign in, and the trial notice they see.  Each answer is kept for ``SIGN_IN_CACHE_S``
seconds so that a page does not read the license files again for each guard and
each render; ``forget`` drops them when the administrator changes the activation."""

from __future__ import annotations

import threading
import time
from typing import Tuple

from billing_addon import settings

SIGN_IN_CACHE_S = 2.0
TRIAL_NOTICE_DAYS = 7  # billing users see the trial's end this many days ahead


class ActivationCache:
    """Short-lived answers of an activation (``hwlicense.activation.Activation`` or a
    stand-in with the same methods; ``None`` when licensing is missing)."""

    def __init__(self, activation):
        self.activation = activation
        self._sign_in: Tuple[float, Tuple[bool, str]] = (0.0, (True, ""))
        self._notice: Tuple[float, str] = (0.0, "")
        self._lock = threading.Lock()

    def may_sign_in(self) -> Tuple[bool, str]:
        if self.activation is None:
            return False, "Licensing is not available on this box: billing users cannot sign in."
        now = time.monotonic()
        with self._lock:
            at, answer = self._sign_in
            if now - at < SIGN_IN_CACHE_S and at:
                return answer
        answer = self.activation.may_sign_in()
        with self._lock:
            self._sign_in = (now, answer)
        return answer

    def trial_notice(self) -> str:
        """Billing users are told a week ahead that the trial ends (after it they cannot
        sign in), so that a license can be bought in time."""
        if self.activation is None:
            return ""
        now = time.monotonic()
        with self._lock:
            at, notice = self._notice
            if now - at < SIGN_IN_CACHE_S and at:
                return notice
        status = self.activation.status()
        notice = ""
        if (status.state == "active" and not status.licensed and status.days_left is not None
                and status.days_left <= TRIAL_NOTICE_DAYS and status.expiration is not None):
            ends = status.expiration.astimezone(settings.zone()).strftime("%Y-%m-%d %H:%M")
            notice = (f"The billing trial ends on {ends} ({status.days_left} day(s) left). After "
                      "that billing users cannot sign in: ask the PBX administrator to upload "
                      "a license before then.")
        with self._lock:
            self._notice = (now, notice)
        return notice

    def forget(self) -> None:
        with self._lock:
            self._sign_in = (0.0, (True, ""))
            self._notice = (0.0, "")
