"""The kiosk window: the touch UI full screen in pywebview's Qt backend, with no way out.

Frameless and sized to the first screen (on a bare X server without a window manager,
`fullscreen` alone gives a centred 800x600 window). No context menu (debug off, and the page
script blocks it), no address bar, and any page outside the kiosk's own server is replaced by
the home screen. Only the admin page's exit button closes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import webview

TITLE = "邻里 Linli"


def run_window(url: str, set_exit: Callable[[Callable[[], None]], None]) -> None:
    """Show `url` full screen until the admin page's exit; blocks on the GUI loop."""
    screen = webview.screens[0]
    window: Any = webview.create_window(
        TITLE,
        url,
        frameless=True,
        fullscreen=True,
        x=0,
        y=0,
        width=screen.width,
        height=screen.height,
        easy_drag=False,
        text_select=False,
        zoomable=False,
        confirm_close=False,
    )

    def stay_home() -> None:
        current = window.get_current_url() or ""
        if not current.startswith(url):
            window.load_url(url)

    window.events.loaded += stay_home
    set_exit(window.destroy)
    webview.start(gui="qt", private_mode=True, debug=False)
