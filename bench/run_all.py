"""`make bench`: run every benchmark module in bench/ (bench_*.py), each in order, then
print the table of every figure in the results file (figure, now, raw limit, ratio,
target, met?) and write it beside it (bench/results.md).

``python -m bench.run_all [bench_x ...]`` runs only the modules named.

A benchmark module (how to add one): ``bench/bench_<name>.py`` with a ``main()`` that
measures and calls ``results_file.record("<key>", figures)`` once, its figures made with
``results_file.figure(value, unit, raw_limit=..., target=...)`` (the raw limit measured in
the same run).  It sizes its work with ``results_file.sized(full, tiny)``: under
``BENCH_TINY=1`` it must finish in seconds on small data.  ``tests/test_bench.py`` finds
every bench_*.py by itself and runs it that way, writing to a temporary results file
(``BENCH_RESULTS``): a module that raises or records nothing fails ``make test``.
"""

import importlib
import pkgutil
import sys
from pathlib import Path

from .results_file import load, results_path, summary, table


def modules() -> list:
    here = Path(__file__).resolve().parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))


def main() -> int:
    wanted = sys.argv[1:]
    unknown = set(wanted) - set(modules())
    if unknown:
        print(f"no such benchmark: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    for name in modules():
        if wanted and name not in wanted:
            continue
        print(f"== {name}", flush=True)
        importlib.import_module(f"bench.{name}").main()
    data = load()
    text = table(data)
    plain = sorted(key for key in data if not summary({key: data[key]}))
    if plain:
        text += f"\nNot in figure form (no raw limit or ratio yet): {', '.join(plain)}.\n"
    results_path().with_suffix(".md").write_text(
        "# Benchmark figures\n\nWritten by `make bench` (bench/run_all.py) from "
        f"{results_path().name}; ratio = now / raw limit, both from the same run.\n\n" + text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
