"""Tests for the fault-injecting proxy, against a real HTTP server and python-requests."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from tests.faultproxy import (
    BLACKHOLE,
    DELAY,
    DROP_REQUEST,
    DROP_RESPONSE,
    DUPLICATE,
    ERROR_500,
    PASS,
    RESET,
    TRUNCATE,
    FaultProxy,
    LogEntry,
    ProxiedRequest,
)

TIMEOUT = 5.0  # client timeout for requests expected to succeed or fail promptly


class _CountingServer(ThreadingHTTPServer):
    """A threaded HTTP server counting the requests its handlers received."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _EchoHandler)
        self._lock = threading.Lock()
        self._hits = 0

    def hit(self) -> int:
        with self._lock:
            self._hits += 1
            return self._hits

    @property
    def hits(self) -> int:
        with self._lock:
            return self._hits


class _EchoHandler(BaseHTTPRequestHandler):
    """Answers every request with JSON describing it (HTTP/1.1, Content-Length)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def _reply(self, *, send_body: bool) -> None:
        server = self.server
        assert isinstance(server, _CountingServer)
        count = server.hit()
        length = int(self.headers.get("Content-Length") or 0)
        received = self.rfile.read(length)
        payload = {
            "method": self.command,
            "path": self.path,
            "body_length": len(received),
            "count": count,
        }
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if self.path == "/unframed":  # no length: the body ends when the connection does
            self.send_header("Connection", "close")
            self.close_connection = True
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (body[:5], body[5:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body:
                self.wfile.write(body)

    def do_GET(self) -> None:
        """Echo a GET."""
        self._reply(send_body=True)

    def do_POST(self) -> None:
        """Echo a POST, reporting the body length received."""
        self._reply(send_body=True)

    def do_HEAD(self) -> None:
        """Answer a HEAD with the headers a GET would get."""
        self._reply(send_body=False)


@pytest.fixture
def upstream() -> Iterator[_CountingServer]:
    server = _CountingServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def proxy(upstream: _CountingServer) -> Iterator[FaultProxy]:
    with FaultProxy("127.0.0.1", upstream.server_address[1]) as fault_proxy:
        yield fault_proxy


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as client:
        yield client


def _free_port() -> int:
    """A port with (almost certainly) nobody listening on it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_pass_reuses_one_client_connection(
    proxy: FaultProxy, upstream: _CountingServer, session: requests.Session
) -> None:
    for expected in range(1, 5):
        response = session.post(f"{proxy.url}/echo?n={expected}", data=b"x" * 10, timeout=TIMEOUT)
        assert response.status_code == 200
        assert response.json() == {
            "method": "POST",
            "path": f"/echo?n={expected}",
            "body_length": 10,
            "count": expected,
        }
        assert response.headers["Connection"] == "keep-alive"
    stats = proxy.stats
    assert stats.requests_seen == 4
    assert stats.connections_accepted == 1
    assert stats.by_mode[PASS] == 4
    assert proxy.log[0] == LogEntry("POST", "/echo?n=1", PASS, 200)
    assert upstream.hits == 4


def test_pass_handles_large_chunked_unframed_and_head(
    proxy: FaultProxy, session: requests.Session
) -> None:
    big = session.post(f"{proxy.url}/big", data=b"y" * 1_000_000, timeout=TIMEOUT)
    assert big.json()["body_length"] == 1_000_000
    chunked_request = session.post(
        f"{proxy.url}/gen", data=iter([b"abc", b"defg"]), timeout=TIMEOUT
    )
    assert chunked_request.json()["body_length"] == 7
    for path in ("/unframed", "/chunked"):
        response = session.get(f"{proxy.url}{path}", timeout=TIMEOUT)
        assert response.json()["path"] == path
    head = session.head(f"{proxy.url}/head", timeout=TIMEOUT)
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["Content-Length"]) > 0
    assert session.get(f"{proxy.url}/after-head", timeout=TIMEOUT).status_code == 200
    assert proxy.stats.connections_accepted == 1


def test_drop_request_never_reaches_upstream(
    proxy: FaultProxy, upstream: _CountingServer, session: requests.Session
) -> None:
    proxy.set_mode(DROP_REQUEST)
    with pytest.raises(requests.ConnectionError):
        session.get(f"{proxy.url}/x", timeout=TIMEOUT)
    assert upstream.hits == 0
    assert proxy.log == [LogEntry("GET", "/x", DROP_REQUEST, None)]


def test_drop_response_after_upstream_committed(
    proxy: FaultProxy, upstream: _CountingServer, session: requests.Session
) -> None:
    proxy.set_mode(DROP_RESPONSE)
    with pytest.raises(requests.ConnectionError):
        session.post(f"{proxy.url}/commit", data=b"{}", timeout=TIMEOUT)
    assert upstream.hits == 1
    assert proxy.log == [LogEntry("POST", "/commit", DROP_RESPONSE, 200)]


def test_duplicate_sends_twice_delivers_second(
    proxy: FaultProxy, upstream: _CountingServer, session: requests.Session
) -> None:
    proxy.set_mode(DUPLICATE)
    response = session.post(f"{proxy.url}/dup", data=b"abc", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.json()["count"] == 2
    assert response.json()["body_length"] == 3
    assert upstream.hits == 2


def test_error_500_answers_without_forwarding(
    proxy: FaultProxy, upstream: _CountingServer, session: requests.Session
) -> None:
    proxy.set_mode(ERROR_500)
    response = session.get(f"{proxy.url}/x", timeout=TIMEOUT)
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"error": "proxy_fault", "detail": "injected by the fault proxy"}
    assert upstream.hits == 0


def test_truncate_breaks_the_response(
    proxy: FaultProxy, upstream: _CountingServer, session: requests.Session
) -> None:
    proxy.set_mode(TRUNCATE)
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        session.get(f"{proxy.url}/x", timeout=TIMEOUT)
    assert upstream.hits == 1


def test_reset_after_forwarding(
    proxy: FaultProxy, upstream: _CountingServer, session: requests.Session
) -> None:
    proxy.set_mode(RESET)
    with pytest.raises(requests.ConnectionError):
        session.get(f"{proxy.url}/x", timeout=TIMEOUT)
    assert upstream.hits == 1


def test_delay_waits_then_passes(proxy: FaultProxy, session: requests.Session) -> None:
    proxy.set_mode(DELAY, delay=0.3)
    started = time.monotonic()
    response = session.get(f"{proxy.url}/slow", timeout=TIMEOUT)
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200


def test_blackhole_times_the_client_out(
    proxy: FaultProxy, upstream: _CountingServer, session: requests.Session
) -> None:
    proxy.set_mode(BLACKHOLE)
    with pytest.raises(requests.exceptions.ReadTimeout):
        session.get(f"{proxy.url}/void", timeout=0.3)
    assert upstream.hits == 0
    assert proxy.stats.by_mode[BLACKHOLE] == 1


def test_stop_ends_a_blackholed_connection(upstream: _CountingServer) -> None:
    fault_proxy = FaultProxy("127.0.0.1", upstream.server_address[1])
    with fault_proxy, socket.create_connection(("127.0.0.1", fault_proxy.port), 5) as raw:
        fault_proxy.set_mode(BLACKHOLE)
        raw.sendall(b"GET /void HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.monotonic() + 5
        while fault_proxy.stats.requests_seen == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        fault_proxy.stop()
        assert time.monotonic() - started < 2
        assert raw.recv(100) == b""
    fault_proxy.stop()  # idempotent
    assert not [t for t in threading.enumerate() if t.name.startswith("faultproxy-")]


def test_schedule_is_consumed_in_order(
    proxy: FaultProxy, upstream: _CountingServer, session: requests.Session
) -> None:
    proxy.schedule([ERROR_500, DROP_REQUEST, DUPLICATE])
    assert session.get(f"{proxy.url}/1", timeout=TIMEOUT).status_code == 500
    with pytest.raises(requests.ConnectionError):
        session.get(f"{proxy.url}/2", timeout=TIMEOUT)
    assert session.get(f"{proxy.url}/3", timeout=TIMEOUT).json()["count"] == 2
    assert session.get(f"{proxy.url}/4", timeout=TIMEOUT).json()["count"] == 3
    assert [(entry.path, entry.mode) for entry in proxy.log] == [
        ("/1", ERROR_500),
        ("/2", DROP_REQUEST),
        ("/3", DUPLICATE),
        ("/4", PASS),
    ]


def test_policy_decides_per_request(
    proxy: FaultProxy, upstream: _CountingServer, session: requests.Session
) -> None:
    seen: list[ProxiedRequest] = []

    def policy(request: ProxiedRequest) -> str:
        seen.append(request)
        return ERROR_500 if request.path.startswith("/fail") else PASS

    proxy.set_policy(policy)
    assert session.get(f"{proxy.url}/ok?a=1", timeout=TIMEOUT).status_code == 200
    response = session.post(
        f"{proxy.url}/fail", data=b"body", headers={"X-Test": "yes"}, timeout=TIMEOUT
    )
    assert response.status_code == 500
    assert seen[0].path == "/ok?a=1"
    assert (seen[1].method, seen[1].body, seen[1].headers["x-test"]) == ("POST", b"body", "yes")
    proxy.set_policy(None)
    assert session.get(f"{proxy.url}/fail", timeout=TIMEOUT).status_code == 200
    assert upstream.hits == 2
    assert len(seen) == 2


def test_unknown_mode_is_rejected(proxy: FaultProxy) -> None:
    with pytest.raises(ValueError, match="unknown fault mode"):
        proxy.set_mode("explode")
    with pytest.raises(ValueError, match="unknown fault mode"):
        proxy.schedule([PASS, "explode"])


def test_502_when_upstream_is_down(session: requests.Session) -> None:
    with FaultProxy("127.0.0.1", _free_port()) as fault_proxy:
        response = session.get(f"{fault_proxy.url}/x", timeout=TIMEOUT)
        assert response.status_code == 502
        assert response.json()["error"] == "upstream_unreachable"
        assert fault_proxy.log == [LogEntry("GET", "/x", PASS, None)]
