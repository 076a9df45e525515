"""Several worker processes behind one port.

One Python process saturates near 20 WebRTC calls (aiortc spends most of a
call's CPU in Python), so `sluice serve --workers N` starts N workers. The
parent binds the public socket and one private loopback socket per worker and
hands them down; the kernel spreads new connections across the workers, and
each call's signalling and media stay in the worker that accepted its offer.
A WebRTC session id names its worker, so a hang-up (DELETE) that lands on
another worker is forwarded to the right one over loopback.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time

from gateway.runtime.config import Settings

log = logging.getLogger(__name__)

ENV_WORKER = "SLUICE_WORKER_SPEC"
"""JSON handed to each worker: its index, its sockets' fds and every private port."""


def _listen(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        # One socket per worker on the same port: the kernel spreads connections
        # evenly by their addresses, where one shared socket lets a busy worker win.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def supervise(settings: Settings, argv: list[str]) -> int:
    """Run `settings.workers` workers until interrupted; returns an exit code."""
    first = _listen(settings.host, settings.port, reuse_port=True)
    port = first.getsockname()[1]
    public = [first] + [
        _listen(settings.host, port, reuse_port=True) for _ in range(settings.workers - 1)
    ]
    private = [_listen("127.0.0.1", 0) for _ in range(settings.workers)]
    ports = [s.getsockname()[1] for s in private]
    children: list[subprocess.Popen] = []
    secret = secrets.token_urlsafe(24)
    for index, (shared, own) in enumerate(zip(public, private, strict=True)):
        spec = {"index": index, "public_fd": shared.fileno(), "private_fd": own.fileno(),
                "private_ports": ports, "secret": secret}  # fmt: skip
        env = {**os.environ, ENV_WORKER: json.dumps(spec)}
        children.append(
            subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", *argv],
                env=env,
                pass_fds=(shared.fileno(), own.fileno()),
            )
        )
    log.info("%d workers on %s:%d (private ports %s)", len(children), settings.host,
             port, ports)  # fmt: skip

    stopping = False

    def stop(signum: int, _frame: object) -> None:
        # Each signal is passed on once: the first makes every worker drain, a
        # second (an operator who will not wait) makes them exit at once.
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping and all(child.poll() is None for child in children):
        time.sleep(0.2)
    if not stopping:  # a worker died: stop the others
        stop(signal.SIGTERM, None)
    # Each worker drains its live calls first (see gateway/server/drain.py).
    deadline = time.monotonic() + settings.drain_timeout_s + 15
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    return 0 if stopping else 1


def worker_spec() -> dict | None:
    raw = os.environ.get(ENV_WORKER)
    if not raw:
        return None
    _die_with_parent()
    return json.loads(raw)


def _die_with_parent() -> None:
    """A worker whose supervisor is killed must not live on holding the port."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the supervisor's own shutdown still stops its workers
