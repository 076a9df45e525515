"""Speech to text with Whisper (faster-whisper on CTranslate2): one model per
process, shared by every call, decoding whole utterances on a bounded pool of
threads.

CTranslate2 releases the GIL while it encodes and decodes, so a thread pool
serves calls without stalling the event loop, and the weights are loaded once
instead of once per worker process.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import string
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gateway.audio.frames import INTERNAL_RATE
from gateway.pipeline import whisper_weights
from gateway.pipeline.stt import BufferedUtterance, SttStream

log = logging.getLogger(__name__)

FRAMES_PER_S = 100
"""Whisper's log-Mel frames: one per 10 ms."""
WHISPER_WINDOW_S = 30
WINDOW_STEP_S = 5
TOKENS_PER_S = 8
"""Speech runs about 4 tokens a second; twice that, plus a margin, is a cap no
real utterance reaches and a decoding loop stops at."""
MAX_WORDS_PER_S = 3.5
"""Conversational speech runs 2 to 3 words a second: a block said three times
over, faster than that, is the decoder repeating itself."""
PIECE_S = 10
"""Longer utterances are decoded in pieces of at most this, cut at pauses. On
Asterisk's prompts of 10 to 30 s: 15 s pieces 5.2 % WER, 10 s pieces 4.3 %."""
LEAD_IN_SAMPLES = INTERNAL_RATE // 10
"""100 ms of silence before every utterance. The VAD's pre-roll can start on
the first syllable, and Whisper then often takes the abrupt start for no
speech: an eSpeak question over the phone path scored a no-speech probability
of 0.57 as cut, 0.24 with this lead-in, and was heard."""
BACKGROUND_NICE = 5


@dataclass(frozen=True)
class WhisperSettings:
    model: str = whisper_weights.BUNDLED
    """"bundled" (the package's tiny.en, checked against its recorded hashes),
    a directory of CTranslate2 weights, or a faster-whisper model name
    (small.en, distil-large-v3, ...) that it downloads where a network allows."""
    compute_type: str = "int8"
    workers: int = 1
    min_window_s: int = 10
    no_speech_prob: float = 0.6
    max_utterance_ms: int = 30_000


def window_frames(frames: int, min_window_s: int) -> int:
    """How many Mel frames the encoder sees for an utterance of `frames`.

    Whisper was trained on 30 s windows, and the encoder's cost grows with the
    window, not the speech: a 3 s utterance padded to 30 s spends nine tenths
    of its time encoding silence. Padding to the utterance's length, rounded
    up to 5 s and at least 10 s, keeps nearly all the accuracy for a quarter
    of the time (`python -m bench.stt`, 348 recorded telephone prompts: a 30 s
    window 5.1 % WER at 450 ms; 15 s 5.7 % at 140 ms; 10 s 6.6 % at 100 ms;
    5 s windows make the decoder loop). The floor is 10 s, not 15: at 100
    talking calls on two cores, 10 s windows kept up and 15 s ones fell
    seconds behind (`python -m bench.stt_load`)."""
    step = WINDOW_STEP_S * FRAMES_PER_S
    rounded = math.ceil(frames / step) * step
    return min(max(rounded, min_window_s * FRAMES_PER_S), WHISPER_WINDOW_S * FRAMES_PER_S)


def is_no_speech(no_speech_prob: float, avg_logprob: float, threshold: float) -> bool:
    """Whisper writes "you", "okay" or "thank you" over breath and noise.

    The VAD keeps silence out; what gets past it (a cough, a breath) the model
    itself flags with its no-speech probability. Over Asterisk's one-word
    prompts, real words scored at most 0.52; a generated cough 0.64, and a
    breath 0.59 with a text it had little confidence in (mean log-probability
    -1.5, where real speech scored down to -1.2). So: above the threshold, or
    a little under it with a doubtful text."""
    return no_speech_prob > threshold or (no_speech_prob > threshold - 0.1 and avg_logprob < -1.0)


def collapse_loop(text: str) -> str:
    """A decode that ran to the token cap, or wrote more words than anyone
    says in the time, is a loop ("Location. Location. Location. ..." for
    0.9 s of "Location"): keep the block it repeats. One that says its text
    and then starts it over ("Hello, this is Sluice. How can I help you
    today? Hello, this is" for 3 s of a greeting said once) keeps the text."""
    words = text.split()
    for period in range(1, len(words) // 3 + 1):
        block = words[:period]
        if all(words[i] == block[i % period] for i in range(len(words))):
            return " ".join(block)
    # Started over: two words or more of the beginning again, and less than all of it.
    plain = [w.strip(string.punctuation).lower() for w in words]
    for period in range(len(words) // 2 + 1, len(words) - 1):
        if plain[period:] == plain[: len(words) - period]:
            return " ".join(words[:period])
    return text


def quiet_cuts(audio: np.ndarray, rate: int, longest_s: float) -> list[int]:
    """Where to cut a long utterance into pieces of at most `longest_s`: at the
    quietest 20 ms in the last 40 % of each piece, between words if there is
    a pause. Greedy Whisper without timestamps stops after a sentence or two
    of a long window: a 25 s prompt came back as its first sentence only."""
    frame = rate // 50
    longest = int(longest_s * rate)
    cuts: list[int] = []
    start = 0
    while len(audio) - start > longest:
        lo, hi = start + int(longest * 0.6), start + longest
        frames = audio[lo:hi][: (hi - lo) // frame * frame].reshape(-1, frame)
        energy = np.square(frames.astype(np.float64)).mean(axis=1)
        start = lo + int(np.argmin(energy)) * frame
        cuts.append(start)
    return cuts


def resolve_model(name: str) -> tuple[str, bool]:
    """(what faster-whisper loads, whether it is the checked bundled model)"""
    if name == whisper_weights.BUNDLED:
        return str(whisper_weights.bundled_path()), True
    return name, False


class WhisperStt:
    def __init__(self, settings: WhisperSettings | None = None) -> None:
        self.settings = settings or WhisperSettings()
        self.workers = self.settings.workers
        self._pool = ThreadPoolExecutor(
            max_workers=self.settings.workers,
            thread_name_prefix="whisper",
            initializer=_lower_priority,
        )
        self._max_bytes = self.settings.max_utterance_ms * INTERNAL_RATE * 2 // 1000
        self._min_bytes = INTERNAL_RATE * 2 // 10  # under 100 ms is a click, not a word
        self._model: Any = None
        self._prompt: list[int] = []
        self._tokenizer: Any = None
        # A thread's future, not the loop's: the model outlives any one event loop.
        self._loaded: Future[None] | None = None
        self.decodes = 0
        self.dropped_as_noise = 0

    def open_stream(self) -> SttStream:
        return BufferedUtterance(self.decode, self._max_bytes, self._min_bytes)

    async def warm_up(self) -> None:
        """Load (and check) the model before the first call needs it."""
        if self._loaded is None:
            self._loaded = self._pool.submit(self._load)
        await asyncio.wrap_future(self._loaded)
        # The first decode allocates CTranslate2's buffers: pay it here, not in a call.
        await self.decode(bytes(INTERNAL_RATE * 2))

    def _load(self) -> None:
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        source, bundled = resolve_model(self.settings.model)
        if bundled:
            whisper_weights.verify(Path(source))
        elif Path(source).is_dir():
            log.warning("Whisper weights at %s are not checked against a recorded hash", source)
        # Built on a lowered-priority thread, CTranslate2's own threads inherit it.
        self._model = WhisperModel(
            source,
            device="cpu",
            compute_type=self.settings.compute_type,
            cpu_threads=1,
            num_workers=self.settings.workers,
        )
        multilingual = self._model.model.is_multilingual
        self._tokenizer = Tokenizer(
            self._model.hf_tokenizer, multilingual, task="transcribe", language="en"
        )
        self._prompt = [*self._tokenizer.sot_sequence, self._tokenizer.no_timestamps]
        log.info("Whisper loaded from %s (%s)", source, self.settings.compute_type)

    async def decode(self, pcm: bytes) -> str:
        if self._loaded is None:
            await self.warm_up()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._decode, pcm)

    def _decode(self, pcm: bytes) -> str:
        self.decodes += 1
        audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
        audio = np.concatenate([np.zeros(LEAD_IN_SAMPLES, dtype=np.float32), audio])
        pieces = np.split(audio, quiet_cuts(audio, INTERNAL_RATE, PIECE_S))
        return " ".join(t for t in (self._decode_piece(p) for p in pieces) if t)

    def _decode_piece(self, audio: np.ndarray) -> str:
        import ctranslate2

        features = self._model.feature_extractor(audio)
        frames = window_frames(features.shape[-1], self.settings.min_window_s)
        if features.shape[-1] < frames:
            features = np.pad(features, [(0, 0), (0, frames - features.shape[-1])])
        features = np.ascontiguousarray(features[None, :, :frames], dtype=np.float32)
        encoded = self._model.model.encode(ctranslate2.StorageView.from_array(features))
        seconds = len(audio) / INTERNAL_RATE
        max_length = min(
            len(self._prompt) + int(TOKENS_PER_S * seconds) + 10, self._model.max_length
        )
        result = self._model.model.generate(
            encoded,
            [self._prompt],
            beam_size=1,
            max_length=max_length,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1],
        )[0]
        tokens = result.sequences_ids[0]
        # CTranslate2's Whisper generates at most half of max_length (whisper.cc
        # halves it), so the cap in force is about 4 tokens a second plus 5, and
        # a decode that reached it is a loop or cut short: collapse it either way.
        capped = len(tokens) >= max_length // 2
        avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
        if is_no_speech(result.no_speech_prob, avg_logprob, self.settings.no_speech_prob):
            self.dropped_as_noise += 1
            return ""
        text = self._tokenizer.decode(tokens).strip()
        if not any(c.isalnum() for c in text):
            self.dropped_as_noise += 1
            return ""  # "." or "..." over a cough: nothing was said
        too_fast = len(text.split()) > MAX_WORDS_PER_S * seconds
        return collapse_loop(text) if capped or too_fast else text

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _lower_priority() -> None:
    # A decode may wait; the event loop sending every call's frames may not.
    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
