"""The comparison report's network section: for each profile run on the kernel
path, what the impairer achieved beside what the profile asked for."""

from __future__ import annotations

from gateway.compare.netpath.packets import target_delay_ms
from gateway.compare.profiles import Profile


def network_section(records: list[dict]) -> list[str]:
    by_profile = {r["profile"]["name"]: r for r in records if "network" in r}
    if not by_profile:
        return []
    lines = [
        "## Network",
        "",
        "The kernel path: callers and gateway in two network namespaces, every IP packet "
        "between them through Sluice's impairer. Achieved figures per direction (up: caller "
        "to gateway), the profile's target in brackets. A profile whose path missed a target "
        "is marked invalid and its runs are left out of the headline and the summary.",
        "",
        "| profile | way | packets | one-way mean (ms) | sd (ms) | loss | queue drops "
        "| held for order | forwarder late p99 (ms) | verdict |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, record in by_profile.items():
        calibration = record["network"]
        profile = Profile(**calibration["profile"]) if "profile" in calibration else None
        mean, sd = target_delay_ms(profile) if profile else (float("nan"), float("nan"))
        loss = profile.loss if profile else float("nan")
        for way, got in calibration.get("directions", {}).items():
            verdict = calibration["verdicts"][way]
            late = got["forwarder_late_ms"]["p99"] if got["forwarder_late_ms"] else "–"
            lines.append(
                f"| {name} | {way} | {got['sent']} | {got['delay_mean_ms']} ({mean:.1f}) "
                f"| {got['delay_sd_ms']} ({sd:.1f}) | {got['loss']:.2%} ({loss:.0%}) "
                f"| {got['queue_drops']} | {got['held_for_order']:.1%} | {late} "
                f"| {'valid' if verdict['valid'] else 'invalid: ' + '; '.join(verdict['misses'])} |"
            )
        if not calibration.get("directions"):
            lines.append(f"| {name} | – | – | – | – | – | – | – | – | invalid: no calibration |")
    return lines + [""]
