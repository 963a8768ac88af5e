"""Identity source readers, chosen by the profile's ``type`` string at run time.

Each reader returns the normalised value of one source or raises SourceUnavailable with
a human reason.  Types: file, cpuinfo, mac, generated, serial_at (pyserial, imported
only when such a source is read).
"""

from __future__ import annotations

import glob
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from hwlicense.board import BoardProfile, SourceSpec
from hwlicense.normalize import SourceUnavailable, normalize, normalize_mac

MAX_READ = 4096  # identity files are tiny; never slurp something huge

Reader = Callable[[SourceSpec, BoardProfile], str]


def _read_text(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            return fh.read(MAX_READ).decode("utf-8", errors="replace")
    except OSError as exc:
        raise SourceUnavailable(f"cannot read {path}: {exc.strerror or exc}") from exc


def read_file(spec: SourceSpec, profile: BoardProfile) -> str:
    """The first candidate path (``paths``) holding a real value, e.g. DMI product_serial."""
    reasons = []
    for candidate in spec.list("paths") or spec.list("path"):
        path = profile.path(candidate)
        try:
            value = normalize(_read_text(path))
        except SourceUnavailable as exc:
            reasons.append(str(exc))
            continue
        if value is None:
            reasons.append(f"{path} holds no real value (empty or placeholder)")
            continue
        return value
    raise SourceUnavailable("; ".join(reasons) or "no paths configured")


def read_cpuinfo(spec: SourceSpec, profile: BoardProfile) -> str:
    """The value of field ``field`` (e.g. 'Serial') in a /proc/cpuinfo-style file."""
    path = profile.path(spec.options.get("path", "/proc/cpuinfo"))
    wanted = spec.options.get("field", "Serial").strip().lower()
    for line in _read_text(path).splitlines():
        key, sep, raw = line.partition(":")
        if sep and key.strip().lower() == wanted:
            value = normalize(raw)
            if value is None:
                raise SourceUnavailable(f"{path}: field {wanted!r} is empty or zero")
            return value
    raise SourceUnavailable(f"{path}: no field {wanted!r}")


def read_mac(spec: SourceSpec, profile: BoardProfile) -> str:
    """The MAC of the first interface in ``interfaces`` (names or globs, in order)."""
    net = profile.path(spec.options.get("sysfs", "/sys/class/net"))
    for pattern in spec.list("interfaces"):
        for address_file in sorted(glob.glob(str(net / pattern / "address"))):
            try:
                value = normalize_mac(_read_text(Path(address_file)))
            except SourceUnavailable:
                continue
            if value is not None:
                return value
    raise SourceUnavailable(f"no interface {', '.join(spec.list('interfaces'))} under {net}")


def read_generated(spec: SourceSpec, profile: BoardProfile) -> str:
    """A random id created once in a storage area (the demo board's identity).

    Created with O_EXCL so two processes starting together agree on one id.
    """
    path = profile.area(spec.options.get("area", "nvram")) / spec.options.get("file", "device-id")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(16) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
    value = normalize(_read_text(path))
    if value is None:
        raise SourceUnavailable(f"{path} is empty")
    return value


def read_serial_at(spec: SourceSpec, profile: BoardProfile) -> str:
    """A serial-attached module's identity via AT command (imports pyserial lazily)."""
    from hwlicense.serial_source import read_at_identity

    return read_at_identity(spec, profile)


READERS: dict[str, Reader] = {
    "file": read_file,
    "cpuinfo": read_cpuinfo,
    "mac": read_mac,
    "generated": read_generated,
    "serial_at": read_serial_at,
}


def read_source(spec: SourceSpec, profile: BoardProfile) -> str:
    """Read one source (then its fallback, if any) by its type name."""
    reader = READERS.get(spec.type)
    if reader is None:
        raise SourceUnavailable(f"unknown source type {spec.type!r}")
    try:
        return reader(spec, profile)
    except SourceUnavailable as exc:
        if spec.fallback is None:
            raise
        try:
            return read_source(spec.fallback, profile)
        except SourceUnavailable as exc2:
            raise SourceUnavailable(f"{exc}; fallback {spec.fallback.name}: {exc2}") from exc2
