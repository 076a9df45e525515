"""The comparison's physics check: a figure no path could produce is a bug in
the measurement, and the report must say so."""

from __future__ import annotations

from gateway.compare.report import physics_violations


def run(transport: str = "twilio", delay_ms: float = 40, **figures: float) -> dict:
    return {"ok": True, "transport": transport, "mode": "controlled", "client": "synthetic",
            "profile": {"name": "4g", "delay_ms": delay_ms}, **figures}  # fmt: skip


def test_figures_a_path_can_produce_pass() -> None:
    assert physics_violations([run(ttfa_ms=700, stale_ms=120), run("webrtc", ttfa_ms=80)]) == []


def test_a_reply_heard_before_a_round_trip_is_a_violation() -> None:
    (problem,) = physics_violations([run("webrtc", ttfa_ms=60)])
    assert "time to first audio 60 ms is below the round trip of 80 ms" in problem


def test_stale_audio_below_the_one_way_delay_is_a_violation_except_over_webrtc() -> None:
    (problem,) = physics_violations([run(stale_ms=20), run("webrtc", stale_ms=20)])
    assert problem.startswith("twilio × 4g") and "below the one-way delay of 40 ms" in problem


def test_failed_runs_have_no_figures_to_check() -> None:
    assert physics_violations([{**run(ttfa_ms=1), "ok": False}]) == []
