"""The benchmarks' shared results file: bench/results.json, one key per benchmark."""

import json
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results.json"


def record(key: str, figures: dict) -> None:
    """Merge ``figures`` under ``key``, keeping the other benchmarks' figures."""
    try:
        data = json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        data = {}
    figures = dict(figures, measured_at=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                   machine=f"{platform.machine()} {platform.python_version()}")
    data[key] = figures
    RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(json.dumps({key: figures}, indent=2))
