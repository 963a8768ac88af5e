"""The daemon's INI configuration: one schema with default, type and help per option.

``billing-addon --config FILE``; options missing from the file take the defaults below.
``billing-addon config-defaults`` prints a documented file with every option.
Relative paths in the file are taken relative to the file's folder.
"""

from __future__ import annotations

import configparser
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from . import sites
from .errors import Refusal

DEFAULT_CONFIG_PATH = "/etc/billing-addon/billing.ini"


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "yes", "true", "on"):
        return True
    if lowered in ("0", "no", "false", "off"):
        return False
    raise ValueError(f"expected yes or no, got {value!r}")


def _port(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise ValueError("a port is 0 to 65535")
    return port


def _positive(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("must be greater than zero")
    return number


def _positive_seconds(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise ValueError("must be greater than zero")
    return number


def _address(value: str) -> str:
    value = value.strip()
    if value:
        ipaddress.ip_address(value)  # ValueError says what is wrong
    return value


def _cdr_start(value: str) -> str:
    value = value.strip().lower()
    if value not in ("end", "beginning"):
        raise ValueError("expected end or beginning")
    return value


@dataclass(frozen=True)
class Option:
    default: str
    type: Callable[[str], Any]
    help: str
    is_path: bool = False


SCHEMA: Dict[str, Dict[str, Option]] = {
    "box": {
        "board": Option("demo", str, "board profile: u20, u50, generic, qemu or demo"),
        "board_root": Option("", str, "root every board path under this folder (tests, emulation)", True),
        "database": Option("", str, "SQLite file; empty = billing.db in the board's data area", True),
        "durability": Option("full", str, "full: fsync every money-moving commit (survives a power "
                             "cut); normal: faster, survives a crash but not a power cut"),
    },
    "store": {
        "url": Option("", str, "the central store: postgresql://user:password@host:port/database "
                      "(several boxes on one PostgreSQL, docs/scale.md); empty = this box's "
                      "SQLite file ([box] database)"),
        "site": Option("", sites.parse_name,
                       "this box's site name on a shared store (extension numbers are per "
                       "site; reports filter by site); empty = a box on its own"),
    },
    "agi": {
        "enabled": Option("yes", _bool, "run the FastAGI listener"),
        "host": Option("127.0.0.1", str, "FastAGI listen address (keep it on loopback)"),
        "port": Option("4573", _port, "FastAGI listen port"),
        "max_connections": Option("200", _positive, "simultaneous FastAGI connections"),
        "timeout": Option("10", _positive, "seconds a FastAGI peer may stay silent"),
        "session_timeout": Option("30", _positive, "seconds a whole FastAGI session may last"),
        "workers": Option("4", _positive, "threads doing the database work of FastAGI calls"),
        "wait_seconds": Option("1.5", _positive_seconds, "authorize answers within this (DENIED "
                               "error while the database stays locked), and a new connection "
                               "must send its environment within it; keep it below the "
                               "dialplan's BILLING_WAIT_SECONDS (default 2)"),
    },
    "web": {
        "enabled": Option("yes", _bool, "serve the web UI"),
        "host": Option("127.0.0.1", str, "web UI listen address"),
        "port": Option("8080", _port, "web UI listen port"),
        "threads": Option("4", _positive, "WSGI worker threads"),
        "session_minutes": Option("30", _positive, "idle minutes before a session expires"),
        "max_upload_kb": Option("2048", _positive, "largest accepted upload (the server "
                                "refuses a request more than 1 MB larger before reading it)"),
        "trusted_proxy": Option("", _address, "address of the HTTPS reverse proxy in front of "
                                "the web UI (e.g. 127.0.0.1); only its X-Forwarded-Proto and "
                                "X-Forwarded-For are believed, so the session cookie gets "
                                "Secure; empty = no proxy"),
    },
    "api": {
        "rate_per_second": Option("20", _positive, "requests a second each API token may make "
                                  "on average (more get 429 with Retry-After)"),
        "burst": Option("40", _positive, "requests an API token may make at once above that"),
    },
    "cdr": {
        "enabled": Option("yes", _bool, "follow Asterisk's Master.csv"),
        "path": Option("/var/log/asterisk/cdr-csv/Master.csv", str, "the CDR file to follow", True),
        "poll_seconds": Option("2", _positive, "how often the CDR file is checked"),
        "mark": Option("billing", str, "CDR userfield that the shipped dialplan sets on billed "
                       "calls; a call authorize never saw is billed from the CDR only with it "
                       "(empty: from every caller Dial row, for a dialplan without the mark)"),
        "start": Option("end", _cdr_start, "with no saved position, start at the file's end "
                        "(only new calls) or beginning (import all of it)"),
    },
    "sync": {
        "files": Option("/etc/asterisk/pjsip.conf /etc/asterisk/sip.conf /etc/asterisk/users.conf",
                        str, "PBX configuration files the extension list is read from"),
        "interval_seconds": Option("300", _positive, "how often extensions are synced"),
        "enabled": Option("yes", _bool, "sync extensions from the PBX configuration"),
        "number_pattern": Option(r"^[0-9]{1,16}$", str, "section names that are extensions "
                                 "(a regular expression; trunks do not match)"),
    },
    "backup": {
        "enabled": Option("yes", _bool, "write automatic backups of the database (checked, "
                          "rotated) for the recovery of a damaged database"),
        "interval_seconds": Option("3600", _positive, "seconds between automatic backups; "
                                   "calls made since the last one are billed again from "
                                   "Master.csv after a recovery, recharges must be entered again"),
        "keep": Option("3", _positive, "automatic backups kept (each about the database's size)"),
        "folder": Option("", str, "where they go; empty = backups/ in the board's persist area "
                         "(kept by a factory reset)", True),
    },
    "log": {
        "file": Option("", str, "log file (rotated); empty = standard error", True),
        "level": Option("INFO", str, "DEBUG, INFO, WARNING or ERROR"),
        "max_kb": Option("1024", _positive, "rotate the log at this size"),
        "backups": Option("3", int, "rotated log files kept"),
    },
    "daemon": {
        "pid_file": Option("", str, "write the daemon's pid here", True),
        "stale_check_seconds": Option("60", _positive, "how often stale reservations are released"),
        "shutdown_seconds": Option("10", _positive, "on stop, wait this long for calls being "
                                   "authorized or settled"),
        "license_cache_seconds": Option("10", _positive, "how long the license state is reused "
                                        "between calls"),
        "checkpoint_seconds": Option("5", _positive_seconds, "copy the database's write-ahead "
                                     "log back into the database file at least this often"),
    },
}


class ConfigError(Refusal):
    pass


class Config:
    """Typed access: ``config.get('agi', 'port')`` -> 4573."""

    def __init__(self, values: Dict[str, Dict[str, Any]], path: Optional[str] = None):
        self._values = values
        self.path = path

    def get(self, section: str, key: str) -> Any:
        return self._values[section][key]

    def section(self, section: str) -> Dict[str, Any]:
        return dict(self._values[section])


def load(path: Optional[str] = None, overrides: Optional[Dict[str, Dict[str, str]]] = None) -> Config:
    parser = configparser.ConfigParser(interpolation=None)
    base = Path.cwd()
    if path:
        if not os.path.exists(path):
            raise ConfigError(f"config file {path} does not exist")
        try:
            parser.read(path, encoding="utf-8")
        except configparser.Error as exc:
            raise ConfigError(f"{path}: {exc}") from None
        base = Path(path).resolve().parent
    for section, given in (overrides or {}).items():
        if not parser.has_section(section):
            parser.add_section(section)
        for key, value in given.items():
            parser.set(section, key, value)
    values: Dict[str, Dict[str, Any]] = {}
    for section in parser.sections():
        if section not in SCHEMA:
            raise ConfigError(f"unknown section [{section}] in {path}")
        for key in parser[section]:
            if key not in SCHEMA[section]:
                raise ConfigError(f"unknown option {key!r} in [{section}] of {path}")
    for section, options in SCHEMA.items():
        values[section] = {}
        for key, opt in options.items():
            raw = parser.get(section, key, fallback=opt.default)
            if opt.is_path and raw and not os.path.isabs(raw):
                raw = str(base / raw)
            try:
                values[section][key] = opt.type(raw)
            except ValueError as exc:
                raise ConfigError(f"[{section}] {key} = {raw!r}: {exc}") from None
    return Config(values, path)


def defaults_text() -> str:
    """A complete, commented INI file with every option at its default."""
    lines = ["# billing-addon configuration; every option is shown at its default.", ""]
    for section, options in SCHEMA.items():
        lines.append(f"[{section}]")
        for key, option in options.items():
            lines.append(f"# {option.help}")
            lines.append(f"{key} = {option.default}")
        lines.append("")
    return "\n".join(lines)
