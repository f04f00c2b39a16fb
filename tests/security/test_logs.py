"""No log line carries a phone number, an API key, a merchant key or an enrolment code: the
dev server (text and JSON), gunicorn with the deploy config and nginx with the deploy site
are run for real and their logs read; SQL errors hide their parameters."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from tests.procs import ServerProc, free_port, wait_http, wait_until
from tests.system.test_deploy import (
    APP,
    GUNICORN_CONF,
    REPO,
    StubUpstream,
    main_conf,
    nginx_binary,
    port_open,
    replace_once,
    site_with_certificate,
)

PHONE = "13912345678"
MERCHANT_KEY = "mk-Zq8vP2xLr7Tn4Wc9"


def _visits(token: str, code: str) -> list[tuple[str, dict[str, str]]]:
    """Paths (with query strings) and headers carrying every kind of secret and number."""
    referer = f"https://linli.example.org/console/residents?q={PHONE}&api_key={token}"
    return [
        (f"/open311/v2/services.json?api_key={token}", {}),
        (f"/open311/v2/requests/139.1234.5678.json?api_key={token}", {}),
        (f"/open311/v2/requests/{PHONE}.json?jurisdiction_id=x&api_key={token}", {}),
        (f"/console/residents?q={PHONE}", {}),
        ("/console/queue?phone=%2B86%20139%201234%205678", {}),
        (f"/merchant/{MERCHANT_KEY}", {}),
        (f"/api/sync/v1/enroll?code={code}", {}),
        ("/healthz?from=log-test", {"Referer": referer, "X-Request-ID": "log-test"}),
    ]


def _visit(base: str, token: str, code: str, verify: str | bool = True) -> None:
    with requests.Session() as session:
        session.trust_env = False
        session.verify = verify
        for path, headers in _visits(token, code):
            session.get(base + path, headers=headers, allow_redirects=False, timeout=30)


def assert_clean(log: str, token: str, code: str) -> None:
    """No secret and no spelling of the phone number anywhere in `log` (URL-decoded too)."""
    decoded = unquote(log)
    for secret in (token, token[3:], code, code.replace("-", ""), MERCHANT_KEY):
        assert secret not in decoded, f"{secret!r} in the log:\n{log}"
    flat = re.sub(r"[\s.\-+]", "", unicodedata.normalize("NFKC", decoded))
    assert PHONE not in flat, f"the phone number in the log:\n{log}"


def _secrets(server: ServerProc) -> tuple[str, str]:
    token = server.secret("api-token", "create", "--name", "log-test")
    code = server.secret("kiosk", "enroll", "--community", "lanqiao", "--name", "hall")
    return token, code


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_dev_server_logs_no_secret(database_url: str, tmp_path: Path, fmt: str) -> None:
    server = ServerProc(
        tmp_path, database_url, {"LINLI_LOG_LEVEL": "INFO", "LINLI_LOG_FORMAT": fmt}
    )
    server.cli("community", "create", "--slug", "lanqiao", "--name", "蓝桥社区")
    token, code = _secrets(server)
    server.start()
    try:
        _visit(server.url, token, code)
    finally:
        server.stop()
    log = server.log()
    access = [line for line in log.splitlines() if "/open311/v2/services.json" in line]
    assert len(access) == 1, log
    assert "/merchant/[redacted]" in log
    if fmt == "json":
        assert access[0].startswith("{"), access[0]
    assert_clean(log, token, code)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_gunicorn_with_the_deploy_config_logs_no_secret(database_url: str, tmp_path: Path) -> None:
    setup = ServerProc(tmp_path, database_url)
    setup.cli("community", "create", "--slug", "lanqiao", "--name", "蓝桥社区")
    token, code = _secrets(setup)
    port = free_port()
    env = {**os.environ, **setup.env_vars, "LINLI_LOG_LEVEL": "info", "WEB_CONCURRENCY": "1"}
    env.pop("RUNTIME_DIRECTORY", None)
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                *("-c", str(GUNICORN_CONF), "--bind", f"127.0.0.1:{port}", APP),
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60, proc=proc)
        _visit(f"http://127.0.0.1:{port}", token, code)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    text = log.read_text(errors="replace")
    assert "rid=log-test" in text, text
    assert '"GET /open311/v2/services.json HTTP/1.1" 200' in text, text
    assert_clean(text, token, code)


def test_nginx_with_the_deploy_site_logs_no_secret(
    tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    nginx = nginx_binary()
    https_port, http_port = free_port(), free_port()
    access_log = certificate[0].parent / "linli.access.log"
    token, code = "lt_" + "S3cr3tT0kenValue_x" * 2, "QWER-TY23"
    with StubUpstream() as upstream:
        text = site_with_certificate(*certificate)
        text = replace_once(text, "    listen 80;\n", f"    listen 127.0.0.1:{http_port};\n")
        text = replace_once(text, "    listen [::]:80;\n", "")
        text = replace_once(
            text, "    listen 443 ssl http2;\n", f"    listen 127.0.0.1:{https_port} ssl http2;\n"
        )
        text = replace_once(text, "    listen [::]:443 ssl http2;\n", "")
        text = replace_once(text, "server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream.port};")
        site = tmp_path / "linli.conf"
        site.write_text(text)
        args = [nginx, "-c", str(main_conf(tmp_path, site)), "-p", f"{tmp_path}/"]
        proc = subprocess.Popen(
            [*args, "-e", str(tmp_path / "error.log"), "-g", "daemon off;"],
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
            _visit(f"https://127.0.0.1:{https_port}", token, code, verify=str(certificate[0]))
            _visit(f"http://127.0.0.1:{http_port}", token, code)
            paths = upstream.paths()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert any(path.startswith("/open311/v2/services.json?api_key=") for path in paths)
    log = access_log.read_text()
    # Every visit twice (https, then http's redirect), but /healthz is not logged over https.
    assert len(log.splitlines()) == 2 * len(_visits(token, code)) - 1, log
    assert '"GET /open311/v2/services.json HTTP/' in log
    assert "/merchant/[redacted]" in log
    assert "https://linli.example.org" in log, "the referer's origin stays"
    assert_clean(log, token, code)


def test_sql_errors_hide_their_parameters(app: Flask) -> None:
    from server.extensions import db

    with app.app_context():
        with pytest.raises(sa.exc.DBAPIError) as caught:
            db.session.execute(sa.text("INSERT INTO no_such_table VALUES (:p)"), {"p": PHONE})
        db.session.rollback()
    assert "no_such_table" in str(caught.value)
    assert PHONE not in str(caught.value)


def test_tracebacks_and_extra_fields_are_scrubbed_in_json_lines() -> None:
    from sync import scrub
    from sync.logfmt import JsonFormatter

    scrub.install()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("linli.test.scrub")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ValueError(f"bad number +86 139 1234 5678 for lt_{'k' * 30}")
        except ValueError:
            logger.exception(
                "failed on %s", f"/merchant/{MERCHANT_KEY}?q={PHONE}", extra={"kiosk": PHONE}
            )
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["msg"] == "failed on /merchant/[redacted]?q=[redacted]"
    assert entry["kiosk"] == "[redacted]"
    assert "ValueError: bad number [redacted] for [redacted]" in entry["exc"]
    assert_clean(line, "lt_" + "k" * 30, "QWER-TY23")
