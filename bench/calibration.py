"""Two fixed pieces of a call's own work, timed on the CPU a benchmark pins the
gateway to, in the same run: these machines change speed from day to day, so
a capacity figure is read beside these.

- audio: 2,000 frames (40 s) of agent audio resampled from 16 to 8 kHz and
  encoded to 8-bit codes by table, and decoded and resampled back: the shape
  of a phone call's per-frame numpy and C work;
- python: 2,000 Twilio media messages built, parsed as JSON, checked and
  decoded from base64 into events, the pure-Python per-message path.

CPU time of this process, median of five runs each, in milliseconds. Neither
calls the gateway's own code, so a change to the gateway cannot move them:
figures from two commits, or two days, compare.

    python -m bench.calibration
"""

from __future__ import annotations

import base64
import json
import statistics
import subprocess
import sys
import time

import numpy as np
import soxr

from bench.common import pinned_to

FRAMES = 2000


def audio_ms() -> float:
    down = soxr.ResampleStream(16_000, 8000, 1, dtype="int16", quality="HQ")
    up = soxr.ResampleStream(8000, 16_000, 1, dtype="int16", quality="QQ")
    encode = (np.arange(65536) >> 8).astype(np.uint8)  # any 16-to-8-bit table
    decode = (np.arange(256, dtype=np.int16) - 128) * 256
    frame = (np.sin(np.arange(320) / 7) * 8000).astype(np.int16)
    start = time.process_time()
    for _ in range(FRAMES):
        codes = encode[down.resample_chunk(frame).view(np.uint16)].tobytes()
        up.resample_chunk(decode.take(np.frombuffer(codes, dtype=np.uint8)))
    return (time.process_time() - start) * 1000


def python_ms() -> float:
    payload = base64.b64encode(bytes(range(160))).decode()
    start = time.process_time()
    for n in range(FRAMES):
        text = json.dumps({
            "event": "media", "sequenceNumber": str(n), "streamSid": "MZ" + "0" * 32,
            "media": {"track": "inbound", "chunk": str(n), "timestamp": str(n * 20),
                      "payload": payload},
        })  # fmt: skip
        message = json.loads(text)
        media = message["media"]
        if not isinstance(media, dict) or message.get("event") != "media":
            raise ValueError("not a media message")
        event = {"payload": base64.b64decode(media["payload"], validate=True),
                 "chunk": int(media["chunk"]), "timestamp": int(media["timestamp"])}  # fmt: skip
        if len(event["payload"]) != 160:
            raise ValueError("a frame is 160 bytes")
    return (time.process_time() - start) * 1000


def calibrate(cpus: set[int] | None) -> dict[str, float]:
    """Both medians, measured in a fresh process on `cpus`."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.calibration"], capture_output=True, text=True, check=True,
        preexec_fn=pinned_to(cpus),
    )  # fmt: skip
    words = out.stdout.split()
    return {"audio_ms": float(words[2]), "python_ms": float(words[5])}


def main() -> None:
    audio_ms(), python_ms()  # warm: imports, tables, first graphs
    audio = statistics.median(audio_ms() for _ in range(5))
    python = statistics.median(python_ms() for _ in range(5))
    print(f"calibration audio {audio:.1f} ms python {python:.1f} ms")


if __name__ == "__main__":
    main()
