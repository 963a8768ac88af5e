"""The live tier's pieces: the daemon as ``billing-addon serve`` in its own process,
calls placed through AMI, and what a call left behind (AMI events, Master.csv rows,
Asterisk's log, the call row and its ledger entries)."""

from __future__ import annotations

import csv
import itertools
import math
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Dict, List, Optional

from billing_addon import accounts, money
from billing_addon.store import Call, Ledger
from tests.helpers import wait_for
from tests.live.asterisk import Ami, Asterisk
from tests.pbx_support import logged_port, write_config

CLI = Path(sys.executable).with_name("billing-addon")
CDR_COLUMNS = ("accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel",
               "lastapp", "lastdata", "start", "answer", "end", "duration", "billsec",
               "disposition", "amaflags", "uniqueid", "userfield", "peeraccount", "linkedid",
               "sequence")
# The session's rate deck (dialed numbers carry the outside-line prefix 9)
PER_SECOND = dict(prefix="91", rate="0.01", unit="1")      # 1 cent per started second
PER_TWO_SECONDS = dict(prefix="92", rate="0.10", unit="2")  # 10 cents per started 2 s
BUSY_NUMBER, RINGING_NUMBER, UNRATED_NUMBER = "96661234", "97771234", "955512345"


class Daemon:
    """``billing-addon serve`` in a process of its own, on a fixed FastAGI port (the one
    the dialplan's BILLING_AGI_HOST names), so that it can be stopped and started again."""

    def __init__(self, folder: Path, agi_port: int, master_csv: Path):
        self.folder = folder
        self.ini = write_config(
            folder, agi={"port": str(agi_port)}, box={"board_root": str(folder / "root")},
            cdr={"path": str(master_csv), "poll_seconds": "1", "start": "beginning",
                 "mark": "billing"},
            daemon={"license_cache_seconds": "1", "shutdown_seconds": "10"},
            sync={"enabled": "no"})
        self.log = folder / "log" / "daemon.log"
        self.proc: Optional[subprocess.Popen] = None

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([str(CLI), "--config", self.ini, *args], capture_output=True,
                              text=True, timeout=60)
        if check and done.returncode != 0:
            raise AssertionError(f"billing-addon {' '.join(args)}: {done.returncode} "
                                 f"{done.stdout}{done.stderr}")
        return done

    def board(self, *args: str) -> subprocess.CompletedProcess:
        return self.cli(*args, "--board", "demo", "--board-root", str(self.folder / "root"))

    def start(self) -> None:
        assert not self.running
        offset = self.log.stat().st_size if self.log.exists() else 0
        self.proc = subprocess.Popen([str(CLI), "--config", self.ini, "serve"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(self.folder / "serve.err", "ab"))
        logged_port(self.log, "agi", timeout=60, after=offset)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            self.proc.wait(30)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def log_text(self, since: int = 0) -> str:
        """The daemon's log from byte ``since`` (``log_size()`` at some earlier moment)."""
        return self.log.read_bytes()[since:].decode("utf-8", "replace")

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0


@dataclass
class Placed:
    """A call placed through AMI: the dialplan runs on the ``;2`` half of the Local
    channel, whose uniqueid (``uid``) is the call's identity for billing."""
    uid: str
    phone_uid: str  # the ;1 half: the phone, hung up to make the caller hang up
    number: str
    dialed: str


class Pbx:
    def __init__(self, asterisk: Asterisk, ami: Ami, daemon: Daemon):
        self.asterisk, self.ami, self.daemon = asterisk, ami, daemon
        self._ids = itertools.count(1)
        self._epoch = int(time.time())

    # -- placing calls ---------------------------------------------------------------
    def call(self, number: str, dialed: str, *, talk: Optional[float] = None,
             ring: Optional[float] = None, channel_variables: Optional[Dict[str, str]] = None
             ) -> Placed:
        n = next(self._ids)
        placed = Placed(f"{self._epoch}.{800000 + 2 * n}", f"{self._epoch}.{800001 + 2 * n}",
                        number, dialed)
        variables = {}
        if talk is not None:
            variables["__TALK_S"] = f"{talk:g}"
        if ring is not None:
            variables["__RING_S"] = f"{ring:g}"
        variables.update(channel_variables or {})
        reply = self.ami.action(
            "Originate", Channel=f"Local/{dialed}@from-internal", Application="Wait",
            Data="300", CallerID=f'"Ext {number}" <{number}>', Async="true",
            ChannelId=placed.phone_uid, OtherChannelId=placed.uid, variables=variables)
        assert reply.get("Response") == "Success", reply
        return placed

    def events(self, placed: Placed, kind: str) -> List[Dict[str, str]]:
        return self.ami.events(lambda e: e.get("Uniqueid") == placed.uid and e.get("Event") == kind)

    def applications(self, placed: Placed) -> List[tuple]:
        """(application, data) of every dialplan step the caller's channel ran."""
        return [(e.get("Application"), e.get("AppData")) for e in self.events(placed, "Newexten")]

    def variable(self, placed: Placed, name: str, first: bool = False) -> Optional[str]:
        """The value the caller's channel last gave ``name`` (or the first it gave)."""
        values = [e.get("Value") for e in self.events(placed, "VarSet") if e.get("Variable") == name]
        return (values[0] if first else values[-1]) if values else None

    def settle_status(self, placed: Placed, timeout: float = 30) -> str:
        """AGISTATUS of the settle AGI of the call (it runs on a settle channel of its own)."""
        agi = self.ami.wait_event(
            lambda e: e.get("Event") == "Newexten" and e.get("Application") == "AGI"
            and "/settle," in e.get("AppData", "") and placed.uid in e.get("AppData", ""),
            timeout, f"the settle of {placed.uid}")
        return self.ami.wait_event(
            lambda e: e.get("Event") == "VarSet" and e.get("Uniqueid") == agi["Uniqueid"]
            and e.get("Variable") == "AGISTATUS", timeout, "its AGISTATUS")["Value"]

    def wait_answered(self, placed: Placed, timeout: float = 30) -> Dict[str, str]:
        return self.ami.wait_event(
            lambda e: e.get("Event") == "DialEnd" and e.get("Uniqueid") == placed.uid
            and e.get("DialStatus") == "ANSWER", timeout, f"the answer of {placed.uid}")

    def wait_event(self, placed: Placed, kind: str, timeout: float = 60, **fields: str):
        return self.ami.wait_event(
            lambda e: e.get("Event") == kind and e.get("Uniqueid") == placed.uid
            and all(e.get(k) == v for k, v in fields.items()), timeout, f"{kind} of {placed.uid}")

    def wait_hangup(self, placed: Placed, timeout: float = 120) -> Dict[str, str]:
        return self.wait_event(placed, "Hangup", timeout)

    def hang_up_phone(self, placed: Placed) -> None:
        """The caller puts the phone down (the ;1 half of the Local channel hangs up)."""
        channel = self.ami.wait_event(
            lambda e: e.get("Event") == "Newchannel" and e.get("Uniqueid") == placed.phone_uid,
            10, "the phone's channel")["Channel"]
        reply = self.ami.action("Hangup", Channel=channel)
        assert reply.get("Response") == "Success", reply

    # -- what was billed -------------------------------------------------------------
    def settled(self, placed: Placed, timeout: float = 60) -> Call:
        assert wait_for(lambda: _settled(placed.uid), timeout), \
            f"call {placed.uid} was never settled:\n{self.daemon.log_text()[-3000:]}"
        return Call.get(Call.uniqueid == placed.uid)

    def cdr_rows(self, placed: Placed, timeout: float = 30) -> List[Dict[str, str]]:
        """The Master.csv rows of the caller's channel (the hangup handler's Return row
        comes last, when the channel is destroyed)."""
        def rows():
            if not self.asterisk.master_csv.exists():
                return []
            with open(self.asterisk.master_csv, newline="", encoding="utf-8") as fh:
                return [dict(zip(CDR_COLUMNS, r)) for r in csv.reader(fh) if r[16:17] == [placed.uid]]
        assert wait_for(lambda: any(r["lastapp"] == "Return" for r in rows()), timeout), \
            f"no CDR rows for {placed.uid}"
        return rows()

    def billable_row(self, placed: Placed) -> Optional[Dict[str, str]]:
        dial = [r for r in self.cdr_rows(placed) if r["lastapp"] == "Dial"]
        assert len(dial) <= 1, dial
        return dial[0] if dial else None

    def answered_ms(self, placed: Placed) -> int:
        value = self.variable(placed, "ANSWEREDTIME_MS")
        assert value and value.isdigit(), f"ANSWEREDTIME_MS of {placed.uid}: {value!r}"
        return int(value)

    def verify(self) -> None:
        done = self.daemon.cli("verify")
        assert "ledger OK" in done.stdout + done.stderr, done.stdout + done.stderr

    def log_times(self, placed: Placed, pattern: str) -> List[float]:
        """Epoch seconds of Asterisk's messages.log lines of the caller's call that match."""
        channel = self.events(placed, "Newchannel")[0]["Channel"]
        text = self.asterisk.messages_log.read_text(errors="replace")
        call_id = re.search(r"\[(C-[0-9a-f]+)\][^\n]*" + re.escape(channel), text)
        assert call_id, f"no log lines of {channel}"
        times = []
        for line in text.splitlines():
            if f"[{call_id.group(1)}]" in line and re.search(pattern, line):
                stamp = line[1:24]
                times.append(datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp())
        return times


def _settled(uid: str) -> bool:
    call = Call.get_or_none(Call.uniqueid == uid)
    # a denied call is complete when authorize recorded it (settle leaves it alone)
    return call is not None and (call.settled_utc is not None or call.status == "denied")


def expected_cost(rate: Dict[str, str], seconds: int) -> int:
    """The cost the test expects, from the rate's own figures (not the product's rating
    of a stored rate)."""
    per_unit, unit = money.parse_amount(rate["rate"]), int(rate["unit"])
    return math.ceil(seconds / unit) * per_unit


def ledger_of(call: Call) -> List[Ledger]:
    return list(Ledger.select().where(Ledger.call == call.id))


def balance(number: str) -> int:
    return accounts.get_extension(number).balance


def reserved(number: str) -> int:
    return accounts.get_extension(number).reserved
