"""The `make check` import rules work: they pass on the tree and catch a violation; and
hwlicense really runs without the add-on."""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_checker():
    spec = importlib.util.spec_from_file_location("check_imports", ROOT / "tools" / "check_imports.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pure_core_passes():
    assert load_checker().main() == 0


def test_violation_is_caught(tmp_path, monkeypatch):
    checker = load_checker()
    (tmp_path / "billing_addon").mkdir()
    (tmp_path / "billing_addon" / "money.py").write_text("import peewee\nfrom .store import db\n")
    (tmp_path / "billing_addon" / "rating.py").write_text("import serial\n")
    monkeypatch.setattr(checker, "ROOT", tmp_path)
    assert checker.main() == 1


# (file, lines added at its end, what the checker must say)
PLANTED = {
    "direct": ("hwlicense/keys.py", "import billing_addon\n",
               "hwlicense/keys.py:{line}: imports billing_addon: hwlicense is a stand-alone library"),
    "from": ("hwlicense/trial.py", "from billing_addon.web import app\n",
             "hwlicense/trial.py:{line}: imports billing_addon.web: hwlicense is a stand-alone"),
    "relative": ("hwlicense/reset.py", "from .. import web\n",
                 "hwlicense/reset.py:{line}: imports web: hwlicense is a stand-alone library"),
    "by name": ("hwlicense/board.py", "PACKAGE = 'billing_addon.board'\n"
                "resources.files(PACKAGE)\n",
                "hwlicense/board.py:{line}: imports billing_addon.board: hwlicense is a stand-alone"),
    "cycle": ("hwlicense/timefmt.py", "from hwlicense import activation\n",
              "import cycle among hwlicense modules: hwlicense.activation -> hwlicense.timefmt -> "
              "hwlicense.activation"),
    "type-only cycle": ("hwlicense/results.py", "from typing import TYPE_CHECKING\n"
                        "if TYPE_CHECKING:\n    from hwlicense.license import License\n",
                        "import cycle among hwlicense modules: hwlicense.license -> hwlicense.results -> "
                        "hwlicense.license"),
}


@pytest.mark.parametrize("kind", sorted(PLANTED))
def test_hwlicense_rules_catch_a_planted_violation(kind, tmp_path, monkeypatch, capsys):
    """A copy of the tree passes; with one violation planted it fails, saying where."""
    for package in ("billing_addon", "hwlicense"):
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    checker = load_checker()
    monkeypatch.setattr(checker, "ROOT", tmp_path)
    assert checker.main() == 0
    name, added, message = PLANTED[kind]
    path = tmp_path / name
    text = path.read_text()
    line = text.count("\n") + added.count("\n")  # the planted import is the last line
    path.write_text(text + added)
    capsys.readouterr()
    assert checker.main() == 1
    out = capsys.readouterr().out
    assert message.format(line=line) in out and out.endswith("1 forbidden import(s) or cycle(s)\n")


# Loaded at start-up (sitecustomize) by the processes below: the add-on's packages cannot
# be imported, as on the sales PC where only hwlicense is installed.
BLOCKER = '''
import importlib.abc
import sys


class AddonAbsent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("billing_addon", "web", "board"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        return None


sys.meta_path.insert(0, AddonAbsent())
'''

IMPORT_ALL = '''
import importlib, pkgutil, sys, hwlicense
from hwlicense.board import load_profile
try:
    import billing_addon  # noqa: F401
except ImportError:
    pass
else:
    sys.exit("the blocker does not work")
names = sorted(m.name for m in pkgutil.iter_modules(hwlicense.__path__, "hwlicense."))
for name in names:
    importlib.import_module(name)
print(len(names), "modules;", load_profile("qemu", sys.argv[1]).model)
'''


def test_hwlicense_works_without_the_addon(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    done = subprocess.run([sys.executable, "-c", IMPORT_ALL, str(tmp_path / "box")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    count = len([p for p in (ROOT / "hwlicense").glob("*.py") if p.name != "__init__.py"])
    assert done.stdout.split() == [str(count), "modules;", "QEMU"]
    script = Path(sys.executable).with_name("billing-license")  # the sales tool, installed
    done = subprocess.run([str(script), "--help"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: billing-license") and "issue" in done.stdout
