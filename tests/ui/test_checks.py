"""The accessibility checks themselves fail when a screen breaks a limit."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ui.checks import MIN_GAP_PX, MIN_TARGET_PX, audit, gesture_listeners
from tests.ui.kiosk_data import LocalKiosk

BREAKAGES = {
    "small target": (
        "const b = document.createElement('button'); b.textContent = 'x';"
        "b.style.cssText = 'width:70px;height:70px;min-width:0;min-height:0;"
        "font-size:30px;padding:0';"
        "b.className = 'btn'; document.querySelector('main').prepend(b);",
        "target button",
    ),
    "tiny text": (
        "const p = document.createElement('p'); p.textContent = 'small';"
        "p.style.fontSize = '18px'; document.querySelector('main').prepend(p);",
        "is 18 px",
    ),
    "low contrast": (
        "const p = document.createElement('p'); p.textContent = 'grey';"
        "p.style.color = '#888'; document.querySelector('main').prepend(p);",
        "contrast",
    ),
    "targets too close": (
        "const t = document.querySelectorAll('.tile'); t[0].style.marginRight = '-30px';"
        "document.querySelector('.tiles').style.gap = '4px';",
        "apart",
    ),
    "pop-up": (
        "const d = document.createElement('div'); d.setAttribute('role', 'dialog');"
        "d.textContent = 'Rate us!'; d.style.fontSize = '30px'; document.body.append(d);",
        "pop-up",
    ),
    "scrolling": (
        "document.querySelector('main').style.minHeight = '2000px';",
        "scrolls",
    ),
}


def test_limits_match_the_panel() -> None:
    """20 mm and 2 mm on a 1920x1080 21.5-inch panel."""
    assert MIN_TARGET_PX == 81
    assert MIN_GAP_PX >= 8


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_audit_catches(kiosk: LocalKiosk, page: Any, breakage: str) -> None:
    """Each kind of breakage injected into the home screen is reported."""
    script, expected = BREAKAGES[breakage]
    page.goto(kiosk.url + "/")
    assert audit(page) == []
    page.evaluate(f"() => {{ {script} }}")
    problems = audit(page)
    assert any(expected in p for p in problems), problems


def test_gesture_listeners_are_found(kiosk: LocalKiosk, page: Any) -> None:
    """A swipe or long-press handler on any element or the window is reported."""
    page.goto(kiosk.url + "/")
    assert gesture_listeners(page) == []
    page.evaluate(
        "() => { document.querySelector('.tile').addEventListener('touchstart', () => {});"
        " window.addEventListener('pointerdown', () => {}); }"
    )
    found = gesture_listeners(page)
    assert any("touchstart" in f for f in found), found
    assert any("pointerdown" in f for f in found), found
