"""Device identity: normalisation, sources, tolerance to documented harmless changes."""

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwlicense.board import load_profile
from hwlicense.fakedevice import make_device, set_cpuinfo_serial, set_dmi, set_mac
from hwlicense.identity import IdentityError, read_identity
from hwlicense.normalize import normalize, normalize_mac

SEPARATORS = [":", "-", ".", "_", " ", "\t", "{", "}"]

# (raw value, normalised) - one row per harmless variation
NORMALISE = [
    ("abc123", "ABC123"),  # case
    ("  ABC123\n", "ABC123"),  # surrounding whitespace, trailing newline
    ("ABC123\x00", "ABC123"),  # device-tree strings end in NUL
    ("AB-C1:23", "ABC123"),  # separators
    ("{4c4c4544-0042}", "4C4C45440042"),  # braces around a UUID
    ("To Be Filled By O.E.M.", None),  # placeholder
    ("Default string", None),  # placeholder
    ("Not Specified", None),  # placeholder
    ("00000000-0000-0000-0000-000000000000", None),  # all-zero UUID
    ("", None),  # empty
]


@pytest.mark.parametrize("raw,expected", NORMALISE)
def test_normalize(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("52:54:00:ab:cd:ef", "525400ABCDEF"),
        ("52-54-00-AB-CD-EF\n", "525400ABCDEF"),
        ("5254.00ab.cdef", "525400ABCDEF"),  # Cisco notation
        ("00:00:00:00:00:00", None),  # no MAC
        ("ff:ff:ff:ff:ff:ff", None),  # broadcast
        ("52:54:00:ab:cd", None),  # too short
        ("zz:54:00:ab:cd:ef", None),  # not hex
    ],
)
def test_normalize_mac(raw, expected):
    assert normalize_mac(raw) == expected


value = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=40)


@st.composite
def harmless_variant(draw, raw):
    """Same value with the documented harmless changes applied at random."""
    out = []
    for ch in raw:
        if draw(st.booleans()):
            ch = ch.swapcase()
        out.append(ch)
        if draw(st.integers(0, 4)) == 0:
            out.append(draw(st.sampled_from(SEPARATORS)))
    pad = st.text(alphabet=" \t\n\x00", max_size=3)
    return draw(pad) + "".join(out) + draw(pad)


@given(st.data(), value)
def test_normalisation_stable_under_harmless_changes(data, raw):
    variant = data.draw(harmless_variant(raw))
    assert normalize(variant) == normalize(raw)


@given(st.data(), st.binary(min_size=6, max_size=6))
def test_mac_normalisation_stable(data, raw):
    mac = ":".join(f"{b:02x}" for b in raw)
    variant = data.draw(harmless_variant(mac))
    assert normalize_mac(variant) == normalize_mac(mac)


def test_qemu_identity_and_harmless_changes(tmp_path):
    make_device(tmp_path, "qemu", 7)
    profile = load_profile("qemu", tmp_path)
    before = read_identity(profile)
    assert set(before.components) == {"dmi", "mac"}  # DMI serial and UUID: one component
    assert before.match == 2
    # harmless: case and separators of the UUID, the MAC upper case, NIC renamed enp0s2->eth0
    set_dmi(tmp_path, None, "00000007111122223333444455556666")
    (tmp_path / "sys/class/net/enp0s2/address").unlink()
    (tmp_path / "sys/class/net/enp0s2").rmdir()
    set_mac(tmp_path, "eth0", "52-54-00-12-34-07")
    after = read_identity(profile)
    assert after.components == before.components
    assert after.fingerprint == before.fingerprint


def test_no_raw_value_in_components(tmp_path):
    make_device(tmp_path, "qemu", 3)
    identity = read_identity(load_profile("qemu", tmp_path))
    text = repr(identity.components) + identity.fingerprint
    assert "QEMU" not in text.upper() and "525400123403" not in text.upper()


def test_placeholder_source_is_unreadable(tmp_path):
    make_device(tmp_path, "generic", 1)
    set_dmi(tmp_path, "To Be Filled By O.E.M.", None)
    identity = read_identity(load_profile("generic", tmp_path))
    assert "dmi_serial" not in identity.components
    assert "placeholder" in identity.problems["dmi_serial"]


def test_u20_cpu_serial_from_device_tree_or_cpuinfo_is_the_same(tmp_path):
    dt, ci = tmp_path / "dt", tmp_path / "ci"
    make_device(dt, "u20", 5)
    set_mac(ci, "eth0", "52:54:00:12:34:05")
    set_cpuinfo_serial(ci, "00000000c0ffee05")  # older kernel: serial in /proc/cpuinfo
    a = read_identity(load_profile("u20", dt))
    b = read_identity(load_profile("u20", ci))
    assert a.components == b.components
    assert set(a.components) == {"cpu_serial", "mac"}  # no modem attached in the test


def test_no_source_is_a_clear_error(tmp_path):
    with pytest.raises(IdentityError) as err:
        read_identity(load_profile("qemu", tmp_path))
    message = str(err.value)
    assert "cannot identify" in message and "dmi_serial" in message and "mac" in message


def test_demo_identity_is_created_once(tmp_path):
    profile = load_profile("demo", tmp_path)
    first = read_identity(profile)
    assert (tmp_path / "nvram" / "device-id").exists()
    assert read_identity(load_profile("demo", tmp_path)).components == first.components
    other = read_identity(load_profile("demo", tmp_path / "other"))
    assert other.components != first.components
