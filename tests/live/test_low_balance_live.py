"""Issue #14 items 2-3 on a real Asterisk 22: the top-up prompt before a low-balance
call (and not above the threshold), the insufficient-balance prompt, and the balance
announcement (``*88`` -> [billing-balance]) saying the right number."""

from billing_addon import accounts, money, settings
from tests.live.test_dialplan_live import check_rejected, dial_options

cents = money.parse_amount


def topup_playbacks(live, placed):
    return [data for app, data in live.applications(placed)
            if app == "ExecIf" and "BILLING_SOUND_TOPUP" not in data and "topup" in data]


def test_topup_prompt_plays_before_a_low_balance_call(live, extension):
    live.asterisk.add_sound("custom/topup")
    live.ami.set_global("BILLING_SOUND_TOPUP", "custom/topup")
    settings.put("low_balance_threshold", "5")
    number = extension(balance="1")
    placed = live.call(number, "91000101", talk=0.5)
    live.wait_hangup(placed)
    assert live.variable(placed, "BILLING_LOW") == "1"
    assert topup_playbacks(live, placed) == ["1?Playback(custom/topup,noanswer)"]
    assert live.variable(placed, "PLAYBACKSTATUS") == "SUCCESS"
    apps = [app for app, _ in live.applications(placed)]
    assert apps.index("ExecIf", apps.index("AGI")) < apps.index("Dial")  # before the call
    assert dial_options(live, placed).startswith("L(")
    live.settled(placed)


def test_no_topup_prompt_at_or_above_the_threshold(live, extension):
    live.asterisk.add_sound("custom/topup")
    live.ami.set_global("BILLING_SOUND_TOPUP", "custom/topup")
    settings.put("low_balance_threshold", "5")
    number = extension(balance="5")  # at the threshold is not below it
    accounts.edit([number], low_threshold=cents("5"))
    placed = live.call(number, "91000102", talk=0.5)
    live.wait_hangup(placed)
    assert live.variable(placed, "BILLING_LOW") == ""  # cleared, never set
    assert topup_playbacks(live, placed) == ["0?Playback(custom/topup,noanswer)"]
    assert live.variable(placed, "PLAYBACKSTATUS") is None
    live.settled(placed)


def test_insufficient_balance_prompt_plays(live, extension):
    live.asterisk.add_sound("custom/no-credit")
    live.ami.set_global("BILLING_SOUND_NOFUNDS", "custom/no-credit")
    settings.put("low_balance_threshold", "5")
    number = extension(balance="0.01")
    placed = live.call(number, "91000103", talk=1)
    check_rejected(live, placed, "no-funds", "congestion", "custom/no-credit")


DIGITS = ["digits/2", "digits/7", "digits/15", "digits/40"]


def say_files(live, placed):
    """The sound files Asterisk played (or looked for in vain) on the caller's channel,
    in order, from its log: what SayNumber and the Playbacks used.  The live tier ships
    no sounds; the tests add the ones the right answer needs."""
    import re
    channel = live.events(placed, "Newchannel")[0]["Channel"]
    text = live.asterisk.messages_log.read_text(errors="replace")
    call_id = re.search(r"\[(C-[0-9a-f]+)\][^\n]*" + re.escape(channel), text).group(1)
    found = re.findall(rf"\[{call_id}\][^\n]*(?:Playing '([^']+)\.slin'|File (\S+) does "
                       r"not exist)", text)
    return [played or (missing + " (missing)") for played, missing in found]


def announce(live, number):
    placed = live.call(number, "*88")
    live.wait_hangup(placed, 60)
    return placed


def test_balance_announcement_says_the_balance(live, extension):
    for name in DIGITS + ["custom/your-balance", "custom/dollars", "custom/cents"]:
        live.asterisk.add_sound(name)
    live.ami.set_global("BILLING_SOUND_BALANCE", "custom/your-balance")
    live.ami.set_global("BILLING_SOUND_CURRENCY", "custom/dollars")
    live.ami.set_global("BILLING_SOUND_CENTS", "custom/cents")
    number = extension(balance="42.07")
    placed = announce(live, number)
    apps = live.applications(placed)
    assert ("SayNumber", "42") in apps and ("SayNumber", "7") in apps
    assert live.variable(placed, "BILLING_BALANCE_RESULT") == "OK"
    assert live.variable(placed, "BILLING_CURRENCY") == "USD"
    # what Asterisk played, in order: the intro, 40 + 2, the currency, 7, cents
    assert say_files(live, placed) == ["custom/your-balance", "digits/40", "digits/2",
                                       "custom/dollars", "digits/7", "custom/cents"]


def test_balance_announcement_of_whole_and_unknown(live, extension):
    for name in DIGITS:
        live.asterisk.add_sound(name)
    number = extension(balance="15")
    placed = announce(live, number)
    assert ("SayNumber", "15") in live.applications(placed)
    assert [a for a, d in live.applications(placed) if a == "SayNumber"] == ["SayNumber"]
    assert say_files(live, placed) == ["digits/15"]  # no sounds set: the number alone
    stranger = live.call("5999", "*88")
    live.wait_hangup(stranger, 60)
    assert live.variable(stranger, "BILLING_BALANCE_RESULT") == "UNKNOWN"
    assert "SayNumber" not in [a for a, _ in live.applications(stranger)]
    assert ("PlayTones", "congestion") in live.applications(stranger)
