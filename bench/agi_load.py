"""An Asterisk-faithful FastAGI load generator on one asyncio loop.

Each of ``connections`` slots plays Asterisk's side of ``AGI(agi://.../authorize,...)``
over and over: connect, send the recorded environment, answer every command with
``200 result=1`` (one line at a time, as Asterisk does: it reads a command, runs it,
answers), and on the server's half-close send ``HANGUP`` and close.  A slot is either
free running (saturation) or paced so that all slots together offer ``rate`` calls/s.

One event loop instead of 50 threads: a threaded Python client spends more CPU on
switching than the server under test spends on the calls, and on a 2-core machine
that CPU is taken from the server.

``python -m bench.agi_load PORT CONNECTIONS SECONDS [RATE]`` prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import List, Optional

EXTENSIONS = [str(n) for n in range(1001, 1051)]
T0 = 1795441378


def environment(uniqueid: str, ext: str) -> bytes:
    """The recorded environment (a-limit-cut) with this call's caller and uniqueid."""
    return (f"agi_network: yes\nagi_network_script: authorize\n"
            f"agi_request: agi://127.0.0.1:4573/authorize\n"
            f"agi_channel: Local/91234567@from-internal-00000000;2\nagi_language: en\n"
            f"agi_type: Local\nagi_uniqueid: {uniqueid}\nagi_version: 22.10.1\n"
            f"agi_callerid: {ext}\nagi_calleridname: Ext {ext}\nagi_callingpres: 0\n"
            f"agi_callingani2: 0\nagi_callington: 0\nagi_callingtns: 0\nagi_dnid: unknown\n"
            f"agi_rdnis: unknown\nagi_context: from-internal\nagi_extension: 91234567\n"
            f"agi_priority: 5\nagi_enhanced: 0.0\nagi_accountcode: {ext}\n"
            f"agi_threadid: 140445748225728\nagi_arg_1: {ext}\nagi_arg_2: 91234567\n\n"
            ).encode()


class _Call(asyncio.Protocol):
    """Asterisk's side of one session, as callbacks (lighter than asyncio streams)."""

    def __init__(self, env: bytes, done: asyncio.Future):
        self.env, self.done = env, done
        self.buffer = b""
        self.allowed = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.env)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            self.allowed = self.allowed or line == b"SET VARIABLE BILLING_RESULT ALLOWED"
            self.transport.write(b"200 result=1\n")  # one answer per command, in turn

    def eof_received(self) -> bool:
        self.transport.write(b"HANGUP\n")  # Asterisk, after the server's half-close
        self.transport.close()
        return True

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.done.set_result(self.allowed)


async def one_call(port: int, uniqueid: str, ext: str) -> bool:
    """One authorize session; True when the server answered ALLOWED."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    await loop.create_connection(lambda: _Call(environment(uniqueid, ext), done),
                                 "127.0.0.1", port)
    return await done


async def run(port: int, connections: int, seconds: float, rate: Optional[float] = None,
              first_call: int = 0) -> dict:
    latencies: List[float] = []
    not_allowed = 0
    stop_at = time.monotonic() + seconds
    interval = connections / rate if rate else 0.0

    async def slot(c: int) -> None:
        nonlocal not_allowed
        n = 0
        next_at = time.monotonic() + interval * c / connections
        while True:
            if interval:
                if next_at >= stop_at:
                    return
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                next_at += interval
            elif time.monotonic() >= stop_at:
                return
            started = time.perf_counter()
            ok = await one_call(port, f"{T0 + first_call + c}.{n}", EXTENSIONS[c % len(EXTENSIONS)])
            latencies.append(time.perf_counter() - started)
            not_allowed += not ok
            n += 1

    began = time.perf_counter()
    await asyncio.gather(*(slot(c) for c in range(connections)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "calls": len(latencies),
        "not_allowed": not_allowed,
        "per_s": round(len(latencies) / elapsed),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
    }


def main(argv: List[str]) -> None:
    port, connections, seconds = int(argv[0]), int(argv[1]), float(argv[2])
    rate = float(argv[3]) if len(argv) > 3 and float(argv[3]) > 0 else None
    first = int(argv[4]) if len(argv) > 4 else 0
    print(json.dumps(asyncio.run(run(port, connections, seconds, rate, first))))


if __name__ == "__main__":
    main(sys.argv[1:])
