"""A box on SQLite never loads psycopg2 (with libpq and OpenSSL, about 8 MB of the
daemon's resident memory), although peewee imports it whenever it is installed; a box
on PostgreSQL still gets it, handed to peewee (billing_addon/__init__.py, pgstore.py)."""

import importlib.util
import subprocess
import sys
from pathlib import Path


def run(script):
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.split()


def test_a_box_on_sqlite_never_loads_psycopg2(tmp_path):
    assert importlib.util.find_spec("psycopg2") is not None  # installed: the case that matters
    assert run(
        "import sys\n"
        "from billing_addon import cli, daemon, store\n"
        "from billing_addon.web import app\n"
        f"store.init_db({str(tmp_path / 'billing.db')!r})\n"
        "store.sql_one('SELECT count(*) FROM extension')\n"
        "print(any(m.split('.')[0] == 'psycopg2' for m in sys.modules))\n") == ["False"]


def test_the_postgresql_store_hands_the_driver_to_peewee():
    # peewee maps psycopg2's errors to its own only when it has the driver's errors module
    assert run(
        "import billing_addon, peewee, sys\n"
        "print(peewee.psycopg2 is None)\n"
        "from billing_addon import pgstore\n"
        "import psycopg2\n"
        "print(peewee.psycopg2 is psycopg2 and peewee.pg_errors is psycopg2.errors)\n"
        "try:\n"
        "    with peewee.__exception_wrapper__:\n"
        "        raise psycopg2.errors.UniqueViolation('duplicate key')\n"
        "except peewee.IntegrityError:\n"
        "    print('mapped')\n") == ["True", "True", "mapped"]


def test_the_package_imports_where_peewee_is_not_installed_yet():
    # setup.py reads __version__ in a bare build environment (pip's build isolation):
    # no site-packages here, so no peewee
    root = str(Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-S", "-c",
                          f"import sys; sys.path.insert(0, {root!r})\n"
                          "import billing_addon\n"
                          "print(billing_addon.__version__ != '', 'peewee' in sys.modules)\n"],
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["True", "False"], out.stderr[-2000:]
