"""billing.ac and license files: round trip, every refusal with its reason, mutations."""

import os
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwlicense import keys
from hwlicense.activation import Activation
from hwlicense.billing_ac import read_billing_ac
from hwlicense.board import load_profile
from hwlicense.fakedevice import make_device, set_cpuinfo_serial, set_dmi, set_mac
from hwlicense.identity import read_identity
from hwlicense.license import issue_license, read_license
from hwlicense.product import PRODUCT
from hwlicense.results import Code, FormatError
from hwlicense.verify import Expected, verify_license

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
VENDOR = keys.generate()  # generated per test run: no key is ever stored
TRUSTED = {keys.key_id(VENDOR.public_key()): VENDOR.public_key()}


def device(root, n=1, board="qemu"):
    make_device(root, board, n)
    return Activation(load_profile(board, root), clock=lambda: T0, trusted_keys=[VENDOR.public_key()])


def expected_for(act):
    return Expected.device(act.profile, read_identity(act.profile))


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    act = device(tmp_path_factory.mktemp("box"))
    ac = act.billing_ac()
    lic = issue_license(read_billing_ac(ac), VENDOR, issued=T0)
    return act, ac, lic


def test_round_trip(box):
    act, ac, lic = box
    result = verify_license(lic, TRUSTED, expected_for(act))
    assert result.ok and result.code is Code.OK
    parsed = read_license(lic).license
    assert parsed.product == PRODUCT and parsed.model == "QEMU"
    # format 2: the fingerprint is the vendor's (keyed): the same for every license of
    # this device, in no billing.ac
    again = issue_license(read_billing_ac(act.billing_ac()), VENDOR, issued=T0)
    assert parsed.fingerprint == read_license(again).license.fingerprint
    assert read_billing_ac(ac).fingerprint is None and parsed.fingerprint.encode() not in ac
    assert parsed.features == ("billing",)
    assert parsed.key_id == keys.key_id(VENDOR.public_key())


def test_billing_ac_holds_nothing_secret(box, tmp_path):
    _, ac, _ = box
    text = ac.decode()
    assert "QEMU-000001" not in text and "52:54:00" not in text
    assert text.startswith("BILLING-AC 2\n") and "\nchecksum: sha256:" in text


def test_billing_ac_typo_is_detected(box):
    _, ac, _ = box
    typo = ac.replace(b"model: QEMU", b"model: QEMV")
    with pytest.raises(FormatError) as err:
        read_billing_ac(typo)
    assert err.value.code is Code.CHECKSUM


def test_license_sent_through_a_crlf_mailer_still_verifies(box):
    act, _, lic = box
    assert verify_license(lic.replace(b"\n", b"\r\n"), TRUSTED, expected_for(act)).ok


def other_product_license(ac):
    return issue_license(read_billing_ac(ac), VENDOR, issued=T0, product="other-product")


def other_device_license(tmp):
    other = device(tmp, 2)
    return issue_license(read_billing_ac(other.billing_ac()), VENDOR, issued=T0)


def unknown_key_license(ac, act):
    # the billing.ac is sealed to VENDOR: another key can only sign the values it is given
    return issue_license(read_billing_ac(ac), keys.generate(), issued=T0,
                         values=act.identity().values)


def flip(data, index, bit=0):
    out = bytearray(data)
    out[index] ^= 1 << bit
    return bytes(out)


# name -> (build bad input from (ac, license, tmp dir), expected code)
REFUSALS = {
    "flipped bit in a field": (lambda ac, lic, t: flip(lic, lic.index(b"match:") + 3), None),
    "flipped bit in the signature": (lambda ac, lic, t: flip(lic, len(lic) - 10, 3), None),
    "flipped last newline": (lambda ac, lic, t: flip(lic, len(lic) - 1), Code.TRUNCATED),
    "another device": (lambda ac, lic, t: other_device_license(t), Code.WRONG_DEVICE),
    "another product": (lambda ac, lic, t: other_product_license(ac), Code.WRONG_PRODUCT),
    "unknown key id": (lambda ac, lic, t: unknown_key_license(ac, device(t / "u")),
                       Code.UNKNOWN_KEY),
    "future version": (lambda ac, lic, t: lic.replace(b"LICENSE 2", b"LICENSE 3", 1),
                       Code.UNSUPPORTED_VERSION),
    "truncated": (lambda ac, lic, t: lic[: len(lic) // 2], Code.TRUNCATED),
    "truncated by one byte": (lambda ac, lic, t: lic[:-1], Code.TRUNCATED),
    "empty": (lambda ac, lic, t: b"", Code.EMPTY),
    "10 MB random": (lambda ac, lic, t: os.urandom(10 * 1024 * 1024), Code.TOO_LARGE),
    "binary garbage": (lambda ac, lic, t: os.urandom(3000), None),
    "billing.ac instead": (lambda ac, lic, t: ac, Code.WRONG_KIND),
    "text that is no license": (lambda ac, lic, t: b"hello\n", Code.UNKNOWN_FORMAT),
    "stray CR": (lambda ac, lic, t: lic.replace(b"\n", b"\r\n", 1), Code.MALFORMED),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refusals_have_a_code_and_reason(name, box, tmp_path):
    act, ac, lic = box
    build, code = REFUSALS[name]
    result = verify_license(build(ac, lic, tmp_path), TRUSTED, expected_for(act))
    assert not result.ok and result.license is None
    if code is not None:
        assert result.code is code, result.reason
    assert result.reason.startswith("license refused: ") and len(result.reason) > 25


def test_no_trusted_keys(box):
    act, _, lic = box
    assert verify_license(lic, {}, expected_for(act)).code is Code.NO_TRUSTED_KEYS


def test_one_identity_source_may_change(tmp_path):
    # a board with three independent sources (on qemu, DMI and MAC are two: both needed)
    set_cpuinfo_serial(tmp_path, "00000000c0ffee04")
    act = device(tmp_path, 4, board="generic")
    lic = issue_license(read_billing_ac(act.billing_ac()), VENDOR, issued=T0)
    set_mac(tmp_path, "eth0", "52:54:00:99:99:99")  # NIC replaced: 2 of 3 still match
    assert verify_license(lic, TRUSTED, expected_for(act)).ok
    set_dmi(tmp_path, "QEMU-OTHER", None)  # two changed: another device
    assert verify_license(lic, TRUSTED, expected_for(act)).code is Code.WRONG_DEVICE


MUTATION = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(0, 7)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 8)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("replace"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.just(0)),
)


def mutate(data, mutation):
    kind, pos, arg = mutation
    if not data:
        return data + b"x"
    pos %= len(data)
    if kind == "flip":
        return flip(data, pos, arg)
    if kind == "delete":
        return data[:pos] + data[pos + arg:]
    if kind == "insert":
        return data[:pos] + arg + data[pos:]
    if kind == "replace":
        return data[:pos] + bytes([arg]) + data[pos + 1:]
    return data[:pos]


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(MUTATION, min_size=1, max_size=3))
def test_any_mutation_of_a_signed_license_fails(box, mutations):
    act, _, lic = box
    bad = lic
    for m in mutations:
        bad = mutate(bad, m)
    if bad == lic:
        return  # e.g. replacing a byte by itself: not a mutation
    result = verify_license(bad, TRUSTED, expected_for(act))
    assert not result.ok, mutations
