"""Where everything goes on the box.  Every path is absolute on the box and read under
``root`` (``/`` on the box; a temporary folder in tests, like DESTDIR)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

NAME = "billing-addon"
MENU_FILE = "billing.json"


@dataclass(frozen=True)
class Layout:
    root: str = "/"
    prefix: str = "/opt/billing-addon"  # code, installer copy, launchers, install.json
    addon_dir: str = "/etc/pbx/addons"  # the PBX's Addons menu entries (one JSON each)
    bin_dir: str = "/usr/local/bin"  # links to the launchers
    etc_dir: str = "/etc/billing-addon"  # billing.ini -> the config in the data area
    init_dir: str = "/etc/init.d"
    rc_dir: str = "/etc"  # rc0.d ... rc6.d live here
    asterisk_dir: str = "/etc/asterisk"

    @classmethod
    def from_env(cls, **given: str | None) -> Layout:
        """Flags win, then BILLING_INSTALL_ROOT / PBX_ADDON_DIR / BILLING_PREFIX, then
        the defaults above."""
        env = {"root": "BILLING_INSTALL_ROOT", "addon_dir": "PBX_ADDON_DIR",
               "prefix": "BILLING_PREFIX"}
        values = {}
        for key, default in asdict(cls()).items():
            values[key] = given.get(key) or os.environ.get(env.get(key, ""), "") or default
        values["root"] = os.path.abspath(values["root"])
        return cls(**values)

    @property
    def on_box(self) -> bool:
        """True when installing into the real system (services may be touched)."""
        return os.path.realpath(self.root) == "/"

    def at(self, path: str | os.PathLike) -> Path:
        """A box path under the install root."""
        return Path(self.root) / str(path).lstrip("/")

    def in_prefix(self, *parts: str) -> str:
        """A box path inside the prefix (as the box sees it, not rooted)."""
        return "/".join([self.prefix.rstrip("/"), *parts])

    @property
    def init_script(self) -> Path:
        return self.at(f"{self.init_dir}/{NAME}")

    @property
    def menu_entry(self) -> Path:
        return self.at(f"{self.addon_dir}/{MENU_FILE}")
