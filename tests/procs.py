"""Real server and kiosk processes on loopback, for integration and fault tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

LINLI = [str(Path(sys.executable).parent / "linli")]


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def linli(
    *args: str,
    env: Mapping[str, str] | None = None,
    input_text: str | None = None,
    check: bool = True,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run the `linli` command and return its result (raises on failure when `check`)."""
    result = subprocess.run(
        [*LINLI, *args],
        env={**os.environ, **(env or {})},
        input=input_text,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"linli {' '.join(args)} exited {result.returncode}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}"
        )
    return result


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen[Any] | None = None) -> None:
    """Wait until `url` answers 200."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} before {url} answered")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException as exc:
            last = exc
        time.sleep(0.05)
    raise AssertionError(f"{url} did not answer within {timeout} s: {last}")


class Proc:
    """A child process with its log file; killed (and reaped) on stop."""

    def __init__(self, args: list[str], env: Mapping[str, str], log: Path) -> None:
        self.args = args
        self.env = {**os.environ, **env}
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process, appending its output to the log."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.args,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` and reap the process."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self.proc = None

    def stop(self) -> None:
        """Stop politely, then firmly."""
        self.kill(signal.SIGTERM)

    def log(self) -> str:
        """What the process printed."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class ServerProc(Proc):
    """`linli server run` on a free port."""

    def __init__(self, workdir: Path, database_url: str, env: Mapping[str, str] | None = None):
        self.port = free_port()
        self.workdir = workdir
        self.database_url = database_url
        self.env_vars = {
            "LINLI_INSTANCE_DIR": str(workdir / "instance"),
            "LINLI_DATABASE_URL": database_url,
            "LINLI_SECRET_KEY": "test-secret-key",
            "LINLI_LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        super().__init__(
            [*LINLI, "server", "run", "--port", str(self.port)],
            self.env_vars,
            workdir / f"server-{self.port}.log",
        )

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start and wait for /healthz (and stop it again if it never answers)."""
        super().start()
        try:
            wait_http(self.url + "/healthz", proc=self.proc)
        except AssertionError:
            self.kill()
            raise

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `linli server ...` against this server's database."""
        return linli("server", *args, env=self.env_vars, check=check)

    def secret(self, *args: str) -> str:
        """Run a command that prints a secret alone on its last line; return it."""
        out = self.cli(*args).stdout.strip().splitlines()
        return out[-1].strip()


class KioskProc(Proc):
    """`linli kiosk run --browser` on a free port, with its data folder."""

    def __init__(self, data: Path, env: Mapping[str, str] | None = None) -> None:
        self.port = free_port()
        self.data = data
        self.env_vars = {
            "LINLI_KIOSK_SYNC_INTERVAL": "1",
            "LINLI_KIOSK_BACKOFF_BASE": "0.2",
            "LINLI_KIOSK_BACKOFF_CAP": "1",
            "LINLI_KIOSK_NUDGE_CAP": "0.5",
            "LINLI_KIOSK_CONNECT_TIMEOUT": "2",
            "LINLI_KIOSK_READ_TIMEOUT": "10",
            "LINLI_LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        data.mkdir(parents=True, exist_ok=True)
        super().__init__(
            [*LINLI, "kiosk", "run", "--data", str(data), "--browser", "--port", str(self.port)],
            self.env_vars,
            data.parent / f"kiosk-{data.name}.log",
        )

    @property
    def url(self) -> str:
        """Base URL of the local UI and API."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start and wait for the local API."""
        self.port = free_port()
        self.args[-1] = str(self.port)
        super().start()
        wait_http(self.url + "/api/status", proc=self.proc)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `linli ...` with this kiosk's environment."""
        return linli(*args, env=self.env_vars, check=check)

    def enroll(self, server_url: str, code: str) -> None:
        """Enrol this kiosk's data folder."""
        self.cli(
            "kiosk", "enroll", "--server", server_url, "--code", code, "--data", str(self.data)
        )

    def status(self) -> dict[str, Any]:
        """`GET /api/status`."""
        data: dict[str, Any] = requests.get(self.url + "/api/status", timeout=5).json()
        return data

    def create(self, **fields: Any) -> requests.Response:
        """`POST /api/requests`."""
        return requests.post(self.url + "/api/requests", json=fields, timeout=10)


def wait_until(
    predicate: Any, timeout: float = 30.0, interval: float = 0.1, what: str = ""
) -> None:
    """Poll `predicate` until true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")


@contextmanager
def gunicorn(database_url: str, folder: Path, args: list[str], **settings: str) -> Iterator[str]:
    """A gunicorn master serving the app on `database_url` with these extra `args`; its URL."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **os.environ,
        "LINLI_DATABASE_URL": database_url,
        "LINLI_INSTANCE_DIR": str(folder / "instance"),
        "LINLI_SECRET_KEY": "test",
        "LINLI_LOG_LEVEL": "WARNING",
        "LINLI_COOKIE_SECURE": "0",
        **settings,
    }
    log = open(folder / "gunicorn.log", "wb")  # noqa: SIM115 (closed in finally)
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            *args,
            "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5",
            "server:create_app()",
        ],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
