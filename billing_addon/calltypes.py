"""Call types: what kind of number a rate (and so a call) is for.

A rate carries one type; a call keeps the type of the rate it was rated by.  Extensions
and departments may be barred from some types, and calling plans give free seconds per
type.  'free' is for numbers that must always go through (emergency); 'other' is the
type of a rate nobody typed (every rate made before call types existed).
"""

from __future__ import annotations

from typing import Dict

from .i18n import N_, _

CALL_TYPES = ("local", "national", "mobile", "international", "premium", "free", "other")
DEFAULT = "other"

LABELS: Dict[str, str] = {
    "local": N_("Local"),
    "national": N_("National"),
    "mobile": N_("Mobile"),
    "international": N_("International"),
    "premium": N_("Premium"),
    "free": N_("Free (emergency)"),
    "other": N_("Other"),
}


def is_call_type(value: str) -> bool:
    return value in LABELS


def label(call_type: str) -> str:
    """A type as the user reads it; '' (a call no rate matched) is "no rate"."""
    return _(LABELS[call_type]) if call_type in LABELS else _("no rate")
