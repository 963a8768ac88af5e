#!/bin/sh
# Debian packages the qemu board test needs on the host: debootstrap (the guest image),
# qemu-system-x86 (the emulated box), e2fsprogs (mke2fs -d / debugfs: disks without mounting).
# Called by `make board-test`; installs only what is missing; needs root for that.
# When apt cannot reach the Debian package mirror it says so in one line (exit 1).
set -e
need=""
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need="$need debootstrap"
command -v qemu-system-x86_64 >/dev/null 2>&1 || need="$need qemu-system-x86"
[ -x /usr/sbin/mke2fs ] && [ -x /usr/sbin/debugfs ] || need="$need e2fsprogs"
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "install-host-packages: please install:$need (needs root)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
# apt's output only when something fails (warnings about a mirror are not one line)
errors=$(apt-get update -q 2>&1 >/dev/null) || { printf '%s\n' "$errors" >&2; exit 1; }
# shellcheck disable=SC2086
if ! out=$(apt-get install -y -q --no-install-recommends $need 2>&1); then
    # Because the mirror cannot be reached?  apt-get update fails on that only in its
    # strict error mode (by default it keeps the old lists and exits 0).
    if ! errors=$(apt-get update -q -o APT::Update::Error-Mode=any 2>&1 >/dev/null); then
        first=$(printf '%s\n' "$errors" | grep -m1 '^E:' || echo "apt-get update failed")
        echo "board-test: cannot reach the Debian package mirror of this host's apt" \
             "($first): cannot install the host packages$need" >&2
        exit 1
    fi
    printf '%s\n' "$out" >&2
    exit 1
fi
