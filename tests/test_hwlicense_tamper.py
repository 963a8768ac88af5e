"""A determined customer with two emulated boxes and the documented commands: one test
per way found to get a license that holds where it should not.  Each asserts the
refusal and its reason, and that nothing on the box changed (license, trial records)."""

import base64
import hashlib
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from hwlicense import keys
from hwlicense.activation import Activation
from hwlicense.billing_ac import make_billing_ac, read_billing_ac
from hwlicense.board import ProfileError, load_profile
from hwlicense.fakedevice import make_device, set_dmi, set_mac, set_running_time
from hwlicense.identity import Identity, component_hash, fingerprint_of
from hwlicense.license import SIGNING_DOMAIN, issue_license, read_license
from hwlicense.product import PRODUCT
from hwlicense.results import Code
from hwlicense.sales_cli import SalesExit
from hwlicense.textformat import AC_KIND, LICENSE_KIND, serialize

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
VENDOR = keys.generate()  # made per run: no key is ever stored
KID = keys.key_id(VENDOR.public_key())


def box(root, n=1, board="qemu", mac=None, clock=lambda: T0):
    """An emulated device ``n`` under ``root`` (``mac``: another NIC), billing activated
    (so the trial records exist)."""
    if board != "demo":
        make_device(root, board, n)
    if mac:
        set_mac(root, "enp0s2", mac)
    act = Activation(load_profile(board, root), clock=clock, trusted_keys=[VENDOR.public_key()])
    act.activate()
    return act


def snapshot(act):
    root = act.profile.root
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def refused_and_unchanged(act, data, code, *words):
    """Upload ``data``: refused with ``code``, a reason holding ``words``, nothing changed."""
    before = snapshot(act)
    assert (act.profile.area("nvram") / "trial.rec").is_file()  # a trial record to keep
    result = act.upload_license(data)
    assert not result.ok and result.code is code, result.reason
    for word in words:
        assert word in result.reason, result.reason
    assert snapshot(act) == before
    assert not (act.profile.area("persist") / "license.lic").exists()
    assert not act.status().licensed
    return result


def forged_ac(values, match, board="qemu", model="QEMU"):
    """A billing.ac a customer can write: any values, sealed to the vendor's public key."""
    return make_billing_ac(Identity(values, match, {}), product=PRODUCT, model=model,
                           board=board, addon_version="0.1.0", created=T0,
                           recipients={KID: VENDOR.public_key()})


def with_checksum(text):
    """The edited billing.ac with its checksum recomputed (anyone can)."""
    body = text[: text.rindex(b"checksum: ")]
    return body + b"checksum: sha256:" + hashlib.sha256(body).hexdigest().encode() + b"\n"


@pytest.fixture
def vendor_files(tmp_path):
    folder = tmp_path / "vendor"
    folder.mkdir()
    (folder / "vendor.key").write_bytes(keys.private_pem(VENDOR))
    (folder / "vendor.pub").write_bytes(keys.public_pem(VENDOR.public_key()))
    return folder


def issue(vendor_files, ac_bytes, *options):
    """billing-license issue, as the sales person runs it: (exit code, stderr, license)."""
    ac = vendor_files / "request.ac"
    out = vendor_files / "out.lic"
    ac.write_bytes(ac_bytes)
    out.unlink(missing_ok=True)
    proc = subprocess.run([sys.executable, "-m", "hwlicense.sales_cli", "issue", str(ac),
                           "--key", str(vendor_files / "vendor.key"), "-o", str(out), *options],
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stderr, out.read_bytes() if out.exists() else None


# --- match edited 2 -> 1, checksum recomputed -------------------------------------------

def test_match_edited_from_2_to_1_is_refused_by_issue_and_by_the_box(tmp_path, vendor_files):
    a = box(tmp_path / "a", 1)
    edited = with_checksum(a.billing_ac().replace(b"\nmatch: 2\n", b"\nmatch: 1\n"))
    assert read_billing_ac(edited).match == 1  # the checksum no longer catches it
    rc, err, lic = issue(vendor_files, edited)
    assert rc == SalesExit.POLICY and lic is None
    assert "requires only 1 matching identity component; board qemu requires at least 2" in err

    # Had a vendor signed it anyway, no box accepts it: not the second box sharing one
    # value (the MAC) with A, and not A itself.
    b = box(tmp_path / "b", 2, mac="52:54:00:12:34:01")  # A's MAC, its own DMI
    signed = issue_license(read_billing_ac(edited), VENDOR, issued=T0,
                           values=a.identity().values)
    for device in (b, a):
        refused_and_unchanged(device, signed, Code.POLICY, "requires only 1",
                              "board qemu requires at least 2")


# --- components of two devices mixed ----------------------------------------------------

def test_mixed_components_of_two_devices(tmp_path, vendor_files):
    a, b = box(tmp_path / "a", 1), box(tmp_path / "b", 2)
    va, vb = a.identity().values, b.identity().values
    # the tester's request: A's DMI serial and B's UUID as two components, match 1
    serial_a = va["dmi"].split("\n")[0].partition("=")[2]
    uuid_b = vb["dmi"].split("\n")[1].partition("=")[2]
    rc, err, lic = issue(vendor_files, forged_ac({"dmi_serial": serial_a, "dmi_uuid": uuid_b}, 1))
    assert rc == SalesExit.POLICY and lic is None
    assert "names identity components dmi_serial, dmi_uuid, which board qemu does not read" in err
    # A's DMI and B's MAC with match 1: below the minimum
    mixed = {"dmi": va["dmi"], "mac": vb["mac"]}
    rc, err, lic = issue(vendor_files, forged_ac(mixed, 1))
    assert rc == SalesExit.POLICY and "requires only 1" in err and lic is None
    # ... with match 2 it is a well-formed request, and the license is valid on neither
    rc, err, lic = issue(vendor_files, forged_ac(mixed, 2))
    assert rc == 0, err
    for device in (a, b):
        refused_and_unchanged(device, lic, Code.WRONG_DEVICE, "1 of 2 identity components match")


# --- a component the board does not read ------------------------------------------------

def test_component_the_board_does_not_read(tmp_path, vendor_files):
    a = box(tmp_path / "a", 1)
    values = dict(a.identity().values, cpu_serial="C0FFEE01")
    rc, err, lic = issue(vendor_files, forged_ac(values, 2))
    assert rc == SalesExit.POLICY and lic is None
    assert "cpu_serial, which board qemu does not read (it reads dmi, mac)" in err
    signed = issue_license(read_billing_ac(forged_ac(values, 2)), VENDOR, issued=T0)
    refused_and_unchanged(a, signed, Code.POLICY, "cpu_serial", "does not read")
    # a value a box never reports (not a MAC) is refused too
    rc, err, _ = issue(vendor_files, forged_ac(dict(a.identity().values, mac="not-a-mac"), 2))
    assert rc == SalesExit.POLICY and "value board qemu never reports" in err


# --- cloned VM: same -smbios line, new MAC ---------------------------------------------

def test_cloned_vm_with_a_new_mac_is_another_device(tmp_path):
    a = box(tmp_path / "a", 1)
    lic = issue_license(read_billing_ac(a.billing_ac()), VENDOR, issued=T0)
    clone = box(tmp_path / "clone", 1, mac="52:54:00:77:77:77")  # A's -smbios, a new NIC
    assert clone.identity().values["dmi"] == a.identity().values["dmi"]
    refused_and_unchanged(clone, lic, Code.WRONG_DEVICE, "1 of 2 identity components match",
                          "2 needed")
    # a license of the old format (DMI serial and UUID as two components) neither
    refused_and_unchanged(clone, old_license(a), Code.WRONG_DEVICE, "1 of 2")
    assert a.upload_license(lic).ok and a.upload_license(old_license(a)).ok


# --- demo identity ---------------------------------------------------------------------

def test_demo_model_is_issued_only_for_a_declared_test_device(tmp_path, vendor_files):
    dev = box(tmp_path / "dev", board="demo")
    rc, err, lic = issue(vendor_files, dev.billing_ac())
    assert rc == SalesExit.POLICY and lic is None
    assert "model DEMO (board demo) is a developer test device" in err and "--test-device" in err
    rc, err, lic = issue(vendor_files, dev.billing_ac(), "--test-device")
    assert rc == 0 and "test device" in err and dev.upload_license(lic).ok


def test_the_box_package_has_no_demo_board(tmp_path):
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import build_package
    finally:
        sys.path.remove(str(REPO / "tools"))
    shipped = [rel for _src, rel in build_package.package_files(
        REPO, build_package.setup_args(REPO / "setup.py"))]
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    for rel in shipped:
        if rel.startswith("billing_addon/board/profiles/"):
            (profiles / Path(rel).name).write_bytes((REPO / "board/profiles" /
                                                     Path(rel).name).read_bytes())
    assert {"u20.ini", "u50.ini", "qemu.ini", "generic.ini"} <= {p.name for p in profiles.iterdir()}
    # so a box cannot run the demo board, whose device-id file could be copied between boxes
    with pytest.raises(ProfileError, match="unknown board 'demo'"):
        load_profile("demo", tmp_path / "root", profiles=profiles)


# --- features --------------------------------------------------------------------------

def test_license_without_the_billing_feature_does_not_license_billing(tmp_path):
    a = box(tmp_path / "a", 1)
    other = issue_license(read_billing_ac(a.billing_ac()), VENDOR, issued=T0,
                          features=["recording"])
    refused_and_unchanged(a, other, Code.NO_FEATURE, "does not include the 'billing' feature",
                          "recording")
    # stored before this check existed (an older add-on): reported, not licensed
    (a.profile.area("persist") / "license.lic").write_bytes(other)
    set_running_time(a.profile.root, 31 * 86400)  # the trial's 30 days of running time are over
    status = box(a.profile.root, 1, clock=lambda: T0 + timedelta(days=31)).status()
    assert status.license_uploaded and not status.licensed and status.state == "expired"
    assert "does not include the 'billing' feature" in status.license_problem


# --- messages --------------------------------------------------------------------------

def box_cli(*args):
    proc = subprocess.run([sys.executable, "-m", "hwlicense.box_cli", *map(str, args)],
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stderr


def test_upload_messages_say_the_real_size_and_read_well(tmp_path):
    a = box(tmp_path / "a", 1)
    common = ["--board", "qemu", "--board-root", a.profile.root]
    before = snapshot(a)
    huge = tmp_path / "huge.lic"
    huge.write_bytes(os.urandom(10 * 1024 * 1024))
    rc, err = box_cli("license", "upload", huge, *common)
    assert rc == 5 and err.startswith("error: too-large: license refused: ")
    assert "10.0 MiB (10485760 bytes)" in err and "at most 64 KiB (65536 bytes)" in err
    assert "65537" not in err
    junk = tmp_path / "junk.lic"
    junk.write_bytes(b"BILLING-LICENSE 2\r\nlicense-id: x\nproduct: y\r")
    rc, err = box_cli("license", "upload", junk, *common)
    assert rc == 5 and "error: malformed: " in err
    assert "stray or mixed line ends" in err and "not an unchanged copy of a license file" in err
    assert "a clean a" not in err
    junk.write_bytes(b"hello\r\nworld\n\r")  # not even a license: said so, CR or not
    rc, err = box_cli("license", "upload", junk, *common)
    assert rc == 5 and "unknown-format" in err and "is not a license file" in err
    assert snapshot(a) == before


def test_sales_tool_says_the_real_size(tmp_path):
    big = tmp_path / "big.ac"
    big.write_bytes(b"BILLING-AC 2\n" + b"x" * (200 * 1024))
    proc = subprocess.run([sys.executable, "-m", "hwlicense.sales_cli", "inspect", str(big)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == SalesExit.BAD_INPUT
    assert "200.0 KiB (204813 bytes)" in proc.stderr and "65536 bytes" in proc.stderr


# --- privacy: nothing in billing.ac or the license gives a value away -------------------

def test_billing_ac_and_license_hold_no_hash_of_a_raw_value(tmp_path):
    for board, n in (("qemu", 1), ("u20", 2), ("generic", 3)):
        act = box(tmp_path / board, n, board)
        ac = act.billing_ac()
        lic = issue_license(read_billing_ac(ac), VENDOR, issued=T0)
        identity = act.identity()
        raw = set(identity.values.values())
        for value in list(raw):  # the parts of a group too, and the raw forms
            raw |= {line.partition("=")[2] for line in value.split("\n") if "=" in line}
        raw |= {f"52:54:00:12:34:{n:02x}", f"QEMU-{n:06d}", f"00000000c0ffee{n:02x}"}
        for name in list(identity.legacy) + list(identity.values):
            for value in raw:
                for text in (value, value.lower(), f"{name}\0{value}"):
                    digest = hashlib.sha256(text.encode()).hexdigest()
                    for blob in (ac, lic):
                        assert digest[:16].encode() not in blob
                        assert value.encode() not in blob
                for blob in (ac, lic):
                    assert component_hash(name, value).encode() not in blob
        assert b"fingerprint" not in ac


def test_a_license_digest_costs_a_slow_hash_with_its_own_salt(tmp_path):
    a = box(tmp_path / "a", 1)
    one = read_license(issue_license(read_billing_ac(a.billing_ac()), VENDOR, issued=T0)).license
    two = read_license(issue_license(read_billing_ac(a.billing_ac()), VENDOR, issued=T0)).license
    assert one.kdf is not None and one.kdf.n >= 2**13 and one.kdf.memory >= 8 * 1024 * 1024
    assert one.salt != two.salt and one.components["mac"] != two.components["mac"]
    assert one.fingerprint == two.fingerprint  # the vendor's: the same device


# --- the old format (1) ----------------------------------------------------------------

def old_license(act, match=2, features="billing"):
    """A format-1 license as the sales tool made them before: unkeyed hashes."""
    legacy = act.identity().legacy
    fields = [("license-id", "BL-OLD-1"), ("product", PRODUCT), ("model", act.profile.model),
              ("board", act.profile.name), ("fingerprint", fingerprint_of(legacy))]
    fields += [("component", f"{n} {h}") for n, h in sorted(legacy.items())]
    fields += [("match", str(match)), ("issued", "2024-05-01T12:00:00Z"), ("expires", "never"),
               ("features", features), ("ac-nonce", "0" * 32), ("key-id", KID)]
    body = serialize(LICENSE_KIND, 1, fields)
    return body + b"signature: " + base64.b64encode(VENDOR.sign(SIGNING_DOMAIN + body)) + b"\n"


def old_billing_ac(act):
    legacy = act.identity().legacy
    fields = [("product", PRODUCT), ("model", act.profile.model), ("board", act.profile.name),
              ("addon-version", "0.0.9"), ("created", "2024-05-01T12:00:00Z"),
              ("nonce", "1" * 32), ("fingerprint", fingerprint_of(legacy))]
    fields += [("component", f"{n} {h}") for n, h in sorted(legacy.items())]
    fields += [("match", "2")]
    return with_checksum(serialize(AC_KIND, 1, fields) + b"checksum: x\n")


@pytest.mark.parametrize("board", ["qemu", "u20", "generic"])
def test_old_format_licenses_keep_verifying(tmp_path, board):
    a = box(tmp_path / "a", 1, board)
    old = old_license(a)
    result = a.upload_license(old)
    assert result.ok, result.reason
    assert result.license.version == 1 and a.status().licensed
    other = box(tmp_path / "b", 2, board)
    refused_and_unchanged(other, old, Code.WRONG_DEVICE, "another device")
    # the box's minimum applies to them as well
    weak = box(tmp_path / "c", 1, board)
    refused_and_unchanged(weak, old_license(weak, match=1), Code.POLICY, "requires only 1")


def test_old_format_billing_ac_is_inspected_but_not_issued(tmp_path, vendor_files):
    a = box(tmp_path / "a", 1)
    ac = vendor_files / "old.ac"
    ac.write_bytes(old_billing_ac(a))
    proc = subprocess.run([sys.executable, "-m", "hwlicense.sales_cli", "inspect", str(ac)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "format 1, the old format" in proc.stdout
    assert "dmi_serial, dmi_uuid, mac (match 2)" in proc.stdout
    rc, err, lic = issue(vendor_files, old_billing_ac(a))
    assert rc == SalesExit.POLICY and lic is None
    assert "old format 1" in err and "upgrade the add-on on the box" in err
    # and an old license still verifies against its old billing.ac on the sales PC
    (vendor_files / "old.lic").write_bytes(old_license(a))
    proc = subprocess.run([sys.executable, "-m", "hwlicense.sales_cli", "verify",
                           str(vendor_files / "old.lic"), "--ac", str(ac),
                           "--pub", str(vendor_files / "vendor.pub")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("VALID"), proc.stderr


def test_a_new_uuid_alone_on_a_vm_is_another_device_too(tmp_path):
    """DMI and MAC are the two components of a VM: both must stay."""
    a = box(tmp_path / "a", 1)
    lic = issue_license(read_billing_ac(a.billing_ac()), VENDOR, issued=T0)
    set_dmi(a.profile.root, None, "99999999-1111-2222-3333-444455556666")
    moved = Activation(a.profile, clock=lambda: T0, trusted_keys=[VENDOR.public_key()])
    assert moved.verify(lic).code is Code.WRONG_DEVICE


def test_sales_verify_ties_a_license_to_its_billing_ac(tmp_path, vendor_files):
    a, b = box(tmp_path / "a", 1), box(tmp_path / "b", 2)
    rc, err, lic = issue(vendor_files, a.billing_ac())
    assert rc == 0 and "virtual or generic machine" in err  # QEMU: issued with a warning
    (vendor_files / "a.lic").write_bytes(lic)
    (vendor_files / "b.ac").write_bytes(b.billing_ac())

    def verify(ac, *options):
        proc = subprocess.run([sys.executable, "-m", "hwlicense.sales_cli", "verify",
                               str(vendor_files / "a.lic"), "--ac", str(ac),
                               "--pub", str(vendor_files / "vendor.pub"), *options],
                              capture_output=True, text=True, timeout=60)
        return proc.returncode, proc.stdout + proc.stderr

    key = ("--key", str(vendor_files / "vendor.key"))
    rc, out = verify(vendor_files / "request.ac")
    assert rc == 0 and "checked against its nonce" in out
    rc, out = verify(vendor_files / "request.ac", *key)
    assert rc == 0 and "checked against its identity" in out
    rc, out = verify(vendor_files / "b.ac")
    assert rc == SalesExit.INVALID and "made from another billing.ac" in out
    rc, out = verify(vendor_files / "b.ac", *key)
    assert rc == SalesExit.INVALID and "0 of 2 identity components match" in out


@pytest.mark.parametrize("plaintext", [b"[" * 30000, b'{"dmi":"a","dmi":"b","mac":"c"}'],
                         ids=["nested", "a-name-twice"])
def test_crafted_sealed_values_are_refused_as_malformed(tmp_path, plaintext):
    """Anyone may seal to the vendor's public key: deeply nested JSON must not crash the
    sales tool, and a component named twice must not pass (the last value winning)."""
    import dataclasses

    from hwlicense.billing_ac import unseal_values
    from hwlicense.results import FormatError
    from hwlicense.seal import seal

    ac = read_billing_ac(box(tmp_path / "a", 1).billing_ac())
    (kid,) = ac.sealed
    crafted = dataclasses.replace(ac, sealed={kid: seal(VENDOR.public_key(), plaintext,
                                                       ac.sealed_aad)})
    with pytest.raises(FormatError) as refused:
        unseal_values(crafted, VENDOR)
    assert refused.value.code == Code.MALFORMED
    assert unseal_values(ac, VENDOR).keys() == {"dmi", "mac"}  # the real one still reads
