"""Talk-over and backchannels, as callers hear them: medians over repeated calls.

Runs the comparison's `interrupt` and `backchannel` scenarios (see
gateway/compare) against `sluice serve` processes of their own, through the
delay-and-jitter relays, with provisional interrupts on (`controlled`) and off
(`no-pause`), and reports per transport and profile, from each caller's own
playout record:

- talk-over: how long the caller heard the agent after their first voiced
  sample (the interrupt scenario, saying "Wait, stop, stop please." over a reply);
- stale: audio of the cut turn played after the interrupt instant;
- for a short "hm" over the greeting: the pause, the greeting audio lost, and
  how often a new reply started.

    python -m bench.barge_in [--trials 5] [--profiles clean,jitter]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from collections import defaultdict

from bench.common import write_json
from gateway.compare import profiles
from gateway.compare.runner import plan, run_matrix
from gateway.compare.target import LocalGateways

SAID_OVER = "Wait, stop, stop please."
"""The objection the talk-over figures in the issue tracker were measured with."""

FIGURES = {
    "interrupt": ("talk_over_ms", "stale_ms", "barge_in_reaction_ms"),
    "backchannel": ("talk_over_ms", "pause_ms", "backchannel_loss_ms", "gateway_pause_ms",
                    "pause_after_last_voiced_ms"),
}
"""`pause_after_last_voiced_ms` is WebRTC's only (None elsewhere): the measure
that took in gaps between words (see gateway/compare/backchannel_run.py)."""


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def summarise(records: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        key = (r["scenario"], r["transport"], r["profile"]["name"], r["mode"])
        groups[key].append(r)
    rows = []
    for (scenario, transport, profile, mode), runs in groups.items():
        ok = [r for r in runs if r.get("ok")]
        row = {"scenario": scenario, "transport": transport, "profile": profile, "mode": mode,
               "trials": len(runs), "failed": len(runs) - len(ok)}  # fmt: skip
        for figure in FIGURES[scenario]:
            values = [r[figure] for r in ok if r.get(figure) is not None]
            row[figure] = _median(values)
            row[figure + "_max"] = round(max(values), 1) if values else None
        if scenario == "backchannel":
            row["new_replies"] = sum(1 for r in ok if r.get("new_reply"))
        rows.append(row)
    return rows


async def main(
    trials: int, profile_names: list[str], transports: list[str], scenarios: list[str]
) -> dict:
    chosen = profiles.load(profile_names)
    one = plan(transports, chosen, scenarios, ["controlled", "no-pause"], ["synthetic"])
    runs = [run for _ in range(trials) for run in one]
    records = await run_matrix(LocalGateways(), runs, progress=print, interruption=SAID_OVER)
    return {"trials": trials, "rows": summarise(records), "runs": records}


def _print(rows: list[dict]) -> None:
    for r in sorted(rows, key=lambda r: (r["scenario"], r["profile"], r["transport"], r["mode"])):
        figures = ", ".join(
            f"{f} {r[f]} (max {r[f + '_max']})" for f in FIGURES[r["scenario"]]
        )
        extra = f", new replies {r['new_replies']}/{r['trials']}" if "new_replies" in r else ""
        print(f"{r['scenario']:11} {r['profile']:7} {r['transport']:9} {r['mode']:10} "
              f"{figures}{extra}" + (f", FAILED {r['failed']}" if r["failed"] else ""))  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--profiles", default="clean,jitter")
    parser.add_argument("--transports", default="twilio,websocket,webrtc")
    parser.add_argument("--scenarios", default="interrupt,backchannel")
    args = parser.parse_args()
    result = asyncio.run(
        main(args.trials, args.profiles.split(","), args.transports.split(","),
             args.scenarios.split(","))  # fmt: skip
    )
    _print(result["rows"])
    name = "barge_in.json" if args.scenarios == "interrupt,backchannel" else (
        f"barge_in_{args.scenarios.replace(',', '_')}.json")  # fmt: skip
    path = write_json(name, result)
    print(f"wrote {path}")
