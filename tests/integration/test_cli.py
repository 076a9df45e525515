"""`sluice serve` as a user runs it: a process that answers on loopback."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest

pytestmark = pytest.mark.timeout(60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sluice_serve_starts_and_answers_health_and_twiml(tmp_path):
    port = free_port()
    config = tmp_path / "sluice.toml"
    config.write_text('greeting = "Hi."\n')
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "serve",
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 40
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json()
                break
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "gateway did not come up"
                time.sleep(0.2)
        assert health == {"status": "ok", "calls": 0, "max_calls": 200}
        twiml = httpx.post(f"http://127.0.0.1:{port}/twilio/voice", data={"CallSid": "CA1"}).text
        assert f"ws://127.0.0.1:{port}/twilio/media" in twiml
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0]
    assert "gateway ready" in output
    assert "call=-" in output  # log lines carry the call id field


def test_sluice_serve_refuses_a_public_address_with_empty_tokens():
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "twilio_auth_token is empty" in result.stderr
    assert "browser_token is empty" in result.stderr and "--insecure" in result.stderr


def test_sluice_serve_refuses_a_tools_spec_it_cannot_load():
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--tools", "no_such_module:TOOLS"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "cannot load tools 'no_such_module:TOOLS'" in proc.stderr


def test_sluice_serve_refuses_a_cluster_node_without_its_own_url():
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--redis-url", "redis://127.0.0.1:1/0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "redis_url needs node_url" in proc.stderr and "Traceback" not in proc.stderr
