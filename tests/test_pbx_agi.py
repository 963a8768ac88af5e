"""The FastAGI protocol pieces against the recorded bytes."""

import collections

import pytest

from billing_addon.pbx import agi
from tests.pbx_support import env_bytes, sessions, sidecar


@pytest.mark.parametrize("name", [n for n in sessions() if sidecar(n)["raw_received"]])
def test_recorded_environment_parses_to_the_sidecar(name):
    raw = env_bytes(name).decode("utf-8")
    env = dict(agi.parse_env_line(line) for line in raw.split("\n")[:-2])
    assert env == sidecar(name)["env"]
    assert agi.args(env) == sidecar(name)["agi_args"]
    assert agi.script_name(env) in ("authorize", "settle")


def test_every_recorded_reply_parses_like_the_sidecar():
    seen = 0
    for name in sessions():
        for ex in sidecar(name)["exchanges"]:
            reply = agi.parse_reply(ex["reply"]["lines"])
            assert reply.code == ex["reply"]["code"], ex
            if reply.code == 200:
                assert reply.result == ex["reply"]["result"], ex
                assert reply.data == ex["reply"]["data"], ex
            seen += 1
    assert seen > 40


@pytest.mark.parametrize("line, code, result, data", [
    ("200 result=1", 200, "1", None),                          # SET VARIABLE, VERBOSE
    ("200 result=1 (a (b) c)", 200, "1", "a (b) c"),          # data to the last ')'
    ('200 result=1 (say "hi")', 200, "1", 'say "hi"'),
    ("200 result=1 ()", 200, "1", ""),                        # set to the empty string
    ("200 result=0", 200, "0", None),                         # missing variable, NOOP
    ("200 result=4", 200, "4", None),                         # CHANNEL STATUS: ring
    ("200 result=-1", 200, "-1", None),
    ("510 Invalid or unknown command", 510, None, None),
    ("511 Command Not Permitted on a dead channel or intercept routine", 511, None, None),
    ("520 Invalid command syntax.  Proper usage not available.", 520, None, None),
])
def test_reply_forms(line, code, result, data):
    reply = agi.parse_reply([line])
    assert (reply.code, reply.result, reply.data) == (code, result, data)


@pytest.mark.parametrize("line", ["agi_arg_1 1001", "HANGUP now", "foo: bar", "agi_x y: z", ""])
def test_malformed_env_lines(line):
    with pytest.raises(agi.AgiError):
        agi.parse_env_line(line)


def test_empty_argument_keeps_its_separator():
    assert agi.parse_env_line("agi_arg_4: ") == ("agi_arg_4", "")
    assert agi.parse_env_line("agi_arg_4:") == ("agi_arg_4", "")


@pytest.mark.parametrize("lines", [["hello"], ["200 result=x"], ["200 nothing"], ["20 result=1"]])
def test_malformed_replies(lines):
    with pytest.raises(agi.AgiError):
        agi.parse_reply(lines)


@pytest.mark.parametrize("value, quoted", [
    ("ALLOWED", "ALLOWED"),                  # as the recordings send it
    ("5000", "5000"),
    ("hello world", '"hello world"'),        # unquoted would be a 520
    ('say "hi"', '"say \\"hi\\""'),
    ("", '""'),
    ("a\\b", '"a\\\\b"'),
])
def test_quote(value, quoted):
    assert agi.quote(value) == quoted


def test_multi_line_520_and_unsolicited_hangup():
    reader = agi.ReplyReader()
    lines = ["HANGUP",
             "520-Invalid command syntax.  Proper usage follows:",
             " Usage: GET VARIABLE <variablename>",
             "200 lookalike line inside the usage text"]
    assert [reader.feed(line) for line in lines] == [None] * 4
    reply = reader.feed("520 End of proper usage.")
    assert reply.code == 520 and len(reply.lines) == 4 and reader.hungup
    assert "Proper usage follows" in reply.text
    assert agi.variable_value(agi.ReplyReader().feed("200 result=1 (x)")) == "x"
    assert agi.variable_value(agi.parse_reply(["200 result=0"])) is None
    assert agi.variable_value(agi.parse_reply(["200 result=1"])) == ""


@pytest.mark.parametrize("line", ["hello", "SET VARIABLE X 1", "HANGUP now"])
def test_a_reply_must_start_with_a_code(line):
    with pytest.raises(agi.AgiError, match="unexpected"):
        agi.ReplyReader().feed(line)


def test_environment_limits():
    reader = agi.EnvReader()
    assert not reader.feed("agi_network: yes") and not reader.feed("HANGUP")
    assert reader.feed("") and reader.env == {"agi_network": "yes"} and reader.hungup
    with pytest.raises(agi.AgiError, match="empty"):
        agi.EnvReader().feed("")
    reader = agi.EnvReader()
    with pytest.raises(agi.AgiError, match="too many lines"):
        for n in range(agi.MAX_ENV_LINES + 1):
            reader.feed(f"agi_arg_{n}: x")
    reader = agi.EnvReader()
    with pytest.raises(agi.AgiError, match="too big"):
        for n in range(agi.MAX_ENV_LINES):
            reader.feed(f"agi_arg_{n}: " + "x" * 4000)


def test_split_lines_keeps_the_unfinished_line_and_bounds_it():
    buffer = bytearray(b"agi_network: yes\r\nagi_type: Local\nagi_netw")
    assert agi.split_lines(buffer) == ["agi_network: yes", "agi_type: Local"]
    assert buffer == b"agi_netw"
    assert agi.split_lines(buffer) == [] and buffer == b"agi_netw"
    buffer += b"ork: yes\n"
    assert agi.split_lines(buffer) == ["agi_network: yes"] and buffer == b""
    with pytest.raises(agi.AgiError, match="too long"):
        agi.split_lines(bytearray(b"y" * (agi.MAX_LINE + 1)))
    with pytest.raises(agi.AgiError, match="too long"):
        agi.split_lines(bytearray(b"y" * (agi.MAX_LINE + 1) + b"\nok\n"))
    assert agi.split_lines(bytearray(b"\xff\xfe\n")) == ["\ufffd\ufffd"]


def test_command_with_a_line_break_is_refused():
    with pytest.raises(ValueError):
        agi.set_variable("X", "a\nHANGUP")
    with pytest.raises(ValueError):
        agi.Command("NOOP\rHANGUP")


def test_run_inline_drives_a_script():
    def script(env):
        reply = yield agi.get_variable("DIALSTATUS")
        doubled = yield agi.Work(lambda v: v * 2, (agi.variable_value(reply),))
        reply = yield agi.set_variable("OUT", doubled)
        return reply.code

    replies = {"GET VARIABLE DIALSTATUS": ["200 result=1 (BUSY)"],
               "SET VARIABLE OUT BUSYBUSY": ["510 Invalid or unknown command"]}
    assert agi.run_inline(script({}), replies) == 510


@pytest.mark.parametrize("ms, answered, billsec, seconds", [
    ("1900", "1", "1", 2),        # Asterisk truncates ANSWEREDTIME; a started second is billed
    ("60500", "60", "60", 61),
    ("5000", "5", "5", 5),        # exactly 5 s is 5 s
    ("0", "0", "0", 0),
    ("1", "0", "0", 1),
    ("", "3", "3", 3),            # no ANSWEREDTIME_MS (older Asterisk): ANSWEREDTIME
    ("", "", "7", 7),             # neither: the billsec argument
    ("", "", "", 0),              # not answered
    ("x", "4", "9", 4),           # garbage is not a number
])
def test_settle_bills_every_started_second(ms, answered, billsec, seconds):
    from billing_addon.pbx.handlers import started_seconds

    assert started_seconds(ms, answered, billsec) == seconds


@pytest.mark.parametrize("name", [n for n in sessions() if "\n\n" in sidecar(n)["raw_received"]])
def test_a_whole_environment_block_reads_as_line_by_line(name):
    """``feed_lines`` (the server's: a block at a time) reads every recorded environment
    as ``feed`` does, and leaves the lines after its end."""
    lines = env_bytes(name).decode("utf-8").split("\n")[:-1]
    one = agi.EnvReader()
    assert [one.feed(line) for line in lines][-1]
    block = agi.EnvReader()
    pending = collections.deque(lines + ["200 result=1"])
    assert block.feed_lines(pending) and list(pending) == ["200 result=1"]
    assert block.env == one.env and block.hungup == one.hungup


@pytest.mark.parametrize("line", ["agi_network yes", "HELLO: x", "agi_bad-name: x", "agi_x y: z"])
def test_a_bad_line_in_a_block_is_refused(line):
    reader = agi.EnvReader()
    with pytest.raises(agi.AgiError):
        reader.feed_lines(collections.deque(["agi_network: yes", line, ""]))


def test_environment_limits_hold_for_a_block():
    with pytest.raises(agi.AgiError, match="too many lines"):
        agi.EnvReader().feed_lines(collections.deque(
            [f"agi_arg_{n}: x" for n in range(agi.MAX_ENV_LINES + 1)]))
    with pytest.raises(agi.AgiError, match="too big"):
        agi.EnvReader().feed_lines(collections.deque(
            [f"agi_arg_{n}: " + "x" * 4000 for n in range(agi.MAX_ENV_LINES)]))
    reader = agi.EnvReader()
    assert reader.feed_lines(collections.deque(["agi_network: yes", "HANGUP", ""]))
    assert reader.hungup and reader.env == {"agi_network": "yes"}
