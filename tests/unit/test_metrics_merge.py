"""Merging workers' metrics into one node scrape."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gateway.observe.metrics_merge import merged, relabelled, render

pytestmark = pytest.mark.timeout(10)


def worker_text(calls: int) -> str:
    registry = CollectorRegistry()
    counter = Counter("sluice_calls", "Calls.", ["transport"], registry=registry)
    counter.labels("twilio").inc(calls)
    return generate_latest(registry).decode()


def test_each_worker_keeps_its_samples_under_its_own_labels():
    text = render(
        merged(
            [
                relabelled(worker_text(3), {"node": "n1", "worker": "0"}),
                relabelled(worker_text(4), {"node": "n1", "worker": "1"}),
            ]
        )
    ).decode()
    assert text.count("# TYPE sluice_calls_total counter") == 1  # one family, not two
    (family,) = [f for f in text_string_to_metric_families(text) if f.name == "sluice_calls"]
    totals = {s.labels["worker"]: s.value for s in family.samples if s.name.endswith("_total")}
    assert totals == {"0": 3.0, "1": 4.0}
    assert {s.labels["node"] for s in family.samples} == {"n1"}
