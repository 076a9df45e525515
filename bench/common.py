"""Helpers shared by the benchmarks: a gateway in its own process, CPU accounting."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from gateway.compare.target import free_port

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class GatewayProcess:
    proc: subprocess.Popen
    port: int

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """User + system CPU of the gateway and its worker processes."""
        total = 0.0
        process = psutil.Process(self.proc.pid)
        for p in [process, *process.children(recursive=True)]:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def rss_mb(self) -> float:
        """RSS of the gateway and its worker processes."""
        process = psutil.Process(self.proc.pid)
        total = 0
        for p in [process, *process.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total / 2**20

    def stop(self) -> None:
        """Stop the gateway and every process it started (workers, STT pool)."""
        try:
            group = os.getpgid(self.proc.pid)
        except ProcessLookupError:
            return  # it exited on its own (a drain, a test's kill)
        os.killpg(group, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass


def pinned_to(cpus: set[int] | None):
    """A preexec_fn that keeps a process (and everything it forks) on `cpus`."""
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def start_gateway(
    *args: str,
    env: dict[str, str] | None = None,
    cpus: set[int] | None = None,
    port: int | None = None,
) -> GatewayProcess:
    port = port or free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "WARNING",
            *args,
        ],
        # A stop (SIGTERM) drains live calls for at most this long.
        env={**os.environ, "SLUICE_DRAIN_TIMEOUT_S": "2", **(env or {})},
        start_new_session=True,
        preexec_fn=pinned_to(cpus),
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return GatewayProcess(proc, port)
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gateway did not start") from None
            time.sleep(0.2)


async def until(predicate, timeout: float) -> None:
    """Wait for `predicate`, polling every 5 ms; TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.005)


async def new_call(calls: dict, earlier: set, timeout: float = 5.0):
    """The call that joined since `earlier` was taken: the last trial's call may
    still be leaving, and taking it for this one's reads the wrong call."""
    await until(lambda: bool(calls.keys() - earlier), timeout)
    (call_id,) = calls.keys() - earlier
    return calls[call_id]


def write_json(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(data, indent=2))
    return path
