"""The board test's story, step by step, on emulated boxes (docs/box.md "Board test").

Box A: install the previous package from a USB disk, install it again (nothing changes),
refuse a tampered copy, service up through init.d (web UI and FastAGI answer), activate
the trial, billing.ac to the host, license issued on the host with the sales tool,
uploaded; recharge and settle a call, then pull the plug.  Boot: both are there, the
ledger checks and SQLite's integrity_check is ok.  The init script's watchdog starts the
daemon again after kill -9 and after SIGSTOP; a stop through init.d stays stopped.
upgrade.sh to the current package with the service running: money, license, trial
kept.  Firmware upgrade (new root disk, add-on reinstalled from the current package):
the same.  Factory reset
(data disk wiped): license and trial kept, money gone, restored from a backup.  Hard
reset with the qemu board's own rules (the add-on's ``reset hard``: data only, license
kept), then with U20/U50 rules (the areas u20.ini wipes, data and persist, wiped on the
host): license gone, trial not restarted, the same license file uploaded again restores
it.  A clone of box A (its disks, the same -smbios line, a new MAC) is another device:
the license is refused there.  Box B (other serial, UUID, MAC): its clock set back a
year during the trial does not stop the trial counting; it refuses A's license, accepts
its own.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import disks
from .vm import AREAS, Box, Identity

REPO = Path(__file__).resolve().parents[2]
CLONE_MAC = "52:54:00:b1:11:c3"
DB = "/mnt/data/billing-addon/billing.db"
INTEGRITY = (f"python3 -c \"import sqlite3; c = sqlite3.connect('{DB}'); "
             "print(c.execute('PRAGMA integrity_check').fetchone()[0])\"")
WEB_UP = ("python3 -c \"import urllib.request as u; "
          "print('web', u.urlopen('http://127.0.0.1:8080/', timeout=20).status)\"")
AGI_UP = ("python3 -c \"import socket; socket.create_connection(('127.0.0.1', 4573), 20); "
          "print('fastagi up')\"")

# kill the daemon with a signal and wait for the init script's watchdog to start a new one
RESTARTED = ("old=$(cat /run/billing-addon.pid); kill -{signal} \"$old\"; i=0; "
             "while [ $i -lt {limit} ]; do sleep 1; i=$((i + 1)); "
             "new=$(cat /run/billing-addon.pid 2>/dev/null); "
             "if [ -n \"$new\" ] && [ \"$new\" != \"$old\" ] && kill -0 \"$new\" 2>/dev/null; "
             "then echo \"restarted after $i s\"; exit 0; fi; done; echo 'not restarted'; exit 1")
STOPPED_FOR_GOOD = ("pid=$(cat /run/billing-addon.pid); /etc/init.d/billing-addon stop >/dev/null; "
                    "sleep 4; if [ -e /run/billing-addon.watchdog.pid ] || "
                    "[ -e /run/billing-addon.pid ] || kill -0 \"$pid\" 2>/dev/null; "
                    "then echo 'still running'; exit 1; fi; echo 'stopped for good'")


class ScenarioError(AssertionError):
    """A promise of the manual did not hold on the emulated box."""


@dataclass
class Timings:
    steps: list[tuple[str, float]] = field(default_factory=list)

    def add(self, name: str, seconds: float) -> None:
        self.steps.append((name, seconds))
        print(f"  [{seconds:6.1f} s] {name}", flush=True)


@dataclass
class Host:
    """The sales PC side: the vendor key, the packages, the license files."""

    workdir: Path
    vendor_key: Path
    current: Path
    previous: Path


def sales(*args: str) -> subprocess.CompletedProcess:
    """billing-license (the sales tool) on the host, from this checkout."""
    return subprocess.run([sys.executable, "-m", "hwlicense.sales_cli", *args], cwd=REPO,
                          capture_output=True, text=True)


class Scenario:
    def __init__(self, host: Host, timings: Timings):
        self.host = host
        self.timings = timings

    # --- helpers -----------------------------------------------------------------------

    def step(self, box: Box, what: str, command: str, rc: int | None = 0,
             contains: str | None = None, timeout: float = 240.0) -> str:
        start = time.monotonic()
        code, out = box.run(command, timeout)
        self.timings.add(f"{box.name}: {what}", time.monotonic() - start)
        if (rc is not None and code != rc) or (contains and contains not in out):
            raise ScenarioError(f"{box.name}: {what}: `{command}` exited {code} "
                                f"(wanted {rc}{', output with ' + repr(contains) if contains else ''})"
                                f":\n{out}")
        return out

    def boot(self, box: Box, why: str) -> None:
        took = box.boot()
        self.timings.add(f"{box.name}: boot ({why})", took)

    def halt(self, box: Box) -> None:
        start = time.monotonic()
        box.halt()
        self.timings.add(f"{box.name}: clean power-off", time.monotonic() - start)

    def status(self, box: Box) -> dict:
        out = self.step(box, "status", "billing-addon status --json", rc=None)
        return json.loads(out.strip().splitlines()[-1])

    def balance(self, box: Box, number: str = "1001") -> str:
        out = self.step(box, f"balance of {number}", f"billing-addon ext show {number}")
        match = re.search(r"^balance\s+(\S+)", out, re.M)
        if not match:
            raise ScenarioError(f"no balance in:\n{out}")
        return match.group(1)

    def install(self, box: Box, package: Path, script: str = "install.sh") -> str:
        top = package.name[: -len(".tar.gz")]
        return self.step(box, f"{script} {top}",
                         f"rm -rf /tmp/pkg && mkdir /tmp/pkg && tar xzf /mnt/usb/{package.name} "
                         f"-C /tmp/pkg && sh /tmp/pkg/{top}/{script}")

    def service_up(self, box: Box) -> None:
        self.step(box, "service status through init.d", "/etc/init.d/billing-addon status")
        self.step(box, "web UI answers", WEB_UP, contains="web 200")
        self.step(box, "FastAGI listens", AGI_UP, contains="fastagi up")

    def fetch(self, box: Box, path: str, dest: Path) -> bytes:
        out = self.step(box, f"copy {path} to the host", f"base64 {path}")
        data = base64.b64decode("".join(out.split()))
        dest.write_bytes(data)
        return data

    def push(self, box: Box, source: Path, path: str) -> None:
        text = base64.encodebytes(source.read_bytes()).decode()
        self.step(box, f"copy {source.name} to the box",
                  f"base64 -d > {path} <<'B64END'\n{text}B64END")

    def expect_balance(self, box: Box, wanted: str, message: str) -> None:
        found = self.balance(box)
        self.expect(found == wanted, message, f"balance {found}, wanted {wanted}")

    def expect(self, condition: bool, message: str, detail: object = "") -> None:
        if not condition:
            raise ScenarioError(f"{message}: {detail}")

    # --- the story ---------------------------------------------------------------------

    def first_install(self, box: Box) -> None:
        # The image has no Asterisk: a stand-in config folder and an `asterisk` that logs
        # its arguments show the dialplan include hooked in and the reload asked for.
        self.step(box, "Asterisk stand-in", "mkdir -p /etc/asterisk && "
                  "echo '[general]' > /etc/asterisk/extensions.conf && "
                  "printf '#!/bin/sh\\necho \"$*\" >> /tmp/asterisk.log\\n' "
                  "> /usr/local/bin/asterisk && chmod +x /usr/local/bin/asterisk")
        self.install(box, self.host.previous)
        again = self.install(box, self.host.previous)
        self.expect("nothing to change" in again, "installing twice changed something", again)
        self.step(box, "dialplan include, one reload",
                  "grep '^#include billing.conf' /etc/asterisk/extensions.conf && "
                  "test -f /etc/asterisk/billing.conf && cat /tmp/asterisk.log && "
                  "test $(wc -l < /tmp/asterisk.log) = 1", contains="-rx dialplan reload")
        tampered = (f"cp -a /tmp/pkg /tmp/bad && cd /tmp/bad/{self.host.previous.name[:-7]} && "
                    "printf '#' >> lib/billing_addon/calls.py && sh install.sh")
        self.step(box, "tampered package refused", tampered, rc=3, contains="MANIFEST")
        self.step(box, "Addons menu entry", "cat /etc/pbx/addons/billing.json",
                  contains='"menu": "Addons"')
        self.service_up(box)

    def license_box(self, box: Box, name: str) -> Path:
        """Activate (first time: trial), billing.ac to the host, license back, upload."""
        self.step(box, "activate (trial starts)", "billing-addon activate")
        ac = self.host.workdir / f"{name}.ac"
        self.step(box, "billing.ac", "billing-addon billing-ac -o /tmp/billing.ac")
        self.fetch(box, "/tmp/billing.ac", ac)
        lic = self.host.workdir / f"{name}.lic"
        start = time.monotonic()
        issued = sales("issue", str(ac), "--key", str(self.host.vendor_key), "-o", str(lic))
        self.timings.add(f"host: sales tool issues {lic.name}", time.monotonic() - start)
        self.expect(issued.returncode == 0, "billing-license issue failed", issued.stderr)
        self.push(box, lic, "/tmp/license.lic")
        self.step(box, "license upload", "billing-addon license upload /tmp/license.lic",
                  contains="Never Expires")
        return lic

    def money_then_power_cut(self, box: Box) -> None:
        for command in ("billing-addon ext add 1001", "billing-addon ext edit 1001 --billing on",
                        "billing-addon rates add --prefix 9 --rate 0.60 --unit 60 --extensions 1001",
                        "billing-addon recharge 1001 --amount 20",
                        "billing-addon authorize 1001 912345678 --uniqueid powercut-1"):
            self.step(box, command.split(" ", 1)[1], command)
        self.step(box, "settle (acknowledged)", "billing-addon settle powercut-1 61",
                  contains="charged cost=$1.20")
        box.power_cut()  # right after the acknowledgement
        self.timings.add(f"{box.name}: power cut (qemu killed)", 0.0)

    def after_power_cut(self, box: Box) -> None:
        self.boot(box, "after the power cut")
        self.service_up(box)
        self.expect_balance(box, "$18.80", "recharge or settlement lost in the power cut")
        self.step(box, "call settled", f"python3 -c \"import sqlite3; print(sqlite3.connect('{DB}')"
                  ".execute(\\\"SELECT status, cost FROM call WHERE uniqueid='powercut-1'\\\")"
                  ".fetchone())\"", contains="('charged', 12000)")
        self.step(box, "ledger explains every balance", "billing-addon verify", contains="ledger OK")
        self.step(box, "SQLite integrity_check", INTEGRITY, contains="ok")

    def watchdog(self, box: Box) -> None:
        """The init script's watchdog starts the daemon again after a crash (SIGKILL) and
        after a hang (SIGSTOP: the heartbeat stops); a stop through init.d stays stopped."""
        self.step(box, "watchdog: daemon killed (-9), started again",
                  RESTARTED.format(signal="KILL", limit=15), contains="restarted after")
        self.service_up(box)
        self.step(box, "watchdog: daemon frozen (SIGSTOP), killed and started again",
                  RESTARTED.format(signal="STOP", limit=40), contains="restarted after")
        self.service_up(box)
        self.step(box, "stop through init.d stays stopped", STOPPED_FOR_GOOD,
                  contains="stopped for good")
        self.step(box, "start again", "/etc/init.d/billing-addon start")
        self.service_up(box)
        self.step(box, "ledger explains every balance after the restarts", "billing-addon verify",
                  contains="ledger OK")

    def package_upgrade(self, box: Box, licensed: dict) -> None:
        """upgrade.sh over the running previous version: stop, swap, migrate, start."""
        out = self.install(box, self.host.current, "upgrade.sh")
        self.expect("code 0" in out and "service started" in out, "upgrade did not swap and "
                    "restart", out)
        self.service_up(box)
        self.step(box, "new version runs", "billing-addon --version",
                  contains=self.host.current.name[len("billing-addon-"):-len(".tar.gz")])
        self.expect_balance(box, "$18.80", "package upgrade lost money")
        status = self.status(box)
        self.expect(status["licensed"] and status["first_activation"] ==
                    licensed["first_activation"], "package upgrade lost license or trial", status)

    def firmware_upgrade(self, box: Box, licensed: dict) -> None:
        self.halt(box)
        start = time.monotonic()
        disks.firmware(box.image.root_disk, box.disks["firmware"], version=2)
        self.timings.add(f"{box.name}: firmware v2 root disk", time.monotonic() - start)
        self.boot(box, "firmware v2")
        self.step(box, "new firmware, add-on gone", "cat /etc/firmware-version; "
                  "test ! -e /opt/billing-addon && test ! -e /etc/pbx/addons/billing.json",
                  contains="2")
        out = self.install(box, self.host.current)
        self.expect("code - ->" in out, "reinstall did not install code", out)
        self.service_up(box)
        self.expect_balance(box, "$18.80", "firmware upgrade lost money")
        status = self.status(box)
        self.expect(status["licensed"] and status["first_activation"] ==
                    licensed["first_activation"], "firmware upgrade lost license or trial", status)

    def factory_reset(self, box: Box, licensed: dict) -> None:
        self.step(box, "backup (kept on the firmware area)",
                  "billing-addon backup -o /root/billing-backup.db")
        self.halt(box)
        disks.area(box.disks["data"], "data")
        self.timings.add(f"{box.name}: factory reset (data disk wiped)", 0.0)
        self.boot(box, "after factory reset")
        self.service_up(box)
        out = self.step(box, "no extensions after the reset", "billing-addon ext list")
        self.expect("1001" not in out, "factory reset kept billing data", out)
        status = self.status(box)
        self.expect(status["licensed"] and status["first_activation"] ==
                    licensed["first_activation"], "factory reset lost license or trial", status)
        self.step(box, "restore the backup", "/etc/init.d/billing-addon stop && "
                  "billing-addon restore /root/billing-backup.db && /etc/init.d/billing-addon start",
                  contains="ledger OK")
        self.expect_balance(box, "$18.80", "restore did not bring the money back")

    def hard_resets(self, box: Box, lic: Path, licensed: dict, u20_wipes: tuple[str, ...]) -> None:
        self.step(box, "hard reset, qemu board rules (add-on command)",
                  "/etc/init.d/billing-addon stop && billing-addon reset hard && "
                  "/etc/init.d/billing-addon start", contains="wiped data")
        status = self.status(box)
        self.expect(status["licensed"], "qemu board: hard reset must keep the license", status)
        self.halt(box)
        for area in u20_wipes:
            disks.area(box.disks[area], area)
        self.timings.add(f"{box.name}: hard reset, U20/U50 rules (wiped {', '.join(u20_wipes)})", 0.0)
        self.boot(box, "after U20-style hard reset")
        self.service_up(box)
        status = self.status(box)
        self.expect(not status["licensed"] and not status["license_uploaded"],
                    "U20/U50 hard reset must remove the license", status)
        self.expect(status["first_activation"] == licensed["first_activation"],
                    "hard reset restarted the trial", status)
        self.push(box, lic, "/tmp/license.lic")
        self.step(box, "the same license file again", "billing-addon license upload /tmp/license.lic",
                  contains="Never Expires")
        status = self.status(box)
        self.expect(status["licensed"], "re-upload did not restore the license", status)

    def cloned_vm(self, box: Box, mac: str) -> None:
        """A copy of the licensed box's disks booted with the same -smbios line and a new
        MAC (a cloned VM): the DMI serial and UUID are one component, so the license
        (DMI + MAC) is refused there."""
        self.halt(box)
        folder = box.workdir / f"{box.name}-clone"
        folder.mkdir()
        copies = {}
        for name, disk in box.disks.items():
            copies[name] = folder / disk.name
            subprocess.run(["cp", "--sparse=always", str(disk), str(copies[name])], check=True)
        clone = Box(f"{box.name}-clone", box.image, folder,
                    Identity(box.identity.serial, box.identity.uuid, mac), copies, box.accel)
        self.timings.add(f"{clone.name}: disks copied (same DMI, MAC {mac})", 0.0)
        try:
            self.boot(clone, "cloned VM: same DMI serial and UUID, new MAC")
            status = self.status(clone)
            self.expect(not status["licensed"] and "another device" in (status["license_problem"] or ""),
                        "a cloned VM with a new MAC kept the license", status)
            self.expect(status["state"] == "expired" and "not written by this device"
                        in (status["trial_problem"] or ""),
                        "a cloned VM took the original's trial records as its own", status)
            self.halt(clone)
        finally:
            clone.power_cut()
        self.boot(box, "back to the original box")
        self.expect(self.status(box)["licensed"], "the original box lost its license")

    def clock_back_during_the_trial(self, box: Box) -> None:
        """The customer sets the box's clock back a year during the trial: the trial
        keeps counting the box's running time (it does not freeze or give days back)."""
        before = self.status(box)
        self.expect(before["state"] == "active" and not before["licensed"], "no trial running", before)
        self.step(box, "clock set back a year", "date -s '-365 days' >/dev/null && date -u")
        self.step(box, "the box runs a while", "sleep 3")
        after = self.status(box)
        self.expect(after["first_activation"] == before["first_activation"]
                    and after["days_left"] <= before["days_left"], "setting the clock back gave "
                    "trial days back", (before, after))
        self.expect(after["trial_used_seconds"] > before["trial_used_seconds"],
                    "the trial stopped counting when the clock went back", (before, after))
        self.step(box, "clock set right again", f"date -s @{int(time.time())} >/dev/null")

    def other_box(self, box: Box, lic_a: Path) -> None:
        self.boot(box, "second box, other serial/UUID/MAC")
        self.install(box, self.host.current)
        self.step(box, "activate (trial starts)", "billing-addon activate")
        self.clock_back_during_the_trial(box)
        self.push(box, lic_a, "/tmp/license-a.lic")
        self.step(box, "box A's license refused", "billing-addon license upload /tmp/license-a.lic",
                  rc=5, contains="wrong-device")
        status = self.status(box)
        self.expect(not status["licensed"], "box B accepted box A's license", status)
        self.license_box(box, "box-b")
        self.expect(self.status(box)["licensed"], "box B's own license refused")
        self.halt(box)

    def run(self, a: Box, b: Box, u20_wipes: tuple[str, ...]) -> None:
        self.boot(a, "first boot, firmware v1")
        self.first_install(a)
        lic = self.license_box(a, "box-a")
        licensed = self.status(a)
        self.expect(licensed["licensed"] and licensed["first_activation"], "not licensed", licensed)
        self.cloned_vm(a, CLONE_MAC)
        self.money_then_power_cut(a)
        self.after_power_cut(a)
        self.watchdog(a)
        self.package_upgrade(a, licensed)
        self.firmware_upgrade(a, licensed)
        self.factory_reset(a, licensed)
        self.hard_resets(a, lic, licensed, u20_wipes)
        self.halt(a)
        self.other_box(b, lic)
        for box in (a, b):
            for area in AREAS:
                box.disks[area].stat()  # still there: nothing deleted behind our back
