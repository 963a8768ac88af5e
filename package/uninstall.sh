#!/bin/sh
# Remove the billing add-on: menu entry, service, code.  Billing data stays unless --purge.
# The installer keeps a copy of this script (and the installer) in the prefix.
here=$(cd "$(dirname "$0")" && pwd)
PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" exec "${PYTHON:-python3}" -m installer uninstall "$@"
