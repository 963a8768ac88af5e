"""The box's running time (billing_addon/boottime.py): what reservations are timed by."""

import pytest

from billing_addon import boottime


@pytest.fixture
def uptime_file(tmp_path, monkeypatch):
    path = tmp_path / "uptime"
    path.write_text("5000.25 9000.00\n")
    monkeypatch.setattr(boottime, "UPTIME_PATH", str(path))
    monkeypatch.setattr(boottime, "_read_at", None, raising=False)
    return path


def test_uptime_is_read_at_most_once_a_second(uptime_file, monkeypatch):
    """Issue #17 item 2: authorize asks on every call; the file is read again only when
    the last reading is a second old, the monotonic clock's advance added in between."""
    clock = [100.0]
    monkeypatch.setattr(boottime.time, "monotonic", lambda: clock[0])
    assert boottime.now().seconds == 5000.25
    uptime_file.write_text("7000.00 9000.00\n")  # not read again within the second
    clock[0] = 100.5
    assert boottime.now().seconds == pytest.approx(5000.75)
    clock[0] = 101.0  # a second later: read again
    assert boottime.now().seconds == 7000.0


def test_a_monotonic_clock_that_goes_back_reads_the_file_again(uptime_file, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(boottime.time, "monotonic", lambda: clock[0])
    assert boottime.now().seconds == 5000.25
    uptime_file.write_text("6000.00 9000.00\n")
    clock[0] = 50.0  # a shim stepped it back: never trust the old reading then
    assert boottime.now().seconds == 6000.0


def test_without_the_file_the_kernel_clock_answers(tmp_path, monkeypatch):
    monkeypatch.setattr(boottime, "UPTIME_PATH", str(tmp_path / "missing"))
    monkeypatch.setattr(boottime, "_read_at", None, raising=False)
    assert boottime.now().seconds > 0
