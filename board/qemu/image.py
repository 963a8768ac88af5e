"""The guest image: a minimal Debian bookworm with python3 and the add-on's Debian packages.

Built once with debootstrap (minbase) and cached outside the checkout, keyed on everything
that goes into it (suite, package list, the guest files in guest/), so a warm run only
copies a sparse file.  The kernel and initrd come from the rootfs' /boot; the root disk is
made with ``mke2fs -d`` (no mounting, no loop devices).

Runs started at once share the cache safely: an exclusive lock on ``<cache>/lock`` is held
while an image is checked, built (with the shared .deb folder) or cleaned up, an image is
built under a scratch name and renamed into place, and each run holds a shared lock on
the image it uses so that another run's clean-up leaves it alone.
"""

from __future__ import annotations

import fcntl
import hashlib
import http.client
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

SUITE = "bookworm"
# What the box's firmware gives the add-on, plus a kernel for qemu.  python3-cffi-backend
# is listed because debootstrap does not resolve virtual packages (python3-cffi-backend-api).
PACKAGES = (
    "python3",
    "python3-bottle",
    "python3-peewee",
    "python3-cryptography",
    "python3-cffi-backend",
    "python3-serial",
    "python3-waitress",
    "python3-xlsxwriter",
    "python3-reportlab",  # the statement PDF
    "python3-babel",  # the UI in the operator's language
    "fonts-wqy-microhei",  # the Chinese statement PDFs' font (statement_files.CJK_FONT_FILES)
    "linux-image-cloud-amd64",
    "initramfs-tools",
    "iproute2",  # the guest's init brings up loopback (web UI, FastAGI listen there)
)
ROOT_SIZE = "1G"
BUILDER_VERSION = "1"  # bump when the build steps below change
GUEST_DIR = Path(__file__).with_name("guest")
PROBE_TIMEOUT = 15.0  # seconds for the mirror probe
_IN_USE: list[int] = []  # images this process uses: shared locks, held until it exits


def cache_root() -> Path:
    """$BOARD_CACHE, else ~/.cache/billing-addon-board (never inside the checkout)."""
    return Path(os.environ.get("BOARD_CACHE") or Path.home() / ".cache" / "billing-addon-board")


def image_key() -> str:
    """Digest of every input of the image: change one and a new image is built."""
    h = hashlib.sha256()
    for part in (BUILDER_VERSION, SUITE, ROOT_SIZE, *PACKAGES):
        h.update(part.encode() + b"\0")
    for path in sorted(GUEST_DIR.iterdir()):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Image:
    """A built image: kernel, initrd and the pristine root (firmware) disk."""

    folder: Path

    @property
    def kernel(self) -> Path:
        return self.folder / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.folder / "initrd.img"

    @property
    def root_disk(self) -> Path:
        return self.folder / "root.img"


def host_mirror() -> str | None:
    """$BOARD_MIRROR, else the Debian mirror this host's apt uses for the suite, else None
    (debootstrap's own default).  Keeps the address out of the repository."""
    if os.environ.get("BOARD_MIRROR"):
        return os.environ["BOARD_MIRROR"]
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.is_file():
        for stanza in sources.read_text(errors="replace").split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            if uris and suites and SUITE in suites.group(1).split():
                return uris.group(1)
    legacy = Path("/etc/apt/sources.list")
    if legacy.is_file():
        for line in legacy.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and parts[-2] == SUITE:
                return parts[-3] if parts[1].startswith("[") else parts[1]
    return None


def _run(cmd: list[str], log: Path) -> None:
    with log.open("ab") as out:
        out.write(("\n$ " + " ".join(cmd) + "\n").encode())
        out.flush()
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-25:]
        raise RuntimeError(f"{cmd[0]} failed ({result.returncode}); log {log}:\n" + "\n".join(tail))


def _customise(rootfs: Path) -> None:
    """Guest files, mount points, and a diet (docs, man pages, the .deb cache)."""
    for name, target, mode in (("board-init", "sbin/board-init", 0o755),
                               ("board-halt", "sbin/board-halt", 0o755),
                               ("fstab", "etc/fstab", 0o644)):
        dest = rootfs / target
        shutil.copyfile(GUEST_DIR / name, dest)
        dest.chmod(mode)
    for area in ("data", "persist", "nvram", "usb"):
        (rootfs / "mnt" / area).mkdir(parents=True, exist_ok=True)
    (rootfs / "etc/hostname").write_text("pbx-qemu\n")
    (rootfs / "etc/firmware-version").write_text("1\n")
    for junk in ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
                 "var/cache/apt/archives", "var/lib/apt/lists"):
        shutil.rmtree(rootfs / junk, ignore_errors=True)
        (rootfs / junk).mkdir(parents=True, exist_ok=True)


def mirror_problem(mirror: str) -> str | None:
    """Why the mirror cannot be reached (a quick request for the suite's Release file), or
    None when it answers: a 4xx answer is debootstrap's to explain, in its log."""
    request = urllib.request.Request(f"{mirror.rstrip('/')}/dists/{SUITE}/Release", method="HEAD")
    try:
        urllib.request.urlopen(request, timeout=PROBE_TIMEOUT).close()
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} {exc.reason}" if exc.code >= 500 else None
    except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError, timeout
        return str(getattr(exc, "reason", exc)) or type(exc).__name__
    return None


def _check_mirror(mirror: str | None) -> None:
    """One line and exit when the mirror cannot be reached (instead of a traceback)."""
    problem = mirror_problem(mirror) if mirror else None
    if problem:
        raise SystemExit(f"board-test: cannot reach the Debian package mirror {mirror} ({problem}): "
                         "the guest image cannot be built (BOARD_MIRROR sets the mirror)")


def _debootstrap(cmd: list[str], mirror: str | None, log: Path) -> None:
    _check_mirror(mirror)  # probed first: debootstrap's downloads retry for minutes
    try:
        _run(cmd, log)
    except RuntimeError:
        if not mirror:  # debootstrap's default mirror, which its error message names
            named = re.search(rf"^E: .*?(\S+)/dists/{SUITE}/", log.read_text(errors="replace"), re.M)
            mirror = named.group(1) if named else None
        _check_mirror(mirror)  # gone meanwhile?  Else the log tail says what failed
        raise


def build(scratch: Path, log: Path) -> None:
    """debootstrap into scratch/rootfs, then kernel, initrd and root.img into ``scratch``.
    The caller holds the cache lock (the .deb folder is shared by every build)."""
    rootfs = scratch / "rootfs"
    debs = cache_root() / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    rootfs.mkdir(parents=True)
    cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
           f"--cache-dir={debs}", SUITE, str(rootfs)]
    mirror = host_mirror()
    if mirror:
        cmd.append(mirror)
    _debootstrap(cmd, mirror, log)
    boot = rootfs / "boot"
    kernels = sorted(boot.glob("vmlinuz-*"))
    initrds = sorted(boot.glob("initrd.img-*"))
    if not kernels or not initrds:
        raise RuntimeError(f"no kernel/initrd in {boot}: {sorted(p.name for p in boot.iterdir())}")
    shutil.copyfile(kernels[-1], scratch / "vmlinuz")
    shutil.copyfile(initrds[-1], scratch / "initrd.img")
    _customise(rootfs)
    _run(["mke2fs", "-q", "-t", "ext4", "-L", "firmware", "-d", str(rootfs),
          str(scratch / "root.img"), ROOT_SIZE], log)
    shutil.rmtree(rootfs)
    (scratch / "packages.txt").write_text("\n".join(PACKAGES) + "\n")


@contextmanager
def _cache_lock(root: Path, say) -> Iterator[None]:
    """The cache's exclusive lock; waits (saying so) while another run holds it."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / "lock").open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"image: waiting for another board test's image build ({root / 'lock'})")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _use(folder: Path) -> None:
    """A shared lock on the image, held until this process exits (see _unused)."""
    fd = os.open(folder, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH)
    _IN_USE.append(fd)


def _unused(folder: Path) -> bool:
    """No run uses the image (asked under the cache lock, as _use is called)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def ensure_image(say=print) -> tuple[Image, float]:
    """The cached image for the current key, built when missing; (image, build seconds).
    Under the cache lock: a run started meanwhile waits, then finds the image cached."""
    root = cache_root()
    key = image_key()
    folder = root / f"image-{key}"
    image = Image(folder)
    with _cache_lock(root, say):
        if image.root_disk.is_file() and image.kernel.is_file() and image.initrd.is_file():
            say(f"image: cached {folder}")
            _use(folder)
            return image, 0.0
        log = root / f"build-{key}.log"
        log.write_text("")
        say(f"image: building {folder} (debootstrap {SUITE}; log {log})")
        start = time.monotonic()
        scratch = folder.with_name(folder.name + ".building")
        shutil.rmtree(scratch, ignore_errors=True)  # left by a run that was stopped
        scratch.mkdir()
        build(scratch, log)
        os.sync()  # the files are on disk before the name is: a crash leaves no truncated image
        shutil.rmtree(folder, ignore_errors=True)
        scratch.rename(folder)
        took = time.monotonic() - start
        say(f"image: built in {took:.0f} s")
        _use(folder)
        for old in root.glob("image-*"):  # other keys' images (and scratch), unless in use
            if old != folder and _unused(old):
                shutil.rmtree(old, ignore_errors=True)
    return image, took
