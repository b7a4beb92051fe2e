"""The /_debug page in a real browser: Debian's Chromium, driven by Playwright.

Synchronous by nature: Playwright's sync API runs its own event loop, and
the server runs on loopback in a thread of its own (``serve_in_thread``).
Chromium must be installed (``apt-get install chromium``, done by
``.ci/run``); without it the test fails and says so, it never skips.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer

EVIL_ID = '<script>window.pwned = "id"</script>'
EVIL_CLAIM = "<img src=x onerror='window.pwned = 1'>"


def chromium_path() -> str:
    """The system Chromium's executable, or a failure that says how to install it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and Path("/usr/bin/chromium").exists():
        found = "/usr/bin/chromium"
    if found is None:
        pytest.fail("Chromium is not installed: run `apt-get install -y chromium` (see .ci/run)")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium, launched once for the module."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: pip install 'tokensources[tests]'")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def test_the_page_shows_markup_as_text_and_runs_nothing(browser: Any) -> None:
    """A client id and claims made of markup are shown as text; no script or image runs."""
    server = AuthorizationServer()
    server.register_client(EVIL_ID, "evil-secret")
    server.map_claims({"note": EVIL_CLAIM})
    dialogs: list[str] = []
    with server.serve_in_thread() as url:
        answer = httpx.post(
            f"{url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(EVIL_ID, "evil-secret"),
            timeout=10,
        )
        assert answer.status_code == 200
        page = browser.new_page()
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(f"{url}/_debug", timeout=10_000)
        body = page.inner_text("body")
        scripts = page.locator("script").count()
        images = page.locator("img").count()
        pwned = page.evaluate("() => window.pwned === undefined ? null : window.pwned")
        page.close()

    assert EVIL_ID in body  # shown, as text
    assert EVIL_CLAIM in body
    assert (scripts, images, pwned, dialogs) == (0, 0, None, [])


def test_a_person_mints_a_token_with_the_form(browser: Any) -> None:
    """Filling in the form and pressing Mint shows a token the chosen issuer accepts."""
    server = AuthorizationServer()
    tenant = server.tenant("tenant-a")
    with server.serve_in_thread() as url:
        page = browser.new_page()
        page.goto(f"{url}/_debug", timeout=10_000)
        page.select_option("select[name=issuer]", "tenant-a")
        page.fill("input[name=client_id]", DEMO_CLIENT_ID)
        page.fill("input[name=scope]", "read:messages")
        page.fill("input[name=lifetime]", "120")
        page.click("button[type=submit]")
        page.wait_for_selector("#minted-token", timeout=10_000)
        token = page.input_value("#minted-token")
        listed = page.inner_text("body")
        page.close()
        claims = tenant.verify_access_token(token)
        api = httpx.get(
            f"{url}/tenant-a/api/private", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )

    assert (claims["sub"], claims["scope"], claims["exp"] - claims["iat"]) == (
        DEMO_CLIENT_ID,
        "read:messages",
        120,
    )
    assert api.status_code == 200
    assert claims["jti"] in listed
    assert DEMO_CLIENT_SECRET not in listed
    (minted,) = server.log.requests(endpoint="debug", method="POST")
    assert (minted.status, minted.issuer, minted.outcome) == (200, "tenant-a", "issued")
