"""Re-rating in a real browser (the box, chromium and helpers of test_browser_web): a rate
was wrong, it is corrected on the Rate page, the Re-rating preview shows the calls it
changes and their total, applying it (after its confirmation) adjusts the balances once,
and the run is listed with its result."""

from __future__ import annotations

from billing_addon import accounts, calls, money, rates, store

from .test_browser_web import box, browser, go, shot, signed_in, table_rows  # noqa: F401

T0 = 1714564800  # 2024-05-01 12:00 UTC


def runs():
    return store.sql_one("SELECT count(*) FROM rerate_run")[0]


def test_correct_a_rate_preview_and_apply_the_rerating(browser, box):  # noqa: F811
    accounts.edit(["1010", "1011"], billing_enabled=True)
    accounts.recharge(["1010", "1011"], money.parse_amount("50"), "test")
    wrong = rates.add(rates.validate({"prefix": "7", "rate": "0.10", "unit": "60",
                                      "all_extensions": True, "remarks": "wrong rate"}))
    for uid, number, seconds, at in (("br-1", "1010", 61, T0), ("br-2", "1011", 30, T0 + 60),
                                     ("br-3", "1010", 10, T0 + 86400)):
        assert calls.authorize(number, "7123", at, uid).result == calls.ALLOWED
        calls.settle(uid, seconds)
    before = {n: accounts.get_extension(n).balance for n in ("1010", "1011")}
    page = signed_in(browser, box)
    asked = []
    page.on("dialog", lambda dialog: asked.append(dialog.message))

    # -- the rate is corrected on the Rate page -------------------------------------------
    go(page, f"/rates/{wrong.id}/edit")
    page.fill("#rate", "0.25")
    page.click("#save-rate")
    page.wait_for_url("**/rates")

    # -- bad input: the period the wrong way round; nothing is saved ------------------------
    page.click("#rerate-link")
    page.wait_for_url("**/rates/rerate")
    page.fill("#rerate-from", "2024-05-02")
    page.fill("#rerate-to", "2024-05-01")
    page.click("#rerate-preview")
    assert "the period starts (2024-05-02) after it ends (2024-05-01)" in page.inner_text("#err-form")
    assert runs() == 0

    # -- the preview of 1 May: two calls, their old and new cost, the total ----------------
    page.fill("#rerate-from", "2024-05-01")
    page.fill("#rerate-to", "2024-05-01")
    page.click("#rerate-preview")
    page.wait_for_url("**/rates/rerate/*")
    assert page.inner_text("#total-count") == "2"
    assert page.inner_text("#total-old") == "$0.30"  # 0.20 + 0.10
    assert page.inner_text("#total-new") == "$0.75"  # 0.50 + 0.25
    assert page.inner_text("#total-difference") == "$0.45"
    rows = table_rows(page, "#item-table")
    assert [(r[1], r[6], r[7], r[8]) for r in rows] == [
        ("1010", "$0.20", "$0.50", "$0.30"), ("1011", "$0.10", "$0.25", "$0.15")]
    assert {n: accounts.get_extension(n).balance for n in before} == before  # nothing yet
    shot(page, box, "rerate-preview")

    # -- apply, confirmed: each call adjusted once ------------------------------------------
    page.click("#apply-run")
    page.wait_for_selector("#total-applied")  # the page follows the apply's progress
    assert asked and "balances change by -$0.45" in asked[-1]
    assert page.inner_text("#total-applied") == "2"
    assert page.inner_text("#run-state") == "applied"
    assert accounts.get_extension("1010").balance == before["1010"] - money.parse_amount("0.30")
    assert accounts.get_extension("1011").balance == before["1011"] - money.parse_amount("0.15")
    assert page.locator("#apply-run").count() == 0  # applied: no button any more

    # -- the run is listed with its result ----------------------------------------------------
    go(page, "/rates/rerate")
    listed = table_rows(page, "#run-table")
    assert len(listed) == 1
    assert listed[0][0] == "#1" and "applied" in listed[0][6] and "2 adjusted" in listed[0][7]
    assert listed[0][5] == "$0.45"
