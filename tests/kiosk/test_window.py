"""The real kiosk window: pywebview's Qt backend under Xvfb shows the home screen full screen."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from kiosk.admin import hash_pin
from tests.procs import LINLI, free_port, wait_until
from tests.ui.images import Image, png, read_xwd
from tests.ui.kiosk_data import seed_store

ARTIFACT = Path(__file__).resolve().parents[2] / "docs" / "kiosk" / "window.png"
PIN = "2468"


def _missing() -> str | None:
    if shutil.which("xvfb-run") is None or shutil.which("Xvfb") is None:
        return "xvfb-run/Xvfb is not installed (apt package xvfb)"
    for module in ("webview", "PyQt6.QtWebEngineWidgets"):
        try:
            if importlib.util.find_spec(module) is None:
                return f"{module} cannot be imported (pip install 'linli[kiosk]')"
        except ImportError as exc:
            return f"{module} cannot be imported: {exc}"
    return None


def _screen(fbdir: Path) -> Image | None:
    path = fbdir / "Xvfb_screen0"
    if not path.exists():
        return None
    return read_xwd(path.read_bytes())


def _drawn(image: Image | None) -> bool:
    """True once the home screen is painted: the header's grey fills the top-right corner."""
    return image is not None and image.pixel(image.width - 5, 5) == (0xEE, 0xEE, 0xEE)


@pytest.mark.skipif(_missing() is not None, reason=_missing() or "")
def test_window_shows_home_full_screen_and_exits_from_admin(tmp_path: Path) -> None:
    """Start `linli kiosk run` (window mode) under Xvfb; screenshot; exit via the admin page."""
    data = tmp_path / "kiosk"
    store = seed_store(data / "kiosk.sqlite3")
    store.set_admin_pin_hash(hash_pin(PIN))
    store.close()
    fbdir = tmp_path / "fb"
    fbdir.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "PYWEBVIEW_GUI": "qt",
        "QTWEBENGINE_CHROMIUM_FLAGS": "--no-sandbox",
        "LINLI_KIOSK_SYNC_INTERVAL": "3600",
        "LINLI_KIOSK_BACKOFF_BASE": "300",
    }
    command = [
        "xvfb-run",
        "-a",
        "-s",
        f"-screen 0 1920x1080x24 -fbdir {fbdir}",
        *LINLI,
        "kiosk",
        "run",
        "--data",
        str(data),
        "--port",
        str(port),
    ]
    log = (tmp_path / "window.log").open("w")
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:

        def home_shown() -> bool:
            assert proc.poll() is None, (tmp_path / "window.log").read_text()[-3000:]
            try:
                return requests.get(f"{base}/ui/shown", timeout=2).json().get("screen") == "home"
            except requests.RequestException:
                return False

        wait_until(home_shown, timeout=90, interval=0.2, what="the window to draw home")
        wait_until(lambda: _drawn(_screen(fbdir)), timeout=30, what="the home screen painted")
        image = _screen(fbdir)
        assert image is not None
        ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
        ARTIFACT.write_bytes(png(image))
        # Full screen: the window, not the X root (black), fills all four corners.
        assert (image.width, image.height) == (1920, 1080)
        for x, y in ((2, 2), (1917, 2), (2, 1077), (1917, 1077)):
            assert image.pixel(x, y) != (0, 0, 0), f"corner {(x, y)} is not the kiosk window"

        with requests.Session() as session:
            answer = session.post(f"{base}/admin", data={"pin": PIN}, timeout=10)
            assert answer.status_code == 200
            assert "espeak-ng" in answer.text
            bye = session.post(f"{base}/admin/exit", timeout=10, allow_redirects=False)
            assert bye.status_code == 303
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.returncode == 0, (tmp_path / "window.log").read_text()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()
