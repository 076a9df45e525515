"""Real servers from Debian's packages, started on loopback for a test or a
benchmark and stopped after it: never a service left running by hand."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """`redis-server` on a free loopback port, persisting nothing."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not self.ping():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        return self

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *args: str) -> str:
        """One command over a raw socket (for counters the gateway does not keep)."""
        out = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True, check=True
        )
        return out.stdout

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


class Coturn:
    """coturn's `turnserver` on loopback with a shared secret (the TURN REST
    API's `use-auth-secret`), relaying on loopback only."""

    def __init__(self, secret: str, realm: str = "sluice.test") -> None:
        self.port = free_port()
        self.secret = secret
        self.realm = realm
        self.proc: subprocess.Popen | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="coturn-")
        self.log = Path(self._dir.name) / "turnserver.log"

    @staticmethod
    def available() -> bool:
        return shutil.which("turnserver") is not None

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    def start(self) -> Coturn:
        self.proc = subprocess.Popen(
            ["turnserver", "-n", "-v", "--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1",
             "--listening-port", str(self.port), "--use-auth-secret",
             "--static-auth-secret", self.secret, "--realm", self.realm,
             "--allow-loopback-peers", "--no-tls", "--no-dtls", "--no-cli",
             "--min-port", "49160", "--max-port", "49200",
             "--log-file", str(self.log), "--simple-log", "--no-stdout-log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while "listener opened on" not in self._log_text() and "Relay address" not in (
            self._log_text()
        ):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("turnserver did not start:\n" + self._log_text()[-2000:])
            time.sleep(0.1)
        return self

    def _log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def relayed_allocations(self) -> int:
        """Allocations coturn granted, as its log tells."""
        return self._log_text().count("ALLOCATE processed, success")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._dir.cleanup()
