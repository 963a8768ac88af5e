"""Pages A translated, in a real browser on a phone (the box, chromium and helpers of
test_browser_web): the Extensions list and a recharge review in Chinese and Spanish at
390 px keep every header, label and button on screen and unclipped."""

from __future__ import annotations

import pytest
from billing_addon.web.core import WebCore

from .test_browser_web import box, browser, go, signed_in  # noqa: F401

# every element of the page that sticks out of the viewport, and every button, link
# button, table header and label whose text is wider than its box (cut off)
OVERFLOWS = """() => {
  const width = document.documentElement.clientWidth, bad = [];
  document.querySelectorAll("header *, main *, footer").forEach((el) => {
    const r = el.getBoundingClientRect(), style = getComputedStyle(el);
    if (!r.width || !r.height || style.visibility === "hidden") return;
    const name = el.tagName + (el.id ? "#" + el.id : "") + " " + el.textContent.trim().slice(0, 40);
    if (r.left < -0.5 || r.right > width + 0.5) bad.push("outside: " + name);
    if (el.matches("button, a.button, th, label, .badge") && el.scrollWidth > el.clientWidth + 1)
      bad.push("cut off: " + name);
  });
  return bad;
}"""


def layout_problems(page):
    problems = page.evaluate(OVERFLOWS)
    if page.evaluate("document.documentElement.scrollWidth") > 390:
        problems.append("the page scrolls sideways")
    return problems


@pytest.mark.parametrize("locale, words", [
    ("zh_CN", {"list": "累计充值", "review": "确认充值", "summary": "为 2 个分机 各充值",
               "selected": "已选择 2 个"}),
    ("es", {"list": "Total de recargas", "review": "Confirmar recarga",
            "summary": "¿Recargar 2 extensión(es)", "selected": "2 seleccionadas"}),
])
def test_extensions_and_a_recharge_review_on_a_phone(browser, box, monkeypatch, locale, words):  # noqa: F811
    monkeypatch.setattr(WebCore, "request_locale", lambda self: locale)
    phone = signed_in(browser, box, width=390, height=844)
    go(phone, "/extensions")
    # the stacked rows label each cell with its data-label (the header is hidden)
    total = phone.get_attribute("#ext-table tr[data-number='1001'] td:nth-child(9)", "data-label")
    assert total == words["list"]
    assert layout_problems(phone) == []
    phone.check("#ext-table tr[data-number='1001'] input[name=n]")
    phone.check("#ext-table tr[data-number='1002'] input[name=n]")
    assert phone.inner_text("[data-selection-count]") == words["selected"]
    assert layout_problems(phone) == []
    phone.click("#recharge-selected")
    phone.wait_for_url("**/extensions/recharge?**")
    assert layout_problems(phone) == []
    phone.fill("#amount", "5")
    phone.click("#do-recharge")
    phone.wait_for_selector("#recharge-confirm")
    assert words["review"] in phone.inner_text("#confirm-recharge")
    assert " ".join(phone.inner_text("#confirm-summary").split()).startswith(words["summary"])
    assert layout_problems(phone) == []
    phone.context.close()
