"""The small scripts that start our code with the box's python3: no pip, no entry points.

``billing-addon`` adds the installed lib/ to sys.path, selects the box's board and, unless
the caller gives ``--config``, uses the config in the board's data area, writing it from
the package's default first when it is missing (first install, or a factory reset wiped
the data area while the code, in the firmware area, stayed).
"""

from __future__ import annotations

BILLING_ADDON = '''#!{python}
"""billing-addon: launcher written by the billing-addon installer (docs/box.md)."""
import os
import sys

LIB = {lib!r}
CONFIG = {config!r}
TEMPLATE = {template!r}
BOARD = {board!r}
ROOT = {root!r}


def ensure_config():
    """Write the default config when the data area has none."""
    if os.path.exists(CONFIG):
        return
    with open(TEMPLATE, encoding="utf-8") as f:
        text = f.read().replace("@BOARD@", BOARD).replace("@ROOT@", ROOT)
    os.makedirs(os.path.dirname(CONFIG), exist_ok=True)
    tmp = CONFIG + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, CONFIG)


sys.path.insert(0, LIB)
os.environ.setdefault("BILLING_BOARD", BOARD)
ensure_config()  # also when the init script names /etc/billing-addon/billing.ini (a link)
args = sys.argv[1:]
if not any(a == "--config" or a.startswith("--config=") for a in args):
    args = ["--config", CONFIG] + args
from billing_addon.cli import main  # noqa: E402

sys.exit(main(args))
'''

BILLING_LICENSE = '''#!{python}
"""billing-license: launcher written by the billing-addon installer (docs/box.md)."""
import sys

sys.path.insert(0, {lib!r})
from hwlicense.sales_cli import main  # noqa: E402

sys.exit(main())
'''


def render(name: str, **values: str) -> bytes:
    """The launcher ``name`` ('billing-addon' or 'billing-license') with its paths."""
    template = BILLING_ADDON if name == "billing-addon" else BILLING_LICENSE
    return template.format(**values).encode("utf-8")
