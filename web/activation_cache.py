"""The activation's answers as the web UI asks them on every request: may billing users
sign in, and the trial notice they see.  Each answer is kept for ``SIGN_IN_CACHE_S``
seconds so that a page does not read the license files again for each guard and
each render; ``forget`` drops them when the administrator changes the activation."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, Tuple, TypeVar

from billing_addon import settings

SIGN_IN_CACHE_S = 2.0
TRIAL_NOTICE_DAYS = 7  # billing users see the trial's end this many days ahead
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
            return False, "Licensing is not available on this box: billing users cannot sign in."
        return self._remembered("may_sign_in", self.activation.may_sign_in)

    def trial_notice(self) -> str:
        """Billing users are told a week ahead that the trial ends (after it they cannot
        sign in), so that a license can be bought in time."""
        if self.activation is None:
            return ""
        return self._remembered("trial_notice", self._ask_trial_notice)

    def forget(self) -> None:
        with self._lock:
            self._answers.clear()

    def _ask_trial_notice(self) -> str:
        status = self.activation.status()
        if (status.state == "active" and not status.licensed and status.days_left is not None
                and status.days_left <= TRIAL_NOTICE_DAYS and status.expiration is not None):
            ends = status.expiration.astimezone(settings.zone()).strftime("%Y-%m-%d %H:%M")
            return (f"The billing trial ends on {ends} ({status.days_left} day(s) left). After "
                    "that billing users cannot sign in: ask the PBX administrator to upload "
                    "a license before then.")
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
