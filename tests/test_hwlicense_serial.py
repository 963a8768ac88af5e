"""The serial-attached module source, against fake peers over pyserial URLs."""

import socket
import threading

import pytest

from hwlicense.board import load_profile, parse_profile
from hwlicense.fakedevice import make_device
from hwlicense.identity import read_identity
from hwlicense.serial_source import parse_reply, read_at_identity
from hwlicense.sources import SourceUnavailable

IMEI = "356938035643809"


class FakeModem:
    """A TCP peer answering AT commands like a GSM module (echo on)."""

    def __init__(self, replies):
        self.replies = replies
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.port = self.server.getsockname()[1]
        self.received = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        conn, _ = self.server.accept()
        with conn:
            buf = b""
            while b"\r" not in buf:
                chunk = conn.recv(64)
                if not chunk:
                    return
                buf += chunk
            command = buf.split(b"\r")[0].decode()
            self.received.append(command)
            conn.sendall(command.encode() + b"\r\r\n" + self.replies.get(command, b"ERROR\r\n"))
            while conn.recv(64):  # stay connected until the reader hangs up
                pass

    def close(self):
        self.server.close()


def profile_with_port(port, root):
    text = f"""
[board]
name = modem
model = MODEM
[areas]
data = /d
persist = /p
nvram = /n
[resets]
[identity]
sources = module
[source:module]
type = serial_at
ports = /dev/ttyUSB9, {port}
command = AT+CGSN
timeout = 1
"""
    return parse_profile(text, root=root)


def test_reads_imei_from_a_fake_modem(tmp_path):
    modem = FakeModem({"AT+CGSN": f"{IMEI}\r\n\r\nOK\r\n".encode()})
    try:
        profile = profile_with_port(f"socket://127.0.0.1:{modem.port}", tmp_path)
        spec = profile.identity_sources[0]
        assert read_at_identity(spec, profile) == IMEI
        assert modem.received == ["AT+CGSN"]
    finally:
        modem.close()


def test_prefixed_reply_form(tmp_path):
    modem = FakeModem({"AT+CGSN": f'+CGSN: "{IMEI}"\r\nOK\r\n'.encode()})
    try:
        profile = profile_with_port(f"socket://127.0.0.1:{modem.port}", tmp_path)
        assert read_identity(profile).components  # usable as an identity component
    finally:
        modem.close()


def test_error_reply_is_unavailable(tmp_path):
    modem = FakeModem({})  # answers ERROR
    try:
        profile = profile_with_port(f"socket://127.0.0.1:{modem.port}", tmp_path)
        with pytest.raises(SourceUnavailable, match="ERROR"):
            read_at_identity(profile.identity_sources[0], profile)
    finally:
        modem.close()


def test_loop_echo_without_ok_times_out(tmp_path):
    # loop:// echoes what we write: a port with nothing behind it
    profile = profile_with_port("loop://", tmp_path)
    with pytest.raises(SourceUnavailable, match="no OK/ERROR"):
        read_at_identity(profile.identity_sources[0], profile)


@pytest.mark.parametrize(
    "lines,expected",
    [
        (["AT+CGSN", IMEI, "OK"], IMEI),  # echo, value, OK
        ([IMEI, "OK"], IMEI),  # echo off
        (["+CGSN: 356938035643809", "OK"], IMEI),  # prefixed
    ],
)
def test_parse_reply(lines, expected):
    assert parse_reply(lines, "AT+CGSN") == expected


def test_u20_without_modem_still_identifies(tmp_path):
    make_device(tmp_path, "u20", 1)
    identity = read_identity(load_profile("u20", tmp_path))
    assert "module" in identity.problems and identity.match == 2
