"""The staff page behind a PIN: queue, last sync, errors, speech, and the way out.

Residents never see it: it is reached by tapping the logo five times, then entering the PIN
set at enrolment (`linli kiosk enroll --pin`). Only an argon2 hash of the PIN is stored.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Blueprint, redirect, request, session, url_for
from werkzeug.wrappers import Response

from kiosk.context import kiosk_context
from kiosk.framing import render_screen
from kiosk.store import Store

PIN_PATTERN = re.compile(r"^[0-9]{4,12}$")
MAX_FAILURES = 5
"""Tries counted before the keypad locks (a try is counted before its hash is checked)."""
LOCKOUT = timedelta(seconds=60)
EXIT_FALLBACK_SECONDS = 2.0
"""How long the exit waits for the server's after-response hook before it runs anyway."""

bp = Blueprint("admin", __name__, url_prefix="/admin")
_hasher = PasswordHasher()


def hash_pin(pin: str) -> str:
    """The argon2 hash of a PIN of 4 to 12 digits."""
    if not PIN_PATTERN.fullmatch(pin):
        raise ValueError("the PIN must be 4 to 12 digits")
    return _hasher.hash(pin)


def check_pin(store: Store, pin: str) -> bool:
    """Whether `pin` matches the stored hash (False when no PIN was set)."""
    stored = store.admin_pin_hash()
    if stored is None or not PIN_PATTERN.fullmatch(pin):
        return False
    try:
        return _hasher.verify(stored, pin)
    except (VerificationError, InvalidHashError):
        return False


def _store() -> Store:
    return kiosk_context().store


@bp.get("")
def pin_page() -> str | Response:
    """The PIN keypad (or the panel when already unlocked)."""
    if session.get("admin"):
        return redirect(url_for("admin.panel"), 303)
    return render_screen(
        "ui/admin_pin.html",
        "admin_pin",
        pin_set=_store().admin_pin_hash() is not None,
        wrong=request.args.get("wrong") == "1",
        locked=_store().pin_locked(),
    )


@bp.post("")
def unlock() -> Response:
    """Check the PIN; a few tries without the right one lock the keypad for a minute.

    The try is counted (and the lock set) in the store before the hash is checked, so a burst
    of tries at once cannot all be checked.
    """
    store = _store()
    if not store.claim_pin_try(MAX_FAILURES, LOCKOUT):
        return redirect(url_for("admin.pin_page"), 303)
    if check_pin(store, request.form.get("pin", "")):
        store.clear_pin_tries()
        session["admin"] = True
        return redirect(url_for("admin.panel"), 303)
    return redirect(url_for("admin.pin_page", wrong=1), 303)


SYNC_STATE_WORDS = {
    "idle": "尚未同步",
    "enrolled": "已登记，尚未同步",
    "online": "在线",
    "offline": "离线（联网后自动发送）",
    "server_error": "服务器出错，稍后重试",
    "revoked": "已停用，需要重新登记",
    "not_enrolled": "未登记",
    "update_required": "需要更新软件",
    "error": "同步出错",
    "cloned": "复制的卡，需要作为新终端登记",
    "server_lost_history": "服务器丢失了记录",
}
"""The sync state codes in words for the admin page (msgids; English in the catalog)."""


@bp.get("/panel")
def panel() -> str | Response:
    """Queue, last sync, errors, speech and the exit."""
    if not session.get("admin"):
        return redirect(url_for("admin.pin_page"), 303)
    store = _store()
    return render_screen(
        "ui/admin.html",
        "admin",
        enrollment=store.enrollment(),
        shown=kiosk_context().shown,
        parked=store.parked_ops(),
        state_words=SYNC_STATE_WORDS,
    )


@bp.post("/release")
def release() -> Response:
    """Send parked operations again now: one (by the seq it was parked at) or all."""
    if not session.get("admin"):
        return redirect(url_for("admin.pin_page"), 303)
    seq = request.form.get("seq", "")
    _store().release_parked(int(seq) if seq.isascii() and seq.isdigit() else None)
    kiosk_context().on_saved()
    return redirect(url_for("admin.panel"), 303)


@bp.post("/exit")
def exit_kiosk() -> Response:
    """Close the kiosk (the window, or the server in browser mode)."""
    if not session.get("admin"):
        return redirect(url_for("admin.pin_page"), 303)
    session.clear()
    response = redirect(url_for("admin.bye"), 303)
    # Close once this answer has been sent, so the page is not left waiting. The development
    # server runs that hook only after it has drained the client's socket, which a browser can
    # hold open; a timer closes the kiosk anyway. Whichever comes first runs the exit, once.
    leave = _once(kiosk_context().on_exit)
    response.call_on_close(leave)
    timer = threading.Timer(EXIT_FALLBACK_SECONDS, leave)
    timer.daemon = True
    timer.start()
    return response


def _once(action: Callable[[], None]) -> Callable[[], None]:
    """`action`, run by the first of any number of callers and by no other."""
    lock = threading.Lock()
    done = False

    def run() -> None:
        nonlocal done
        with lock:
            if done:
                return
            done = True
        action()

    return run


@bp.get("/bye")
def bye() -> str:
    """What is left on screen while the kiosk closes (in browser mode, for good)."""
    return render_screen("ui/admin_bye.html", "admin_bye")


@bp.post("/lock")
def lock() -> Response:
    """Leave the admin page and go back to the residents' home screen."""
    session.clear()
    return redirect(url_for("screens.home"), 303)
