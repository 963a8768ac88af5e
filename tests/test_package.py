"""The box package and its installer, end to end on a fake box root (docs/box.md).

Builds the package with tools/build_package.py, unpacks it and runs its install.sh,
upgrade.sh and uninstall.sh with ``--root`` (services are not touched under a root).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import tarfile

import pytest

from tests import package_support as ps

CURRENT = ps.build_package.source_version(ps.REPO)
PREVIOUS = "0.0.9"  # the same code labelled as an older release: upgrade path tests


@pytest.fixture(scope="module")
def vendor(tmp_path_factory):
    """A vendor key pair made with the sales tool; the public key goes into the package."""
    folder = tmp_path_factory.mktemp("vendor")
    from hwlicense import keys

    private = keys.generate()
    (folder / "vendor.key").write_bytes(keys.private_pem(private))
    (folder / "vendor.pub").write_bytes(keys.public_pem(private.public_key()))
    return folder


@pytest.fixture(scope="module")
def archives(tmp_path_factory, vendor):
    out = tmp_path_factory.mktemp("dist")
    key = (vendor / "vendor.pub",)
    return {"current": ps.build(out, None, key), "previous": ps.build(out, PREVIOUS, key)}


@pytest.fixture
def package(archives, tmp_path):
    return ps.unpack(archives["current"], tmp_path / "pkg")


@pytest.fixture
def previous(archives, tmp_path):
    return ps.unpack(archives["previous"], tmp_path / "pkg-previous")


@pytest.fixture
def box(tmp_path):
    return ps.make_box(tmp_path / "box")


def _ok(result):
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _manifest(archive):
    with tarfile.open(archive) as tar:
        top = tar.getnames()[0].split("/")[0]
        text = tar.extractfile(f"{top}/MANIFEST").read().decode()
        files = {m.name[len(top) + 1:]: tar.extractfile(m).read()
                 for m in tar.getmembers() if m.isfile()}
    return text, files


# --- the archive -----------------------------------------------------------------------

def test_manifest_has_version_and_sha256_of_every_file(archives):
    text, files = _manifest(archives["current"])
    lines = text.splitlines()
    assert lines[0] == "BILLING-ADDON-PACKAGE 1"
    assert f"version: {CURRENT}" in lines
    count = int(next(line for line in lines if line.startswith("files: ")).split()[1])
    listed = dict(reversed(line.split("  ", 1)) for line in lines[-count:])
    assert set(listed) == set(files) - {"MANIFEST"}
    for rel, digest in listed.items():
        assert hashlib.sha256(files[rel]).hexdigest() == digest, rel


def test_archive_holds_code_profiles_config_installer_and_no_harness(archives):
    _text, files = _manifest(archives["current"])
    for needed in ("lib/billing_addon/cli.py", "lib/billing_addon/pbx/server.py",
                   "lib/billing_addon/web/app.py", "lib/billing_addon/board/profiles/u20.ini",
                   "lib/billing_addon/board/profiles/qemu.ini", "lib/hwlicense/verify.py",
                   "lib/billing_addon/migrations/0001_initial.sql", "lib/billing_addon/backup.py",
                   "lib/hwlicense/trusted_keys/vendor.pub", "share/billing.ini",
                   "install.sh", "upgrade.sh", "uninstall.sh", "installer/steps.py"):
        assert needed in files, needed
    assert any(n.startswith("lib/billing_addon/web/views/") for n in files)
    assert not any("qemu/" in n or "__pycache__" in n or n.endswith(".pyc") for n in files)
    # the demo board (an id in a file anyone can copy) is for developers, never a box
    assert "lib/billing_addon/board/profiles/demo.ini" not in files
    assert "lib/billing_addon/board/profiles/generic.ini" in files
    assert b"board = @BOARD@" in files["share/billing.ini"]


def test_archive_holds_every_python_package_of_the_source(archives):
    """A package folder added to the source (say web/api/) is on the box too: setup.py
    lists packages one by one, and a missing one stops the daemon at its first import."""
    _text, files = _manifest(archives["current"])
    roots = {"billing_addon": "billing_addon", "web": "billing_addon/web",
             "board": "billing_addon/board", "hwlicense": "hwlicense"}
    for source, installed in roots.items():
        for init in (ps.REPO / source).rglob("__init__.py"):
            folder = init.parent.relative_to(ps.REPO / source).as_posix()
            if folder.split("/")[0] in ("qemu", "tests"):
                continue  # the board's emulation harness stays on the developer's machine
            target = installed if folder == "." else f"{installed}/{folder}"
            assert f"lib/{target}/__init__.py" in files, target


def test_build_is_reproducible(tmp_path, vendor):
    one = ps.build(tmp_path / "a", None, (vendor / "vendor.pub",)).read_bytes()
    two = ps.build(tmp_path / "b", None, (vendor / "vendor.pub",)).read_bytes()
    assert one == two


def test_installer_uses_only_the_standard_library(package):
    """It runs with the box's python3 before any of our libraries are checked."""
    import ast
    import sys

    allowed = set(sys.stdlib_module_names) | {"installer", "hwlicense"}
    for path in (package / "installer").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            assert {n.split(".")[0] for n in names} <= allowed, (path.name, names)


# --- install ---------------------------------------------------------------------------

def test_install_puts_every_piece_in_place(package, box):
    result = _ok(ps.run_script(package, "install.sh", box, "--board", "qemu"))
    assert f"billing-addon {CURRENT} installed" in result.stdout
    entry = json.loads((box / "etc/pbx/addons/billing.json").read_text())
    assert entry["menu"] == "Addons" and entry["version"] == CURRENT
    assert entry["port"] == 8080 and entry["uninstall"] == "/opt/billing-addon/uninstall.sh"
    state = json.loads((box / "opt/billing-addon/install.json").read_text())
    assert state["board"] == "qemu" and state["version"] == CURRENT
    for area in ("data", "persist", "nvram"):
        assert (box / f"mnt/{area}/billing-addon").is_dir()
    config = box / "mnt/data/billing-addon/billing.ini"
    assert "board = qemu" in config.read_text()
    assert (box / "etc/billing-addon/billing.ini").resolve() == config
    assert (box / "usr/local/bin/billing-addon").readlink().as_posix() == \
        "/opt/billing-addon/bin/billing-addon"
    assert _ok(ps.cli(box, "--version")).stdout.strip() == CURRENT
    assert (box / "mnt/data/billing-addon/billing.db").is_file()
    assert (box / "etc/init.d/billing-addon").read_bytes() == \
        (ps.REPO / "init.d/billing-addon").read_bytes()
    assert (box / "etc/init.d/billing-addon").stat().st_mode & 0o111
    assert (box / "etc/rc2.d/S90billing-addon").readlink().as_posix() == "../init.d/billing-addon"
    assert (box / "etc/rc0.d/K10billing-addon").is_symlink()
    settings = (box / "etc/default/billing-addon").read_text()
    assert "BILLING_ADDON_DAEMON=/opt/billing-addon/bin/billing-addon" in settings
    assert "BILLING_ADDON_CONFIG=/etc/billing-addon/billing.ini" in settings
    assert (box / "var/log/billing-addon").is_dir()
    assert (box / "etc/asterisk/billing.conf").read_bytes() == \
        (ps.REPO / "billing_addon/dialplan/billing.conf").read_bytes()
    assert "#include billing.conf" in (box / "etc/asterisk/extensions.conf").read_text()
    assert ps.asterisk_calls(box) == ["-rx dialplan reload"]
    assert "every file matches" in _ok(ps.verify_installed(box)).stdout


def test_board_is_detected_from_dmi(package, box):
    (box / "sys/class/dmi/id/sys_vendor").write_text("QEMU\n")
    _ok(ps.run_script(package, "install.sh", box))
    assert json.loads((box / "opt/billing-addon/install.json").read_text())["board"] == "qemu"


def test_installing_twice_changes_nothing(package, box):
    _ok(ps.run_script(package, "install.sh", box, "--board", "qemu"))
    _ok(ps.cli(box, "ext", "add", "1001"))
    before = ps.snapshot(box)
    result = _ok(ps.run_script(package, "install.sh", box))
    assert "nothing to change" in result.stdout
    assert ps.snapshot(box) == before
    assert ps.asterisk_calls(box) == ["-rx dialplan reload"]  # only the first time
    assert "1001" in _ok(ps.cli(box, "ext", "list")).stdout


def test_install_repairs_a_damaged_installation(package, box):
    _ok(ps.run_script(package, "install.sh", box, "--board", "qemu"))
    victim = box / "opt/billing-addon/lib/billing_addon/money.py"
    victim.write_text("broken = True\n")
    result = ps.verify_installed(box)
    assert result.returncode == 3 and "changed: lib/billing_addon/money.py" in result.stdout
    _ok(ps.run_script(package, "install.sh", box))
    assert victim.read_bytes() == (package / "lib/billing_addon/money.py").read_bytes()
    _ok(ps.verify_installed(box))


@pytest.mark.parametrize("damage", [
    "change a byte of a module",     # a corrupted download
    "add a file",                    # something slipped into the package
    "remove a file",                 # an incomplete unpack
    "empty the manifest",            # not a package at all
])
def test_a_package_that_does_not_match_its_manifest_is_refused(package, box, damage):
    module = package / "lib/billing_addon/calls.py"
    if damage.startswith("change"):
        data = bytearray(module.read_bytes())
        data[100] ^= 1
        module.write_bytes(bytes(data))
    elif damage.startswith("add"):
        (package / "lib/billing_addon/evil.py").write_text("print('hi')\n")
    elif damage.startswith("remove"):
        module.unlink()
    else:
        (package / "MANIFEST").write_text("")
    result = ps.run_script(package, "install.sh", box, "--board", "qemu")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "MANIFEST" in result.stderr or "manifest" in result.stderr
    assert not (box / "opt").exists()
    assert not (box / "etc/pbx/addons/billing.json").exists()


def test_upgrade_without_an_installation_is_refused(package, box):
    result = ps.run_script(package, "upgrade.sh", box, "--board", "qemu")
    assert result.returncode == 5 and "nothing to upgrade" in result.stderr


def test_downgrade_is_refused_unless_forced(package, previous, box):
    _ok(ps.run_script(package, "install.sh", box, "--board", "qemu"))
    result = ps.run_script(previous, "install.sh", box)
    assert result.returncode == 5 and "downgrade" in result.stderr
    _ok(ps.run_script(previous, "install.sh", box, "--force"))
    assert _ok(ps.cli(box, "--version")).stdout.strip() == PREVIOUS


# --- dialplan and Asterisk -------------------------------------------------------------

def test_dialplan_include_is_hooked_in_once_and_removed(tmp_path):
    """Asterisk reloads only when the include changed; uninstall removes our line only."""
    import sys

    sys.path.insert(0, str(ps.REPO / "package"))
    try:
        from installer import pbx
        from installer.layout import Layout
    finally:
        sys.path.pop(0)
    box = ps.make_box(tmp_path / "box")
    conf = tmp_path / "extensions_billing.conf"
    conf.write_text("[billing-authorize]\nexten => _X.,1,NoOp()\n")
    layout = Layout.from_env(root=str(box))
    assert pbx.install_dialplan(layout, [conf]) is True
    assert pbx.install_dialplan(layout, [conf]) is False
    main = (box / "etc/asterisk/extensions.conf").read_text()
    assert main.count("#include extensions_billing.conf") == 1
    assert (box / "etc/asterisk/extensions_billing.conf").read_text() == conf.read_text()
    fake = str(box.parent / "box-asterisk")
    assert pbx.reload_dialplan(fake) == "asterisk: dialplan reloaded"
    assert ps.asterisk_calls(box) == ["-rx dialplan reload"]
    assert pbx.remove_dialplan(layout, ["extensions_billing.conf"]) is True
    assert (box / "etc/asterisk/extensions.conf").read_text() == "[general]\nstatic=yes\n"


def test_the_admins_own_include_line_is_not_doubled(tmp_path):
    import sys

    sys.path.insert(0, str(ps.REPO / "package"))
    try:
        from installer import pbx
        from installer.layout import Layout
    finally:
        sys.path.pop(0)
    box = ps.make_box(tmp_path / "box")
    main = box / "etc/asterisk/extensions.conf"
    main.write_text('[general]\n#include "billing.conf" ; added by hand\n')
    conf = tmp_path / "billing.conf"
    conf.write_text("[billing-dial]\n")
    pbx.install_dialplan(Layout.from_env(root=str(box)), [conf])
    assert main.read_text().count("billing.conf") == 1


# --- upgrade, uninstall, reinstall: the data stays -------------------------------------

def _money_state(box):
    """Balances, ledger and calls as plain rows (what an upgrade must keep)."""
    conn = sqlite3.connect(box / "mnt/data/billing-addon/billing.db")
    try:
        return {table: conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
                for table in ("extension", "ledger", "call")}
    finally:
        conn.close()


def _some_business(box):
    _ok(ps.cli(box, "ext", "add", "1001"))
    _ok(ps.cli(box, "ext", "edit", "1001", "--billing", "on"))
    _ok(ps.cli(box, "recharge", "1001", "--amount", "12.50"))
    _ok(ps.cli(box, "rates", "add", "--prefix", "9", "--rate", "0.60", "--unit", "60",
                  "--extensions", "1001"))
    _ok(ps.cli(box, "authorize", "1001", "912345678", "--uniqueid", "t1"))
    assert "charged cost=$1.20" in _ok(ps.cli(box, "settle", "t1", "61")).stdout


def _license_the_box(box, vendor, tmp_path):
    _ok(ps.box_cli(box, "activate"))
    ac = tmp_path / "billing.ac"
    _ok(ps.box_cli(box, "billing-ac", "-o", str(ac)))
    lic = tmp_path / "box.lic"
    sales = box / "opt/billing-addon/bin/billing-license"
    import subprocess

    subprocess.run([str(sales), "issue", str(ac), "--key", str(vendor / "vendor.key"),
                    "-o", str(lic)], check=True, capture_output=True)
    _ok(ps.box_cli(box, "license", "upload", str(lic)))
    return lic


def _status(box):
    status = json.loads(ps.box_cli(box, "status", "--json").stdout)
    status.pop("trial_used_seconds")  # the trial's running-time count grows as the box runs
    return status


def test_upgrade_from_the_previous_version_keeps_everything(previous, package, box, vendor,
                                                          tmp_path):
    _ok(ps.run_script(previous, "install.sh", box, "--board", "qemu"))
    _license_the_box(box, vendor, tmp_path)  # before the business: a box with billing
    _some_business(box)                      # history but no trial record gets no trial
    config = box / "mnt/data/billing-addon/billing.ini"
    config.write_text(config.read_text().replace("port = 8080", "port = 8081"))
    money, status = _money_state(box), _status(box)
    assert status["licensed"] and status["first_activation"]

    result = _ok(ps.run_script(package, "upgrade.sh", box))
    assert f"code {PREVIOUS} -> {CURRENT}" in result.stdout
    assert _money_state(box) == money
    assert _status(box) == status
    assert "port = 8081" in config.read_text()
    assert json.loads((box / "etc/pbx/addons/billing.json").read_text())["port"] == 8081
    assert _ok(ps.cli(box, "verify")).stdout.strip().endswith("ledger OK")


def test_uninstall_keeps_data_and_reinstall_brings_it_back(package, box, vendor, tmp_path):
    _ok(ps.run_script(package, "install.sh", box, "--board", "qemu"))
    _license_the_box(box, vendor, tmp_path)  # before the business: a box with billing
    _some_business(box)                      # history but no trial record gets no trial
    money, status = _money_state(box), _status(box)

    _ok(ps.run_script(box / "opt/billing-addon", "uninstall.sh", box))
    for gone in ("opt/billing-addon", "etc/pbx/addons/billing.json", "etc/init.d/billing-addon",
                 "etc/rc2.d/S90billing-addon", "usr/local/bin/billing-addon",
                 "etc/default/billing-addon", "etc/asterisk/billing.conf"):
        assert not (box / gone).exists() and not (box / gone).is_symlink(), gone
    assert (box / "mnt/data/billing-addon/billing.db").is_file()
    assert "billing.conf" not in (box / "etc/asterisk/extensions.conf").read_text()
    assert ps.asterisk_calls(box) == ["-rx dialplan reload"] * 2  # install, uninstall

    _ok(ps.run_script(package, "install.sh", box))
    assert _money_state(box) == money
    assert _status(box) == status


def test_purge_deletes_billing_data_but_not_license_or_trial(package, box, vendor, tmp_path):
    _ok(ps.run_script(package, "install.sh", box, "--board", "qemu"))
    _license_the_box(box, vendor, tmp_path)  # before the business: a box with billing
    _some_business(box)                      # history but no trial record gets no trial
    first = _status(box)["first_activation"]
    _ok(ps.run_script(box / "opt/billing-addon", "uninstall.sh", box, "--purge"))
    assert list((box / "mnt/data/billing-addon").iterdir()) == []
    _ok(ps.run_script(package, "install.sh", box, "--board", "qemu"))
    status = _status(box)
    assert status["licensed"] and status["first_activation"] == first  # no new trial
    assert _money_state(box)["extension"] == []
