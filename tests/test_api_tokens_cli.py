"""``billing-addon api-token create|list|revoke``: the secret printed once, works on
the API, revoked refuses it; bad input is one line and exit 1, nothing made."""

from __future__ import annotations

from billing_addon import api_tokens, cli


def _run(capsys, db_path, *argv):
    code = cli.main(["--config", str(db_path.parent / "billing.ini"), *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_create_list_revoke(db_path, capsys):
    (db_path.parent / "billing.ini").write_text(f"[box]\ndatabase = {db_path}\n")
    code, out, _err = _run(capsys, db_path, "api-token", "create", "Kiosk", "--role", "auditor")
    assert code == 0
    secret = out.strip().splitlines()[-1]
    assert secret.startswith(api_tokens.PREFIX)
    code, out, _err = _run(capsys, db_path, "api-token", "list")
    assert code == 0 and "Kiosk" in out and "auditor" in out and "active" in out
    assert secret not in out
    store_token = api_tokens.listed()[0]
    assert _run(capsys, db_path, "api-token", "revoke", str(store_token.id))[0] == 0
    from billing_addon import store
    store.init_db(db_path)
    assert api_tokens.authenticate(secret) is None


def test_bad_input_is_one_line_and_makes_nothing(db_path, capsys):
    (db_path.parent / "billing.ini").write_text(f"[box]\ndatabase = {db_path}\n")
    code, out, err = _run(capsys, db_path, "api-token", "create", "PMS", "--role", "manager")
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1
    code, _out, err = _run(capsys, db_path, "api-token", "revoke", "99")
    assert code == 1 and "no such token" in err
    from billing_addon import store
    store.init_db(db_path)
    assert api_tokens.listed() == []
