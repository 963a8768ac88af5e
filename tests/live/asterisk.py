"""A real Asterisk for the live tier: found, configured in a scratch folder, started on
loopback, driven through AMI.

Where it comes from, first found wins:
1. ``ASTERISK_PREFIX``: a folder with ``sbin/asterisk`` and ``lib/asterisk/modules``
   (``lib/`` also holds its libraries);
2. ``asterisk`` on PATH (modules from ``ASTERISK_MODULES``, else the usual folders);
3. the tarball ``ASTERISK_TARBALL``, else ``../shared/asterisk/asterisk-*.tar.xz`` beside
   the project (a build with ``asterisk/sbin``, ``asterisk/lib``), unpacked per session.

The configuration is the project's own (``tests/live/etc``), with the shipped
``billing.conf`` copied beside ``extensions.conf`` and included, as docs/pbx.md tells
an installer.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tarfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

PROJECT = Path(__file__).resolve().parents[2]
ETC_TEMPLATES = Path(__file__).resolve().parent / "etc"
SHIPPED_DIALPLAN = PROJECT / "billing_addon" / "dialplan" / "billing.conf"
MODULE_FOLDERS = ("/usr/lib/asterisk/modules", "/usr/lib/x86_64-linux-gnu/asterisk/modules",
                  "/usr/local/lib/asterisk/modules")


class NoAsterisk(RuntimeError):
    """No Asterisk was found; the message says where the tier looked."""


@dataclass
class Build:
    binary: Path
    modules: Path
    libraries: Optional[Path] = None


def _from_prefix(prefix: Path) -> Optional[Build]:
    binary, modules = prefix / "sbin" / "asterisk", prefix / "lib" / "asterisk" / "modules"
    if binary.is_file() and modules.is_dir():
        return Build(binary, modules, prefix / "lib")
    return None


def tarball() -> Tuple[Optional[Path], str]:
    """The tarball to unpack, and where it was looked for."""
    given = os.environ.get("ASTERISK_TARBALL")
    if given:
        return (Path(given) if Path(given).is_file() else None), f"ASTERISK_TARBALL={given}"
    pattern = PROJECT.parent / "shared" / "asterisk" / "asterisk-*.tar.xz"
    found = sorted(glob.glob(str(pattern)))
    return (Path(found[-1]) if found else None), f"{pattern} (ASTERISK_TARBALL not set)"


def find(scratch: Path) -> Build:
    """The Asterisk to test with (unpacking the tarball into ``scratch`` if that is it)."""
    looked = []
    prefix = os.environ.get("ASTERISK_PREFIX")
    if prefix:
        build = _from_prefix(Path(prefix))
        if build:
            return build
        looked.append(f"ASTERISK_PREFIX={prefix} (no sbin/asterisk with lib/asterisk/modules)")
    else:
        looked.append("ASTERISK_PREFIX (not set)")
    on_path = shutil.which("asterisk")
    if on_path:
        prefix = Path(on_path).resolve().parent.parent
        folders = [os.environ.get("ASTERISK_MODULES", ""), str(prefix / "lib" / "asterisk" / "modules"),
                   *MODULE_FOLDERS]
        modules = next((Path(f) for f in folders if f and Path(f, "app_dial.so").is_file()), None)
        if modules:
            own_libraries = prefix / "lib" / "libasteriskssl.so.1"  # a build installed in its own prefix
            return Build(Path(on_path), modules, own_libraries.parent if own_libraries.exists() else None)
        looked.append(f"{on_path} on PATH (no modules in ASTERISK_MODULES or {', '.join(MODULE_FOLDERS)})")
    else:
        looked.append("asterisk on PATH (none)")
    archive, where = tarball()
    if archive:
        with tarfile.open(archive) as tar:
            tar.extractall(scratch)  # our own test tool's archive, not user input
        build = _from_prefix(scratch / "asterisk")
        if build:
            return build
        looked.append(f"{archive} (no asterisk/sbin/asterisk inside)")
    else:
        looked.append(f"the tarball {where} (no such file)")
    raise NoAsterisk("the live tier needs Asterisk 22; looked for: " + "; ".join(looked))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Asterisk:
    """One Asterisk process in the foreground, its files under ``folder``."""

    def __init__(self, build: Build, folder: Path, agi_port: int):
        self.build, self.folder = build, folder
        self.etc, self.run = folder / "etc", folder / "run"
        self.ami_port, self.agi_port = free_port(), agi_port
        self.proc: Optional[subprocess.Popen] = None

    @property
    def master_csv(self) -> Path:
        return self.run / "log" / "cdr-csv" / "Master.csv"

    @property
    def messages_log(self) -> Path:
        return self.run / "log" / "messages.log"

    def configure(self) -> None:
        self.etc.mkdir(parents=True)
        for sub in ("cache", "lib", "data/sounds/en/custom", "agi-bin", "spool", "run", "log/cdr-csv"):
            (self.run / sub).mkdir(parents=True, exist_ok=True)
        values = {"@ETC@": str(self.etc), "@RUN@": str(self.run), "@MODULES@": str(self.build.modules),
                  "@SBIN@": str(self.build.binary.parent), "@AMIPORT@": str(self.ami_port),
                  "@AGIPORT@": str(self.agi_port)}
        for template in ETC_TEMPLATES.glob("*.conf"):
            text = template.read_text(encoding="utf-8")
            for key, value in values.items():
                text = text.replace(key, value)
            (self.etc / template.name).write_text(text, encoding="utf-8")
        shutil.copyfile(SHIPPED_DIALPLAN, self.etc / "billing.conf")  # as an installer does

    def add_sound(self, name: str, seconds: float = 0.2) -> None:
        """A sound file (silence, 8 kHz 16-bit mono WAV) that Playback(name) finds."""
        import wave

        path = self.run / "data" / "sounds" / "en" / f"{name}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(8000)
            out.writeframes(b"\0\0" * int(8000 * seconds))

    def start(self, timeout: float = 30.0) -> Ami:
        env = dict(os.environ)
        if self.build.libraries:
            env["LD_LIBRARY_PATH"] = str(self.build.libraries)
        self.console = open(self.folder / "console.log", "wb")
        self.proc = subprocess.Popen(
            [str(self.build.binary), "-C", str(self.etc / "asterisk.conf"), "-f", "-n", "-q"],
            stdin=subprocess.DEVNULL, stdout=self.console, stderr=subprocess.STDOUT, env=env)
        end = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"asterisk exited with {self.proc.returncode}: "
                                   + (self.folder / "console.log").read_text(errors="replace")[-2000:])
            try:
                ami = Ami(self.ami_port)
                break
            except OSError:
                if time.monotonic() > end:
                    raise RuntimeError("asterisk did not open its AMI port") from None
                time.sleep(0.1)
        ami.wait_fully_booted(timeout)
        return ami

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "console", None):
            self.console.close()


Message = Dict[str, str]


class Ami:
    """A minimal AMI client: actions with their responses, and every event kept in order
    (the test asks for the ones it needs with ``wait_event``/``events``)."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.settimeout(None)
        self._reader = self.sock.makefile("rb")
        self.banner = self._reader.readline().decode()
        self._lock = threading.Condition()
        self._events: List[Message] = []
        self._responses: Dict[str, Message] = {}
        self._ids = 0
        threading.Thread(target=self._read, name="ami-reader", daemon=True).start()
        reply = self.action("Login", Username="test", Secret="testsecret", Events="on")
        if reply.get("Response") != "Success":
            raise RuntimeError(f"AMI login refused: {reply}")

    def _read(self) -> None:
        message: Message = {}
        for raw in self._reader:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line:
                key, _, value = line.partition(": ")
                message[key] = value if key not in message else message[key] + "\n" + value
                continue
            with self._lock:
                if "Event" in message:
                    message["_received"] = repr(time.monotonic())
                    self._events.append(message)
                elif "ActionID" in message:
                    self._responses[message["ActionID"]] = message
                self._lock.notify_all()
            message = {}
        with self._lock:
            self._lock.notify_all()

    def action(self, name: str, timeout: float = 15.0, variables: Optional[Dict[str, str]] = None,
               **fields: str) -> Message:
        with self._lock:
            self._ids += 1
            action_id = f"t{self._ids}"
        lines = [f"Action: {name}", f"ActionID: {action_id}"]
        lines += [f"{key}: {value}" for key, value in fields.items()]
        lines += [f"Variable: {key}={value}" for key, value in (variables or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        with self._lock:
            if not self._lock.wait_for(lambda: action_id in self._responses, timeout):
                raise TimeoutError(f"no AMI response to {name}")
            return self._responses.pop(action_id)

    def events(self, predicate: Callable[[Message], bool] = lambda e: True) -> List[Message]:
        with self._lock:
            return [e for e in self._events if predicate(e)]

    def wait_event(self, predicate: Callable[[Message], bool], timeout: float = 30.0,
                   what: str = "an AMI event") -> Message:
        with self._lock:
            found: List[Message] = []

            def seen() -> bool:
                found[:] = [e for e in self._events if predicate(e)]
                return bool(found)

            if not self._lock.wait_for(seen, timeout):
                raise AssertionError(f"waited {timeout} s for {what}")
            return found[0]

    def wait_fully_booted(self, timeout: float) -> None:
        self.wait_event(lambda e: e.get("Event") == "FullyBooted", timeout, "FullyBooted")

    def set_global(self, name: str, value: str) -> None:
        reply = self.action("Setvar", Variable=name, Value=value)
        assert reply.get("Response") == "Success", reply

    def close(self) -> None:
        try:
            self.action("Logoff", timeout=2)
        except (OSError, TimeoutError):
            pass
        self.sock.close()
