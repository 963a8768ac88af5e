"""Packaging for the call-billing add-on.

The folders web/ and board/ are installed under the namespaced import names
``billing_addon.web`` and ``billing_addon.board``: the bare name ``web`` is taken on
PyPI (web.py) and would collide.
"""

from setuptools import setup

from billing_addon import __version__

setup(
    name="billing-addon",
    version=__version__,
    description="Call billing add-on for U20/U50-class IP PBX appliances",
    python_requires=">=3.9",
    packages=[
        "billing_addon",
        "billing_addon.pbx",
        "billing_addon.web",
        "billing_addon.web.api",
        "billing_addon.board",
        "hwlicense",
    ],
    package_dir={
        "billing_addon.web": "web",
        "billing_addon.web.api": "web/api",
        "billing_addon.board": "board",
    },
    package_data={
        "billing_addon": ["migrations/*.sql", "migrations/postgresql/*.sql", "dialplan/*.conf", "default.ini", "locale/*/*.po"],
        "billing_addon.web": ["views/*.tpl", "static/*"],
        "billing_addon.board": ["profiles/*.ini"],
        "hwlicense": ["trusted_keys/*.pub", "trusted_keys/README.txt"],
    },
    # Ranges that Debian bookworm's python3-* packages satisfy (the box's firmware).
    install_requires=[
        "bottle>=0.12.23,<0.14",
        "peewee>=3.14.10,<4",
        "cryptography>=38",
        "pyserial>=3.5",
        "waitress>=2.1.2",
        "XlsxWriter>=3.0.2",
        "reportlab>=3.6.12",
        "Babel>=2.10.3",
    ],
    # only a box whose [store] url names a PostgreSQL server (Debian: python3-psycopg2)
    extras_require={"postgresql": ["psycopg2>=2.9.5"]},
    entry_points={
        "console_scripts": [
            "billing-addon=billing_addon.cli:main",
            "billing-license=hwlicense.sales_cli:main",
        ],
    },
)
