"""Prometheus metrics for the gateway, on a registry of its own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import psutil
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.flow.credit import CreditWindow


class _WindowedCall(Protocol):
    kind: str

    @property
    def window(self) -> CreditWindow: ...


class _WindowCollector(Collector):
    """Sums in-flight audio and credit over live calls when scraped, so the
    per-frame send path pays nothing for these gauges."""

    def __init__(self, calls: set[_WindowedCall]) -> None:
        self._calls = calls

    def collect(self) -> Iterator[GaugeMetricFamily]:
        in_flight = GaugeMetricFamily(
            "sluice_in_flight_ms",
            "Audio sent and not yet confirmed played, summed over live calls",
            labels=["transport"],
        )
        credit = GaugeMetricFamily(
            "sluice_credit_ms",
            "Credit available to send, summed over live calls",
            labels=["transport"],
        )
        sums: dict[str, list[int]] = {}
        for call in list(self._calls):
            entry = sums.setdefault(call.kind, [0, 0])
            entry[0] += call.window.in_flight_ms
            entry[1] += call.window.available_ms
        for kind, (flying, available) in sums.items():
            in_flight.add_metric([kind], flying)
            credit.add_metric([kind], available)
        yield in_flight
        yield credit


class _ProcessTreeCollector(Collector):
    """CPU and memory of this process and the ones it started (the STT workers),
    which a per-process collector would miss: cost per call needs all of it."""

    def __init__(self) -> None:
        self._process = psutil.Process()

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        # Workers that exited and were reaped count in the root's children times,
        # so the counter never goes backwards when one is replaced.
        own = self._process.cpu_times()
        cpu = own.children_user + own.children_system
        rss = 0.0
        for process in [self._process, *self._process.children(recursive=True)]:
            try:
                times = process.cpu_times()
                cpu += times.user + times.system
                rss += process.memory_info().rss
            except psutil.Error:
                continue  # a worker that exited between listing and reading
        yield CounterMetricFamily(
            "sluice_process_tree_cpu_seconds",
            "CPU seconds of the gateway process and its worker processes",
            value=cpu,
        )
        yield GaugeMetricFamily(
            "sluice_process_tree_resident_bytes",
            "Resident memory of the gateway process and its worker processes",
            value=rss,
        )


_LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
_MS_BUCKETS = (20, 60, 100, 200, 400, 600, 800, 1000, 1500, 2000, 5000)


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.calls_active = Gauge(
            "sluice_calls_active", "Calls in progress", ["transport"], registry=r
        )
        self.calls = Counter("sluice_calls", "Calls started", ["transport"], registry=r)
        self.calls_ended = Counter(
            "sluice_calls_ended", "Calls ended, by reason", ["transport", "reason"], registry=r
        )
        self._calls: set[_WindowedCall] = set()
        r.register(_WindowCollector(self._calls))
        r.register(_ProcessTreeCollector())
        self.peak_in_flight_ms = Histogram(
            "sluice_call_peak_in_flight_ms",
            "Peak in-flight audio per call",
            ["transport"],
            buckets=_MS_BUCKETS,
            registry=r,
        )
        self.underruns = Counter(
            "sluice_underruns",
            "Times the far end ran dry while a turn still had audio to come",
            ["transport"],
            registry=r,
        )
        self.stalls = Counter(
            "sluice_playout_stalls",
            "Calls ended because playout stopped being confirmed",
            ["transport"],
            registry=r,
        )
        self.interrupts = Counter(
            "sluice_interrupts", "Barge-ins that interrupted a turn", ["transport"], registry=r
        )
        self.stale_dropped_ms = Counter(
            "sluice_stale_dropped_ms",
            "Audio of interrupted turns dropped before the wire",
            ["transport"],
            registry=r,
        )
        self.turn_latency = Histogram(
            "sluice_turn_latency_seconds",
            "From the end of the caller's speech to each stage of the reply",
            ["transport", "stage"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.protocol_errors = Counter(
            "sluice_protocol_errors", "Bad input from a peer", ["transport", "kind"], registry=r
        )
        self.send_buffer_warnings = Counter(
            "sluice_send_buffer_warnings",
            "Connections whose queued, unwritten bytes passed the warning level",
            ["transport"],
            registry=r,
        )
        self.agent_errors = Counter(
            "sluice_agent_errors",
            "Replies that failed in the agent, STT or TTS",
            ["transport"],
            registry=r,
        )

    def track(self, call: _WindowedCall) -> None:
        self._calls.add(call)

    def untrack(self, call: _WindowedCall) -> None:
        self._calls.discard(call)
