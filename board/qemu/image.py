"""The guest image: a minimal Debian bookworm with python3 and the add-on's Debian packages.

Built once with debootstrap (minbase) and cached outside the checkout, keyed on everything
that goes into it (suite, package list, the guest files in guest/), so a warm run only
copies a sparse file.  The kernel and initrd come from the rootfs' /boot; the root disk is
made with ``mke2fs -d`` (no mounting, no loop devices).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

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
    "linux-image-cloud-amd64",
    "initramfs-tools",
    "iproute2",  # the guest's init brings up loopback (web UI, FastAGI listen there)
)
ROOT_SIZE = "1G"
BUILDER_VERSION = "1"  # bump when the build steps below change
GUEST_DIR = Path(__file__).with_name("guest")


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


def build(folder: Path, log: Path) -> Image:
    """debootstrap into a scratch rootfs, then kernel, initrd and root.img into ``folder``."""
    scratch = folder.with_name(folder.name + ".building")
    shutil.rmtree(scratch, ignore_errors=True)
    rootfs = scratch / "rootfs"
    debs = cache_root() / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    rootfs.mkdir(parents=True)
    cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
           f"--cache-dir={debs}", SUITE, str(rootfs)]
    mirror = host_mirror()
    if mirror:
        cmd.append(mirror)
    _run(cmd, log)
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
    shutil.rmtree(folder, ignore_errors=True)
    scratch.rename(folder)
    return Image(folder)


def ensure_image(say=print) -> tuple[Image, float]:
    """The cached image for the current key, built when missing; (image, build seconds)."""
    folder = cache_root() / f"image-{image_key()}"
    image = Image(folder)
    if image.root_disk.is_file() and image.kernel.is_file() and image.initrd.is_file():
        say(f"image: cached {folder}")
        return image, 0.0
    folder.parent.mkdir(parents=True, exist_ok=True)
    log = folder.parent / f"build-{image_key()}.log"
    log.write_text("")
    say(f"image: building {folder} (debootstrap {SUITE}; log {log})")
    start = time.monotonic()
    build(folder, log)
    took = time.monotonic() - start
    say(f"image: built in {took:.0f} s")
    for old in folder.parent.glob("image-*"):  # images of earlier keys: never used again
        if old != folder and not old.name.endswith(".building"):
            shutil.rmtree(old, ignore_errors=True)
    return image, took
