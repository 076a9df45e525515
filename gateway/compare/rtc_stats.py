"""What Chromium's WebRTC receiver did during a comparison run, from the page's
getStats() readings: NetEq's delay and target, the audio it concealed, and how
it stretched or squeezed playout to move its target."""

from __future__ import annotations

import statistics


def _values(readings: list[dict], key: str) -> list[float]:
    return [r[key] for r in readings if r.get(key) is not None]


def summarize(readings: list[dict], since: float) -> dict:
    """Figures over the readings at or after `since` (the question's end: the
    call's set-up is not playout). Counters are differences over that span."""
    kept = [r for r in readings if r["at"] >= since]

    def delta(key: str) -> float | None:
        values = _values(kept, key)
        return values[-1] - values[0] if len(values) >= 2 else None

    def median(key: str) -> float | None:
        values = _values(kept, key)
        return round(statistics.median(values), 1) if values else None

    buffer = _values(kept, "jitter_buffer_ms")
    return {
        "readings": len(kept),
        "jitter_buffer_median_ms": median("jitter_buffer_ms"),
        "jitter_buffer_max_ms": round(max(buffer), 1) if buffer else None,
        "jitter_target_median_ms": median("jitter_target_ms"),
        "concealed_samples": delta("concealed_samples"),
        "concealment_events": delta("concealment_events"),
        "inserted_samples": delta("inserted_samples"),
        "removed_samples": delta("removed_samples"),
        "packets_lost": delta("packets_lost"),
        "rtt_median_ms": median("rtt_ms"),
    }


def section(records: list[dict]) -> list[str]:
    """The report's table of Chromium's receiver, one row per WebRTC page run."""
    runs = [r for r in records if r.get("webrtc_stats")]
    if not runs:
        return []

    def cell(value: float | None) -> str:
        return "–" if value is None else f"{value:,.0f}"

    lines = [
        "## WebRTC in Chromium",
        "",
        "From the page's `getStats()` every 250 ms, from the end of the question on (in the "
        "backchannel, from the hm on): NetEq's "
        "jitter-buffer delay and its target, audio it concealed, samples it inserted to slow "
        "playout down or removed to speed it up, packets lost, and the round trip.",
        "",
        "| profile | scenario | readings | buffer median / max (ms) | target median (ms) "
        "| concealed samples (events) | inserted / removed samples | packets lost | RTT (ms) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        s = r["webrtc_stats"]
        lines.append(
            f"| {r['profile']['name']} | {r['scenario']} | {s['readings']} "
            f"| {cell(s['jitter_buffer_median_ms'])} / {cell(s['jitter_buffer_max_ms'])} "
            f"| {cell(s['jitter_target_median_ms'])} "
            f"| {cell(s['concealed_samples'])} ({cell(s['concealment_events'])}) "
            f"| {cell(s['inserted_samples'])} / {cell(s['removed_samples'])} "
            f"| {cell(s['packets_lost'])} | {cell(s['rtt_median_ms'])} |"
        )
    return lines + [""]
