"""Call barring on a real Asterisk 22 with the shipped dialplan: a call to a barred call
type is denied ``barred`` by authorize, and the dialplan plays its sound (when set) and
the special-information tone, then rejects the call; no money moves."""

import pytest

from billing_addon import barring, rates
from billing_addon.store import Department, Extension
from tests.helpers import make_rate
from tests.live.livepbx import balance
from tests.live.test_dialplan_live import check_charged, check_not_charged, check_rejected

INTERNATIONAL = "98"  # the prefix of this file's international rate (no other test dials 98)


@pytest.fixture
def international(live):
    """A rate of type 'international' for 98..., 1 cent a second (made once a session)."""
    if not any(r.prefix == INTERNATIONAL for r in rates.load_all()):
        make_rate(INTERNATIONAL, rate="0.01", unit="1", call_type="international")


@pytest.mark.parametrize("with_sound", [False, True], ids=["tone", "sound+tone"])
def test_a_barred_call_type_is_denied_with_its_tone(live, extension, international, with_sound):
    sound = "custom/barred" if with_sound else ""
    if sound:
        live.asterisk.add_sound(sound)
    live.ami.set_global("BILLING_SOUND_BARRED", sound)
    number = extension(balance="1")
    barring.bar_extensions([number], ["international"])
    before = balance(number)
    placed = live.call(number, INTERNATIONAL + "1234567", talk=1)
    check_rejected(live, placed, "barred", "info", sound)
    call = check_not_charged(live, placed, "denied", barring.BARRED)
    assert call.call_type == "international" and call.reserved == 0
    assert balance(number) == before


def test_a_department_barring_denies_its_members_and_no_other(live, extension, international):
    barred, free = extension(balance="1"), extension(balance="1")
    dept = Department.create(name=f"Rooms {barred}", created_utc=0, updated_utc=0)
    Extension.update(department=dept.id).where(Extension.number == barred).execute()
    barring.bar_departments({dept.id: ["international"]})
    placed = live.call(barred, INTERNATIONAL + "1234568", talk=1)
    check_rejected(live, placed, "barred", "info")
    check_not_charged(live, placed, "denied", barring.BARRED)
    # an extension outside the department calls the same type, and pays for it
    before = balance(free)
    placed = live.call(free, INTERNATIONAL + "1234569", talk=1)
    live.wait_hangup(placed)
    call, _ms = check_charged(live, placed, dict(prefix=INTERNATIONAL, rate="0.01", unit="1"),
                              before)
    assert call.call_type == "international"
