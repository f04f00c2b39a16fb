"""A fault-injecting HTTP/1.1 proxy for integration tests.

The proxy sits between an HTTP client (the kiosk, using python-requests with
keep-alive) and an HTTP server (Flask/werkzeug or gunicorn), all on 127.0.0.1.
It reads one request at a time from each client connection, forwards it to the
upstream server over a fresh connection (sending ``Connection: close``
upstream), reads the whole upstream response and then delivers it to the client
according to the fault mode chosen for that request.

Mode selection, per request, in order of precedence:

1. modes queued with :meth:`FaultProxy.schedule` (one-shot, consumed in order);
2. the policy function installed with :meth:`FaultProxy.set_policy`;
3. the mode set with :meth:`FaultProxy.set_mode` (``pass`` initially).

Example::

    with FaultProxy("127.0.0.1", server_port) as proxy:
        proxy.schedule([DROP_RESPONSE])
        ...  # point the kiosk at proxy.url
        assert proxy.stats.by_mode[DROP_RESPONSE] == 1
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import NamedTuple, Self

PASS = "pass"
"""Forward the request and deliver the response unchanged."""
DROP_REQUEST = "drop_request"
"""Close the client connection without forwarding anything upstream."""
DROP_RESPONSE = "drop_response"
"""Forward, read the full response, then close the client connection silently."""
DELAY = "delay"
"""Wait ``delay`` seconds (mode parameter, default 1.0), then behave like ``pass``."""
TRUNCATE = "truncate"
"""Forward, send the client only the first half of the response bytes, then close.

The cut never falls before the end of the head when the response has a body, so
the client always gets a Content-Length it cannot satisfy (a client cannot detect
a cut in the head: to it, end of input ends the head). Responses without a body
are cut after half their bytes but at least after the status line.
"""
RESET = "reset"
"""Forward, then close the client connection with a TCP RST."""
ERROR_500 = "error_500"
"""Do not forward; answer ``500 Internal Server Error`` with a JSON body."""
DUPLICATE = "duplicate"
"""Forward the request twice (sequentially); deliver the second response."""
BLACKHOLE = "blackhole"
"""Read the request and never answer, until the proxy stops or the client leaves."""

MODES = frozenset(
    {PASS, DROP_REQUEST, DROP_RESPONSE, DELAY, TRUNCATE, RESET, ERROR_500, DUPLICATE, BLACKHOLE}
)
"""Every mode name the proxy understands."""

IO_TIMEOUT = 30.0
"""Upper bound, in seconds, on any single socket wait and on a blackholed request."""

DEFAULT_DELAY = 1.0
"""Seconds slept by the ``delay`` mode when no ``delay`` parameter was given."""

_POLL_INTERVAL = 0.05
_RECV_SIZE = 65536
_MAX_HEAD = 65536
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Also rewritten on the way upstream: the body is always re-framed with Content-Length
# and already read in full, so a 100-continue handshake would be meaningless.
_NOT_FORWARDED = _HOP_BY_HOP | {"content-length", "expect"}
_LINGER_RESET = struct.pack("ii", 1, 0)

Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class ProxiedRequest:
    """A client request as seen by the proxy, handed to policy functions."""

    method: str
    path: str
    """The request target, including any query string."""
    headers: dict[str, str]
    """Header values by lower-case name; repeated headers are joined with ``", "``."""
    body: bytes
    """The request body, de-chunked if the client sent it chunked."""


class LogEntry(NamedTuple):
    """One handled request: what came in, which mode applied, what upstream said."""

    method: str
    path: str
    mode: str
    upstream_status: int | None
    """Status of the delivered upstream response; ``None`` if upstream never answered."""


@dataclass(frozen=True)
class ProxyStats:
    """A snapshot of the proxy's counters."""

    requests_seen: int
    """Complete requests read from clients."""
    connections_accepted: int
    """Client connections accepted (lower than ``requests_seen`` under keep-alive)."""
    by_mode: dict[str, int]
    """Requests per mode, with an entry (possibly 0) for every mode in :data:`MODES`."""


class _ProtocolError(Exception):
    """A peer sent something that is not acceptable HTTP/1.1, or stopped mid-message."""


@dataclass(frozen=True)
class _Request:
    method: str
    target: str
    headers: Headers
    body: bytes
    framed: bool  # the client sent Content-Length or Transfer-Encoding
    keep_alive: bool

    def proxied(self) -> ProxiedRequest:
        return ProxiedRequest(self.method, self.target, _header_dict(self.headers), self.body)

    def upstream_bytes(self) -> bytes:
        lines = [f"{self.method} {self.target} HTTP/1.1"]
        lines += [f"{n}: {v}" for n, v in self.headers if n.lower() not in _NOT_FORWARDED]
        if self.framed:
            lines.append(f"Content-Length: {len(self.body)}")
        lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


@dataclass(frozen=True)
class _Response:
    status: int
    reason: str
    headers: Headers
    body: bytes
    has_body: bool  # False for HEAD requests and 1xx/204/304 responses
    from_upstream: bool

    def render(self, *, keep_alive: bool) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {self.reason}"]
        for name, value in self.headers:
            lowered = name.lower()
            if lowered in _HOP_BY_HOP or (self.has_body and lowered == "content-length"):
                continue
            lines.append(f"{name}: {value}")
        if self.has_body:
            lines.append(f"Content-Length: {len(self.body)}")
        lines.append(f"Connection: {'keep-alive' if keep_alive else 'close'}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


def _json_response(status: int, reason: str, error: str, detail: str) -> _Response:
    body = json.dumps({"error": error, "detail": detail}, separators=(",", ":")).encode()
    headers = [("Content-Type", "application/json")]
    return _Response(status, reason, headers, body, has_body=True, from_upstream=False)


def _header(headers: Headers, name: str) -> str | None:
    values = [v for n, v in headers if n.lower() == name]
    return ", ".join(values) if values else None


def _header_dict(headers: Headers) -> dict[str, str]:
    result: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        result[key] = f"{result[key]}, {value}" if key in result else value
    return result


def _parse_head(head: bytes) -> tuple[str, Headers]:
    start, *lines = head.decode("latin-1").split("\r\n")
    headers: Headers = []
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _ProtocolError(f"malformed header line {line!r}")
        headers.append((name, value.strip()))
    return start, headers


class _Reader:
    """Buffered reads of HTTP framing from a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = bytearray()

    def _fill(self) -> bool:
        chunk = self._sock.recv(_RECV_SIZE)
        self._buf += chunk
        return bool(chunk)

    def read_head(self) -> bytes | None:
        """Read through the blank line ending a head; ``None`` on EOF before any byte."""
        while (end := self._buf.find(b"\r\n\r\n")) < 0:
            if len(self._buf) > _MAX_HEAD:
                raise _ProtocolError("message head too large")
            if not self._fill():
                if self._buf:
                    raise _ProtocolError("connection closed inside a message head")
                return None
        head = bytes(self._buf[:end])
        del self._buf[: end + 4]
        return head

    def read_line(self) -> bytes:
        while (end := self._buf.find(b"\r\n")) < 0:
            if len(self._buf) > _MAX_HEAD:
                raise _ProtocolError("line too long")
            if not self._fill():
                raise _ProtocolError("connection closed inside a line")
        line = bytes(self._buf[:end])
        del self._buf[: end + 2]
        return line

    def read_exact(self, size: int) -> bytes:
        while len(self._buf) < size:
            if not self._fill():
                raise _ProtocolError("connection closed inside a body")
        data = bytes(self._buf[:size])
        del self._buf[:size]
        return data

    def read_to_eof(self) -> bytes:
        while self._fill():
            pass
        data = bytes(self._buf)
        self._buf.clear()
        return data

    def read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_text = self.read_line().split(b";", 1)[0].strip()
            if not size_text or not _HEX_DIGITS.issuperset(size_text):
                raise _ProtocolError(f"bad chunk size {size_text!r}")
            size = int(size_text, 16)
            if size == 0:
                break
            body += self.read_exact(size)
            if self.read_line():
                raise _ProtocolError("chunk not followed by CRLF")
        while self.read_line():  # trailer fields, discarded
            pass
        return bytes(body)

    def read_body(self, headers: Headers, *, is_response: bool) -> bytes:
        """Read a body framed by Transfer-Encoding, Content-Length or (responses) EOF."""
        encoding = _header(headers, "transfer-encoding")
        if encoding is not None:
            if encoding.rsplit(",", 1)[-1].strip().lower() == "chunked":
                return self.read_chunked()
            if is_response:
                return self.read_to_eof()
            raise _ProtocolError(f"unsupported request transfer-encoding {encoding!r}")
        length = _header(headers, "content-length")
        if length is not None:
            if not (length.isascii() and length.isdigit()):
                raise _ProtocolError(f"bad content-length {length!r}")
            return self.read_exact(int(length))
        return self.read_to_eof() if is_response else b""


def _read_request(reader: _Reader) -> _Request | None:
    """Read the next request, or return ``None`` if the client closed cleanly."""
    head = reader.read_head()
    if head is None:
        return None
    start, headers = _parse_head(head)
    parts = start.split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.0", "HTTP/1.1") or not parts[0].isalpha():
        raise _ProtocolError(f"bad request line {start!r}")
    method, target, version = parts
    body = reader.read_body(headers, is_response=False)
    framed = any(n.lower() in ("content-length", "transfer-encoding") for n, _ in headers)
    tokens = {t.strip().lower() for t in (_header(headers, "connection") or "").split(",")}
    keep_alive = "close" not in tokens if version == "HTTP/1.1" else "keep-alive" in tokens
    return _Request(method, target, headers, body, framed, keep_alive)


def _read_response(reader: _Reader, method: str) -> _Response:
    """Read a final response, skipping interim 1xx responses."""
    while True:
        head = reader.read_head()
        if head is None:
            raise _ProtocolError("upstream closed the connection without a response")
        start, headers = _parse_head(head)
        version, _, rest = start.partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/") or not (len(code) == 3 and code.isdecimal()):
            raise _ProtocolError(f"bad status line {start!r}")
        status = int(code)
        if status >= 200 or status == 101:
            break
    has_body = method != "HEAD" and status >= 200 and status not in (204, 304)
    body = reader.read_body(headers, is_response=True) if has_body else b""
    return _Response(status, reason, headers, body, has_body, from_upstream=True)


class FaultProxy:
    """An HTTP/1.1 proxy on 127.0.0.1 that injects faults chosen per request.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. All methods
    are thread-safe. A policy function that raises, or returns an unknown mode,
    lets the exception escape its worker thread so that the test notices.
    """

    def __init__(self, upstream_host: str, upstream_port: int, listen_port: int = 0) -> None:
        """Prepare a proxy for ``upstream_host:upstream_port``; nothing is bound yet."""
        self._upstream = (upstream_host, upstream_port)
        self._listen_port = listen_port
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._port: int | None = None
        self._accept_thread: threading.Thread | None = None
        self._workers: list[threading.Thread] = []
        self._open: set[socket.socket] = set()
        self._mode = PASS
        self._delay = DEFAULT_DELAY
        self._scheduled: deque[str] = deque()
        self._policy: Callable[[ProxiedRequest], str] | None = None
        self._requests_seen = 0
        self._connections_accepted = 0
        self._by_mode = dict.fromkeys(MODES, 0)
        self._log: list[LogEntry] = []

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        """Bind 127.0.0.1 and serve in daemon threads; a proxy starts only once."""
        if self._listener is not None:
            raise RuntimeError("FaultProxy.start() called twice")
        listener = socket.create_server(("127.0.0.1", self._listen_port))
        listener.settimeout(_POLL_INTERVAL)
        self._listener = listener
        self._port = listener.getsockname()[1]
        self._accept_thread = threading.Thread(
            target=self._accept_loop,
            args=(listener,),
            name=f"faultproxy-accept-{self.port}",
            daemon=True,
        )
        self._accept_thread.start()

    def stop(self) -> None:
        """Close the listener and every open connection, and join all threads.

        Idempotent; a no-op if the proxy was never started.
        """
        if self._listener is None or self._accept_thread is None or self._stopping.is_set():
            return
        self._stopping.set()
        self._accept_thread.join()
        self._listener.close()
        with self._lock:
            for sock in self._open:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            workers = list(self._workers)
        for worker in workers:
            worker.join(IO_TIMEOUT)
        with self._lock:
            for sock in self._open:
                sock.close()
            self._open.clear()

    def __enter__(self) -> Self:
        """Start the proxy and return it."""
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop the proxy."""
        self.stop()

    @property
    def port(self) -> int:
        """The TCP port the proxy listens on (only known once started)."""
        if self._port is None:
            raise RuntimeError("FaultProxy is not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL of the proxy, ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    # -- fault selection -------------------------------------------------------

    def set_mode(self, mode: str, **params: float) -> None:
        """Use ``mode`` for all following requests.

        The only parameter is ``delay`` (seconds, for the ``delay`` mode, default
        1.0); it also applies to ``delay`` chosen by :meth:`schedule` or a policy.
        """
        _check_mode(mode)
        unknown = set(params) - {"delay"}
        if unknown:
            raise TypeError(f"unknown fault parameters: {sorted(unknown)}")
        delay = params.get("delay", DEFAULT_DELAY)
        if delay < 0:
            raise ValueError("delay must not be negative")
        with self._lock:
            self._mode = mode
            self._delay = delay

    def schedule(self, modes: list[str]) -> None:
        """Queue one-shot modes, consumed one per request ahead of policy and mode."""
        for mode in modes:
            _check_mode(mode)
        with self._lock:
            self._scheduled.extend(modes)

    def set_policy(self, fn: Callable[[ProxiedRequest], str] | None) -> None:
        """Let ``fn`` choose the mode of each request not covered by :meth:`schedule`.

        ``None`` removes the policy, falling back to the mode set by :meth:`set_mode`.
        """
        with self._lock:
            self._policy = fn

    # -- observation -----------------------------------------------------------

    @property
    def stats(self) -> ProxyStats:
        """A snapshot of the request, connection and per-mode counters."""
        with self._lock:
            return ProxyStats(self._requests_seen, self._connections_accepted, dict(self._by_mode))

    @property
    def log(self) -> list[LogEntry]:
        """A snapshot of the handled requests, oldest first."""
        with self._lock:
            return list(self._log)

    # -- internals -------------------------------------------------------------

    def _track(self, sock: socket.socket) -> bool:
        """Register an open socket so stop() can interrupt it; False if stopping."""
        with self._lock:
            if self._stopping.is_set():
                return False
            self._open.add(sock)
            return True

    def _release(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
            sock.close()

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(IO_TIMEOUT)
            if not self._track(conn):
                conn.close()
                return
            worker = threading.Thread(
                target=self._serve_client,
                args=(conn,),
                name=f"faultproxy-conn-{self.port}",
                daemon=True,
            )
            with self._lock:
                self._connections_accepted += 1
                self._workers = [w for w in self._workers if w.is_alive()]
                self._workers.append(worker)
            worker.start()

    def _serve_client(self, client: socket.socket) -> None:
        try:
            reader = _Reader(client)
            while (request := _read_request(reader)) is not None:
                if not self._handle(client, request):
                    return
        except (OSError, _ProtocolError):
            return  # the client left, timed out, spoke garbage, or stop() interrupted it
        finally:
            self._release(client)

    def _choose_mode(self, request: ProxiedRequest) -> tuple[str, float]:
        with self._lock:
            scheduled = self._scheduled.popleft() if self._scheduled else None
            policy, mode, delay = self._policy, self._mode, self._delay
        if scheduled is not None:
            mode = scheduled
        elif policy is not None:
            mode = policy(request)
            _check_mode(mode)
        with self._lock:
            self._requests_seen += 1
            self._by_mode[mode] += 1
        return mode, delay

    def _record(self, request: ProxiedRequest, mode: str, response: _Response | None) -> None:
        status = response.status if response is not None and response.from_upstream else None
        with self._lock:
            self._log.append(LogEntry(request.method, request.path, mode, status))

    def _handle(self, client: socket.socket, request: _Request) -> bool:
        """Apply the chosen fault to one request; return whether to keep the connection."""
        proxied = request.proxied()
        mode, delay = self._choose_mode(proxied)
        if mode in (DROP_REQUEST, BLACKHOLE):
            self._record(proxied, mode, None)
            if mode == BLACKHOLE:
                _swallow(client)
            return False
        if mode == ERROR_500:
            response = _json_response(
                500, "Internal Server Error", "proxy_fault", "injected by the fault proxy"
            )
        else:
            if mode == DELAY and self._stopping.wait(delay):
                return False
            response = self._forward(request)
            if mode == DUPLICATE:
                response = self._forward(request)
        self._record(proxied, mode, response)
        if mode == DROP_RESPONSE:
            return False
        if mode == RESET:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            return False
        keep_alive = request.keep_alive and mode != TRUNCATE
        data = response.render(keep_alive=keep_alive)
        if mode == TRUNCATE:
            separator = b"\r\n\r\n" if response.body else b"\r\n"
            data = data[: max(len(data) // 2, data.index(separator) + len(separator))]
        client.sendall(data)
        return keep_alive

    def _forward(self, request: _Request) -> _Response:
        """Send the request over a new upstream connection; synthesise a 502 on failure."""
        host, port = self._upstream
        try:
            upstream = socket.create_connection(self._upstream, timeout=IO_TIMEOUT)
        except OSError as exc:
            detail = f"cannot connect to {host}:{port}: {exc.strerror or exc}"
            return _json_response(502, "Bad Gateway", "upstream_unreachable", detail)
        if not self._track(upstream):
            upstream.close()
            return _json_response(502, "Bad Gateway", "upstream_unreachable", "proxy stopping")
        try:
            upstream.sendall(request.upstream_bytes())
            return _read_response(_Reader(upstream), request.method)
        except (OSError, _ProtocolError) as exc:
            detail = f"exchange with {host}:{port} failed: {exc}"
            return _json_response(502, "Bad Gateway", "upstream_error", detail)
        finally:
            self._release(upstream)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown fault mode {mode!r}; expected one of {sorted(MODES)}")


def _swallow(client: socket.socket) -> None:
    """Discard client input until it closes, stop() shuts it down, or IO_TIMEOUT passes."""
    deadline = time.monotonic() + IO_TIMEOUT
    while (remaining := deadline - time.monotonic()) > 0:
        client.settimeout(remaining)
        if not client.recv(_RECV_SIZE):
            return
