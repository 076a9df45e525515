"""The gateway a comparison measures: one given by URL, or `sluice serve`
processes started here (one per flow mode), read only through HTTP (call
records, /metrics) so that both are measured the same way."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

STARTUP_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Target:
    base_url: str
    """http(s)://host:port of the gateway."""
    token: str = ""
    """The gateway's call_records_token, if it has one."""

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        parts = urlsplit(self.base_url)
        return parts.port or (443 if parts.scheme == "https" else 80)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def record(self, http: httpx.AsyncClient, call_id: str) -> dict | None:
        response = await http.get(f"{self.base_url}/calls/{call_id}", headers=self._headers())
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    async def cpu_seconds(self, http: httpx.AsyncClient) -> float | None:
        """The gateway's process-tree CPU from /metrics: every worker's, summed
        (a node with several workers labels each worker's samples)."""
        text = (await http.get(f"{self.base_url}/metrics")).text
        samples = [
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "sluice_process_tree_cpu_seconds_total"
        ]
        return sum(samples) if samples else None


def wall_to_monotonic(instant: float) -> float:
    """A gateway record's wall-clock instant on this process's monotonic clock."""
    return instant - (time.time() - time.monotonic())


class LocalGateways:
    """`sluice serve` in its own process per flow mode, so that the callers here
    neither share its event loop nor count in its CPU."""

    SETTINGS = {
        # Long enough for the backchannel scenario to speak over it.
        "SLUICE_GREETING": "Hello. This is Sluice, a gateway for voice agents.",
        "SLUICE_VAD_MIN_SILENCE_MS": "500",
        "SLUICE_WEBRTC_HOST_ADDRESSES": "127.0.0.1",
        "SLUICE_STALL_TIMEOUT_S": "30",
        "SLUICE_MAX_CALLS": "200",
        "SLUICE_DRAIN_TIMEOUT_S": "2",  # a stop ends what a run left behind, soon
    }

    def __init__(self) -> None:
        self._running: dict[str, tuple[asyncio.subprocess.Process, Target]] = {}

    async def get(self, mode: str) -> Target:
        if mode not in self._running:
            self._running[mode] = await self._start(mode)
        return self._running[mode][1]

    def _command(self, port: int) -> list[str]:
        return [sys.executable, "-m", "gateway.cli", "serve", "--host", "127.0.0.1",
                "--port", str(port), "--log-level", "WARNING"]  # fmt: skip

    def _target(self, port: int) -> Target:
        return Target(f"http://127.0.0.1:{port}")

    async def _start(self, mode: str) -> tuple[asyncio.subprocess.Process, Target]:
        port = free_port()
        env = {**os.environ, **self.SETTINGS, "SLUICE_FLOW_MODE": "naive" if mode == "naive"
               else "controlled"}  # fmt: skip
        if mode == "no-pause":
            env["SLUICE_INTERRUPT_PROVISIONAL"] = "false"
        process = await asyncio.create_subprocess_exec(*self._command(port), env=env)
        target = self._target(port)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        async with httpx.AsyncClient(timeout=1) as http:
            while True:
                try:
                    await http.get(target.base_url + "/healthz")
                    return process, target
                except httpx.HTTPError:
                    if process.returncode is not None or time.monotonic() > deadline:
                        await _end(process)
                        raise RuntimeError(f"the {mode} gateway did not start") from None
                    await asyncio.sleep(0.2)

    async def stop(self) -> None:
        await asyncio.gather(*(_end(process) for process, _ in self._running.values()))
        self._running.clear()


async def _end(process: asyncio.subprocess.Process) -> None:
    """SIGTERM first: the gateway then stops its STT workers itself."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
    try:
        async with asyncio.timeout(20):
            await process.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


class GivenGateways:
    """Gateways the user runs: one URL for the flow-controlled mode and,
    optionally, one started with `flow_mode = naive` for the baseline."""

    def __init__(self, controlled: Target, naive: Target | None = None) -> None:
        self._targets = {"controlled": controlled}
        if naive is not None:
            self._targets["naive"] = naive

    async def get(self, mode: str) -> Target:
        return self._targets[mode]

    async def stop(self) -> None:
        """Not ours to stop."""
