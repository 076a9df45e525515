"""Text to speech: eSpeak NG through the shared library espeakng-loader ships.

eSpeak keeps global state, so one engine per process, on one dedicated thread,
owns it, and every call's sentences take turns there. It synthesizes about a
thousand times faster than real time here, so one thread serves many calls.
The native call releases the GIL; a cancelled sentence stops at its next audio
callback.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import threading
from collections.abc import AsyncIterator, Callable, Hashable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Protocol

import numpy as np

from gateway.audio.byte_cache import ByteCache
from gateway.audio.frames import INTERNAL_RATE
from gateway.audio.resample import resample_once


class TextToSpeech(Protocol):
    async def synthesize(self, text: str) -> bytes:
        """PCM16 mono at the internal rate. Cancelling the await stops the work."""
        ...

    def stream(self, text: str) -> AsyncIterator[bytes]:
        """The same audio in pieces as it is made; closing the iterator stops the work."""
        ...

    def close(self) -> None: ...


_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_ESPEAK_CHARS_UTF8 = 1
_MAX_TEXT_CHARS = 2000
BACKGROUND_NICE = 5


class _Job:
    __slots__ = ("text", "voice", "rate_wpm", "cancelled", "parts")

    def __init__(self, text: str, voice: str, rate_wpm: int) -> None:
        self.text = text
        self.voice = voice
        self.rate_wpm = rate_wpm
        self.cancelled = threading.Event()
        self.parts: list[bytes] = []


class _Engine:
    """eSpeak NG itself: initialised once per process on its own thread. A
    second initialisation would take over the global synth callback, and the
    first user's audio with it."""

    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="espeak")
        self._lib: ctypes.CDLL | None = None
        self.native_rate = 0
        self._current: _Job | None = None
        self._callback = _SYNTH_CALLBACK(self._on_audio)
        self._voice = ""
        self._rate_wpm = 0
        self.executor.submit(self._load).result()

    def _load(self) -> None:
        import espeakng_loader

        # Synthesis runs ahead of playout by a queue and a window; the event
        # loop that sends frames cannot wait. On a saturated core the loop
        # comes first, and a burst of joining calls' sentences queues here.
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.POINTER(ctypes.c_uint),
            ctypes.c_void_p,
        ]
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0
        )
        if rate <= 0:
            raise RuntimeError("eSpeak NG failed to initialize")
        lib.espeak_SetSynthCallback(self._callback)
        self._lib = lib
        self.native_rate = rate

    def use(self, voice: str, rate_wpm: int) -> None:
        """On the engine's thread: switch voice and speed only when they change."""
        assert self._lib is not None
        if voice != self._voice:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise RuntimeError(f"eSpeak NG has no voice {voice!r}")
            self._voice = voice
        if rate_wpm != self._rate_wpm:
            self._lib.espeak_SetParameter(1, rate_wpm, 0)  # espeakRATE
            self._rate_wpm = rate_wpm

    def _on_audio(self, wav: ctypes.Array, count: int, _events: int) -> int:
        job = self._current
        if job is None or job.cancelled.is_set():
            return 1  # tells eSpeak to abort this synthesis
        if count > 0:
            job.parts.append(ctypes.string_at(wav, count * 2))
        return 0

    def run(self, job: _Job) -> bytes:
        if job.cancelled.is_set():
            return b""
        assert self._lib is not None
        self.use(job.voice, job.rate_wpm)
        data = job.text[:_MAX_TEXT_CHARS].encode("utf-8") + b"\0"
        self._current = job
        try:
            self._lib.espeak_Synth(
                data, len(data), 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8, None, None
            )
        finally:
            self._current = None
        if job.cancelled.is_set():
            return b""
        native = np.frombuffer(b"".join(job.parts), dtype=np.int16)
        return resample_once(native, self.native_rate, INTERNAL_RATE).tobytes()


_engine: _Engine | None = None
_engine_lock = threading.Lock()


def _shared_engine() -> _Engine:
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = _Engine()
        return _engine


class SentenceVoice:
    """A voice that makes each sentence whole on its engine's own thread. The
    sentences every call says (the greeting above all) are kept, so a call
    joining costs no synthesis, and a cancelled await stops the work under way."""

    pieces_are_sentences = True
    """`stream` yields each sentence whole, in one piece."""

    def __init__(self, cache_bytes: int) -> None:
        self.cache = ByteCache(cache_bytes)
        self.completed = 0
        self.cancelled = 0

    async def _made(
        self,
        key: Hashable,
        executor: Executor,
        run: Callable[[], bytes],
        cancel: Callable[[], None],
    ) -> bytes:
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        future = asyncio.get_running_loop().run_in_executor(executor, run)
        try:
            pcm = await asyncio.shield(future)
        except asyncio.CancelledError:
            cancel()  # the engine's thread sees it at its next chance
            self.cancelled += 1
            raise
        self.completed += 1
        self.cache.put(key, pcm)
        return pcm

    async def synthesize(self, text: str) -> bytes:
        raise NotImplementedError

    async def stream(self, text: str) -> AsyncIterator[bytes]:
        # A sentence is made in one run: one piece is as soon as several.
        yield await self.synthesize(text)


class EspeakTts(SentenceVoice):
    """A voice on the process's one eSpeak engine; any number may exist."""

    def __init__(
        self, voice: str = "en-us", rate_wpm: int = 175, cache_bytes: int = 8 << 20
    ) -> None:
        super().__init__(cache_bytes)
        self._engine = _shared_engine()
        self._voice = voice
        self._rate_wpm = rate_wpm
        # A bad voice should fail here, not in the first call's greeting.
        self._engine.executor.submit(self._engine.use, voice, rate_wpm).result()

    async def synthesize(self, text: str) -> bytes:
        job = _Job(text, self._voice, self._rate_wpm)
        return await self._made(
            (self._voice, self._rate_wpm, text),
            self._engine.executor,
            lambda: self._engine.run(job),
            job.cancelled.set,
        )

    def close(self) -> None:
        """The engine outlives any one voice: it belongs to the process."""
