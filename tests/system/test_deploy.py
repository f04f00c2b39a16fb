"""deploy/: systemd units, the nginx site, gunicorn's config and the kiosk session script.

What can run here runs for real: `nginx -t` and a live nginx in front of a stub upstream,
`systemd-analyze verify` and `security` on the units, gunicorn serving the app with the deploy
config, and the kiosk session's restart loop with a stub `linli`.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import runpy
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.procs import free_port, wait_http, wait_until

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
UNIT_DIR = DEPLOY / "systemd"
SITE = DEPLOY / "nginx" / "linli.conf"
GUNICORN_CONF = DEPLOY / "gunicorn.conf.py"
SESSION = DEPLOY / "kiosk" / "linli-kiosk-session"

# The install layout of deploy/README.md: the release checkout and the virtualenv.
INSTALLED_SRC = "/opt/linli/src/"
VENV_BIN = "/opt/linli/venv/bin/"
LINLI = VENV_BIN + "linli"

SERVICES = sorted(p.name for p in UNIT_DIR.glob("*.service"))
TIMERS = sorted(p.name for p in UNIT_DIR.glob("*.timer"))
LONG_RUNNING = ["linli-server.service", "linli-kiosk.service"]
PERIODIC = {
    "linli-server-nightly.service": [LINLI, "server", "nightly"],
    "linli-kiosk-nightly.service": [LINLI, "sync", "nightly", "--data", "/var/lib/linli-kiosk"],
    "linli-server-escalations.service": [LINLI, "server", "escalations", "deliver"],
}
"""Services that timers start, and the command each runs."""
MiB = 1024 * 1024
APP = "server:create_app()"


# --- systemd units: static checks ----------------------------------------------------------


Unit = dict[str, list[tuple[str, str]]]


def parse_unit(path: Path) -> Unit:
    """Sections of a unit file as lists of (key, value), keeping repeated keys in order."""
    sections: Unit = {}
    current: list[tuple[str, str]] | None = None
    pending = ""
    for raw in path.read_text().splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"{path.name}: {line!r} outside a section"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: {line!r} is not key=value"
        current.append((key.strip(), value.strip()))
    return sections


def values(unit: Unit, section: str, key: str) -> list[str]:
    """Every value of `key` in `section`."""
    return [v for k, v in unit.get(section, []) if k == key]


def value(unit: Unit, section: str, key: str) -> str:
    """The effective (last) value of `key` in `section`; fails when it is not set."""
    found = values(unit, section, key)
    assert found, f"[{section}] {key}= is missing"
    return found[-1]


def unit(name: str) -> Unit:
    """The parsed unit file deploy/systemd/NAME."""
    return parse_unit(UNIT_DIR / name)


def repo_path(installed: str) -> Path:
    """The repository file that an installed /opt/linli/src/... path refers to."""
    assert installed.startswith(INSTALLED_SRC), installed
    return REPO / installed.removeprefix(INSTALLED_SRC)


def test_deploy_has_every_unit() -> None:
    assert set(SERVICES) == {*LONG_RUNNING, *PERIODIC}
    assert set(TIMERS) == {name.replace(".service", ".timer") for name in PERIODIC}


@pytest.mark.parametrize("name", SERVICES)
def test_service_runs_an_absolute_command_as_a_dedicated_user(name: str) -> None:
    service = unit(name)
    assert value(service, "Unit", "Description")
    for key in ("ExecStartPre", "ExecStart"):
        for command in values(service, "Service", key):
            assert shlex.split(command)[0].startswith("/"), f"{key}={command}"
    assert value(service, "Service", "User") in {"linli", "linli-kiosk"}
    assert value(service, "Service", "NoNewPrivileges") == "yes"
    assert value(service, "Service", "ProtectSystem") == "strict"
    assert value(service, "Service", "PrivateTmp") == "yes"
    # Under ProtectSystem=strict only these are writable: the state folder must be one of them.
    writable = " ".join(values(service, "Service", "ReadWritePaths")).split()
    state = "/var/lib/" + value(service, "Service", "StateDirectory")
    assert state in writable


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_services_restart(name: str) -> None:
    service = unit(name)
    assert value(service, "Service", "Restart") in {"always", "on-failure"}
    assert value(service, "Install", "WantedBy")


def test_server_unit_upgrades_the_database_then_runs_gunicorn() -> None:
    service = unit("linli-server.service")
    assert shlex.split(value(service, "Service", "ExecStartPre")) == [
        LINLI,
        "server",
        "db",
        "upgrade",
    ]
    command = shlex.split(value(service, "Service", "ExecStart"))
    assert command[0] == VENV_BIN + "gunicorn"
    assert command[-1] == APP
    config = command[command.index("--config") + 1]
    assert repo_path(config) == GUNICORN_CONF
    assert value(service, "Service", "EnvironmentFile") == "/etc/linli/server.env"
    assert value(service, "Service", "User") == "linli"
    # gunicorn's sd_notify readiness.
    assert value(service, "Service", "Type") == "notify"
    instance = value(service, "Service", "Environment").removeprefix("LINLI_INSTANCE_DIR=")
    writable = " ".join(values(service, "Service", "ReadWritePaths")).split()
    assert any(instance.startswith(path + "/") for path in writable), instance


def test_kiosk_unit_runs_the_session_script_for_ever() -> None:
    service = unit("linli-kiosk.service")
    assert value(service, "Service", "Restart") == "always"
    assert value(service, "Unit", "StartLimitIntervalSec") == "0"
    command = shlex.split(value(service, "Service", "ExecStart"))
    assert command[0] == "/usr/bin/xinit"
    session = repo_path(command[1])
    assert session == SESSION
    assert os.access(session, os.X_OK), f"{session} is not executable"
    data = command[2]
    assert data == "/var/lib/linli-kiosk"
    assert data in " ".join(values(service, "Service", "ReadWritePaths")).split()
    server = command[command.index("--") + 1 :]
    assert "-nolisten" in server
    assert "tcp" in server


@pytest.mark.parametrize(("name", "expected"), sorted(PERIODIC.items()))
def test_timed_services_run_the_named_command_once(name: str, expected: list[str]) -> None:
    service = unit(name)
    assert value(service, "Service", "Type") == "oneshot"
    assert shlex.split(value(service, "Service", "ExecStart")) == expected


@pytest.mark.parametrize("name", TIMERS)
def test_timers_are_persistent_and_spread(name: str) -> None:
    timer = unit(name)
    assert value(timer, "Timer", "OnCalendar")
    assert value(timer, "Timer", "Persistent") == "true"
    assert value(timer, "Timer", "RandomizedDelaySec")
    assert value(timer, "Install", "WantedBy") == "timers.target"
    # A timer starts the service of the same name.
    assert (UNIT_DIR / name.replace(".timer", ".service")).exists()


# --- systemd units: systemd-analyze ---------------------------------------------------------


def systemd_analyze() -> str:
    """The systemd-analyze binary, or skip."""
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    return found


def verifiable_copies(target: Path) -> list[Path]:
    """The units copied to `target`, with commands missing on this machine replaced by stubs.

    `systemd-analyze verify` refuses a unit whose ExecStart binary does not exist; the linli
    virtualenv and X are not installed here, so their commands point at stub scripts.
    """
    stubs = target / "stubs"
    stubs.mkdir()
    replaced: dict[str, str] = {}
    for path in UNIT_DIR.iterdir():
        for key, command in parse_unit(path).get("Service", []):
            if not key.startswith("Exec"):
                continue
            binary = shlex.split(command)[0].lstrip("-@:+!")
            if not os.access(binary, os.X_OK) and binary not in replaced:
                stub = stubs / Path(binary).name
                stub.write_text("#!/bin/sh\nexit 0\n")
                stub.chmod(0o755)
                replaced[binary] = str(stub)
    copies = []
    for path in sorted(UNIT_DIR.iterdir()):
        text = path.read_text()
        for binary, stub_path in replaced.items():
            text = text.replace(binary, stub_path)
        copy = target / path.name
        copy.write_text(text)
        copies.append(copy)
    return copies


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = systemd_analyze()
    copies = verifiable_copies(tmp_path)
    result = subprocess.run(
        [analyze, "verify", "--man=no", *map(str, copies)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    # verify exits 0 on mere warnings ("Unknown key", "ignoring"): any line about our units fails.
    ours = [line for line in output.splitlines() if "linli-" in line or str(tmp_path) in line]
    assert result.returncode == 0, output
    assert ours == []


@pytest.mark.parametrize(
    ("name", "threshold"),
    [
        ("linli-server.service", 30),
        ("linli-server-nightly.service", 30),
        ("linli-kiosk-nightly.service", 30),
        ("linli-server-escalations.service", 30),
        # X needs the GPU, input devices and namespaces for the browser sandbox.
        ("linli-kiosk.service", 60),
    ],
)
def test_units_are_hardened(tmp_path: Path, name: str, threshold: int) -> None:
    """systemd's exposure score (shown as 0-10, the threshold in tenths) stays low."""
    analyze = systemd_analyze()
    copy = next(p for p in verifiable_copies(tmp_path) if p.name == name)
    result = subprocess.run(
        [analyze, "security", "--offline=yes", f"--threshold={threshold}", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr


# --- nginx ---------------------------------------------------------------------------------


def nginx_binary() -> str:
    """Debian's nginx, or skip."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    if not found:
        pytest.skip("nginx is not installed (Debian package nginx)")
    return found


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, and its key."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed (Debian package openssl)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return cert, key


def replace_once(text: str, old: str, new: str) -> str:
    """`text` with `old` replaced; fails when `old` is not there (the site file changed)."""
    assert old in text, f"{old!r} not found in {SITE.name}"
    return text.replace(old, new)


def site_with_certificate(cert: Path, key: Path) -> str:
    """The site file with the placeholder certificate paths pointing at `cert` and `key`, and
    its access log in their folder (linli.access.log)."""
    text = SITE.read_text()
    text = replace_once(text, "/etc/ssl/certs/linli.example.org.fullchain.pem", str(cert))
    text = replace_once(
        text, "/var/log/nginx/linli.access.log", str(cert.parent / "linli.access.log")
    )
    return replace_once(text, "/etc/ssl/private/linli.example.org.key", str(key))


def main_conf(prefix: Path, site: Path) -> Path:
    """An nginx.conf that includes `site`, with every path nginx writes under `prefix`."""
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # As root, workers would run as `nobody` and could not read pytest's private tmp folder.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"{user}pid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'};\n"
        "events {}\n"
        "http {\n"
        "    include /etc/nginx/mime.types;\n"
        f"    access_log {prefix / 'access.log'};\n"
        f"{temp}\n"
        f"    include {site};\n"
        "}\n"
    )
    return conf


def test_site_passes_nginx_t(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    nginx = nginx_binary()
    site = tmp_path / "linli.conf"
    site.write_text(site_with_certificate(*certificate))
    conf = main_conf(tmp_path, site)
    result = subprocess.run(
        [nginx, "-t", "-c", str(conf), "-p", f"{tmp_path}/", "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    assert "[warn]" not in result.stderr, result.stderr


OWN_HEADERS_PATH = "/console/own-headers"
OWN_HEADERS = {"X-Frame-Options": "SAMEORIGIN", "Referrer-Policy": "no-referrer"}
"""A page of the stub that sets its own security headers, as the app's pages do."""


class StubUpstream:
    """A stand-in for gunicorn that records requests, answers JSON, and streams events."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.release = threading.Event()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Keep test output quiet."""

            def do_GET(self) -> None:
                self.answer(b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                self.answer(self.rfile.read(length))

            def answer(self, body: bytes) -> None:
                stub.seen.append(
                    {"path": self.path, "headers": dict(self.headers), "body": len(body)}
                )
                if self.path.endswith(("/events", "/stream")):
                    self.stream()
                    return
                # Padded past gzip_min_length, so nginx would compress it where gzip is on.
                data = json.dumps({"path": self.path, "pad": "x" * 4000}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if self.path == OWN_HEADERS_PATH:
                    for name, header_value in OWN_HEADERS.items():
                        self.send_header(name, header_value)
                self.end_headers()
                self.wfile.write(data)

            def stream(self) -> None:
                """One event, then wait until the test has read it, then another."""
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                self.wfile.write(b"data: first\n\n")
                self.wfile.flush()
                stub.release.wait(15)
                self.wfile.write(b"data: second\n\n")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def paths(self) -> list[str]:
        """The paths requested so far."""
        return [r["path"] for r in self.seen]

    def __enter__(self) -> StubUpstream:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def port_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:`port`."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def live_site(
    tmp_path: Path, certificate: tuple[Path, Path]
) -> Iterator[tuple[str, str, StubUpstream, Path]]:
    """nginx running the site on free ports in front of a stub upstream.

    Yields the https and http base URLs, the stub, and the certificate to verify with.
    """
    nginx = nginx_binary()
    http_port, https_port = free_port(), free_port()
    static = tmp_path / "static"
    static.mkdir()
    (static / "app.css").write_text("body { font-size: 28px; }\n")
    with StubUpstream() as upstream:
        text = site_with_certificate(*certificate)
        text = replace_once(text, "    listen 80;\n", f"    listen 127.0.0.1:{http_port};\n")
        text = replace_once(text, "    listen [::]:80;\n", "")
        text = replace_once(
            text, "    listen 443 ssl http2;\n", f"    listen 127.0.0.1:{https_port} ssl http2;\n"
        )
        text = replace_once(text, "    listen [::]:443 ssl http2;\n", "")
        text = replace_once(text, "server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream.port};")
        text = replace_once(
            text, "/opt/linli/venv/lib/python3.11/site-packages/server/static/", f"{static}/"
        )
        site = tmp_path / "linli.conf"
        site.write_text(text)
        conf = main_conf(tmp_path, site)
        args = [nginx, "-c", str(conf), "-p", f"{tmp_path}/", "-e", str(tmp_path / "error.log")]
        proc = subprocess.Popen(
            [*args, "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_until(
                lambda: proc.poll() is not None or port_open(https_port),
                timeout=30,
                what="nginx to listen",
            )
            assert proc.poll() is None, (tmp_path / "error.log").read_text()
            yield (
                f"https://127.0.0.1:{https_port}",
                f"http://127.0.0.1:{http_port}",
                upstream,
                certificate[0],
            )
        finally:
            proc.terminate()
            proc.wait(timeout=30)


SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=63072000",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
"""What nginx sends when the answer has none of its own."""


def test_live_site_redirects_proxies_and_limits(
    live_site: tuple[str, str, StubUpstream, Path],
) -> None:
    https, http, upstream, cert = live_site
    with requests.Session() as session:
        # Not from the environment: REQUESTS_CA_BUNDLE would override session.verify.
        session.trust_env = False
        session.verify = str(cert)

        redirect = session.get(f"{http}/console/requests?status=new", allow_redirects=False)
        assert redirect.status_code == 301
        assert redirect.headers["Location"] == "https://127.0.0.1/console/requests?status=new"

        answer = session.get(f"{https}/api/v1/requests?community=lanqiao")
        assert answer.status_code == 200
        assert answer.json()["path"] == "/api/v1/requests?community=lanqiao"
        for name, header_value in SECURITY_HEADERS.items():
            assert answer.headers[name] == header_value
        assert answer.headers["Server"] == "nginx"  # server_tokens off: no version
        headers = {k.lower(): v for k, v in upstream.seen[-1]["headers"].items()}
        assert headers["x-forwarded-proto"] == "https"
        assert headers["x-forwarded-for"] == "127.0.0.1"
        assert headers["x-real-ip"] == "127.0.0.1"
        assert headers["host"] == "127.0.0.1"
        assert len(headers["x-request-id"]) == 32
        # JSON is compressed for the console and the staff API ...
        assert answer.headers.get("Content-Encoding") == "gzip"
        # ... but never on the sync API, whose bodies the server already gzips.
        pull = session.get(f"{https}/api/sync/v1/pull?cursor=")
        assert pull.status_code == 200
        assert "Content-Encoding" not in pull.headers

        # The sync limit: 2 MiB on the wire passes, one byte more is refused by nginx.
        at_limit = session.post(f"{https}/api/sync/v1/push", data=b"x" * (2 * MiB))
        assert at_limit.status_code == 200
        assert upstream.seen[-1]["body"] == 2 * MiB
        pushes = upstream.paths().count("/api/sync/v1/push")
        too_big = session.post(f"{https}/api/sync/v1/push", data=b"x" * (2 * MiB + 1))
        assert too_big.status_code == 413
        assert upstream.paths().count("/api/sync/v1/push") == pushes
        assert too_big.headers["X-Frame-Options"] == "DENY"
        assert "Strict-Transport-Security" in too_big.headers

        static = session.get(f"{https}/static/app.css")
        assert static.status_code == 200
        assert static.text == "body { font-size: 28px; }\n"
        assert static.headers["Cache-Control"] == "no-cache"
        assert "ETag" in static.headers
        # Revalidation: an unchanged file answers 304 without a body.
        again = session.get(
            f"{https}/static/app.css", headers={"If-None-Match": static.headers["ETag"]}
        )
        assert again.status_code == 304
        for name, header_value in SECURITY_HEADERS.items():
            assert static.headers[name] == header_value
        assert not any(path.startswith("/static/") for path in upstream.paths())

        # The app's own security headers win over nginx's defaults, and none is sent twice.
        own = session.get(f"{https}{OWN_HEADERS_PATH}")
        for name, header_value in OWN_HEADERS.items():
            assert own.headers[name] == header_value
        assert own.headers["X-Content-Type-Options"] == "nosniff"

        assert session.get(f"{https}/metrics").status_code == 200
        assert "/metrics" in upstream.paths()


@pytest.mark.parametrize(
    "path", ["/console/queue/stream", "/console/events", "/console/requests/42/events"]
)
def test_live_site_streams_events_without_buffering(
    live_site: tuple[str, str, StubUpstream, Path], path: str
) -> None:
    """The upstream holds the stream open after one event: it must reach the browser anyway."""
    https, _, upstream, cert = live_site
    with (
        requests.Session() as session,
        session.get(f"{https}{path}", verify=str(cert), stream=True, timeout=(5, 10)) as answer,
    ):
        assert answer.status_code == 200
        assert answer.headers["Content-Type"].startswith("text/event-stream")
        assert "Content-Encoding" not in answer.headers
        lines = (line for line in answer.iter_lines() if line)
        # A buffering proxy would hold this back until the read timeout fails the test.
        assert next(lines) == b"data: first"
        upstream.release.set()
        assert next(lines) == b"data: second"


# --- gunicorn ------------------------------------------------------------------------------


def load_gunicorn_conf(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    """The settings deploy/gunicorn.conf.py defines under `env` (as gunicorn would read them)."""
    for name in ("WEB_CONCURRENCY", "GUNICORN_THREADS", "RUNTIME_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    for name, val in env.items():
        monkeypatch.setenv(name, val)
    return runpy.run_path(str(GUNICORN_CONF))


def test_gunicorn_conf_values_are_sane(monkeypatch: pytest.MonkeyPatch) -> None:
    from gunicorn.config import Config

    conf = load_gunicorn_conf(monkeypatch)
    assert conf["bind"] == ["127.0.0.1:8000"]
    assert conf["worker_class"] == "gthread"
    assert conf["workers"] == min(2 * multiprocessing.cpu_count() + 1, conf["MAX_DEFAULT_WORKERS"])
    assert conf["threads"] >= 4
    assert conf["preload_app"] is False
    assert 0 < conf["timeout"] <= 120
    assert 0 < conf["graceful_timeout"] <= 60
    assert set(conf["forwarded_allow_ips"].split(",")) == {"127.0.0.1", "::1"}
    assert conf["control_socket_disable"] is True
    # Every lower-case name is a gunicorn setting (a typo would be silently ignored) and
    # passes gunicorn's own validation.
    cfg = Config()
    names = {
        k
        for k, v in conf.items()
        if k.islower()
        and not k.startswith("_")
        and not callable(v)
        and not hasattr(v, "__spec__")  # imported modules
        and type(v).__module__ != "__future__"  # `from __future__ import annotations`
    }
    assert names - set(cfg.settings) == set()
    for name in names:
        cfg.set(name, conf[name])
    assert cfg.worker_class_str == "gthread"


def test_gunicorn_conf_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    conf = load_gunicorn_conf(
        monkeypatch, WEB_CONCURRENCY="3", GUNICORN_THREADS="24", RUNTIME_DIRECTORY=str(tmp_path)
    )
    assert conf["workers"] == 3
    assert conf["threads"] == 24
    assert conf["control_socket"] == str(tmp_path / "gunicorn.ctl")
    for bad in ("0", "many"):
        with pytest.raises(ValueError, match="WEB_CONCURRENCY"):
            load_gunicorn_conf(monkeypatch, WEB_CONCURRENCY=bad)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_gunicorn_serves_the_app_with_the_deploy_config(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "LINLI_DATABASE_URL": database_url,
        "LINLI_INSTANCE_DIR": str(tmp_path / "instance"),
        "LINLI_SECRET_KEY": "test-secret-key",
        "WEB_CONCURRENCY": "2",
    }
    env.pop("RUNTIME_DIRECTORY", None)
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [gunicorn, "-c", str(GUNICORN_CONF), "--bind", f"127.0.0.1:{port}", APP],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60, proc=proc)
        answer = requests.get(
            f"http://127.0.0.1:{port}/healthz",
            headers={"X-Real-IP": "203.0.113.9", "X-Request-ID": "deploy-test"},
            timeout=10,
        )
        assert answer.status_code == 200
        assert answer.json()["status"] == "ok"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    text = log.read_text(errors="replace")
    assert "Using worker: gthread" in text
    assert text.count("Booting worker") >= 2
    # post_worker_init readied each worker: templates compiled, the app's heap frozen.
    ready = re.findall(r"worker ready: (\d+) templates compiled, ([\d,]+) objects frozen", text)
    assert len(ready) >= 2, text
    assert all(int(t) > 50 and int(f.replace(",", "")) > 10_000 for t, f in ready), ready
    # The access log format: client from nginx's X-Real-IP, the request id, the duration.
    access = [line for line in text.splitlines() if "rid=deploy-test" in line]
    assert len(access) == 1, text
    assert access[0].startswith("203.0.113.9 ")
    assert '"GET /healthz HTTP/1.1" 200' in access[0]


# --- kiosk session -------------------------------------------------------------------------


def test_kiosk_session_restarts_linli_kiosk_run(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    stub = tmp_path / "linli"
    stub.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexit 3\n')
    stub.chmod(0o755)
    data = tmp_path / "kiosk data"
    stderr = tmp_path / "session.err"
    with open(stderr, "wb") as err:
        proc = subprocess.Popen(
            [str(SESSION), str(data)],
            env={"PATH": "/usr/bin:/bin", "LINLI_BIN": str(stub)},
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    try:
        wait_until(
            lambda: calls.exists() and len(calls.read_text().splitlines()) >= 2,
            timeout=30,
            what="the session to start linli twice",
        )
        assert proc.poll() is None, "the session script must keep running"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    assert calls.read_text().splitlines()[:2] == [f"kiosk run --data {data}"] * 2
    assert "'linli kiosk run' exited with status 3; restarting" in stderr.read_text()
