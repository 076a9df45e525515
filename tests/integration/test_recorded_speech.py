"""Real human speech, not eSpeak: Asterisk's prompts, read by a person, with
their published transcripts (Debian's asterisk-core-sounds-en-wav and -g722,
which the test setup installs as root)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.call.events import Transcript
from gateway.testing import recorded_speech, sounds
from gateway.testing.browser_caller import BrowserCaller
from gateway.testing.twilio_caller import TwilioCaller
from gateway.testing.wer import WordErrors
from tests.integration.helpers import listening_after, record_events, wait_for

pytestmark = [
    pytest.mark.timeout(150),
    pytest.mark.skipif(
        not recorded_speech.available("wav") or not recorded_speech.available("g722"),
        reason="needs apt-get install " + " ".join(recorded_speech.DEBIAN_PACKAGES),
    ),
]

WIRE = {"twilio": "twilio", "browser": "websocket"}
GAP_S = 1.2
"""Silence after each prompt: past the VAD's end of speech, so each prompt is
one utterance."""


def sentences(every: int) -> list[recorded_speech.Prompt]:
    """Prompts of 6 to 14 words, every `every`-th in the file's order: a fixed
    choice made before any result was seen."""
    spoken = [p for p in recorded_speech.prompts("wav") if 6 <= len(p.text.split()) <= 14]
    return spoken[::every]


async def test_whisper_hears_a_person_on_the_phone(services):
    errors = WordErrors()
    for prompt in sentences(4):
        stream = services.stt.open_stream()
        stream.feed(recorded_speech.telephone_pcm(prompt))
        errors.add(prompt.text, await stream.finish())
    assert errors.words > 250
    assert errors.rate <= 0.10, f"WER {errors.rate:.3f} over {errors.words} words"


@pytest.mark.parametrize("noise", ["cough", "breath", "line noise", "silence"])
async def test_whisper_writes_nothing_for_what_is_not_speech(services, noise):
    """Whisper's known failure is a "you" or "thank you" over silence and noise."""
    import numpy as np

    pcm = {
        "cough": lambda: sounds.cough() * 3,
        "breath": lambda: sounds.breath() * 2,
        "line noise": lambda: (
            (np.random.default_rng(3).normal(0, 600, 32000)).astype(np.int16).tobytes()
        ),
        "silence": lambda: bytes(32000),
    }[noise]()
    stream = services.stt.open_stream()
    stream.feed(pcm)
    assert await stream.finish() == ""


async def _say_each(caller, prompts, audio, heard: list[Transcript]) -> None:
    for n, prompt in enumerate(prompts, 1):
        caller.say(audio(prompt) + bytes(int(GAP_S * 32000)))
        await wait_for(lambda n=n: len(heard) >= n, timeout=20)


async def test_a_real_call_hears_a_person_over_twilio_and_the_browser(gateway):
    """Two calls at once: a Twilio caller sending the 8 kHz recordings as
    μ-law, a browser caller sending the 16 kHz G.722 takes. The words are the
    transcripts the gateway showed for each utterance of the call."""
    prompts = sentences(12)
    results: dict[str, WordErrors] = {}

    def of_kind(kind: str):
        return next((c for c in gateway.ctx.calls.values() if c.kind == WIRE[kind]), None)

    async def call(kind: str) -> None:
        if kind == "twilio":
            caller = TwilioCaller(gateway.ws_url + "/twilio/media")

            def audio(p):
                return recorded_speech.load_pcm(p, "wav", 16_000)
        else:
            caller = BrowserCaller(gateway.ws_url + "/browser/ws")

            def audio(p):
                return recorded_speech.load_pcm(p, "g722", 16_000)

        async with caller:
            await wait_for(lambda: of_kind(kind) is not None, timeout=5)
            the_call = of_kind(kind)
            events = record_events(the_call)
            await wait_for(listening_after(the_call, 1), timeout=15)
            heard: list[Transcript] = []
            the_call.listeners.append(
                lambda e: heard.append(e) if isinstance(e, Transcript) and e.final else None
            )
            await _say_each(caller, prompts, audio, heard)
        errors = WordErrors()
        for prompt, transcript in zip(prompts, heard, strict=True):
            errors.add(prompt.text, transcript.text)
        results[kind] = errors
        assert any(isinstance(e, Transcript) for e in events)

    await asyncio.gather(call("twilio"), call("browser"))
    for kind, errors in results.items():
        print(f"{kind}: WER {errors.rate:.3f} over {errors.words} words")  # shown with -s
        assert errors.words > 80
        assert errors.rate <= 0.10, f"{kind}: WER {errors.rate:.3f} over {errors.words} words"
