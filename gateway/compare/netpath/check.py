"""`sluice compare --check-network`: the kernel path alone, under each
profile, measured from its ends and by the forwarder, before a comparison
trusts it."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.compare.netpath import probe
from gateway.compare.netpath.packets import target_delay_ms
from gateway.compare.netpath.path import NetworkPath
from gateway.compare.profiles import Profile


def check(profile: Profile) -> dict:
    with NetworkPath(profile) as path:
        datagrams = probe.datagrams(path)
    udp_calibration = path.calibration
    with NetworkPath(profile, seed=1) as path:
        bulk = probe.bulk(path)
    mean, sd = target_delay_ms(profile)
    return {
        "profile": profile.name,
        "target": {"one_way_mean_ms": round(mean, 2), "one_way_sd_ms": round(sd, 2),
                   "loss": profile.loss, "rate_kbit": profile.rate_kbit},
        "udp": datagrams.summary(),
        "tcp": {"kbit": round(bulk.kbit, 1), "retransmitted": bulk.retransmitted,
                "calibration": path.calibration},
        "calibration": udp_calibration,
        "valid": bool(udp_calibration and udp_calibration["valid"]),
    }  # fmt: skip


def line(result: dict) -> str:
    udp, target, up = result["udp"], result["target"], result["calibration"]["directions"]["up"]
    verdict = (
        "valid"
        if result["valid"]
        else "INVALID: "
        + "; ".join(m for v in result["calibration"]["verdicts"].values() for m in v["misses"])
    )
    return (
        f"{result['profile']:>10}: one-way {udp['one_way_mean_ms']} ms "
        f"(target {target['one_way_mean_ms']}), sd {udp['one_way_sd_ms']} ms "
        f"(target {target['one_way_sd_ms']}), "
        f"loss {udp['loss']:.2%} (target {target['loss']:.0%}), "
        f"forwarder late p99 {up['forwarder_late_ms']['p99']} ms; "
        f"TCP {result['tcp']['kbit']:.0f} kbit/s, {result['tcp']['retransmitted']} retransmitted; "
        f"{verdict}"
    )


def run(profiles: list[Profile], out: Path) -> int:
    results = []
    for profile in profiles:
        result = check(profile)
        print(line(result), flush=True)
        results.append(result)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "network.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"wrote {path}")
    return 0 if all(r["valid"] for r in results) else 1
