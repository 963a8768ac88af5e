#!/bin/sh
# Upgrade an installed billing add-on to this package: the same steps as install.sh, but
# refuses when nothing is installed yet.  Keeps database (migrated), config, license, trial.
here=$(cd "$(dirname "$0")" && pwd)
PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" exec "${PYTHON:-python3}" -m installer install --upgrade --package "$here" "$@"
