"""The guest's serial console, driven from the host with pyserial (``socket://``).

The guest runs a plain shell on ttyS0.  Each command is wrapped so its output sits
between two markers that only the shell's execution can print (the typed text holds the
quoted form), which works whether or not the line is echoed:

    echo @@B-"7"@@; ( CMD ) </dev/null 2>&1; echo "@@R-7-$?@@"
"""

from __future__ import annotations

import re
import time

import serial


class ConsoleError(RuntimeError):
    """The guest did not answer in time (the message shows the last output)."""


class Console:
    def __init__(self, port: int, log_path, alive=lambda: True, connect_timeout: float = 30.0):
        deadline = time.monotonic() + connect_timeout
        while True:
            try:
                self.port = serial.serial_for_url(f"socket://127.0.0.1:{port}", timeout=0.2)
                break
            except (serial.SerialException, OSError):
                if time.monotonic() > deadline or not alive():
                    raise ConsoleError(f"cannot connect to the console on port {port}") from None
                time.sleep(0.1)
        self.buffer = ""
        self.log = open(log_path, "a", encoding="utf-8", errors="replace")  # noqa: SIM115
        self.counter = 0

    def close(self) -> None:
        try:
            self.port.close()
        finally:
            self.log.close()

    def _read(self) -> bool:
        try:
            data = self.port.read(65536)
        except serial.SerialException:  # qemu went away
            return False
        if data:
            text = data.decode("utf-8", errors="replace").replace("\r", "")
            self.buffer += text
            self.log.write(text)
            self.log.flush()
        return True

    def expect(self, pattern: str, timeout: float, alive=lambda: True) -> re.Match:
        """Wait until the output matches pattern; consumes the output up to the match."""
        regex = re.compile(pattern, re.S)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.buffer)
            if match:
                self.buffer = self.buffer[match.end():]
                return match
            if time.monotonic() > deadline or not alive():
                tail = self.buffer[-1500:]
                raise ConsoleError(f"no {pattern!r} within {timeout:.0f} s; last output:\n{tail}")
            if not self._read():
                raise ConsoleError(f"console closed while waiting for {pattern!r}")

    def send(self, text: str) -> None:
        self.port.write(text.encode("utf-8"))
        self.port.flush()

    def run(self, command: str, timeout: float = 120.0, alive=lambda: True) -> tuple[int, str]:
        """Run a shell command in the guest; (exit code, output with stderr)."""
        self.counter += 1
        n = self.counter
        self.log.write(f"\n[host] $ {command}\n")
        self.send(f'echo @@B-"{n}"@@; ( {command}\n) </dev/null 2>&1; echo "@@R-{n}-$?@@"\n')
        self.expect(rf"@@B-{n}@@\n", timeout, alive)
        match = self.expect(rf"(.*?)@@R-{n}-(\d+)@@", timeout, alive)
        return int(match.group(2)), match.group(1)
