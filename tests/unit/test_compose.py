"""compose/: what can be checked without a Docker daemon. The compose file
with docker-compose's own validation, Prometheus's config with promtool, and
the Grafana dashboard against the metrics the gateway really exports."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gateway.observe.metrics import GatewayMetrics

pytestmark = pytest.mark.timeout(60)

COMPOSE = Path(__file__).resolve().parents[2] / "compose"
REQUIRED = {
    "SLUICE_PUBLIC_URL": "https://voice.example.com",
    "SLUICE_TWILIO_AUTH_TOKEN": "t",
    "SLUICE_BROWSER_TOKEN": "b",
    "SLUICE_CALL_RECORDS_TOKEN": "r",
    "TURN_SECRET": "s",
    "TURN_PUBLIC_IP": "192.0.2.10",
    "GRAFANA_ADMIN_PASSWORD": "g",
}


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="apt-get install docker-compose")
def test_the_compose_file_is_valid_and_refuses_to_start_without_its_secrets():
    def config(env: dict[str, str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["docker-compose", "-f", str(COMPOSE / "compose.yaml"), "config"],
            capture_output=True, text=True, env={**os.environ, **env},
        )  # fmt: skip

    full = config(REQUIRED)
    assert full.returncode == 0, full.stderr
    services = yaml.safe_load(full.stdout)["services"]
    assert {"redis", "node1", "node2", "coturn", "prometheus", "grafana"} <= set(services)
    for node in ("node1", "node2"):
        env = services[node]["environment"]
        assert env["SLUICE_REDIS_URL"] == "redis://redis:6379/0"
        assert env["SLUICE_NODE_URL"] == f"http://{node}:8080"
        assert env["SLUICE_WEBRTC_TURN_SECRET"] == REQUIRED["TURN_SECRET"]
    missing = config({k: v for k, v in REQUIRED.items() if k != "TURN_SECRET"})
    assert missing.returncode != 0 and "TURN shared secret" in missing.stderr


@pytest.mark.skipif(not shutil.which("promtool"), reason="apt-get install prometheus")
def test_prometheus_config_passes_promtool_and_scrapes_every_node():
    path = COMPOSE / "prometheus" / "prometheus.yml"
    checked = subprocess.run(["promtool", "check", "config", str(path)],
                             capture_output=True, text=True)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    targets = yaml.safe_load(path.read_text())["scrape_configs"][0]["static_configs"][0]
    assert targets["targets"] == ["node1:8080", "node2:8080"]


def test_the_dashboard_asks_only_for_metrics_the_gateway_exports():
    dashboard = json.loads((COMPOSE / "grafana" / "dashboards" / "sluice.json").read_text())
    exported = set()
    for family in GatewayMetrics().registry.collect():
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
        exported |= {family.name + s for s in suffixes.get(family.type, [""])}
    asked: set[str] = set()
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "prometheus"
        for target in panel["targets"]:
            asked |= set(re.findall(r"sluice_[a-z_]+", target["expr"]))
    assert asked and asked <= exported, asked - exported
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    for wanted in ("calls", "in flight", "underruns", "barge-ins", "latency", "cpu", "memory"):
        assert wanted in titles
    provisioned = yaml.safe_load(
        (COMPOSE / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    assert provisioned["datasources"][0]["uid"] == "prometheus"
