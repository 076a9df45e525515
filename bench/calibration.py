"""A fixed piece of a call's own work, timed on the CPU a benchmark pins the
gateway to, in the same run: these machines change speed from day to day, so
a capacity figure is read beside this one.

The work: 2,000 frames (40 s) of agent audio resampled from 16 to 8 kHz and
encoded to μ-law, and the same caller audio decoded and resampled back, the
per-frame path of a phone call. Median of five runs, in milliseconds.

    python -m bench.calibration
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import numpy as np

from bench.common import pinned_to

FRAMES = 2000


def work_ms() -> float:
    from gateway.audio import mulaw
    from gateway.audio.resample import StreamResampler

    down, up = StreamResampler(16_000, 8000), StreamResampler(8000, 16_000)
    frame = (np.sin(np.arange(320) / 7) * 8000).astype(np.int16)
    start = time.perf_counter()
    for _ in range(FRAMES):
        ulaw = mulaw.encode(down.process(frame))
        up.process(mulaw.decode(ulaw))
    return (time.perf_counter() - start) * 1000


def calibrate(cpus: set[int] | None) -> float:
    """The median of five runs in a fresh process on `cpus`."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.calibration"], capture_output=True, text=True, check=True,
        preexec_fn=pinned_to(cpus),
    )  # fmt: skip
    return float(out.stdout.split()[-2])


def main() -> None:
    work_ms()  # warm: imports, tables, first graphs
    print(f"calibration {statistics.median(work_ms() for _ in range(5)):.1f} ms")


if __name__ == "__main__":
    main()
