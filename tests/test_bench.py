"""Every benchmark still runs (issue 17 item 0): each bench/bench_*.py, found by name, is run
in tiny mode (BENCH_TINY=1: seconds, small data) as ``make bench`` runs it, writing to a
temporary results file, and must record figures.  bench/results.json is never touched."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import results_file

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(p.stem for p in (ROOT / "bench").glob("bench_*.py"))


def run_tiny(tmp_path: Path, *modules: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, BENCH_TINY="1", BENCH_RESULTS=str(tmp_path / "results.json"))
    return subprocess.run([sys.executable, "-m", "bench.run_all", *modules], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_every_benchmark_module_is_found():
    assert {"bench_core", "bench_import", "bench_pbx", "bench_web"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_benchmark_runs_in_tiny_mode_and_records_its_figures(tmp_path, module):
    committed = (ROOT / "bench" / "results.json").stat().st_mtime_ns
    out = run_tiny(tmp_path, module)
    assert out.returncode == 0, f"{module} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}"
    data = json.loads((tmp_path / "results.json").read_text())
    assert data, f"{module} recorded nothing"
    for key, figures in data.items():
        assert figures["tiny"] is True, key
        for name, f in results_file.summary({key: figures}):
            assert f["value"] is not None, name
            if f["raw_limit"] is not None:
                assert f["ratio"] == round(f["value"] / f["raw_limit"], 3), name
    # the summary table covers the figures, beside the temporary results file
    table = (tmp_path / "results.md").read_text()
    for name, _ in results_file.summary(data):
        assert f"| {name} |" in table
    assert (ROOT / "bench" / "results.json").stat().st_mtime_ns == committed


def test_a_benchmark_that_raises_fails_the_run(tmp_path, monkeypatch):
    """run_all lets a benchmark's exception through (exit status not 0): the test above
    then fails for that module."""
    bench_dir = tmp_path / "bench"
    bench_dir.mkdir()
    for name in ("__init__.py", "run_all.py", "results_file.py"):
        (bench_dir / name).write_text((ROOT / "bench" / name).read_text())
    (bench_dir / "bench_broken.py").write_text(
        "from .results_file import record\n\n\ndef main():\n    raise RuntimeError('broken')\n")
    env = dict(os.environ, BENCH_TINY="1", BENCH_RESULTS=str(tmp_path / "results.json"))
    out = subprocess.run([sys.executable, "-m", "bench.run_all"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "RuntimeError: broken" in out.stderr
    assert not (tmp_path / "results.json").exists()


def test_figure_ratio_and_target():
    rate = results_file.figure(120_000, "rows/s", raw_limit=240_000, target=150_000)
    assert (rate["ratio"], rate["met"]) == (0.5, False)
    latency = results_file.figure(2.5, "ms", raw_limit=0.5, target=3)
    assert (latency["ratio"], latency["met"]) == (5.0, True)
    assert results_file.figure(7, "ms")["ratio"] is None
