#!/bin/sh
# Install (or upgrade, or repair) the billing add-on from this unpacked package.  Run as
# root on the box; idempotent.  Options: docs/box.md (or: sh install.sh --help).
here=$(cd "$(dirname "$0")" && pwd)
PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" exec "${PYTHON:-python3}" -m installer install --package "$here" "$@"
