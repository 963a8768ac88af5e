"""What a real spreadsheet makes of our downloads: LibreOffice (headless) opens a CSV or
.xlsx file and saves it as .xlsx, which openpyxl then reads cell by cell (type, value,
number format).  `make setup` installs LibreOffice (tools/install-system-packages.sh)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest

SOFFICE = shutil.which("soffice")
# how a CSV is opened: comma, double quote, UTF-8 (76), from line 1; the rest LibreOffice's
# defaults (formulas evaluated, numbers and dates detected)
CSV_FILTER = "CSV:44,34,76,1"


def need_libreoffice() -> None:
    if SOFFICE is None:
        if os.environ.get("CI"):  # `make setup` installs it: missing in CI is a failure
            raise RuntimeError("no soffice: run `make setup`")
        pytest.skip("no LibreOffice (soffice)")


def libreoffice_reads(path: Path, work: Path) -> openpyxl.Workbook:
    """``path`` opened by LibreOffice and saved again as .xlsx, as openpyxl reads it."""
    need_libreoffice()
    out = work / "libreoffice-out"
    out.mkdir(parents=True, exist_ok=True)
    profile = work / "libreoffice-profile"  # its own profile: no clash with another soffice
    command = [str(SOFFICE), f"-env:UserInstallation={profile.resolve().as_uri()}", "--headless"]
    if path.suffix == ".csv":
        command.append(f"--infilter={CSV_FILTER}")
    command += ["--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(out), str(path)]
    subprocess.run(command, check=True, timeout=180, capture_output=True)
    return openpyxl.load_workbook(out / (path.stem + ".xlsx"))
