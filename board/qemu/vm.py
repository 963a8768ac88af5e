"""One emulated PBX box: qemu-system-x86_64 with its identity, disks and serial console.

Identity is real (emulated) hardware: ``-smbios type=1,serial=..,uuid=..`` shows up in
/sys/class/dmi/id, ``-nic user,mac=..,restrict=on`` gives enp0s2 its MAC and keeps the
guest off every network.  Disks: the firmware (root) disk and one disk per storage area,
each ext4 with the area's label, plus a read-only "usb" disk carrying the packages.

Acceleration: software emulation (TCG) by default.  With ``accel="kvm"`` KVM is tried
when /dev/kvm is usable; a KVM guest that fails (qemu reports "KVM internal error" and
pauses instead of exiting) is detected and the box is booted again with TCG.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .console import Console, ConsoleError
from .image import Image

KVM_FAILURES = ("KVM internal error", "failed to initialize kvm", "Could not access KVM",
                "kvm run failed")
AREAS = ("data", "persist", "nvram")


@dataclass
class Identity:
    serial: str
    uuid: str
    mac: str


@dataclass
class Box:
    name: str
    image: Image
    workdir: Path
    identity: Identity
    disks: dict[str, Path] = field(default_factory=dict)  # firmware, data, persist, nvram, usb
    accel: str = "tcg"
    memory_mb: int = 768
    process: subprocess.Popen | None = None
    console: Console | None = None
    boots: int = 0

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.name}-qemu.log"

    @property
    def console_log(self) -> Path:
        return self.workdir / f"{self.name}-console.log"

    def _command(self, port: int, accel: str) -> list[str]:
        cmd = ["qemu-system-x86_64", "-accel", accel, "-smp", "2", "-m", str(self.memory_mb),
               "-cpu", "max" if accel == "tcg" else "host",
               "-display", "none", "-vga", "none", "-monitor", "none", "-no-reboot",
               "-kernel", str(self.image.kernel), "-initrd", str(self.image.initrd),
               "-append", "console=ttyS0 root=/dev/vda rw init=/sbin/board-init quiet",
               "-smbios", f"type=1,serial={self.identity.serial},uuid={self.identity.uuid}",
               "-nic", f"user,model=virtio-net-pci,mac={self.identity.mac},restrict=on",
               "-global", "virtio-net-pci.romfile=",  # no PXE option ROM: boots faster
               "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on"]
        for name in ("firmware", *AREAS, "usb"):
            disk = self.disks.get(name)
            if disk is None:
                continue
            extra = ",readonly=on" if name == "usb" else ""
            cmd += ["-drive", f"file={disk},format=raw,if=virtio,cache=writeback{extra}"]
        return cmd

    def _alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _kvm_failed(self) -> bool:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return any(marker in text for marker in KVM_FAILURES)

    def _start(self, accel: str) -> None:
        port = free_port()
        with self.log.open("a") as log:
            log.write(f"\n=== boot {self.boots + 1} ({accel}): {' '.join(self._command(port, accel))}\n")
        self.process = subprocess.Popen(self._command(port, accel), stdin=subprocess.DEVNULL,
                                        stdout=self.log.open("a"), stderr=subprocess.STDOUT)
        self.console = Console(port, self.console_log, self._alive)

    def boot(self, timeout: float = 180.0) -> float:
        """Power on and wait for the guest's init to finish; returns seconds to ready."""
        start = time.monotonic()
        accel = self.accel
        if accel == "kvm" and not kvm_usable():
            accel = "tcg"
        self._start(accel)
        assert self.console is not None
        try:
            self.console.expect("BOARD-READY", 60 if accel == "kvm" else timeout,
                                alive=lambda: self._alive() and not self._kvm_failed())
        except ConsoleError:
            if accel != "kvm":
                raise
            self.power_cut()
            print(f"[{self.name}] KVM failed ({self.log}); booting again with TCG")
            self.accel = "tcg"
            self._start("tcg")
            self.console.expect("BOARD-READY", timeout, alive=self._alive)
        self.boots += 1
        return time.monotonic() - start

    def run(self, command: str, timeout: float = 180.0) -> tuple[int, str]:
        assert self.console is not None, "box is not running"
        return self.console.run(command, timeout, alive=self._alive)

    def halt(self, timeout: float = 60.0) -> None:
        """Clean power-off: the guest stops its services and unmounts, qemu exits."""
        assert self.console is not None and self.process is not None
        self.console.send("/sbin/board-halt\n")
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.power_cut()
            raise ConsoleError(f"{self.name} did not power off within {timeout:.0f} s") from None
        self._closed()

    def power_cut(self) -> None:
        """Pull the plug: SIGKILL our qemu process (nothing in the guest is flushed)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(30)
        self._closed()

    def _closed(self) -> None:
        if self.console is not None:
            self.console.close()
        self.console = None
        self.process = None


def free_port() -> int:
    """A TCP port on loopback that is free now (qemu binds it right after)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kvm_usable() -> bool:
    return os.access("/dev/kvm", os.R_OK | os.W_OK)
