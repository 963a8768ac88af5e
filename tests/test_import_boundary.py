"""The `make check` import rule works: it passes on the tree and catches a violation."""

import importlib.util
from pathlib import Path

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
