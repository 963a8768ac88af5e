"""``make board-test``: build (or reuse) the guest image, build the packages with a test
vendor key, make the disks, run the scenario on two emulated boxes, print the timings.

Options: ``--keep`` keeps the work folder (disks, console logs) even on success;
``--accel kvm`` tries KVM first (falls back to TCG when the guest fails).  Environment:
BOARD_CACHE (image cache), BOARD_WORKDIR (work folder), BOARD_ACCEL, BOARD_MIRROR.
Exit code 0 when every promise held.  See docs/box.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import disks, image
from .scenario import REPO, Host, Scenario, ScenarioError, Timings, sales
from .vm import AREAS, Box, Identity

sys.path.insert(0, str(REPO / "tools"))
import build_package  # noqa: E402

sys.path.remove(str(REPO / "tools"))

BOX_A = Identity("QEMU-A-000001", "0a0a0a0a-1111-4222-8333-0000000000a1", "52:54:00:b1:11:a1")
BOX_B = Identity("QEMU-B-000002", "0b0b0b0b-1111-4222-8333-0000000000b2", "52:54:00:b1:11:b2")


def previous_version(version: str) -> str:
    """A label lower than version for the 'previous release' package: 0.1.0 -> 0.0.99."""
    parts = [int(p) for p in version.split(".")[:3] if p.isdigit()]
    for i in reversed(range(len(parts))):
        if parts[i] > 0:
            parts[i] -= 1
            parts[i + 1:] = [99] * (len(parts) - i - 1)
            return ".".join(map(str, parts))
    raise SystemExit(f"cannot label a version older than {version}")


def u20_hard_reset_areas() -> tuple[str, ...]:
    """The areas a hard reset wipes on U20 (from board/profiles/u20.ini, not hard-coded)."""
    sys.path.insert(0, str(REPO))
    from hwlicense.board import parse_profile

    text = (REPO / "board" / "profiles" / "u20.ini").read_text(encoding="utf-8")
    return parse_profile(text, origin="u20.ini").wipes("hard")


def prepare_host(workdir: Path, timings: Timings) -> Host:
    """Vendor key pair (sales tool), the previous and current packages, trusting its key."""
    start = time.monotonic()
    key, pub = workdir / "vendor.key", workdir / "vendor.pub"
    made = sales("keygen", "--key", str(key), "--pub", str(pub))
    if made.returncode != 0:
        raise SystemExit(f"billing-license keygen failed: {made.stderr}")
    current_version = build_package.source_version(REPO)
    current, warnings = build_package.build(REPO, workdir, None, (pub,))
    previous, _ = build_package.build(REPO, workdir, previous_version(current_version), (pub,))
    for warning in warnings:
        print(f"  package warning: {warning}")
    timings.add(f"host: vendor key, packages {previous.name} and {current.name}",
                time.monotonic() - start)
    return Host(workdir, key, current, previous)


def make_box(name: str, identity: Identity, img: image.Image, workdir: Path,
             packages: list[Path], accel: str) -> Box:
    folder = workdir / name
    folder.mkdir()
    found = {"firmware": disks.firmware(img.root_disk, folder / "firmware.img", version=1)}
    for area in AREAS:
        found[area] = disks.area(folder / f"{area}.img", area)
    found["usb"] = disks.usb(folder / "usb.img", packages)
    return Box(name, img, folder, identity, found, accel)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--accel", default=os.environ.get("BOARD_ACCEL", "tcg"),
                        choices=("tcg", "kvm"), help="tcg (default) or kvm with fallback")
    args = parser.parse_args(argv)
    timings = Timings()
    began = time.monotonic()
    img, built = image.ensure_image()
    timings.add("host: guest image" + (" (built)" if built else " (cached)"), built)
    base = os.environ.get("BOARD_WORKDIR")
    if base:
        Path(base).mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="billing-board-", dir=base))  # one of its own per run
    print(f"work folder: {workdir}")
    boxes: list[Box] = []
    ok = False
    try:
        host = prepare_host(workdir, timings)
        packages = [host.previous, host.current]
        start = time.monotonic()
        a = make_box("box-a", BOX_A, img, workdir, packages, args.accel)
        b = make_box("box-b", BOX_B, img, workdir, packages, args.accel)
        boxes = [a, b]
        timings.add("host: disks for two boxes", time.monotonic() - start)
        Scenario(host, timings).run(a, b, u20_hard_reset_areas())
        ok = True
    except ScenarioError as exc:
        print(f"\nBOARD TEST FAILED: {exc}", file=sys.stderr)
    finally:
        for box in boxes:
            box.power_cut()
        total = time.monotonic() - began
        summary = {"ok": ok, "total_seconds": round(total, 1),
                   "steps": [[n, round(s, 1)] for n, s in timings.steps]}
        (workdir / "timings.json").write_text(json.dumps(summary, indent=1) + "\n")
        boots = [s for n, s in timings.steps if ": boot (" in n]
        print(f"\nboard test {'passed' if ok else 'FAILED'} in {total:.0f} s "
              f"({len(boots)} boots, {sum(boots):.0f} s booting); timings in "
              f"{workdir / 'timings.json'}")
        if ok and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir} (console logs: */*-console.log)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
