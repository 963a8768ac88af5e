"""The benchmarks' shared results file and the conventions every bench_*.py module follows.

Results: bench/results.json, one key per benchmark, written with ``record(key, figures)``
(it merges: the other benchmarks' keys stay).  ``BENCH_RESULTS=<path>`` sends them to
another file (the tiny-mode test writes to a temporary one, never the committed file).

Figures: a figure is ``figure(value, unit, raw_limit=..., target=...)``, a dict
{value, unit, raw_limit, ratio, target, met}.  ``raw_limit`` is the same work measured in
the same run without the project around it (SQLite alone, the parser alone, the page
without the feature...), so a run on a busy machine compares with an earlier one through
``ratio`` (value / raw_limit) even when the absolute numbers moved.  Any other values
(counts, settings, notes) stay plain.  ``summary`` collects the figures of the whole file
for the table ``make bench`` prints and writes to results.md.

Tiny mode: ``BENCH_TINY=1`` (set by tests/test_bench.py) asks for a run of seconds on
small data, to prove the benchmark still works, not to measure.  A module sizes its work
with ``sized(full, tiny)`` (module constants too: children started with the same
environment see the same sizes) and records as usual.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

RESULTS = Path(__file__).resolve().parent / "results.json"
TINY_ENV = "BENCH_TINY"
RESULTS_ENV = "BENCH_RESULTS"

# units where less is better; every other unit (rows/s, calls/s, ...) is a rate
_LOWER_IS_BETTER = {"ms", "s", "us", "MB"}


def tiny() -> bool:
    return os.environ.get(TINY_ENV) == "1"


def sized(full, small):
    """``small`` in tiny mode, else ``full``."""
    return small if tiny() else full


def results_path() -> Path:
    return Path(os.environ.get(RESULTS_ENV) or RESULTS)


def percentile(values: List[float], share: float) -> float:
    """The value ``share`` of the way up ``values`` (0.5: the p50), rounded to 0.01; 0.0
    for no values."""
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * share))], 2) if ordered else 0.0


def figure(value: float, unit: str, raw_limit: Optional[float] = None,
           target: Optional[float] = None) -> Dict[str, Any]:
    """One measured figure.  ``raw_limit`` in the same unit; a target is met when the
    value is at least it (rates) or at most it (times, sizes: ``_LOWER_IS_BETTER``)."""
    ratio = round(value / raw_limit, 3) if raw_limit else None
    met = None
    if target is not None:
        met = value <= target if unit in _LOWER_IS_BETTER else value >= target
    return {"value": value, "unit": unit, "raw_limit": raw_limit, "ratio": ratio,
            "target": target, "met": met}


def is_figure(item: Any) -> bool:
    return isinstance(item, dict) and "value" in item and "unit" in item


def _walk(item: Any, path: str) -> Iterator[Tuple[str, Dict[str, Any]]]:
    if is_figure(item):
        yield path, item
    elif isinstance(item, dict):
        for key in sorted(item):
            yield from _walk(item[key], f"{path}.{key}" if path else key)


def summary(data: Dict[str, Any]) -> List[Tuple[str, Dict[str, Any]]]:
    """(dotted name, figure) of every figure in a results file, in name order."""
    return list(_walk(data, ""))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(data: Dict[str, Any]) -> str:
    """The figures as a Markdown table: figure, now, raw limit, ratio, target, met?"""
    lines = ["| figure | now | raw limit | ratio | target | met? |", "|---|---|---|---|---|---|"]
    for name, f in summary(data):
        unit = f" {f['unit']}"
        limit = _cell(f["raw_limit"]) + (unit if f["raw_limit"] is not None else "")
        target = _cell(f["target"]) + (unit if f["target"] is not None else "")
        lines.append(f"| {name} | {_cell(f['value'])}{unit} | {limit} | {_cell(f['ratio'])} "
                     f"| {target} | {_cell(f['met'])} |")
    return "\n".join(lines) + "\n"


def load() -> Dict[str, Any]:
    try:
        return json.loads(results_path().read_text())
    except (OSError, ValueError):
        return {}


def record(key: str, figures: dict) -> None:
    """Merge ``figures`` under ``key``, keeping the other benchmarks' figures."""
    data = load()
    figures = dict(figures, measured_at=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                   machine=f"{platform.machine()} {platform.python_version()}")
    if tiny():
        figures["tiny"] = True  # not a measurement: never to be compared
    data[key] = figures
    path = results_path()
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(json.dumps({key: figures}, indent=2))
