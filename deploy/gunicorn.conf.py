"""gunicorn settings for the Linli server behind nginx (deploy/nginx/linli.conf).

Used by deploy/systemd/linli-server.service:

    gunicorn --config /opt/linli/src/deploy/gunicorn.conf.py 'server:create_app()'

Command-line options override these values (the tests pass `--bind` with a free port).
Tuning through the environment (set in /etc/linli/server.env):

- WEB_CONCURRENCY: worker processes (default 2 x CPU cores + 1, at most MAX_DEFAULT_WORKERS).
- GUNICORN_THREADS: threads per worker (default 16).
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

from sync import scrub

MAX_DEFAULT_WORKERS = 8
"""Past this many workers a district server gains nothing but database connections (each worker
keeps its own pool): add hosts instead, or set WEB_CONCURRENCY explicitly."""


def _positive_int(name: str, default: int) -> int:
    """The positive whole number in environment variable `name`, or `default` when unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be at least 1, not {value}")
    return value


# Only nginx on the same host talks to gunicorn.
bind = ["127.0.0.1:8000"]

workers = _positive_int(
    "WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, MAX_DEFAULT_WORKERS)
)
# Threaded workers: a console's server-sent-events stream holds one thread for as long as the page
# is open, so a worker must keep answering other requests meanwhile. The app opens at most
# LINLI_LIVE_MAX_STREAMS_PER_PROCESS (8) streams per worker: keep that below `threads`.
worker_class = "gthread"
threads = _positive_int("GUNICORN_THREADS", 16)

# Each worker builds its own app and database engine after the fork: database connections and
# SQLite handles must never be shared across processes.
preload_app = False

# With gthread workers this bounds a stuck worker's heartbeat, not a request's duration, so
# long-lived event streams are unaffected.
timeout = 30
graceful_timeout = 30
# nginx keeps upstream connections open (its `keepalive`); hold them a little longer than it
# does between requests.
keepalive = 75

# nginx terminates TLS on this host and sets X-Forwarded-Proto; trust it from loopback only.
forwarded_allow_ips = "127.0.0.1,::1"

# Logs go to stdout/stderr and so to the journal. The client address is nginx's X-Real-IP (the
# socket peer is always nginx), X-Request-ID matches nginx's log line, and the request time
# is in milliseconds. The line has the path without its query string (%(U)s, not the request
# line %(r)s) and no referer, whose query strings carry API keys and search words; every line
# (this one, the error log, the app's) is also scrubbed of keys, tokens and phone numbers by
# sync/scrub.py, installed here in the master and by create_app in each worker.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LINLI_LOG_LEVEL", "info").lower()
access_log_format = (
    '%({x-real-ip}i)s - %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s" '
    "%(M)sms rid=%({x-request-id}i)s"
)

scrub.install()

# The heartbeat file in memory: fchmod on a disk-backed /tmp can stall workers (gunicorn's
# documented remedy). Only gunicorn's own unlinked heartbeat files go there.
SHARED_MEMORY = "/dev/shm"  # noqa: S108 (a RAM-backed folder on purpose, not a guessable temp file)
if os.path.isdir(SHARED_MEMORY):
    worker_tmp_dir = SHARED_MEMORY

# gunicorn 25.1+ opens a control socket for `gunicornc`. Under systemd it goes in the service's
# RuntimeDirectory (/run/linli); elsewhere (tests, a shell) it is off, so that several servers on
# one machine do not fight over the default path in $HOME. Older gunicorn ignores both names.
if os.environ.get("RUNTIME_DIRECTORY"):
    control_socket = os.path.join(os.environ["RUNTIME_DIRECTORY"].split(":")[0], "gunicorn.ctl")
else:
    control_socket_disable = True

proc_name = "linli-server"


def post_worker_init(worker: Any) -> None:
    """Each worker, once its app is built and before its first request: compile the templates
    and freeze the app's heap (server/warm.py says why: ~100 ms of garbage collection off the
    slowest requests)."""
    from server.warm import warm_worker

    worker.log.info(warm_worker(worker.wsgi).line())
