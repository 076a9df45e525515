"""compose/: what can be checked without a container engine. The compose file
against the Compose specification's JSON schema (check-jsonschema) after the
specification's interpolation, Prometheus's config with promtool, and
the Grafana dashboard against the metrics the gateway really exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

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


_VARIABLE = re.compile(
    r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?(?P<op>[-?])(?P<arg>[^}]*))?\})"
)


class Unset(Exception):
    """A required variable (`${NAME:?message}`) is not set: compose refuses to start."""


def interpolate(node: Any, env: dict[str, str]) -> Any:
    """The Compose specification's interpolation, as `docker compose config`
    applies it to every string of the parsed file: `${NAME}`,
    `${NAME:-default}`, `${NAME:?message}`, `$$`."""
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(value, env) for value in node]
    if not isinstance(node, str):
        return node

    def value(match: re.Match[str]) -> str:
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        if name is None:
            return "$"
        if env.get(name):
            return env[name]
        if op == "?":
            raise Unset(f"{name}: {arg}")
        return arg if op == "-" else ""

    return _VARIABLE.sub(value, node)


def load_compose(env: dict[str, str]) -> dict:
    return interpolate(yaml.safe_load((COMPOSE / "compose.yaml").read_text()), env)


def check_against_schema(document: dict, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(document))
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
         str(path)],
        capture_output=True, text=True, timeout=50,
    )  # fmt: skip


def test_the_compose_file_is_valid_and_refuses_to_start_without_its_secrets(tmp_path):
    full = load_compose(REQUIRED)
    checked = check_against_schema(full, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    services = full["services"]
    assert {"redis", "node1", "node2", "coturn", "prometheus", "grafana"} <= set(services)
    for node in ("node1", "node2"):
        env = services[node]["environment"]
        assert env["SLUICE_REDIS_URL"] == "redis://redis:6379/0"
        assert env["SLUICE_NODE_URL"] == f"http://{node}:8080"
        assert env["SLUICE_WEBRTC_TURN_SECRET"] == REQUIRED["TURN_SECRET"]
    with pytest.raises(Unset, match="TURN shared secret"):
        load_compose({k: v for k, v in REQUIRED.items() if k != "TURN_SECRET"})


def test_the_schema_check_fails_on_a_service_key_compose_does_not_know(tmp_path):
    document = load_compose(REQUIRED)
    document["services"]["node1"]["restart_policy"] = "always"  # belongs under deploy:
    checked = check_against_schema(document, tmp_path)
    assert checked.returncode != 0
    assert "restart_policy" in checked.stdout + checked.stderr


PROMTOOL_MISSING = "make test unpacks promtool into .cache/debian"


@pytest.mark.skipif(not shutil.which("promtool"), reason=PROMTOOL_MISSING)
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
