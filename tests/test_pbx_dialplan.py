"""The shipped dialplan include: every label it jumps to exists, it calls the scripts
the server serves with the arguments the handlers read, and it follows the recorded
facts (settle pushed before authorize, no L() without a limit, fail-closed default)."""

import re
from importlib import resources

from billing_addon.pbx.handlers import make_handlers

TEXT = resources.files("billing_addon").joinpath("dialplan/billing.conf").read_text(encoding="utf-8")


def contexts():
    found, current = {}, None
    for raw in TEXT.splitlines():
        line = raw.split(";", 1)[0].strip() if not raw.strip().startswith(";") else ""
        if not line:
            continue
        match = re.match(r"^\[([\w-]+)\]$", line)
        if match:
            current = found.setdefault(match.group(1), [])
            continue
        current.append(line)
    return found


def test_labels_and_contexts():
    found = contexts()
    assert set(found) == {"billing-dial", "billing-balance", "billing-settle",
                          "billing-settle-agi"}
    for name, lines in found.items():
        labels = set(re.findall(r"same => n\(([\w-]+)\)", "\n".join(lines)))
        targets = re.findall(r"\?([\w-]+)\)$", "\n".join(lines), re.M)
        targets += re.findall(r"Goto\(([\w-]+)\)", "\n".join(lines))
        targets += re.findall(r"Goto\(s,([\w-]+)\)", "\n".join(lines))
        assert set(targets) <= labels, (name, set(targets) - labels)
        assert targets or name != "billing-dial"
    assert "Set(CHANNEL(hangup_handler_push)=billing-settle,s,1)" in TEXT


def test_scripts_and_arguments_match_the_server():
    scripts = re.findall(r"AGI\(agi://\$\{BILLING_AGI\}/(\w+),", TEXT)
    assert scripts == ["authorize", "account", "balance", "settle"]  # account: PIN billing
    assert set(scripts) == set(make_handlers(lambda: "active"))
    assert "AGI(agi://${BILLING_AGI}/settle,${BILLING_SETTLE})" in TEXT
    line = next(line for line in TEXT.splitlines() if "BILLING_SETTLE=" in line)
    settle = line.split("BILLING_SETTLE=", 1)[1].rstrip()[:-2]  # without "))"
    assert settle.split(",") == ["${CDR(billsec)}", "${DIALSTATUS}", "${UNIQUEID}",
                                 "${ANSWEREDTIME}", "${CALLERID(num)}", "${BILLING_DIALED}",
                                 "${ANSWEREDTIME_MS}"]


def test_recorded_facts():
    dial = contexts()["billing-dial"]
    text = "\n".join(dial)
    # settle is pushed before authorize (a hangup during authorize skips the dialplan)
    assert text.index("hangup_handler_push") < text.index("/authorize")
    # the answer is cleared first, and every answer variable is set from it after
    # authorize: a stale ALLOWED (or limit) must not survive a failed authorize
    assert text.index("MSet(BILLING_ANSWER=,") < text.index("/authorize")
    split = text.index("Set(ARRAY(BILLING_RESULT,BILLING_REASON,BILLING_LIMIT_MS,"
                       "BILLING_WARN_MS,BILLING_LOW,BILLING_PIN_DIGITS)=${BILLING_ANSWER})")
    assert text.index("n(decide),") + len("n(decide),") == split < text.index("?allowed)")
    # only ALLOWED with a limit dials with L(); ALLOWED without one goes to the fail mode
    assert ('GotoIf($["${BILLING_RESULT}" = "ALLOWED" & "${BILLING_LIMIT_MS}" != ""]?allowed)'
            in text)
    assert text.index("?allowed)") < text.index('"${BILLING_FAIL_MODE}" = "open"')
    # L(limit:) with no warning is Asterisk's L(limit) (main/features.c reads an empty
    # warning as 0); the live tier checks both on a real Asterisk
    assert "n,Dial(${ARG2},${ARG3},L(${BILLING_LIMIT_MS}:${BILLING_WARN_MS})${ARG4})" in text
    # AGISTATUS=SUCCESS with an empty result is not "allowed": fail mode decides, closed
    # unless BILLING_FAIL_MODE is "open"
    assert 'GotoIf($["${BILLING_FAIL_MODE}" = "open"]?unbilled)' in text
    assert "Hangup(21)" in text


def test_every_wait_is_bounded():
    """Issue #18 item 2: Asterisk has no FastAGI read timeout.  Authorize runs under the
    channel's absolute timeout (its T extension goes on to the fail mode) and ends when
    the caller hangs up; settle runs on a channel of its own, hung up after the bound."""
    dial = "\n".join(contexts()["billing-dial"])
    authorize = dial.index("/authorize,")
    # one MSet before authorize: the answer cleared, AGIEXITONHANGUP, the channel's own
    # absolute timeout kept (${TIMEOUT(absolute)} is expanded before MSet sets anything),
    # then the bound
    bounded = ('MSet(BILLING_ANSWER=,LOCAL(AGIEXITONHANGUP)=yes,'
               'LOCAL(absolute)=${TIMEOUT(absolute)},'
               'TIMEOUT(absolute)=${IF($["${BILLING_WAIT_SECONDS}" = ""]?2:'
               '${BILLING_WAIT_SECONDS})})')
    assert dial.index(bounded) < authorize
    # and put back after authorize, on every way on (allowed, and all the others)
    allowed = dial.index("?allowed)")
    assert authorize < allowed < dial.index("Set(TIMEOUT(absolute)=${LOCAL(absolute)})") \
        < dial.index("?account)")
    assert "n(allowed),MSet(TIMEOUT(absolute)=${LOCAL(absolute)},CDR(userfield)=billing)" in dial
    assert "exten => T,1," in dial and "Goto(s,decide)" in dial
    settle = contexts()["billing-settle"]
    # the handler's first step: ${CDR(billsec)} is right only there
    assert settle[0].startswith("exten => s,1,Originate(Local/s@billing-settle-agi,")
    assert (",${IF($[\"${BILLING_WAIT_SECONDS}\" = \"\"]?2:${BILLING_WAIT_SECONDS})},"
            "av(CDR_PROP(disable)=1^AGIEXITONHANGUP=yes^BILLING_AGI=") in settle[0]
    agi = "\n".join(contexts()["billing-settle-agi"])
    assert agi.index("Set(CDR_PROP(disable)=1)") < agi.index("/settle,")


def test_low_balance_prompt_and_balance_announcement():
    text = "\n".join(contexts()["billing-dial"])
    # BILLING_LOW is set from the answer with the others and the prompt plays only on ALLOWED
    assert ",BILLING_LOW,BILLING_PIN_DIGITS)=${BILLING_ANSWER})" in text
    topup = text.index("Playback(${BILLING_SOUND_TOPUP},noanswer)")
    assert text.index("(allowed)") < topup < text.index("Dial(${ARG2},${ARG3},L(")
    assert '"${BILLING_LOW}" = "1"' in text
    balance = "\n".join(contexts()["billing-balance"])
    assert "AGI(agi://${BILLING_AGI}/balance,${CALLERID(num)})" in balance
    assert balance.index("TIMEOUT(absolute)=") < balance.index("/balance")
    assert "SayNumber(${BILLING_BALANCE_UNITS})" in balance
    assert "SayNumber(${BILLING_BALANCE_CENTS})" in balance


def test_authorize_answers_in_one_variable_and_an_allowed_call_takes_few_steps():
    """Issue #17 item 3: one round trip for the answer (the third argument names the
    variable), and an allowed call runs at most 12 dialplan steps up to and with its Dial
    (27 at first, 19 in session 9), each of which costs Asterisk time on every call."""
    dial = contexts()["billing-dial"]
    assert any("/authorize,${CALLERID(num)},${ARG1},BILLING_ANSWER)" in line for line in dial)
    steps = [line for line in dial if line.startswith(("exten => s,", "same =>"))]
    label = {}
    for n, line in enumerate(steps):
        match = re.match(r"same => n\(([\w-]+)\)", line)
        if match:
            label[match.group(1)] = n
    to_allowed = next(n for n, line in enumerate(steps) if line.endswith("?allowed)"))
    dial_step = next(n for n, line in enumerate(steps)
                     if "Dial(" in line and "L(${BILLING_LIMIT_MS}" in line)
    # from the first step to the GotoIf that jumps to "allowed", then allowed to Dial
    allowed_path = (to_allowed + 1) + (dial_step - label["allowed"] + 1)
    assert allowed_path <= 12, allowed_path
    # the first GotoIf after the answer is split is the one to "allowed"
    assert not any("GotoIf(" in line for line in steps[label["decide"]:to_allowed])
