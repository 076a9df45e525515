"""What a Twilio caller hears, turn by turn: time to first audio, barge-in
reaction, stale audio after an interrupt, and the gateway's heard-position error.

Figures follow ../shared/metrics.md, measured on one monotonic clock with the
Twilio-faithful client on loopback. The gateway runs in this process (its
interrupt instant is read directly); use bench.capacity for CPU figures.

    python -m bench.twilio_turns [--trials 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from bench.common import new_call, until, write_json
from gateway.call.turns import TurnPhase
from gateway.runtime.config import Settings
from gateway.runtime.services import build_services
from gateway.testing.inprocess import start_gateway
from gateway.testing.twilio_caller import TwilioCaller


async def one_trial(gw, question: bytes, interruption: bytes) -> dict:
    earlier = set(gw.ctx.calls)
    async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
        call = await new_call(gw.ctx.calls, earlier)
        await until(lambda: call.turns.phase is TurnPhase.LISTENING, 15)
        caller.say(question)
        await until(lambda: caller.log.first_played(2) is not None, 20)
        ttfa = caller.log.first_played(2) - caller.last_voiced_sent
        await asyncio.sleep(2.0)
        caller.say(interruption)
        await until(lambda: bool(call.interrupts), 10)
        interrupt = call.interrupts[-1]
        await asyncio.sleep(0.5)
    truth = caller.log.played_before(2, interrupt.at)
    return {
        "ttfa_ms": round(ttfa * 1000, 1),
        "barge_in_reaction_ms": round((interrupt.at - caller.first_voiced_sent) * 1000, 1),
        "stale_ms": round(caller.log.stale_ms(2, interrupt.at), 1),
        "heard_error_ms": round(interrupt.heard_ms - truth, 1),
        "underruns": caller.log.underruns()[0],
    }


async def run(trials: int) -> dict:
    services = build_services(Settings())
    await services.start()
    question = await services.tts.synthesize("Please tell me a long story.")
    interruption = await services.tts.synthesize("Stop. Wait a moment.")
    gw = await start_gateway(Settings(vad_min_silence_ms=500), services)
    rows = []
    try:
        for _ in range(trials):
            rows.append(await one_trial(gw, question, interruption))
            print(rows[-1], flush=True)
    finally:
        await gw.stop()
        services.close()
    medians = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    return {
        "benchmark": "twilio_turns",
        "settings": {"vad_min_silence_ms": 500},
        "trials": rows,
        "median": medians,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    result = asyncio.run(run(args.trials))
    print("median:", result["median"])
    print(f"wrote {write_json('twilio_turns.json', result)}")


if __name__ == "__main__":
    main()
