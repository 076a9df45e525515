"""Talk-over and the far end's peak buffer on every carrier, from the fake
carriers' own playout records, all in one run beside Twilio's.

Per carrier and trial: one call through the carrier's signed answer (or its
fixed URL), a question, two seconds of the reply, then an interruption. The
figures follow ../shared/metrics.md and come from the fake's log:
- talk-over: how long the caller still heard the reply after their own onset;
- stale: reply audio played after the interrupt instant;
- peak buffer: the most audio the fake ever held unplayed (the window bounds it);
- heard error: the gateway's heard position at the interrupt, less what was played.

    python -m bench.carriers [--trials 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from bench.common import new_call, until, write_json
from gateway.call.turns import TurnPhase
from gateway.runtime.config import Settings
from gateway.runtime.services import build_services
from gateway.testing.carrier_account import NEW_CARRIERS, Account
from gateway.testing.inprocess import start_gateway

CARRIERS = ["twilio", *NEW_CARRIERS]


async def one_trial(gw, account: Account, question: bytes, interruption: bytes) -> dict:
    earlier = set(gw.ctx.calls)
    async with await account.caller(gw) as caller:
        call = await new_call(gw.ctx.calls, earlier)
        await until(lambda: call.turns.phase is TurnPhase.LISTENING, 20)
        caller.say(question)
        await until(lambda: caller.log.first_played(2) is not None, 20)
        ttfa = caller.log.first_played(2) - caller.last_voiced_sent
        await asyncio.sleep(2.0)
        caller.say(interruption)
        await until(lambda: caller.first_voiced_sent is not None, 2)
        onset = caller.first_voiced_sent
        await until(lambda: bool(call.interrupts), 10)
        interrupt = call.interrupts[-1]
        await asyncio.sleep(0.8)
    return {
        "first_audio_ms": round(ttfa * 1000, 1),
        "talk_over_ms": round(caller.log.talk_over(2, onset, onset + 3.0) * 1000, 1),
        "stale_ms": round(caller.log.stale_ms(2, interrupt.at), 1),
        "peak_buffer_ms": round(caller.peak_buffered_ms, 1),
        "heard_error_ms": round(interrupt.heard_ms - caller.log.played_before(2, interrupt.at), 1),
        "underruns": caller.log.underruns()[0],
        "problems": len(caller.problems),
    }


async def run(trials: int) -> dict:
    services = build_services(Settings())
    await services.start()
    question = await services.tts.synthesize("Please tell me a long story.")
    interruption = await services.tts.synthesize("Stop. Wait a moment.")
    results: dict[str, dict] = {}
    try:
        for carrier in CARRIERS:
            account = Account(carrier)
            gw = await start_gateway(
                Settings(vad_min_silence_ms=500, **{**account.settings, "carriers": carrier}),
                services,
            )
            try:
                rows = [await one_trial(gw, account, question, interruption) for _ in range(trials)]
            finally:
                await gw.stop()
            median = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
            results[carrier] = {"trials": rows, "median": median}
            print(f"{carrier:>10}  " + "  ".join(f"{k} {v}" for k, v in median.items()), flush=True)
    finally:
        services.close()
    return {
        "benchmark": "carriers",
        "settings": {"vad_min_silence_ms": 500, "window_ms": 800, "mark_interval_ms": 160},
        "trials_per_carrier": trials,
        "carriers": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    result = asyncio.run(run(args.trials))
    print(f"wrote {write_json('carriers.json', result)}")


if __name__ == "__main__":
    main()
