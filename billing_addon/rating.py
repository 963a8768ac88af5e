"""Rating: which rate applies to a call, what it costs, how long the money lasts.

Pure functions over small immutable types; no database, web or serial imports (``make
check`` enforces that).  Money is ``int`` minor units (see ``money``), time is whole
seconds.

Choosing among the rates that apply (active, assigned to the extension, prefix starts
the dialed number, length matches or is 0, call start inside the time block), the most
specific wins, in this order:

1. the longest prefix;
2. an exact number length before length 0 ("any");
3. the shorter time block (a night rate 22:00-06:00 beats an all-day rate);
4. a rate assigned to the extension by name before a rate for all extensions;
5. the lowest rate id (the older rate).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional, Sequence, Union

DAY_SECONDS = 86400


@dataclass(frozen=True)
class Rate:
    id: int
    prefix: str
    length: int = 0
    initial_cost: int = 0
    initial_time: int = 0
    rate: int = 0
    unit: int = 60
    start: int = 0  # seconds of day, inclusive
    end: int = DAY_SECONDS  # seconds of day, exclusive; end < start wraps midnight
    extensions: frozenset = field(default_factory=frozenset)
    all_extensions: bool = False
    active: bool = True
    remarks: str = ""
    call_type: str = "other"  # see calltypes.py

    def applies_to(self, extension: str) -> bool:
        return self.all_extensions or extension in self.extensions

    def in_block(self, second_of_day: int) -> bool:
        if self.start < self.end:
            return self.start <= second_of_day < self.end
        return second_of_day >= self.start or second_of_day < self.end

    @property
    def block_length(self) -> int:
        return (self.end - self.start) % DAY_SECONDS or DAY_SECONDS


def cost(rate: Rate, answered_s: int) -> int:
    """Cost of an answered call of ``answered_s`` seconds; 0 when not answered.

    A started billing unit is charged in full:

    >>> r = Rate(id=1, prefix="9", initial_cost=500, initial_time=60, rate=100, unit=30)
    >>> cost(r, 0), cost(r, 1), cost(r, 60), cost(r, 61), cost(r, 90), cost(r, 91)
    (0, 500, 500, 600, 600, 700)
    """
    if answered_s <= 0:
        return 0
    billable = max(0, answered_s - rate.initial_time)
    units = -(-billable // rate.unit)
    return rate.initial_cost + units * rate.rate


def first_charge(rate: Rate) -> int:
    """What the first second of a call costs: the least money needed to allow it."""
    return cost(rate, 1)


def max_duration(rate: Rate, funds: int) -> Optional[int]:
    """The longest answered duration (seconds) whose cost ``funds`` cover.

    0 when not even the first second is covered; ``None`` when no duration could ever
    exceed the funds (rate 0 per unit and the initial cost covered).

    >>> r = Rate(id=1, prefix="9", initial_cost=500, initial_time=60, rate=100, unit=30)
    >>> max_duration(r, 499), max_duration(r, 500), max_duration(r, 699), max_duration(r, 700)
    (0, 60, 90, 120)
    """
    if funds < first_charge(rate):
        return 0
    if rate.rate == 0:
        return None
    units = (funds - rate.initial_cost) // rate.rate
    return rate.initial_time + units * rate.unit


def second_of_day(local_time: Union[dt.datetime, dt.time, int]) -> int:
    if isinstance(local_time, int):
        return local_time % DAY_SECONDS
    return local_time.hour * 3600 + local_time.minute * 60 + local_time.second


def specificity_key(rate: Rate) -> tuple:
    """Sort key among rates of one prefix: most specific first (rules 2-5 above)."""
    return (rate.length == 0, rate.block_length, rate.all_extensions, rate.id)


class RateIndex:
    """Active rates grouped by prefix, so a lookup costs one dict probe per distinct
    prefix length instead of a scan of the deck."""

    def __init__(self, rates: Iterable[Rate]):
        by_prefix: dict[str, list[Rate]] = {}
        for rate in rates:
            if rate.active:
                by_prefix.setdefault(rate.prefix, []).append(rate)
        for group in by_prefix.values():
            group.sort(key=specificity_key)
        self._by_prefix: Mapping[str, Sequence[Rate]] = by_prefix
        self._lengths = sorted({len(p) for p in by_prefix}, reverse=True)

    def __len__(self) -> int:
        return sum(len(group) for group in self._by_prefix.values())

    def match(self, extension: str, dialed: str, local_time) -> Optional[Rate]:
        sod = second_of_day(local_time)
        n = len(dialed)
        for plen in self._lengths:
            if plen > n:
                continue
            group = self._by_prefix.get(dialed[:plen])
            if not group:
                continue
            # The group is sorted by specificity, so the first fit is the answer.
            for rate in group:
                if (rate.length == 0 or rate.length == n) and rate.applies_to(extension) \
                        and rate.in_block(sod):
                    return rate
        return None


def match(
    rates: Union[RateIndex, Iterable[Rate]], extension: str, dialed: str, local_time
) -> Optional[Rate]:
    """The most specific rate for a call, or None (see the module doc for the order)."""
    index = rates if isinstance(rates, RateIndex) else RateIndex(rates)
    return index.match(extension, dialed, local_time)
