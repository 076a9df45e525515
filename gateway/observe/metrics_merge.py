"""One scrape for a whole node: every worker's metrics, each sample labelled
with its node and worker, so Prometheus sums a node's workers (or a cluster's
nodes) with `sum by (...)` and never mistakes one worker for the node.

The worker answering the scrape asks the others on their private loopback
ports for their own metrics (`/metrics?own=1`) and merges the families. A
worker that does not answer in time is left out of that scrape, and counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import httpx
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

SCRAPE_TIMEOUT_S = 2.0


def relabelled(text: str, labels: dict[str, str]) -> list[Metric]:
    families: list[Metric] = []
    for family in text_string_to_metric_families(text):
        copy = Metric(family.name, family.documentation, family.type, family.unit)
        for s in family.samples:
            copy.add_sample(s.name, {**s.labels, **labels}, s.value, s.timestamp, s.exemplar)
        families.append(copy)
    return families


def merged(parts: Iterable[list[Metric]]) -> list[Metric]:
    by_name: dict[str, Metric] = {}
    for families in parts:
        for family in families:
            kept = by_name.setdefault(
                family.name, Metric(family.name, family.documentation, family.type, family.unit)
            )
            kept.samples.extend(family.samples)
    return list(by_name.values())


class _Families:
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families


def render(families: list[Metric]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)


async def node_metrics(
    own: bytes, node: str, index: int, other_ports: dict[int, int], http: httpx.AsyncClient
) -> tuple[bytes, int]:
    """This worker's metrics and its siblings', labelled; (text, workers missing)."""

    async def fetch(port: int) -> str:
        answer = await http.get(
            f"http://127.0.0.1:{port}/metrics", params={"own": "1"}, timeout=SCRAPE_TIMEOUT_S
        )
        answer.raise_for_status()
        return answer.text

    indices = list(other_ports)
    answers = await asyncio.gather(
        *(fetch(other_ports[i]) for i in indices), return_exceptions=True
    )
    texts = [(index, own.decode())]
    texts += [(i, a) for i, a in zip(indices, answers, strict=True) if isinstance(a, str)]

    def merge() -> bytes:
        return render(
            merged(relabelled(text, {"node": node, "worker": str(i)}) for i, text in texts)
        )

    # Parsing every worker's text is pure Python: off the loop that paces calls.
    return await asyncio.to_thread(merge), len(indices) + 1 - len(texts)
