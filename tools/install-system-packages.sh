#!/bin/sh
# Debian packages the tests need: chromium (browser tests), sqlite3 (inspection), faketime
# (libfaketime: the trial tests run the real CLI under a moved clock), logrotate (the CDR
# rotation tests run the real one), LibreOffice Calc (headless: the export tests open
# the downloads in a real spreadsheet), poppler-utils (pdftotext reads the statement PDFs
# back), fonts-wqy-microhei (the CJK font of the Chinese statement PDFs), and the libraries
# the live tier's Asterisk 22 build links against (make test-live), and the PostgreSQL server
# that `make test-postgres` starts throwaway clusters of (initdb/pg_ctl; never as a service).
# Runs as root on the developer's and CI's machines; elsewhere it only reports.
set -e
need=""
command -v chromium >/dev/null 2>&1 || need="$need chromium"
command -v sqlite3 >/dev/null 2>&1 || need="$need sqlite3"
command -v faketime >/dev/null 2>&1 || need="$need faketime"
[ -x /usr/sbin/logrotate ] || command -v logrotate >/dev/null 2>&1 || need="$need logrotate"
command -v soffice >/dev/null 2>&1 || need="$need libreoffice-calc-nogui"
command -v pdftotext >/dev/null 2>&1 || need="$need poppler-utils"
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need="$need fonts-wqy-microhei"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$need postgresql"
if command -v dpkg-query >/dev/null 2>&1; then
    for lib in libjansson4 libxml2 libxslt1.1 libsqlite3-0 libssl3 libuuid1 libedit2; do
        dpkg-query -W -f='${Status}' "$lib" 2>/dev/null | grep -q "ok installed" || need="$need $lib"
    done
fi
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "install-system-packages: please install:$need (needs root)" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $need >/dev/null
