"""Box-side commands and the billing-license tool, run as a script would run them."""

import argparse
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hwlicense.box_cli import ExitCode, add_commands
from hwlicense.fakedevice import make_device
from hwlicense.sales_cli import SalesExit

REPO = Path(__file__).resolve().parent.parent


def run(module, *args, env=None, cwd=None):
    full_env = {k: v for k, v in os.environ.items() if k != "BILLING_BOARD"}
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True,
                          text=True, env=full_env, cwd=cwd, timeout=60)
    return proc.returncode, proc.stdout, proc.stderr


def box(*args, env=None):
    return run("hwlicense.box_cli", *args, env=env)


def sales(*args, cwd=None):
    return run("hwlicense.sales_cli", *args, cwd=cwd)


@pytest.fixture
def vendor(tmp_path):
    keydir = tmp_path / "vendor"
    keydir.mkdir()
    rc, out, err = sales("keygen", "--key", keydir / "vendor.key", "--pub", keydir / "vendor.pub")
    assert rc == 0, err
    return keydir


def test_add_commands_contract():
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    for argv in (["activate"], ["deactivate"], ["status"], ["billing-ac", "-o", "f"],
                 ["license", "upload", "f"], ["reset", "hard"]):
        args = parser.parse_args(argv + ["--board", "qemu", "--board-root", "/x"])
        assert callable(args.func) and args.board == "qemu" and args.board_root == "/x"


def test_keygen_private_key_mode_and_no_overwrite(vendor):
    assert stat.S_IMODE((vendor / "vendor.key").stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in (vendor / "vendor.key").read_bytes()
    rc, _, err = sales("keygen", "--key", vendor / "vendor.key", "--pub", vendor / "vendor.pub")
    assert rc == SalesExit.IO and "exists" in err


def test_encrypted_key(tmp_path):
    (tmp_path / "pp").write_text("correct horse\n")
    rc, _, err = sales("keygen", "--passphrase-file", "pp", cwd=tmp_path)
    assert rc == 0, err
    assert b"ENCRYPTED" in (tmp_path / "vendor.key").read_bytes()
    root = tmp_path / "dev"
    # the box seals its billing.ac to the vendor key it trusts; demo needs --test-device
    box("billing-ac", "-o", tmp_path / "b.ac", "--board", "demo", "--board-root", root,
        env={"BILLING_TRUSTED_KEYS_DIR": str(tmp_path)})
    test = "--test-device"
    rc, _, err = sales("issue", "b.ac", "--key", "vendor.key", "-o", "l.lic", test, cwd=tmp_path)
    assert rc == SalesExit.KEY and "encrypted" in err
    (tmp_path / "bad").write_text("wrong\n")
    rc, _, err = sales("issue", "b.ac", "--key", "vendor.key", "-o", "l.lic", test,
                       "--passphrase-file", "bad", cwd=tmp_path)
    assert rc == SalesExit.KEY
    rc, _, err = sales("issue", "b.ac", "--key", "vendor.key", "-o", "l.lic", test,
                       "--passphrase-file", "pp", cwd=tmp_path)
    assert rc == 0, err


def test_whole_workflow_on_two_emulated_devices(tmp_path, vendor):
    env = {"BILLING_TRUSTED_KEYS_DIR": str(vendor)}
    a, b = make_device(tmp_path / "a", "qemu", 1), make_device(tmp_path / "b", "qemu", 2)
    common_a = ["--board", "qemu", "--board-root", a]
    common_b = ["--board", "qemu", "--board-root", b]

    rc, out, _ = box("status", *common_a, env=env)
    assert rc == ExitCode.DEACTIVATED and "deactivated" in out
    rc, out, _ = box("activate", *common_a, env=env)
    assert rc == 0 and "Days left:                30" in out

    ac = tmp_path / "billing.ac"
    assert box("billing-ac", "-o", ac, *common_a, env=env)[0] == 0  # sealed to the vendor
    rc, out, _ = sales("inspect", ac)
    assert rc == 0 and "checksum OK" in out and "QEMU" in out

    lic = tmp_path / "license.lic"
    rc, out, err = sales("issue", ac, "--key", vendor / "vendor.key", "-o", lic)
    assert rc == 0, err
    rc, out, _ = sales("verify", lic, "--ac", ac, "--pub", vendor / "vendor.pub")
    assert rc == 0 and out.startswith("VALID")
    rc, out, _ = sales("inspect", lic)
    assert rc == 0 and "license-id: BL-" in out

    rc, _, err = box("license", "upload", lic, *common_b, env=env)
    assert rc == ExitCode.LICENSE_REFUSED and "error: wrong-device:" in err
    rc, out, err = box("license", "upload", lic, *common_a, env=env)
    assert rc == 0 and "Never Expires" in out, err
    rc, out, _ = box("status", "--json", *common_a, env=env)
    data = json.loads(out)
    assert rc == 0 and data["licensed"] and data["state"] == "active" and data["expiration"] is None

    rc, out, _ = box("reset", "factory", *common_a)
    assert rc == 0 and "wiped data" in out
    rc, out, _ = box("activate", *common_a, env=env)
    assert rc == 0 and "Never Expires" in out


def test_box_command_errors(tmp_path):
    rc, _, err = box("status", "--board", "nope", "--board-root", tmp_path)
    assert rc == ExitCode.BOARD and "unknown board" in err
    rc, _, err = box("billing-ac", "-o", tmp_path / "x", "--board", "qemu", "--board-root", tmp_path)
    assert rc == ExitCode.NO_IDENTITY and "cannot identify" in err
    rc, _, err = box("license", "upload", tmp_path / "missing", "--board-root", tmp_path)
    assert rc == ExitCode.IO
    (tmp_path / "junk").write_bytes(os.urandom(2000))
    rc, _, err = box("license", "upload", tmp_path / "junk", "--board-root", tmp_path)
    assert rc == ExitCode.LICENSE_REFUSED and err.startswith("error: ")
    rc, _, _ = box("reset", "sideways", "--board-root", tmp_path)
    assert rc == ExitCode.USAGE


def test_board_from_env(tmp_path):
    make_device(tmp_path, "qemu", 1)
    rc, out, _ = run("hwlicense.box_cli", "billing-ac", "-o", "-", "--board-root", tmp_path,
                     env={"BILLING_BOARD": "qemu"})
    assert rc == 0 and "model: QEMU" in out
    rc, out, _ = run("hwlicense.box_cli", "billing-ac", "-o", "-", "--board-root", tmp_path)
    assert rc == 0 and "model: DEMO" in out  # the default board


def test_sales_tool_refuses_a_damaged_billing_ac(tmp_path, vendor):
    box("billing-ac", "-o", tmp_path / "b.ac", "--board-root", tmp_path / "dev")
    text = (tmp_path / "b.ac").read_text().replace("model: DEMO", "model: U50")
    (tmp_path / "b.ac").write_text(text)
    rc, _, err = sales("issue", tmp_path / "b.ac", "--key", vendor / "vendor.key",
                       "-o", tmp_path / "l.lic")
    assert rc == SalesExit.BAD_INPUT and "checksum" in err
    assert not (tmp_path / "l.lic").exists()


def test_no_private_key_in_repo_or_package():
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    candidates = [REPO / f for f in files] + list((REPO / "hwlicense").rglob("*"))
    marker = b"PRIVATE " + b"KEY-----"  # split so this file does not match itself
    for path in candidates:
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert marker not in path.read_bytes(), path
