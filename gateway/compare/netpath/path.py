"""One impaired path for one run: a caller namespace, a gateway namespace and
the forwarder between them, torn down afterwards whatever happened.

    with NetworkPath(profile) as path:
        # sockets made inside namespaces.entered(path.gateway_ns) listen on
        # path.gateway_address; the callers' run inside path.caller_ns
        ...
    path.calibration  # what the forwarder did, beside the profile's targets
"""

from __future__ import annotations

import itertools
import json
import os
import selectors
import signal
import subprocess
import sys
from dataclasses import asdict

from gateway.compare.netpath import forwarder, namespaces
from gateway.compare.netpath.calibration import judge
from gateway.compare.profiles import Profile

READY_TIMEOUT_S = 15
_runs = itertools.count()


class PathError(RuntimeError):
    """The path could not be built, or its forwarder failed."""


class NetworkPath:
    caller_address = forwarder.CALLER_ADDRESS
    gateway_address = forwarder.GATEWAY_ADDRESS

    def __init__(self, profile: Profile, seed: int = 0) -> None:
        self.profile = profile
        self.seed = seed
        run = next(_runs)
        self.name = f"{namespaces.PREFIX}{os.getpid()}-{run}"
        self.caller_ns = self.name + "-c"
        self.gateway_ns = self.name + "-g"
        self._tag = f"{os.getpid() % 100_000}x{run}"
        self._process: subprocess.Popen | None = None
        self.calibration: dict | None = None

    def __enter__(self) -> NetworkPath:
        reason = namespaces.unavailable()
        if reason:
            raise PathError(reason)
        namespaces.sweep_stale()
        try:
            namespaces.create(self.caller_ns)
            namespaces.create(self.gateway_ns)
            self._process = subprocess.Popen(
                [sys.executable, "-m", "gateway.compare.netpath.forwarder",
                 "--profile", json.dumps(asdict(self.profile)), "--caller-ns", self.caller_ns,
                 "--gateway-ns", self.gateway_ns, "--tag", self._tag, "--seed", str(self.seed)],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            self._await_ready()
        except BaseException:
            self._tear_down()
            raise
        return self

    def _await_ready(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            if not selector.select(READY_TIMEOUT_S):
                raise PathError("the forwarder did not get ready")
        line = self._process.stdout.readline()
        if line.strip() != "READY":
            raise PathError(f"the forwarder failed to start (said {line.strip()!r})")

    def __exit__(self, *exc: object) -> None:
        self._tear_down()

    def _tear_down(self) -> None:
        process, self._process = self._process, None
        try:
            if process is not None:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                try:
                    out, _ = process.communicate(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    out, _ = process.communicate()
                for line in out.splitlines():
                    if line.startswith("CALIBRATION "):
                        self.calibration = self._judged(json.loads(line[len("CALIBRATION ") :]))
        finally:
            namespaces.delete(self.caller_ns)
            namespaces.delete(self.gateway_ns)

    def _judged(self, directions: dict) -> dict:
        verdicts = {way: judge(self.profile, achieved) for way, achieved in directions.items()}
        return {
            "profile": asdict(self.profile),
            "directions": directions,
            "verdicts": {way: v.to_dict() for way, v in verdicts.items()},
            "valid": all(v.valid for v in verdicts.values()),
        }
