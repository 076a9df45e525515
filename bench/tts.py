"""Text to speech cost: eSpeak NG (the default) beside Piper (the optional
tier), sentence by sentence over the offline agent's story, nothing cached.

Each sentence is one piece for both engines, so the time to its audio is the
time to first audio of a reply. CPU is the whole process's (the engine's
thread included) over each synthesis, run one at a time. Pin it to one core
to make "calls per core" mean that:

    taskset -c 0 python -m bench.tts [--engines espeak,piper]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from bench.common import write_json
from gateway.audio.frames import INTERNAL_RATE
from gateway.pipeline.agent import _STORY
from gateway.pipeline.sentences import SentenceSplitter

SPEECH_S_PER_CALL_MINUTE = 30.0
"""An agent that talks half the time: the cost per call is its CPU for 30 s of speech."""


def story_sentences() -> list[str]:
    splitter = SentenceSplitter(240)
    return splitter.feed(_STORY) + splitter.flush()


def engine(name: str):
    if name == "piper":
        from gateway.pipeline.piper_tts import PiperTts

        return PiperTts(cache_bytes=0)
    from gateway.pipeline.tts import EspeakTts

    return EspeakTts(cache_bytes=0)


async def measure(name: str, sentences: list[str]) -> dict:
    tts = engine(name)
    await tts.synthesize("Warming up.")
    # The sentence a reply opens with, which the caller waits for.
    opening: list[float] = []
    for question in ("can you tell me a story", "what time do you open tomorrow"):
        t0 = time.perf_counter()
        await tts.synthesize(f"I heard you say: {question}.")
        opening.append((time.perf_counter() - t0) * 1000)
    first_audio_ms: list[float] = []
    cpu_s = audio_s = 0.0
    for sentence in sentences:
        cpu0, t0 = time.process_time(), time.perf_counter()
        pcm = await tts.synthesize(sentence)
        first_audio_ms.append((time.perf_counter() - t0) * 1000)
        cpu_s += time.process_time() - cpu0
        audio_s += len(pcm) / 2 / INTERNAL_RATE
    tts.close()
    per_audio_s = cpu_s / audio_s
    result = {
        "engine": name,
        "sentences": len(sentences),
        "audio_s": round(audio_s, 1),
        "opening_sentence_ms": round(statistics.median(opening), 1),
        "first_audio_ms_median": round(statistics.median(first_audio_ms), 1),
        "first_audio_ms_max": round(max(first_audio_ms), 1),
        "cpu_s_per_audio_s": round(per_audio_s, 4),
        "faster_than_real_time": round(1 / per_audio_s, 1),
        "cpu_ms_per_call_minute": round(per_audio_s * SPEECH_S_PER_CALL_MINUTE * 1000, 1),
        "calls_per_core_at_half_talk": int(60 / (per_audio_s * SPEECH_S_PER_CALL_MINUTE)),
    }
    print(
        f"{name:7} opening sentence {result['opening_sentence_ms']:5.1f} ms  "
        f"story sentence {result['first_audio_ms_median']:6.1f} ms "
        f"(max {result['first_audio_ms_max']:.0f})  {result['faster_than_real_time']:7.1f}x "
        f"real time  {result['cpu_ms_per_call_minute']:7.1f} ms CPU per call-minute  "
        f"{result['calls_per_core_at_half_talk']} calls per core",
        flush=True,
    )
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="espeak,piper")
    args = parser.parse_args()
    sentences = story_sentences()
    runs = [await measure(name, sentences) for name in args.engines.split(",")]
    write_json("tts.json", {"speech_s_per_call_minute": SPEECH_S_PER_CALL_MINUTE, "runs": runs})


if __name__ == "__main__":
    asyncio.run(main())
