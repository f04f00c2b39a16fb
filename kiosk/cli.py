"""`linli kiosk ...` and `linli sync ...` commands (they run on the kiosk)."""

from __future__ import annotations

import contextlib
import functools
import json
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from kiosk.config import KioskSettings
from kiosk.runtime import build_engine, build_worker, open_store
from kiosk.store import Store, StoreError
from sync.client import SyncError, SyncWorker

DATA = click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The kiosk's data folder (its database lives here).",
)


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


F = TypeVar("F", bound=Callable[..., Any])


def one_line_errors(func: F) -> F:
    """A storage that fails mid-command ends the command with one line, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except StoreError as exc:
            _fail(exc.detail)
        except sqlite3.Error as exc:
            _fail(f"the kiosk's storage failed: {exc}")
        except OSError as exc:
            _fail(f"{exc.filename or 'storage'}: {exc.strerror or exc}")

    return wrapper  # type: ignore[return-value]


def _settings() -> KioskSettings:
    try:
        return KioskSettings.from_env()
    except ValueError as exc:
        _fail(str(exc))


def _store(data_dir: Path, settings: KioskSettings) -> Store:
    try:
        return open_store(data_dir, settings)
    except StoreError as exc:
        _fail(exc.detail)
    except OSError as exc:
        _fail(f"{data_dir}: {exc.strerror or exc}")


@click.group("kiosk")
def kiosk_group() -> None:
    """The kiosk: enrolment and running the touch UI."""


@kiosk_group.command("enroll")
@click.option(
    "--server", "server_url", required=True, help="The server's URL, e.g. https://linli.example."
)
@click.option("--code", required=True, help="The one-time code from 'linli server kiosk enroll'.")
@DATA
@click.option(
    "--pin",
    default=None,
    help="PIN (4 to 12 digits) of the kiosk's admin page; only its argon2 hash is stored.",
)
@one_line_errors
def enroll(server_url: str, code: str, data_dir: Path, pin: str | None) -> None:
    """Enrol this kiosk with a server using a one-time code, then fetch rooms and categories."""
    from kiosk.admin import hash_pin

    try:
        pin_hash = None if pin is None else hash_pin(pin)
    except ValueError as exc:
        _fail(str(exc))
    settings = _settings()
    store = _store(data_dir, settings)
    engine = build_engine(store, settings)
    try:
        answer = engine.enroll(server_url, code)
        store.save_enrollment(server_url, answer)
        if pin_hash is not None:
            store.set_admin_pin_hash(pin_hash)
    except SyncError as exc:
        _fail(f"enrolment failed: {exc.detail}")
    except StoreError as exc:
        _fail(exc.detail)
    click.echo(f"enrolled as {answer.name} (community {answer.community}) at {server_url}")
    try:
        engine.sync_once()
    except SyncError as exc:
        click.echo(f"warning: first sync failed ({exc.detail}); the kiosk will retry", err=True)


@kiosk_group.command("run")
@DATA
@click.option("--browser", is_flag=True, help="Serve the UI on 127.0.0.1 without opening a window.")
@click.option(
    "--port", type=int, default=None, help="Local port (default LINLI_KIOSK_PORT or 8765)."
)
def run(data_dir: Path, browser: bool, port: int | None) -> None:
    """Run the kiosk: local UI and API, and the background sync worker."""
    from werkzeug.serving import make_server

    from kiosk.app import create_kiosk_app, create_storage_error_app

    settings = _settings()
    exits: list[Callable[[], None]] = []

    def _exit() -> None:
        for stop in exits:
            stop()

    store: Store | None = None
    worker: SyncWorker | None = None
    try:
        store = open_store(data_dir, settings)
    except StoreError as exc:
        # The resident still needs to be told: the UI shows one full-screen call-the-centre page.
        click.echo(f"error: {exc.detail}", err=True)
        app = create_storage_error_app(exc)
    else:
        worker = build_worker(build_engine(store, settings), settings)
        app = create_kiosk_app(store, on_saved=worker.nudge, settings=settings, on_exit=_exit)
    try:
        httpd = make_server("127.0.0.1", port or settings.PORT, app, threaded=True)
    except OSError as exc:
        _fail(f"cannot listen on 127.0.0.1:{port or settings.PORT}: {exc.strerror or exc}")
    url = f"http://127.0.0.1:{httpd.server_port}/"
    if worker is not None:
        worker.start()

    def _stop(*_: Any) -> None:
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    if browser:
        exits.append(_stop)
        click.echo(f"kiosk UI and local API on {url}", err=True)
        with contextlib.suppress(KeyboardInterrupt):
            httpd.serve_forever()
    else:
        _run_window(httpd, url, exits.append)
    if worker is None or store is None:
        sys.exit(1)
    worker.stop()
    store.close()
    click.echo("kiosk stopped", err=True)


def _run_window(httpd: Any, url: str, set_exit: Callable[[Callable[[], None]], None]) -> None:
    """Show the UI full screen in a pywebview (Qt) window; the server runs in a thread."""
    try:
        from kiosk.window import run_window
    except ImportError:
        _fail("pywebview is not installed (pip install 'linli[kiosk]'); or use --browser")
    server = threading.Thread(target=httpd.serve_forever, name="kiosk-http", daemon=True)
    server.start()
    try:
        run_window(url, set_exit)
    finally:
        httpd.shutdown()


@click.group("sync")
def sync_group() -> None:
    """Sync this kiosk with its server now, or show its sync status."""


@sync_group.command("once")
@DATA
@one_line_errors
def once(data_dir: Path) -> None:
    """One full push and pull now; exit 0 only when the outbox is empty."""
    settings = _settings()
    store = _store(data_dir, settings)
    engine = build_engine(store, settings)
    try:
        outcome = engine.sync_once()
    except SyncError as exc:
        _fail(f"sync failed ({exc.state}): {exc.detail}")
    except StoreError as exc:
        _fail(f"sync failed: {exc.detail}")
    status = store.status()
    queued, parked = status["queued"], status["parked"]
    click.echo(
        f"pushed {outcome.pushed}, pulled {outcome.pulled}, {queued} still queued"
        + (f", {parked} parked (see 'linli sync release')" if parked else ""),
        err=True,
    )
    if queued or parked:
        sys.exit(1)


@sync_group.command("status")
@DATA
@one_line_errors
def status(data_dir: Path) -> None:
    """Print the kiosk's sync status as JSON (the same as GET /api/status)."""
    store = _store(data_dir, _settings())
    click.echo(json.dumps(store.status(), ensure_ascii=False, indent=2))


@sync_group.command("release")
@DATA
@click.option("--seq", type=int, default=None, help="The seq the operation was parked at.")
@click.option("--all", "release_all", is_flag=True, help="Release every parked operation.")
def release(data_dir: Path, seq: int | None, release_all: bool) -> None:
    """Send parked operations (the server kept failing on them) again at the next sync."""
    if (seq is None) == (not release_all):
        _fail("give either --seq N or --all")
    store = _store(data_dir, _settings())
    try:
        released = store.release_parked(None if release_all else seq)
    except StoreError as exc:
        _fail(exc.detail)
    if seq is not None and not released:
        _fail(f"no operation is parked at seq {seq}")
    click.echo(f"released {released} parked operation(s); they go at the next sync", err=True)


@sync_group.command("reconcile")
@DATA
@one_line_errors
def reconcile(data_dir: Path) -> None:
    """Compare digests with the server, re-push what it lacks, and re-download state."""
    settings = _settings()
    store = _store(data_dir, settings)
    engine = build_engine(store, settings)
    try:
        requeued = engine.reconcile()
        outcome = engine.sync_once()
    except SyncError as exc:
        _fail(f"reconcile failed ({exc.state}): {exc.detail}")
    except StoreError as exc:
        _fail(f"reconcile failed: {exc.detail}")
    click.echo(
        f"reconciled: {requeued} operation(s) re-pushed; pushed {outcome.pushed}, "
        f"pulled {outcome.pulled}",
        err=True,
    )


@sync_group.command("nightly")
@DATA
@click.option("--keep", default=7, show_default=True, help="Backups to keep.")
@click.option(
    "--compact-days",
    default=30,
    show_default=True,
    help="Remove acknowledged operations older than this many days.",
)
@one_line_errors
def nightly(data_dir: Path, keep: int, compact_days: int) -> None:
    """Nightly job: reconcile, refresh reference data, compact, back up, report health."""
    from kiosk.nightly import run_nightly

    settings = _settings()
    store = _store(data_dir, settings)
    report = run_nightly(
        store, build_engine(store, settings), data_dir / "backups", keep, compact_days
    )
    click.echo(f"nightly: {report.summary()}")
    if not report.ok:
        sys.exit(1)
