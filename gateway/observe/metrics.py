"""Prometheus metrics for the gateway, on a registry of its own."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import psutil
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.flow.credit import CreditWindow


@dataclass(frozen=True)
class MetricDoc:
    """One metric as the reference page lists it. Prometheus adds `_total` to a
    counter's samples, and `_bucket`, `_sum` and `_count` to a histogram's."""

    name: str
    kind: str
    help: str
    labels: tuple[str, ...] = ()


_Metric = Counter | Gauge | Histogram
_KINDS: dict[type, str] = {Counter: "counter", Gauge: "gauge", Histogram: "histogram"}


class _WindowedCall(Protocol):
    kind: str

    @property
    def window(self) -> CreditWindow: ...


class _WindowCollector(Collector):
    """Sums in-flight audio and credit over live calls when scraped, so the
    per-frame send path pays nothing for these gauges."""

    DOCS = (
        MetricDoc(
            "sluice_in_flight_ms",
            "gauge",
            "Audio sent and not yet confirmed played, summed over live calls",
            ("transport",),
        ),
        MetricDoc(
            "sluice_credit_ms",
            "gauge",
            "Credit available to send, summed over live calls",
            ("transport",),
        ),
    )

    def __init__(self, calls: set[_WindowedCall]) -> None:
        self._calls = calls

    def collect(self) -> Iterator[GaugeMetricFamily]:
        in_flight, credit = (
            GaugeMetricFamily(d.name, d.help, labels=list(d.labels)) for d in self.DOCS
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

    DOCS = (
        MetricDoc(
            "sluice_process_tree_cpu_seconds",
            "counter",
            "CPU seconds of the gateway process and its worker processes",
        ),
        MetricDoc(
            "sluice_process_tree_resident_bytes",
            "gauge",
            "Resident memory of the gateway process and its worker processes",
        ),
    )

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
        cpu_doc, rss_doc = self.DOCS
        yield CounterMetricFamily(cpu_doc.name, cpu_doc.help, value=cpu)
        yield GaugeMetricFamily(rss_doc.name, rss_doc.help, value=rss)


TRANSPORTS = frozenset({
    "twilio", "signalwire", "telnyx", "plivo", "vonage", "exotel", "asterisk",
    "websocket", "webrtc",
})  # fmt: skip
ERROR_KINDS = frozenset({
    "not_json", "unknown_event", "unknown_type", "bad_base64", "malformed", "oversized",
    "binary_frame", "out_of_order", "bad_token", "bad_signature", "unknown_mark", "unsupported",
    "unexpected", "bad_frame", "bad_grant", "bad_played", "bad_host", "bad_origin", "bad_offer",
    "bad_form", "bad_opus", "no_hello", "start_timeout", "connect_timeout", "evicted", "full",
    "error_budget", "replayed_webhook", "unknown_session", "internal", "inbound_flood",
    "slow_body", "cluster_full", "cluster_unavailable", "draining", "rate_limited",
})  # fmt: skip
END_REASONS = frozenset({
    "caller hung up", "stream stopped", "playout stalled", "internal error", "peer not reading",
    "too many protocol errors", "oversized message", "connection failed", "connection closed",
    "no media", "gateway stopping", "closed", "voice failed", "agent ended", "transferred",
    "voicemail", "machine answered",
})  # fmt: skip
OUTBOUND_STATES = frozenset({
    "requested", "refused", "queued", "initiated", "ringing", "answered", "completed", "busy",
    "no-answer", "failed", "canceled", "machine", "human",
})  # fmt: skip
VOICES = frozenset({"cascade", "openai-realtime", "gemini-live"})
VOICE_PROBLEMS = frozenset({
    "connect_failed", "closed", "bad_event", "server_error", "tool_failed", "reconnected",
    "oversized", "go_away",
})  # fmt: skip
"""Metric labels come from these sets only: a peer string never becomes a series."""


class _FixedLabels:
    """A labelled metric whose label values are checked against fixed sets;
    anything else is counted as "other", so bad input cannot grow the series."""

    def __init__(self, metric, *allowed: frozenset[str]) -> None:
        self._metric = metric
        self._allowed = allowed

    def labels(self, *values: str):
        fixed = [v if v in ok else "other" for v, ok in zip(values, self._allowed, strict=True)]
        return self._metric.labels(*fixed)


_LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
_MS_BUCKETS = (20, 60, 100, 200, 400, 600, 800, 1000, 1500, 2000, 5000)


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.catalogue: list[MetricDoc] = [*_WindowCollector.DOCS, *_ProcessTreeCollector.DOCS]
        self.calls_active = self._add(
            Gauge, "sluice_calls_active", "Calls in progress", ["transport"]
        )
        self.calls = self._add(Counter, "sluice_calls", "Calls started", ["transport"])
        self.calls_ended = _FixedLabels(
            self._add(
                Counter, "sluice_calls_ended", "Calls ended, by reason", ["transport", "reason"]
            ),
            TRANSPORTS,
            END_REASONS,
        )
        self._calls: set[_WindowedCall] = set()
        r.register(_WindowCollector(self._calls))
        r.register(_ProcessTreeCollector())
        self.peak_in_flight_ms = self._add(
            Histogram,
            "sluice_call_peak_in_flight_ms",
            "Peak in-flight audio per call",
            ["transport"],
            buckets=_MS_BUCKETS,
        )
        self.underruns = self._add(
            Counter,
            "sluice_underruns",
            "Times the far end ran dry while a turn still had audio to come",
            ["transport"],
        )
        self.stalls = self._add(
            Counter,
            "sluice_playout_stalls",
            "Calls ended because playout stopped being confirmed",
            ["transport"],
        )
        self.interrupts = self._add(
            Counter, "sluice_interrupts", "Barge-ins that interrupted a turn", ["transport"]
        )
        self.provisional_interrupts = self._add(
            Counter,
            "sluice_provisional_interrupts",
            "Turns paused at the caller's first voiced window, before any confirmation",
            ["transport"],
        )
        self.backchannels = self._add(
            Counter,
            "sluice_backchannels",
            "Paused turns that resumed from the heard position: the voice did not confirm",
            ["transport"],
        )
        self.stale_dropped_ms = self._add(
            Counter,
            "sluice_stale_dropped_ms",
            "Audio of interrupted turns dropped before the wire",
            ["transport"],
        )
        self.turn_latency = self._add(
            Histogram,
            "sluice_turn_latency_seconds",
            "From the end of the caller's speech to each stage of the reply",
            ["transport", "stage"],
            buckets=_LATENCY_BUCKETS,
        )
        self.protocol_errors = _FixedLabels(
            self._add(
                Counter, "sluice_protocol_errors", "Bad input from a peer", ["transport", "kind"]
            ),
            TRANSPORTS,
            ERROR_KINDS,
        )
        self.inbound_dropped_ms = self._add(
            Counter,
            "sluice_inbound_dropped_ms",
            "Caller audio dropped for arriving faster than real time",
            ["transport"],
        )
        self.stt_dropped = self._add(
            Counter,
            "sluice_stt_dropped_utterances",
            "Caller utterances dropped because the call already had one waiting for STT",
            ["transport"],
        )
        self.turn_credentials = self._add(
            Counter,
            "sluice_turn_credentials",
            "TURN credentials minted from webrtc_turn_secret for browsers",
        )
        self.pending = self._add(
            Gauge,
            "sluice_pending_connections",
            "Connections that have not yet shown they may call (no slot, no model)",
        )
        self.cluster_up = self._add(
            Gauge,
            "sluice_cluster_redis_up",
            "1 while the cluster's Redis answers (new calls are refused while it is 0)",
        )
        self.cluster_failures = self._add(
            Gauge,
            "sluice_cluster_redis_failures",
            "Redis requests that failed since start (refreshes, admissions, registry writes)",
        )
        self.cluster_dropped_writes = self._add(
            Gauge,
            "sluice_cluster_dropped_writes",
            "Registry writes lost to a Redis outage or a full write queue",
        )
        self.send_buffer_warnings = self._add(
            Counter,
            "sluice_send_buffer_warnings",
            "Connections whose queued, unwritten bytes passed the warning level",
            ["transport"],
        )
        self.agent_errors = self._add(
            Counter,
            "sluice_agent_errors",
            "Replies that failed in the agent, STT or TTS",
            ["transport"],
        )

        self.call_control = _FixedLabels(
            self._add(
                Counter,
                "sluice_call_control",
                "Hang-ups and transfers the agent asked for, carried out once heard, by outcome",
                ["transport", "action", "outcome"],
            ),
            TRANSPORTS,
            frozenset({"hang_up", "transfer"}),
            frozenset({"done", "failed"}),
        )
        self.outbound_calls = _FixedLabels(
            self._add(
                Counter,
                "sluice_outbound_calls",
                "Outbound calls asked of a carrier, by the state each reached",
                ["carrier", "state"],
            ),
            TRANSPORTS,
            OUTBOUND_STATES,
        )
        self.relay_problems = self._add(
            Counter,
            "sluice_relay_problems",
            "Problems with ConversationRelay agent sockets (agent = relay), by kind: open, "
            "closed, bad_message, play",
            ["kind"],
        )
        self.voice_failures = _FixedLabels(
            self._add(
                Counter,
                "sluice_voice_failures",
                "Calls whose voice failed and could not be restored",
                ["transport", "voice"],
            ),
            TRANSPORTS,
            VOICES,
        )
        self.voice_problems = _FixedLabels(
            self._add(
                Counter,
                "sluice_voice_problems",
                "Problems with a voice's model connection, by kind",
                ["voice", "kind"],
            ),
            VOICES,
            VOICE_PROBLEMS,
        )
        self.model_audio_buffered_ms = self._add(
            Histogram,
            "sluice_model_audio_buffered_ms",
            "Model audio held ahead of the call's queue, sampled at each model delta",
            buckets=_MS_BUCKETS,
        )
        self.model_audio_paused = self._add(
            Counter,
            "sluice_model_audio_paused",
            "Times a model's audio filled its buffer and reading the model paused",
        )

        self.loop_lag = self._add(
            Histogram,
            "sluice_event_loop_lag_seconds",
            "How late a 50 ms sleep on the event loop wakes: what every call shares",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
        )
        self.gc_pause = self._add(
            Histogram,
            "sluice_gc_full_collection_seconds",
            "Full garbage collections, each a pause every call on the process shares",
            buckets=(0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
        )
        self.gc_pause_max = self._add(
            Gauge,
            "sluice_gc_full_collection_max_seconds",
            "The longest full collection so far",
        )
        self.loop_lag_max = self._add(
            Gauge, "sluice_event_loop_lag_max_seconds", "The worst event-loop lag so far"
        )

    def _add(self, kind: type[_Metric], name: str, doc: str, labels=(), **options: Any) -> Any:
        """Builds a metric on this registry and writes it in the catalogue the
        reference page is generated from (docs/reference/metrics.md)."""
        self.catalogue.append(MetricDoc(name, _KINDS[kind], doc, tuple(labels)))
        return kind(name, doc, labels, registry=self.registry, **options)

    def track(self, call: _WindowedCall) -> None:
        self._calls.add(call)

    def untrack(self, call: _WindowedCall) -> None:
        self._calls.discard(call)
