"""Issue #18 item 6, "CDR rotation": copytruncate lost calls.

Rows Asterisk wrote between the CDR follower's last poll and a ``copytruncate``
rotation were only in the rotated copy: the follower read the truncated file again from
its start and never charged those calls; they stayed in progress.  Here Debian's own
``logrotate -f`` rotates Master.csv, with a config written in the test's folder, right
after rows were appended and before the follower polls again: in ``copytruncate`` and
``create`` modes, uncompressed, ``compress`` with ``delaycompress`` and ``compress``
without it, with the follower running through the rotation or stopped across it.
"""

import shutil
import subprocess
import time
from zoneinfo import ZoneInfo

import pytest

from billing_addon import accounts, calls, settings
from billing_addon.pbx import cdr
from billing_addon.pbx.cdrfollow import CdrFollower
from billing_addon.store import Call, Extension
from tests.helpers import amount, make_extension, make_rate
from tests.pbx_support import cdr_rows

ZONE = "Asia/Shanghai"
T0 = int(time.time()) - 3600


def logrotate() -> str:
    found = shutil.which("logrotate") or shutil.which("logrotate", path="/usr/sbin:/sbin")
    if not found:
        pytest.fail("logrotate not found: install Debian's logrotate (make setup does)")
    return found


class Box:
    """Master.csv in a folder of its own, the calls authorize saw, and logrotate."""

    def __init__(self, folder):
        self.folder = folder
        self.path = folder / "Master.csv"
        self.path.write_bytes(b"")
        self.calls = 0

    def call(self, answered_s: int = 60) -> str:
        """One call authorized, then its three CDR rows appended, as Asterisk does."""
        self.calls += 1
        uniqueid = f"{T0}.{self.calls}"
        auth = calls.authorize("1001", "912345", T0 + self.calls, uniqueid)
        assert auth.result == calls.ALLOWED
        with open(self.path, "a", encoding="utf-8") as fh:  # cdr_csv opens it per row
            fh.write(cdr_rows(uniqueid, "1001", "912345", T0 + self.calls, answered_s,
                              ZoneInfo(ZONE), seq=3 * self.calls))
        return uniqueid

    def rotate(self, *options: str) -> None:
        config = self.folder / "logrotate.conf"
        config.write_text(f"{self.path} {{\n    rotate 5\n    missingok\n"
                          + "".join(f"    {o}\n" for o in options) + "}\n")
        done = subprocess.run([logrotate(), "-f", "-s", str(self.folder / "logrotate.state"),
                               str(config)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr


@pytest.fixture
def box(db_path, tmp_path):
    settings.put("timezone", ZONE)
    settings.put("max_call_seconds", "120")  # so that $100 covers every call at once
    make_extension("1001", balance="100")
    make_rate("9", "0", rate="0.60", unit="60")  # $0.01 a second
    folder = tmp_path / "cdr"
    folder.mkdir()
    return Box(folder)


def follower(box) -> CdrFollower:
    return CdrFollower(str(box.path), start="beginning", settler=cdr.Settler())


def assert_all_charged_once(box, stats_list):
    rows = list(Call.select().order_by(Call.id))
    assert len(rows) == box.calls
    assert [(c.status, c.answered_s) for c in rows] == [("charged", 60)] * box.calls
    ext = Extension.get(Extension.number == "1001")
    assert (ext.balance, ext.reserved) == (amount("100") - box.calls * amount("0.6"), 0)
    assert sum(s.charged for s in stats_list) == box.calls
    assert accounts.verify() == []


MODES = {
    "copytruncate": ("copytruncate", "nocompress"),
    "copytruncate-delaycompress": ("copytruncate", "compress", "delaycompress"),
    "copytruncate-compress": ("copytruncate", "compress"),
    "create": ("create", "nocompress"),
    "create-delaycompress": ("create", "compress", "delaycompress"),
    "create-compress": ("create", "compress"),
}


@pytest.mark.parametrize("mode", MODES)
def test_rows_written_right_before_the_rotation_are_charged(box, mode):
    box.call()
    box.call()
    running = follower(box)
    running.poll()
    assert running.stats.charged == 2
    box.call()  # written after the last poll ...
    box.call()
    box.rotate(*MODES[mode])  # ... and rotated away before the next one
    box.call()  # Asterisk writes on into the (new or truncated) file
    running.poll()
    running.poll()
    assert running.stats.errors == 0, running.stats.problems
    assert_all_charged_once(box, [running.stats])
    running.close()


@pytest.mark.parametrize("mode", MODES)
def test_rotated_while_the_follower_was_stopped(box, mode):
    box.call()
    first = follower(box)
    first.poll()
    first.close()
    box.call()  # the daemon is stopped (an upgrade) while a call ends and logrotate runs
    box.rotate(*MODES[mode])
    box.call()
    second = follower(box)
    second.poll()
    second.poll()
    assert second.stats.errors == 0, second.stats.problems
    assert_all_charged_once(box, [first.stats, second.stats])
    second.close()


def test_two_rotations_with_delaycompress_then_a_restart(box):
    """The older copy gets compressed at the next rotation: rows are never read twice."""
    running = follower(box)
    box.call()
    running.poll()
    box.call()
    box.rotate("copytruncate", "compress", "delaycompress")
    running.poll()
    box.call()
    box.rotate("copytruncate", "compress", "delaycompress")
    box.call()
    running.poll()
    running.close()
    again = follower(box)
    again.poll()
    assert (running.stats.errors, again.stats.errors) == (0, 0)
    assert_all_charged_once(box, [running.stats, again.stats])
    assert again.stats.charged == 0


@pytest.mark.parametrize("plain_copy_left", [True, False])
def test_a_copy_polled_while_logrotate_still_compresses_it(box, plain_copy_left):
    """copytruncate + compress without delaycompress: logrotate copies the file to
    Master.csv.1, truncates it, then gzips the copy. A poll in the middle finds a .gz that
    ends before its end marker: it is read again at the next poll (the new rows of the
    truncated file wait for it), not given up with its unread rows."""
    import gzip
    import zlib

    running = follower(box)
    box.call()
    running.poll()
    box.call()  # after the last poll: only in the copy once the file is truncated
    whole = box.path.read_bytes()
    plain = box.folder / "Master.csv.1"
    plain.write_bytes(whole)
    with open(box.path, "r+b") as fh:
        fh.truncate(0)
    raw = box.folder / "gz.part"
    with open(raw, "wb") as out:  # the .gz as gzip writes it, a block at a time
        gz = gzip.GzipFile(fileobj=out, mode="wb", mtime=0)
        gz.write(whole[:len(whole) // 2])
        gz.flush(zlib.Z_SYNC_FLUSH)
        half = out.tell()
        gz.write(whole[len(whole) // 2:])
        gz.close()
    compressed = raw.read_bytes()
    raw.unlink()
    copy = box.folder / "Master.csv.1.gz"
    copy.write_bytes(compressed[:half])
    if not plain_copy_left:
        plain.unlink()
    running.poll()
    box.call()  # a new call in the truncated file
    running.poll()
    copy.write_bytes(compressed)  # gzip is done; logrotate removes the plain copy
    plain.unlink(missing_ok=True)
    running.poll()
    running.poll()
    assert running.stats.errors == 0, running.stats.problems
    assert_all_charged_once(box, [running.stats])
    running.close()
