"""`linli demo`: a server on SQLite and an enrolled kiosk, with fixed-seed demo data.

The server and the kiosk run as separate processes (the kiosk is started through the
`linli` command, never imported here), so the demo is the same system as production.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import requests

from server.demo_data import DEMO_PASSWORD

SEED = 20261129

COMMUNITIES = [
    # slug, name, phone, buildings, units per building, floors, rooms per floor
    ("lanqiao", "盘山县 蓝桥社区", "0427-5812345", 6, 2, 6, 2),
    ("feicui", "葫芦岛 翡翠社区", "0429-2234567", 8, 3, 6, 2),
    ("beiyuan", "沈阳 北苑社区", "024-86123456", 10, 2, 7, 2),
]
KIOSK_NAME = "lanqiao-hall"


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _rooms_csv(buildings: int, units: int, floors: int, per_floor: int) -> str:
    lines = ["building,unit,room"]
    for b in range(1, buildings + 1):
        for u in range(1, units + 1):
            for f in range(1, floors + 1):
                for r in range(1, per_floor + 1):
                    lines.append(f"{b},{u},{f}{r:02d}")
    return "\n".join(lines) + "\n"


def seed(env: dict[str, str]) -> str | None:
    """Create the demo's communities and rooms (once); return a kiosk enrolment code."""
    from server import create_app
    from server.communities.services import create_community, import_rooms, parse_rooms_csv
    from server.extensions import db
    from server.kiosks.services import new_enrollment_code

    os.environ.update(env)
    app = create_app()
    with app.app_context():
        import flask_migrate

        flask_migrate.upgrade()
        from server.communities.models import Community

        exists = db.session.execute(
            db.select(Community).where(Community.slug == COMMUNITIES[0][0])
        ).scalar_one_or_none()
        if exists is None:
            from server.demo_data import seed_care, seed_people, seed_requests

            rng = random.Random(SEED)  # noqa: S311  (reproducible demo data, not secrets)
            for slug, name, phone, *shape in COMMUNITIES:
                community = create_community(slug, name, phone)
                import_rooms(community, parse_rooms_csv(_rooms_csv(*shape), f"{slug}.csv"))
            slugs = [c[0] for c in COMMUNITIES]
            seed_people(slugs, rng)
            made = seed_requests(slugs, rng)
            watched = seed_care(slugs, rng)
            db.session.commit()
            click.echo(
                f"demo data created (fixed seed {SEED}): {made} requests, "
                f"{watched} elders on the care watch",
                err=True,
            )
        _, code = new_enrollment_code(COMMUNITIES[0][0], KIOSK_NAME, 24)
        db.session.commit()
        return code


def _linli(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "linli"), *args]


def _wait(url: str, proc: subprocess.Popen[Any], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise click.ClickException(f"the {what} exited early (code {proc.returncode})")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise click.ClickException(f"the {what} did not answer at {url} within 60 s")


def _window_possible() -> bool:
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        return False
    try:
        import webview  # noqa: F401
    except ImportError:
        return False
    return True


@click.command("demo")
@click.option(
    "--dir",
    "folder",
    default="linli-demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the demo keeps its data.",
)
@click.option("--port", default=5000, show_default=True, help="Server port.")
@click.option("--kiosk-port", default=8765, show_default=True, help="Kiosk UI port.")
@click.option("--browser", is_flag=True, help="Serve the kiosk UI for a browser, no window.")
@click.option("--reset", is_flag=True, help="Delete the demo folder first.")
def demo_command(folder: Path, port: int, kiosk_port: int, browser: bool, reset: bool) -> None:
    """Run the demo: server on SQLite plus an enrolled kiosk; Ctrl-C stops both."""
    folder = folder.resolve()
    if reset and folder.exists():
        shutil.rmtree(folder)
    for p, what in ((port, "server"), (kiosk_port, "kiosk")):
        if not _port_free(p):
            raise click.ClickException(f"port {p} for the {what} is in use; pick another")
    server_dir, kiosk_dir = folder / "server", folder / "kiosk"
    server_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "LINLI_INSTANCE_DIR": str(server_dir),
        "LINLI_DATABASE_URL": f"sqlite:///{server_dir / 'linli.sqlite3'}",
        # The demo is plain HTTP on loopback; production keeps Secure cookies behind TLS.
        "LINLI_COOKIE_SECURE": "0",
    }
    code = seed(env)
    child_env = {**os.environ, **env}
    url = f"http://127.0.0.1:{port}"
    procs: list[subprocess.Popen[Any]] = []

    def stop(*_: Any) -> None:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    def on_term(*_: Any) -> None:
        stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    try:
        # Our own console script with fixed arguments: no untrusted input reaches these calls.
        server = subprocess.Popen(  # noqa: S603
            _linli("server", "run", "--port", str(port)), env=child_env
        )
        procs.append(server)
        _wait(url + "/healthz", server, "server")
        if not (kiosk_dir / "kiosk.sqlite3").exists() or _kiosk_not_enrolled(kiosk_dir):
            subprocess.run(  # noqa: S603
                _linli(
                    "kiosk",
                    "enroll",
                    "--server",
                    url,
                    "--code",
                    code or "",
                    "--data",
                    str(kiosk_dir),
                ),
                env=child_env,
                check=True,
            )
        window = not browser and _window_possible()
        kiosk_args = ["kiosk", "run", "--data", str(kiosk_dir), "--port", str(kiosk_port)]
        if not window:
            kiosk_args.append("--browser")
        kiosk = subprocess.Popen(_linli(*kiosk_args), env=child_env)  # noqa: S603
        procs.append(kiosk)
        kiosk_url = f"http://127.0.0.1:{kiosk_port}/"
        _wait(kiosk_url + "api/status", kiosk, "kiosk")
        click.echo("")
        click.echo("Linli demo is running (Ctrl-C stops it):")
        click.echo(f"  server:   {url}/")
        click.echo(f"  kiosk:    {kiosk_url}" + ("  (also shown in a window)" if window else ""))
        click.echo(f"  data:     {folder}")
        click.echo(f"  console:  {url}/login  as admin, sw_lanqiao, lead_lanqiao or viewer_lanqiao")
        click.echo(
            f"            (also sw_/lead_/viewer_ feicui and beiyuan), password {DEMO_PASSWORD}"
        )
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        raise click.ClickException("a demo process stopped unexpectedly")
    except KeyboardInterrupt:
        click.echo("\nstopping the demo ...", err=True)
    finally:
        stop()


def _kiosk_not_enrolled(kiosk_dir: Path) -> bool:
    import sqlite3

    conn = sqlite3.connect(kiosk_dir / "kiosk.sqlite3")
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'token'").fetchone()
    except sqlite3.Error:
        row = None
    finally:
        conn.close()
    return row is None
