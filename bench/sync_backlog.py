"""Benchmark: drain a 10,000-request kiosk backlog to a real server process on loopback.

Prints, in one run and side by side: the batched drain (wall seconds, HTTP requests, body
bytes on the wire per operation), the same backlog sent one operation per HTTP call, their
ratio, and the cost of a sync with nothing to do.

    .venv/bin/python bench/sync_backlog.py [--requests 10000] [--keep DIR]

Targets (issue 2): drain < 2 s, <= 25 HTTP requests, <= 80 body bytes per operation,
>= 20x faster than one-per-call, and one HTTP request for an idle sync.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from kiosk.store import Store
from sync.client import SyncEngine

LINLI = str(Path(sys.executable).parent / "linli")
ROOM_COUNT = 40


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A `linli server run` process on a SQLite database in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.env = {
            **os.environ,
            "LINLI_INSTANCE_DIR": str(folder),
            "LINLI_DATABASE_URL": f"sqlite:///{folder / 'server.sqlite3'}",
            "LINLI_LOG_LEVEL": "WARNING",
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [LINLI, "server", *args], env=self.env, check=True, capture_output=True, text=True
        )
        return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""

    def start(self) -> None:
        log = open(self.folder / "server.log", "ab")  # noqa: SIM115 (lives as long as the process)
        self.proc = subprocess.Popen(
            [LINLI, "server", "run", "--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.05)
        raise SystemExit("the server did not start; see " + str(self.folder / "server.log"))

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
            self.proc = None


def _enrolled_kiosk(server: Server, folder: Path, name: str) -> tuple[Store, SyncEngine]:
    store = Store(folder / f"{name}.sqlite3")
    engine = SyncEngine(store)
    code = server.cli("kiosk", "enroll", "--community", "bench", "--name", name)
    store.save_enrollment(server.url, engine.enroll(server.url, code))
    engine.sync_once()
    return store, engine


def _queue(store: Store, count: int) -> float:
    rooms = [r["code"] for r in store.rooms()]
    categories = [c["code"] for c in store.categories() if c["code"] != "emergency"]
    started = time.perf_counter()
    for i in range(count):
        store.create_request(
            category=categories[i % len(categories)],
            room=rooms[i % len(rooms)],
            phone="1380000" + f"{i % 10000:04d}",
            details="客厅的灯不亮了" if i % 3 == 0 else None,
        )
    return time.perf_counter() - started


def _drain(engine: SyncEngine, store: Store) -> dict[str, float]:
    engine.stats.requests = engine.stats.bytes_sent = engine.stats.bytes_received = 0
    started = time.perf_counter()
    engine.sync_once()
    wall = time.perf_counter() - started
    assert store.status()["queued"] == 0, "the backlog did not drain"
    return {
        "wall": wall,
        "requests": engine.stats.requests,
        "sent": engine.stats.bytes_sent,
        "received": engine.stats.bytes_received,
    }


def main() -> None:
    """Run the benchmark and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--idle-runs", type=int, default=20)
    parser.add_argument("--keep", type=Path, default=None, help="Keep the databases here.")
    args = parser.parse_args()
    n = args.requests

    folder = Path(args.keep or tempfile.mkdtemp(prefix="linli-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    server = Server(folder)
    try:
        server.cli("db", "upgrade")
        server.cli("community", "create", "--slug", "bench", "--name", "Bench")
        rooms = folder / "rooms.csv"
        rooms.write_text(
            "building,unit,room\n"
            + "".join(
                f"{1 + i // 20},{1 + (i // 10) % 2},{101 + i % 10}\n" for i in range(ROOM_COUNT)
            )
        )
        server.cli("rooms", "import", "--community", "bench", str(rooms))
        server.start()
        batched_store, batched = _enrolled_kiosk(server, folder, "batched")
        single_store, single = _enrolled_kiosk(server, folder, "single")
        single.batch_ops = 1

        server.stop()
        print(f"queueing {n} requests on each of two kiosks while the server is down ...")
        queue_s = _queue(batched_store, n)
        _queue(single_store, n)
        server.start()

        b = _drain(batched, batched_store)
        s = _drain(single, single_store)

        idle_walls = []
        for _ in range(args.idle_runs):
            batched.stats.requests = 0
            started = time.perf_counter()
            batched.sync_once()
            idle_walls.append(time.perf_counter() - started)
        idle_requests = batched.stats.requests
    finally:
        server.stop()
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)

    def per_op(run: dict[str, float]) -> float:
        return (run["sent"] + run["received"]) / n

    print()
    print(
        f"backlog: {n} requests (queued locally in {queue_s:.1f} s, "
        f"{queue_s / n * 1000:.2f} ms each, one durable commit per request)"
    )
    print(f"{'':34}{'batched':>14}{'one per call':>16}")
    print(f"{'wall seconds':34}{b['wall']:>14.2f}{s['wall']:>16.2f}")
    print(f"{'HTTP requests':34}{b['requests']:>14.0f}{s['requests']:>16.0f}")
    print(f"{'body bytes sent (total)':34}{b['sent']:>14.0f}{s['sent']:>16.0f}")
    print(f"{'body bytes received (total)':34}{b['received']:>14.0f}{s['received']:>16.0f}")
    print(f"{'body bytes on the wire per op':34}{per_op(b):>14.1f}{per_op(s):>16.1f}")
    print(f"{'operations per second':34}{n / b['wall']:>14.0f}{n / s['wall']:>16.0f}")
    print(f"speed-up of batching: {s['wall'] / b['wall']:.1f}x")
    print(
        f"idle sync: {idle_requests} HTTP request(s), median "
        f"{statistics.median(idle_walls) * 1000:.1f} ms over {len(idle_walls)} runs"
    )
    print()
    targets = [
        ("drain < 2 s", b["wall"] < 2),
        ("<= 25 HTTP requests", b["requests"] <= 25),
        ("<= 80 body bytes per op", per_op(b) <= 80),
        (">= 20x faster than one per call", s["wall"] / b["wall"] >= 20),
        ("idle sync = 1 HTTP request", idle_requests == 1),
    ]
    for label, ok in targets:
        print(f"  [{'met' if ok else 'MISSED'}] {label}")


if __name__ == "__main__":
    main()
