"""Call-billing add-on for U20/U50-class IP PBX appliances."""

import sys as _sys

__version__ = "0.1.0"


def _peewee_without_psycopg2() -> None:
    """peewee imports psycopg2 whenever it is installed, and with it libpq and OpenSSL
    (about 8 MB resident); only a box whose store is PostgreSQL needs them, and
    ``pgstore`` hands the driver to peewee then.  Imported first by every entry point
    (this package's ``__init__``), so peewee is loaded here, with psycopg2 hidden."""
    if "peewee" in _sys.modules or "psycopg2" in _sys.modules:
        return
    _sys.modules["psycopg2"] = None  # type: ignore[assignment]  # "import psycopg2" fails
    try:
        import peewee  # noqa: F401
    except ImportError:
        pass  # not installed yet (setup.py reads __version__ in a bare build environment)
    finally:
        del _sys.modules["psycopg2"]


_peewee_without_psycopg2()
