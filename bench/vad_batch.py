"""CPU of the shared, batched Silero per call, at 1, 10, 100 and 200 calls.

Every call delivers one 32 ms window of speech-like audio every 32 ms (no
pre-gate: the worst case, a caller talking all the time) for `--seconds`; the
windows of all calls go through the one model in batches, as in the gateway.
The figure is the whole process's CPU (the model's thread included) divided by
the audio time and the number of calls. Run it on one core to make it a
fraction of a core:

    taskset -c 0 python -m bench.vad_batch [--calls 1,10,100,200] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import numpy as np

from bench.common import write_json
from gateway.audio.frames import INTERNAL_RATE
from gateway.pipeline.shared_vad import WINDOW_SAMPLES, SharedSilero

WINDOW_S = WINDOW_SAMPLES / INTERNAL_RATE


def speechlike(seconds: float, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * INTERNAL_RATE)) / INTERNAL_RATE
    phase = 2 * np.pi * np.cumsum(120 + 30 * np.sin(2 * np.pi * 0.5 * t + seed)) / INTERNAL_RATE
    tone = sum(np.sin(k * phase) / k for k in range(1, 6))
    return (0.3 * tone * (np.sin(2 * np.pi * 3 * t) > -0.3)).astype(np.float32)


async def run(vad: SharedSilero, calls: int, seconds: float) -> dict:
    audio = speechlike(2.0, calls)
    windows = [
        audio[i : i + WINDOW_SAMPLES] for i in range(0, audio.size - WINDOW_SAMPLES, WINDOW_SAMPLES)
    ]
    streams = [vad.stream() for _ in range(calls)]
    answered = [0]
    ticks = int(seconds / WINDOW_S)
    batches0, cpu0, t0 = vad.batches, time.process_time(), time.monotonic()
    for tick in range(ticks):
        for n, stream in enumerate(streams):
            stream.submit(
                windows[(tick + n) % len(windows)],
                lambda p: answered.__setitem__(0, answered[0] + 1),
            )
        await asyncio.sleep(max(0.0, t0 + (tick + 1) * WINDOW_S - time.monotonic()))
    while answered[0] < ticks * calls:
        await asyncio.sleep(0.005)
    cpu, elapsed = time.process_time() - cpu0, time.monotonic() - t0
    for stream in streams:
        stream.close()
    batches = vad.batches - batches0
    return {
        "calls": calls,
        "audio_s": round(ticks * WINDOW_S, 2),
        "cpu_per_call": round(cpu / elapsed / calls, 5),
        "windows_per_batch": round(ticks * calls / batches, 1),
        "cpu_us_per_window": round(cpu / (ticks * calls) * 1e6, 1),
    }


async def main_async(counts: list[int], seconds: float) -> list[dict]:
    vad = SharedSilero()
    await vad.start()
    rows = []
    for calls in counts:
        row = await run(vad, calls, seconds)
        rows.append(row)
        print(
            f"{calls:>4} calls  {row['cpu_per_call'] * 100:.3f} % of a core per call  "
            f"{row['cpu_us_per_window']} µs per window  {row['windows_per_batch']} windows a batch",
            flush=True,
        )
    vad.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default="1,10,100,200")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    rows = asyncio.run(main_async([int(n) for n in args.calls.split(",")], args.seconds))
    print(f"wrote {write_json('vad_batch.json', {'benchmark': 'vad_batch', 'rows': rows})}")


if __name__ == "__main__":
    main()
