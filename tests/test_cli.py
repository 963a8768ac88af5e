"""The billing-addon command line, end to end on a real database file."""

import pytest

from tests.helpers import cli_runner


@pytest.fixture
def run(tmp_path, capsys):
    ini = tmp_path / "b.ini"
    ini.write_text(f"[box]\ndatabase = {tmp_path / 'b.db'}\n")

    return cli_runner(ini, capsys)


def test_manual_workflow(run, tmp_path):
    assert run("init")[0] == 0
    assert run("ext", "add", "1001", "--name", "Room 1")[0] == 0
    assert run("ext", "edit", "1001", "--billing", "on", "--credit", "2")[0] == 0
    code, out = run("recharge", "1001", "--amount", "10")
    assert code == 0 and "$0.00 + $10.00 = $10.00" in out
    assert run("rates", "add", "--prefix", "9", "--length", "9", "--rate", "0.05",
               "--unit", "60", "--extensions", "1001")[0] == 0
    code, out = run("rate", "test", "1001", "912345678", "--duration", "61")
    assert code == 0 and "$0.10" in out
    code, out = run("authorize", "1001", "912345678", "--uniqueid", "c1")
    assert code == 0 and out.startswith("ALLOWED")
    code, out = run("settle", "c1", "61")
    assert "charged cost=$0.10" in out
    assert "duplicate" in run("settle", "c1", "61")[1]
    code, out = run("ext", "show", "1001")
    assert "$9.90" in out
    assert run("verify") == (0, "ledger OK\n")
    deck = tmp_path / "deck.csv"
    assert run("rates", "export", "-o", str(deck))[0] == 0
    assert run("rates", "import", str(deck), "--replace")[0] == 0
    code, out = run("rates", "list")
    assert code == 0 and out.count("\n") == 2


@pytest.mark.parametrize("argv, message", [
    (("recharge", "1001", "--amount", "-5"), "negative"),
    (("recharge", "1001", "--amount", "abc"), "not a number"),
    (("recharge", "4040", "--amount", "5"), "unknown extension"),
    (("rates", "add", "--prefix", "9x", "--rate", "1", "--unit", "0"), "digits only"),
    (("settings", "timezone", "Mars/Olympus"), "unknown time zone"),
    (("authorize", "1001", "9abc"), "digits"),
])
def test_refusals_exit_1_with_a_message(run, argv, message):
    run("init")
    run("ext", "add", "1001")
    code, out = run(*argv)
    assert code == 1 and message in out and "Traceback" not in out


def test_the_system_time_zone_is_adopted_once(tmp_path, db_path):
    from billing_addon import settings

    zoneinfo = tmp_path / "usr" / "share" / "zoneinfo" / "Asia"
    zoneinfo.mkdir(parents=True)
    (zoneinfo / "Shanghai").write_bytes(b"TZif")
    link = tmp_path / "localtime"
    link.symlink_to(zoneinfo / "Shanghai")
    assert settings.system_zone(str(link), str(tmp_path / "none")) == "Asia/Shanghai"
    (tmp_path / "timezone").write_text("Europe/Berlin\n")
    assert settings.system_zone(str(tmp_path / "none"), str(tmp_path / "timezone")) == "Europe/Berlin"
    (tmp_path / "timezone").write_text("Mars/Olympus\n")
    assert settings.system_zone(str(tmp_path / "none"), str(tmp_path / "timezone")) is None
    settings.put("timezone", "America/Lima")  # chosen by the user: kept
    assert settings.adopt_system_zone() is None and settings.get("timezone") == "America/Lima"


def test_init_sets_the_time_zone_from_the_system(run, monkeypatch):
    from billing_addon import settings

    monkeypatch.setattr(settings, "system_zone", lambda: "Asia/Shanghai")
    code, out = run("init")[:2]
    assert code == 0 and "time zone: Asia/Shanghai" in out
    assert settings.get("timezone") == "Asia/Shanghai"


def test_billing_ac_names_the_addon_version(run, tmp_path):
    """hwlicense does not import the add-on: the CLI passes its version to box_cli."""
    from billing_addon import __version__
    from hwlicense.fakedevice import make_device

    make_device(tmp_path / "box", "qemu", 1)
    code, out = run("billing-ac", "-o", "-", "--board", "qemu", "--board-root", str(tmp_path / "box"))
    assert code == 0 and f"\naddon-version: {__version__}\n" in out


def test_every_refusal_is_a_refusal():
    """One base class: main() turns any of them into 'error: REASON' and exit code 1."""
    from billing_addon.web import auth

    from billing_addon import accounts, calls, config, money, rates, settings
    from billing_addon.errors import Refusal

    for kind in (accounts.AccountError, money.AmountError, rates.RateError, calls.CallError,
                 settings.SettingError, config.ConfigError, auth.AuthError):
        assert issubclass(kind, Refusal) and issubclass(kind, ValueError)


@pytest.mark.parametrize("argv", [("user", "passwd", "bill-nosuch"), ("user", "enable", "bill-nosuch"),
                                  ("user", "disable", "bill-nosuch")])
def test_web_account_refusals_exit_1_with_a_message(run, argv):
    run("init")
    assert run(*argv) == (1, "error: no such billing user\n")


# --- issue 13: look-alike digits, the decimal comma, bad files and flags ---------------


@pytest.mark.parametrize("argv, message", [
    (("ext", "add", "１００１"), "digits 0-9 only"),              # fullwidth 1001
    (("ext", "add", "١٠٠١"), "digits 0-9 only"),                  # Arabic-Indic 1001
    (("recharge", "1001", "--amount", "１２"), "digits 0-9 only"),
    (("rates", "add", "--prefix", "9", "--rate", "1", "--unit", "６０"), "digits 0-9 only"),
    (("rates", "add", "--prefix", "9", "--rate", "1", "--unit", "²"), "digits 0-9 only"),
    (("rates", "add", "--prefix", "9", "--rate", "1", "--start", "０８:００"), "digits 0-9 only"),
    (("rates", "add", "--prefix", "9", "--rate", "1", "--length", "١٢"), "digits 0-9 only"),
])
def test_look_alike_digits_are_refused(run, argv, message):
    run("init")
    run("ext", "add", "1001")
    code, out = run(*argv)
    assert code == 1 and message in out and "Traceback" not in out and "int()" not in out
    assert run("ext", "list")[1].count("\n") == 2  # the header and 1001, nothing else
    assert "prefix" in run("rates", "list")[1] and run("rates", "list")[1].count("\n") == 1


@pytest.mark.parametrize("duration", ["-5", "١٢", "1.5", "²"])
def test_rate_test_duration_is_whole_ascii_seconds(run, duration):
    run("init")
    with pytest.raises(SystemExit) as exited:
        run("rate", "test", "1001", "912345678", "--duration", duration)
    assert exited.value.code == 2


def test_decimal_comma_with_a_comma_currency(run):
    run("init")
    run("ext", "add", "1001")
    run("settings", "currency", "EUR")
    code, out = run("recharge", "1001", "--amount", "7,50")
    assert code == 0 and "€0,00 + €7,50 = €7,50" in out
    code, out = run("recharge", "1001", "--amount", "1,000")
    assert code == 1 and "ambiguous" in out
    assert run("rates", "add", "--prefix", "9", "--rate", "0,0125", "--unit", "1")[0] == 0
    assert "€0,0125" in run("rates", "list")[1]
    run("settings", "currency", "USD")
    code, out = run("recharge", "1001", "--amount", "7,50")
    assert code == 1 and "decimal point" in out


def test_a_latin1_deck_is_refused_in_one_line(run, tmp_path):
    run("init")
    deck = tmp_path / "excel.csv"
    deck.write_bytes("prefix,rate,unit,remarks\n9,0.05,60,City\n8,0.05,60,Café\n".encode("cp1252"))
    code, out = run("rates", "import", str(deck))
    assert code == 1 and "Traceback" not in out
    assert out == "error: line 3: file: the file is not UTF-8 text (save it as CSV UTF-8)\n"
    assert run("rates", "list")[1].count("\n") == 1


def test_settle_of_an_unrated_call_says_unrated(run):
    run("init")
    run("ext", "add", "1001")
    run("ext", "edit", "1001", "--billing", "on", "--credit", "2")
    assert run("authorize", "1001", "5551234", "--uniqueid", "u1")[0] == 0
    code, out = run("settle", "u1", "30")
    assert "unrated" in out and "$0.00" not in out and "cost=" not in out


def test_duplicate_rates_and_2359_are_warned_and_listed(run):
    run("init")
    every = ("--extensions", "*")
    assert run("rates", "add", "--prefix", "9", "--rate", "1", "--unit", "60", *every) == (
        0, "rate 1 added\n")
    code, out = run("rates", "add", "--prefix", "9", "--rate", "2", "--unit", "60", *every)
    assert code == 0 and "warning: rate 2: it never applies: rate 1 has the same prefix" in out
    code, out = run("rates", "add", "--prefix", "8", "--rate", "2", "--unit", "60", "--end", "23:59")
    assert code == 0 and "warning: rate 3: it ends at 23:59" in out and "use 24:00" in out
    listing = run("rates", "list")[1].splitlines()
    assert listing[2].endswith("never applies (rate 1)") and "never" not in listing[1] + listing[3]
