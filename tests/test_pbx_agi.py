"""The FastAGI protocol pieces against the recorded bytes."""

import socket
import threading

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


def _session_with(peer_bytes: bytes, **kw):
    """A session whose peer sends ``peer_bytes`` (from a thread: they may not fit in
    the socket buffer)."""
    ours, theirs = socket.socketpair()

    def send():
        try:
            theirs.sendall(peer_bytes)
        except OSError:
            pass

    threading.Thread(target=send, daemon=True).start()
    return agi.Session(ours, **kw), theirs


def test_multi_line_520_and_unsolicited_hangup():
    usage = (b"HANGUP\n"
             b"520-Invalid command syntax.  Proper usage follows:\n"
             b" Usage: GET VARIABLE <variablename>\n"
             b"200 lookalike line inside the usage text\n"
             b"520 End of proper usage.\n"
             b"200 result=1 (x)\n")
    session, peer = _session_with(usage)
    try:
        reply = session.command("GET VARIABLE")
        assert reply.code == 520 and len(reply.lines) == 4 and session.hungup
        assert "Proper usage follows" in reply.text
        assert session.get_variable("X") == "x"
    finally:
        session.close()
        peer.close()


def test_line_too_long_and_slow_peer():
    session, peer = _session_with(b"agi_network: " + b"y" * (1 << 20) + b"\n")
    with pytest.raises(agi.AgiError, match="too long"):
        session.read_env()
    session.close()
    peer.close()
    session, peer = _session_with(b"agi_network: yes\n", idle_timeout=0.2)
    with pytest.raises(agi.AgiError, match="slow"):
        session.read_env()
    session.close()
    peer.close()


def test_eof_in_the_middle():
    session, peer = _session_with(b"agi_network: yes\nagi_netw")
    peer.shutdown(socket.SHUT_WR)
    with pytest.raises(agi.PeerGone):
        session.read_env()
    session.close()
    peer.close()


def test_finish_half_closes_and_drains_the_trailing_hangup():
    ours, theirs = socket.socketpair()
    session = agi.Session(ours)
    got = []

    def asterisk():
        got.append(theirs.recv(10))  # EOF after the half-close
        theirs.sendall(b"HANGUP\n")
        theirs.close()

    t = threading.Thread(target=asterisk)
    t.start()
    session.finish(drain_timeout=5)
    t.join(5)
    assert got == [b""]


def test_command_with_a_line_break_is_refused():
    session, peer = _session_with(b"")
    with pytest.raises(ValueError):
        session.set_variable("X", "a\nHANGUP")
    session.close()
    peer.close()
