"""Idle: a spoken warning with one big button and a countdown, then home with nothing left."""

from __future__ import annotations

from typing import Any

import pytest

from kiosk.config import KioskSettings
from tests.ui.checks import audit, screenshot
from tests.ui.kiosk_data import LocalKiosk


@pytest.fixture
def kiosk_settings() -> KioskSettings:
    """Short idle times so the test does not wait 110 s."""
    return KioskSettings(IDLE_SECONDS=1.5, IDLE_WARNING_SECONDS=3)


def _warning(page: Any) -> Any:
    dialog = page.locator("#idle")
    dialog.wait_for(state="visible", timeout=15000)
    return dialog


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_idle_warning_then_start_over(kiosk: LocalKiosk, page: Any, lang: str) -> None:
    """After the idle time the warning counts down; then home, language and storage reset."""
    page.goto(kiosk.url + "/")
    start_history = page.evaluate("history.length")
    if lang == "en":
        with page.expect_navigation():
            page.click("#language")
    with page.expect_navigation():
        page.click("[data-category=plumbing]")
    with page.expect_navigation():
        page.click("a.choice:has-text('3')")
    page.evaluate("sessionStorage.setItem('probe', '1'); localStorage.setItem('probe', '1')")
    dialog = _warning(page)
    assert dialog.get_attribute("role") == "alertdialog"
    assert dialog.locator("button").count() == 1
    assert page.locator("body").get_attribute("data-screen") == "who"
    count = int(page.locator("#idle-count").inner_text())
    assert 1 <= count <= 3
    problems = audit(page)
    screenshot(page, f"idle-{lang}")
    assert not problems, problems
    page.locator("body[data-screen=home]").wait_for(state="attached", timeout=15000)
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.evaluate("sessionStorage.length + localStorage.length") == 0
    assert page.evaluate("history.length") == start_history
    assert not [c for c in page.context.cookies() if c["name"] in ("lang", "speak", "session")]
    assert "who" not in page.url
    assert "category" not in page.url


def test_continue_keeps_the_screen(kiosk: LocalKiosk, page: Any) -> None:
    """继续使用 closes the warning and the resident stays where they were."""
    page.goto(kiosk.url + "/phone?category=meals&room=1-1-101")
    for digit in "13912345678":
        page.click(f"[data-key='{digit}']")
    with page.expect_navigation():
        page.click("#done")
    _warning(page)
    page.click("#idle-continue")
    assert page.locator("#idle").is_hidden()
    assert page.locator("body").get_attribute("data-screen") == "confirm"
    assert page.locator("#summary-phone").inner_text() == "13912345678"
    # The timer starts again: the warning comes back later.
    _warning(page)


def test_untouched_home_does_not_loop(kiosk: LocalKiosk, page: Any) -> None:
    """The start screen in its default state has no timer (nothing to forget)."""
    page.goto(kiosk.url + "/")
    page.wait_for_timeout(3000)
    assert page.locator("#idle").is_hidden()
