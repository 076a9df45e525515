"""Chromium's receiver figures in a comparison: counters over the span, not lifetimes."""

from gateway.compare.rtc_stats import section, summarize


def reading(at: float, concealed: int, buffer: float | None = 60.0, rtt: float | None = 80.0):
    return {"at": at, "jitter_buffer_ms": buffer, "jitter_target_ms": 50.0,
            "concealed_samples": concealed, "concealment_events": concealed // 480,
            "inserted_samples": 0, "removed_samples": 2 * concealed, "packets_lost": 1,
            "rtt_ms": rtt}  # fmt: skip


def test_counters_are_differences_from_the_start_of_the_span():
    readings = [reading(0.0, 9600), reading(1.0, 9600), reading(1.25, 10080), reading(1.5, 10560)]
    summary = summarize(readings, since=1.0)
    assert summary["readings"] == 3
    assert summary["concealed_samples"] == 960  # set-up's 9,600 are not playout
    assert summary["concealment_events"] == 2
    assert summary["removed_samples"] == 1920
    assert summary["packets_lost"] == 0
    assert summary["jitter_buffer_median_ms"] == 60.0


def test_missing_readings_give_none_not_zero():
    summary = summarize([reading(2.0, 0, buffer=None, rtt=None)], since=0.0)
    assert summary["concealed_samples"] is None  # one reading: no span to count over
    assert summary["jitter_buffer_max_ms"] is None and summary["rtt_median_ms"] is None


def test_the_report_table_has_a_row_per_webrtc_page_run():
    records = [
        {"profile": {"name": "4g"}, "scenario": "interrupt",
         "webrtc_stats": summarize([reading(0.0, 0), reading(1.0, 480)], 0.0)},
        {"profile": {"name": "4g"}, "scenario": "interrupt"},  # a synthetic run: no row
    ]  # fmt: skip
    lines = section(records)
    assert lines[0] == "## WebRTC in Chromium"
    assert sum(line.startswith("| 4g |") for line in lines) == 1
    assert "| 480 (1) |" in lines[-2]
    assert section([records[1]]) == []
