"""Accessibility measured in the browser: target sizes, gaps, text size, contrast, gestures.

The panel is a 21.5" 1920x1080 screen, so 1 px is about 0.248 mm: 20 mm is 81 px and
2 mm is 9 px. Contrast is WCAG's, computed from the computed styles with backgrounds
composited from the root down to the element.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MM_PER_PX = 0.248
MIN_TARGET_PX = round(20 / MM_PER_PX)  # 81
MIN_GAP_PX = round(2 / MM_PER_PX)  # 9 (8.06 rounded up)
MIN_TEXT_PX = 23
TEXT_CONTRAST = 7.0
GRAPHIC_CONTRAST = 3.0
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "kiosk"

# Handlers that would make swipes, drags, long presses or multi-finger gestures do something.
FORBIDDEN_EVENTS = {
    "touchstart",
    "touchmove",
    "touchend",
    "touchcancel",
    "pointerdown",
    "pointermove",
    "mousedown",
    "mousemove",
    "wheel",
    "gesturestart",
    "gesturechange",
    "gestureend",
    "dblclick",
    "scroll",
}

# The measuring script runs in the page; kept as a file so it reads as JavaScript.
AUDIT_JS = (Path(__file__).parent / "audit.js").read_text(encoding="utf-8")


def audit(page: Any) -> list[str]:
    """Every accessibility problem on the page as shown now (an empty list when it passes)."""
    problems: list[str] = page.evaluate(
        AUDIT_JS,
        {
            "target": MIN_TARGET_PX,
            "gap": MIN_GAP_PX,
            "text": MIN_TEXT_PX,
            "contrast": TEXT_CONTRAST,
            "graphic": GRAPHIC_CONTRAST,
        },
    )
    return problems


def gesture_listeners(page: Any) -> list[str]:
    """Event listeners for swipes, drags, long presses or gestures anywhere on the page."""
    cdp = page.context.new_cdp_session(page)
    try:
        found = []
        for expression in ("window", "document"):
            handle = cdp.send("Runtime.evaluate", {"expression": expression})
            listeners = cdp.send(
                "DOMDebugger.getEventListeners",
                {"objectId": handle["result"]["objectId"], "depth": -1, "pierce": True},
            )["listeners"]
            found += [
                f"{expression}: {entry['type']}"
                for entry in listeners
                if entry["type"] in FORBIDDEN_EVENTS
            ]
        inline = page.evaluate(
            """(types) => Array.from(document.querySelectorAll('*')).flatMap((el) => types
                 .filter((t) => el.hasAttribute('on' + t)).map((t) => el.tagName + ' on' + t))""",
            sorted(FORBIDDEN_EVENTS),
        )
        return found + inline
    finally:
        cdp.detach()


def screenshot(page: Any, name: str) -> Path:
    """Save the screen as docs/kiosk/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
