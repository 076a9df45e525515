"""Speech to text on real human speech: word error rate, CPU per utterance,
utterances per second per core, memory, and what a decode does to the event
loop, for Whisper (the default) and PocketSphinx.

The speech is Asterisk's core prompts (Debian's asterisk-core-sounds-en-wav
and -g722, read by a person, with published transcripts):

- phone: the 8 kHz recordings through μ-law, as a Twilio caller arrives;
- wideband: the 16 kHz G.722 takes of the same prompts, as a browser sends.

Decodes run one at a time, so the process's CPU over a decode is that
decode's CPU. Pin the process to one core to make the throughput "per core":

    taskset -c 0 python -m bench.stt [--limit N] [--engines whisper,pocketsphinx]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import numpy as np
import psutil

from bench.common import write_json
from gateway.pipeline.stt import PocketSphinxStt
from gateway.pipeline.whisper_stt import WhisperSettings, WhisperStt
from gateway.testing import recorded_speech
from gateway.testing.wer import WordErrors

PATHS = {"phone": "wav", "wideband": "g722"}


def audio_for(prompt: recorded_speech.Prompt, path: str) -> bytes:
    if path == "phone":
        return recorded_speech.telephone_pcm(prompt)
    return recorded_speech.load_pcm(prompt, "g722", 16_000)


def rss_mb(include_children: bool) -> float:
    me = psutil.Process()
    procs = [me, *me.children(recursive=True)] if include_children else [me]
    return sum(p.memory_info().rss for p in procs) / 2**20


async def loop_lag_during(decodes: asyncio.Future) -> list[float]:
    """How late a 20 ms ticker on the event loop runs while decodes go on."""
    lags: list[float] = []
    while not decodes.done():
        due = time.perf_counter() + 0.02
        await asyncio.sleep(0.02)
        lags.append(max(0.0, time.perf_counter() - due) * 1000)
    return lags


async def measure(engine: str, stt, items: list, path: str, label: str) -> dict:
    errors = WordErrors()
    cpu_ms: list[float] = []
    audio_s: list[float] = []
    worst: list[tuple[float, str, str]] = []
    for prompt, pcm in items:
        cpu0 = psutil.Process().cpu_times()
        children0 = sum(c.cpu_times().user + c.cpu_times().system for c in _kids())
        stream = stt.open_stream()
        for i in range(0, len(pcm), 640):  # 20 ms frames, as a call feeds it
            stream.feed(pcm[i : i + 640])
        text = await stream.finish()
        cpu1 = psutil.Process().cpu_times()
        children1 = sum(c.cpu_times().user + c.cpu_times().system for c in _kids())
        own = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
        cpu_ms.append((own + children1 - children0) * 1000)
        audio_s.append(len(pcm) / 32000)
        wrong = errors.add(prompt.text, text)
        if wrong:
            worst.append((wrong, prompt.text, text))
    # Four decodes at once, with the loop ticking: does a decode hold the GIL?
    sample = [pcm for _, pcm in items[:8]]

    async def burst() -> None:
        for i in range(0, len(sample), 4):
            streams = [stt.open_stream() for _ in sample[i : i + 4]]
            for s, pcm in zip(streams, sample[i : i + 4], strict=True):
                s.feed(pcm)
            await asyncio.gather(*(s.finish() for s in streams))

    task = asyncio.ensure_future(burst())
    lags = await loop_lag_during(task)
    await task
    total_cpu_s = sum(cpu_ms) / 1000
    worst.sort(reverse=True)
    result = {
        "engine": label,
        "path": path,
        "utterances": len(items),
        "words": errors.words,
        "wer": round(errors.rate, 4),
        "cpu_ms_per_utterance_median": round(statistics.median(cpu_ms), 1),
        "cpu_ms_per_utterance_p90": round(float(np.percentile(cpu_ms, 90)), 1),
        "audio_s_median": round(statistics.median(audio_s), 2),
        "utterances_per_core_s": round(len(items) / total_cpu_s, 2),
        "cpu_per_audio_s": round(total_cpu_s / sum(audio_s), 4),
        "loop_lag_p99_ms": round(float(np.percentile(lags, 99)), 1) if lags else None,
        "worst": [{"said": s, "heard": h} for _, s, h in worst[:5]],
    }
    print(
        f"{label:22} {path:8} WER {100 * errors.rate:5.1f} %  "
        f"CPU/utt median {result['cpu_ms_per_utterance_median']:6.1f} ms  "
        f"utt/core-s {result['utterances_per_core_s']:5.2f}  "
        f"loop lag p99 {result['loop_lag_p99_ms']} ms",
        flush=True,
    )
    return result


def _kids() -> list[psutil.Process]:
    alive = []
    for c in psutil.Process().children(recursive=True):
        try:
            c.cpu_times()
            alive.append(c)
        except psutil.NoSuchProcess:
            pass
    return alive


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="whisper,whisper-15s,whisper-30s,pocketsphinx")
    parser.add_argument("--paths", default="phone,wideband")
    parser.add_argument("--limit", type=int, default=0, help="first N prompts (0: all)")
    parser.add_argument(
        "--longest-s",
        type=float,
        default=30.0,
        help="leave out prompts longer than this: the VAD ends an utterance at 30 s",
    )
    args = parser.parse_args()
    if not recorded_speech.available():
        raise SystemExit(
            "needs Debian's " + " and ".join(recorded_speech.DEBIAN_PACKAGES) + " (apt-get install)"
        )
    prompts = recorded_speech.prompts("wav")
    prompts = [p for p in prompts if p.path("g722").is_file()]
    if args.limit:
        prompts = prompts[: args.limit]
    longest = int(args.longest_s * 8000) * 2
    left_out = [p.name for p in prompts if p.path("wav").stat().st_size - 44 > longest]
    prompts = [p for p in prompts if p.name not in left_out]
    results: dict = {
        "prompts": len(prompts),
        "left_out_longer_than_s": [args.longest_s, left_out],
        "runs": [],
        "memory_mb": {},
    }
    for engine in args.engines.split(","):
        base = rss_mb(include_children=True)
        if engine.startswith("whisper"):
            # "whisper-30s": a minimum window of 30 s; plain "whisper": the default.
            given = engine.removeprefix("whisper").strip("-").removesuffix("s")
            window = int(given) if given else WhisperSettings().min_window_s
            stt = WhisperStt(WhisperSettings(min_window_s=window))
        else:
            stt = PocketSphinxStt()
        await stt.warm_up()
        loaded = rss_mb(include_children=True)
        label = f"{engine} ({window} s window)" if engine.startswith("whisper") else engine
        for path in args.paths.split(","):
            items = [(p, audio_for(p, path)) for p in prompts]
            results["runs"].append(await measure(engine, stt, items, path, label))
        # Every call shares the one model: a call adds only its utterance buffer.
        before_calls = rss_mb(include_children=True)
        streams = [stt.open_stream() for _ in range(100)]
        for s in streams:
            for _ in range(150):  # 3 s in 20 ms frames, as a call feeds it
                s.feed(bytes(640))
        with_calls = rss_mb(include_children=True)
        results["memory_mb"][label] = {
            "model": round(loaded - base, 1),
            "per_call_with_3s_utterance": round((with_calls - before_calls) / 100, 3),
        }
        print(
            f"{label:22} memory: model {loaded - base:.0f} MB, "
            f"+{(with_calls - before_calls) / 100:.2f} MB per call holding a 3 s utterance"
        )
        del streams
        stt.close()
    default = parser.get_default("engines") == args.engines
    write_json("stt.json" if default else f"stt-{args.engines.replace(',', '-')}.json", results)


if __name__ == "__main__":
    asyncio.run(main())
