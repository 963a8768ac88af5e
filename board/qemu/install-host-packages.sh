#!/bin/sh
# Debian packages the qemu board test needs on the host: debootstrap (the guest image),
# qemu-system-x86 (the emulated box), e2fsprogs (mke2fs -d / debugfs: disks without mounting).
# Called by `make board-test`; installs only what is missing; needs root for that.
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
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $need >/dev/null
