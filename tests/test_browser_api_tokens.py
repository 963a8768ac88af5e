"""The API Tokens page in a real browser (headless chromium, the box of
tests/test_browser_web.py on waitress): a billing user makes a token, its secret is
shown once, a program uses it over HTTP, the browser's own session cannot call the
API, and Revoke refuses the token at once.  The page in Chinese and Spanish too."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from billing_addon.web import auth

from billing_addon import api_tokens
from tests import test_browser_web as web

box = web.box  # the same module-scoped box and browser
browser = web.browser


def _call(box, secret, path="/api/v1/extensions/1001"):
    """(status, JSON answer) of a program's request over HTTP to the real server."""
    request = urllib.request.Request(box["url"] + path, headers={"Authorization": f"Bearer {secret}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_make_use_and_revoke_a_token(browser, box):
    page = web.signed_in(browser, box, password="token-pw-1")
    time.sleep(2.1)  # the sign-in answer is cached for 2 s (activation)
    try:
        web.go(page, "/extensions")
        page.click('nav a[href="/api-tokens"]')
        page.wait_for_url("**/api-tokens")
        assert page.locator("#no-tokens").count() == 1
        page.fill("#token-name", "Front desk PMS")
        page.select_option("#token-role", "billing")
        page.click("#token-create")
        page.wait_for_selector("#token-secret")
        secret = page.inner_text("#token-secret").strip()
        assert secret.startswith(api_tokens.PREFIX)
        web.shot(page, box, "api-tokens")
        status, answer = _call(box, secret)
        assert status == 200 and answer["number"] == "1001"
        # the browser's session is no way in: no cookie is looked at
        from_browser = page.evaluate("""async () => {
            const r = await fetch('/api/v1/extensions', {credentials: 'same-origin'});
            return r.status; }""")
        assert from_browser == 401
        # shown once: the list has the token, never its secret again
        web.go(page, "/api-tokens")
        assert secret not in page.content()
        row = web.table_rows(page, "#token-table")[0]
        assert row[0] == "Front desk PMS" and "active" in row[4], row
        page.click("#token-table button.danger")  # confirmed by the page's dialog handler
        page.wait_for_url("**/api-tokens")
        assert "revoked" in web.flash_text(page)
        assert "revoked" in web.table_rows(page, "#token-table")[0][4]
        status, answer = _call(box, secret)
        assert status == 401 and answer["error"]["code"] == "unauthorized"
    finally:
        page.context.close()


def test_a_bad_token_form_is_refused_in_the_users_language(browser, box):
    user, password = auth.create_billing_user("token-pw-2")
    page = web.new_page(browser, box)
    web.sign_in(page, user.username, password)
    page.wait_for_url("**/extensions")
    try:
        for locale, words in (("zh_CN", "部门"), ("es", "departamento")):
            auth.set_locale(user.username, locale)
            web.go(page, "/api-tokens")
            page.fill("#token-name", "x")
            page.select_option("#token-role", "manager")  # a manager's token needs departments
            page.click("#token-create")
            page.wait_for_selector("#err-form")
            assert words in page.inner_text("#err-form").lower(), page.inner_text("#err-form")
            assert "department" not in page.inner_text("#err-form")  # translated
    finally:
        page.context.close()
