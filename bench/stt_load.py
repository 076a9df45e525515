"""Whisper under many calls: does recognition keep up, and how long does a
caller wait for its transcript?

`--calls` simulated calls each finish an utterance every `--every-s` seconds
(a caller's turn in a conversation, jittered so they do not line up), taken
from Asterisk's recorded prompts of 6 to 14 words. Each call has at most one
decode in flight and one waiting, as the cascade allows; a third is dropped and
counted, as the cascade does. The shared model decodes on `--workers` threads.
Latency is from the utterance's end to its transcript.

    taskset -c 0,1 python -m bench.stt_load --calls 100 --workers 2 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

import numpy as np
import psutil

from bench.common import write_json
from gateway.pipeline.whisper_stt import WhisperSettings, WhisperStt
from gateway.testing import recorded_speech


async def caller(
    stt: WhisperStt,
    utterances: list[bytes],
    every_s: float,
    until: float,
    rng: random.Random,
    latencies: list[float],
    dropped: list[int],
) -> None:
    await asyncio.sleep(rng.uniform(0, every_s))
    in_flight: set[asyncio.Task] = set()
    while time.monotonic() < until:
        pcm = rng.choice(utterances)
        if len(in_flight) >= 2:
            dropped[0] += 1
        else:
            ended = time.monotonic()

            async def decode(pcm: bytes = pcm, ended: float = ended) -> None:
                stream = stt.open_stream()
                stream.feed(pcm)
                await stream.finish()
                latencies.append(time.monotonic() - ended)

            task = asyncio.create_task(decode())
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        await asyncio.sleep(every_s * rng.uniform(0.7, 1.3))
    await asyncio.gather(*in_flight)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--every-s", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--window",
        type=int,
        default=WhisperSettings().min_window_s,
        help="stt_whisper_min_window_s",
    )
    args = parser.parse_args()
    prompts = [p for p in recorded_speech.prompts("wav") if 6 <= len(p.text.split()) <= 14]
    utterances = [recorded_speech.telephone_pcm(p) for p in prompts]
    stt = WhisperStt(WhisperSettings(workers=args.workers, min_window_s=args.window))
    await stt.warm_up()
    rng = random.Random(1)
    latencies: list[float] = []
    dropped = [0]
    cores = len(psutil.Process().cpu_affinity())
    cpu0, t0 = psutil.Process().cpu_times(), time.monotonic()
    until = t0 + args.seconds
    await asyncio.gather(
        *(
            caller(
                stt,
                utterances,
                args.every_s,
                until,
                random.Random(rng.random()),
                latencies,
                dropped,
            )
            for _ in range(args.calls)
        )
    )
    elapsed = time.monotonic() - t0
    cpu1 = psutil.Process().cpu_times()
    cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    stt.close()
    result = {
        "calls": args.calls,
        "workers": args.workers,
        "min_window_s": args.window,
        "cores": cores,
        "every_s": args.every_s,
        "utterances": len(latencies),
        "utterances_per_s": round(len(latencies) / elapsed, 2),
        "dropped": dropped[0],
        "latency_ms_p50": round(statistics.median(latencies) * 1000),
        "latency_ms_p99": round(float(np.percentile(latencies, 99)) * 1000),
        "cores_busy": round(cpu / elapsed, 2),
        "median_utterance_s": round(statistics.median(len(u) / 32000 for u in utterances), 2),
    }
    print(
        f"{args.calls} calls, an utterance every {args.every_s:g} s each, {args.window} s "
        f"window, {args.workers} decode "
        f"threads on {cores} cores: {result['utterances_per_s']} utterances/s, transcript "
        f"p50 {result['latency_ms_p50']} ms, p99 {result['latency_ms_p99']} ms, "
        f"dropped {result['dropped']}, {result['cores_busy']} cores busy",
        flush=True,
    )
    write_json(f"stt_load_{args.calls}x{args.workers}_{args.window}s.json", result)


if __name__ == "__main__":
    asyncio.run(main())
