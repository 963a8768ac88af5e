#!/bin/sh
# Debian packages the tests need: chromium (browser tests), sqlite3 (inspection).
# Runs as root on the developer's and CI's machines; elsewhere it only reports.
set -e
need=""
command -v chromium >/dev/null 2>&1 || need="$need chromium"
command -v sqlite3 >/dev/null 2>&1 || need="$need sqlite3"
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "install-system-packages: please install:$need (needs root)" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $need >/dev/null
