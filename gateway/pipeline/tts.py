"""Text to speech: eSpeak NG through the shared library espeakng-loader ships.

eSpeak keeps global state, so one dedicated thread owns it and every call's
sentences take turns there. It synthesizes about a thousand times faster than
real time here, so one thread serves many calls. The native call releases the
GIL; a cancelled sentence stops at its next audio callback.
"""

from __future__ import annotations

import asyncio
import ctypes
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np

from gateway.audio.frames import INTERNAL_RATE
from gateway.audio.resample import resample_once


class TextToSpeech(Protocol):
    async def synthesize(self, text: str) -> bytes:
        """PCM16 mono at the internal rate. Cancelling the await stops the work."""
        ...

    def close(self) -> None: ...


_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_ESPEAK_CHARS_UTF8 = 1
_MAX_TEXT_CHARS = 2000


class _Job:
    __slots__ = ("text", "cancelled", "parts")

    def __init__(self, text: str) -> None:
        self.text = text
        self.cancelled = threading.Event()
        self.parts: list[bytes] = []


class EspeakTts:
    def __init__(self, voice: str = "en-us", rate_wpm: int = 175) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="espeak")
        self._voice = voice
        self._rate_wpm = rate_wpm
        self._lib: ctypes.CDLL | None = None
        self._native_rate = 0
        self._current: _Job | None = None
        self._callback = _SYNTH_CALLBACK(self._on_audio)
        self.completed = 0
        self.cancelled = 0
        self._executor.submit(self._load).result()

    def _load(self) -> None:
        import espeakng_loader

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
        if lib.espeak_SetVoiceByName(self._voice.encode()) != 0:
            raise RuntimeError(f"eSpeak NG has no voice {self._voice!r}")
        lib.espeak_SetParameter(1, self._rate_wpm, 0)  # espeakRATE
        lib.espeak_SetSynthCallback(self._callback)
        self._lib = lib
        self._native_rate = rate

    def _on_audio(self, wav: ctypes.Array, count: int, _events: int) -> int:
        job = self._current
        if job is None or job.cancelled.is_set():
            return 1  # tells eSpeak to abort this synthesis
        if count > 0:
            job.parts.append(ctypes.string_at(wav, count * 2))
        return 0

    def _run(self, job: _Job) -> bytes:
        if job.cancelled.is_set():
            return b""
        assert self._lib is not None
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
        return resample_once(native, self._native_rate, INTERNAL_RATE).tobytes()

    async def synthesize(self, text: str) -> bytes:
        job = _Job(text)
        future = asyncio.get_running_loop().run_in_executor(self._executor, self._run, job)
        try:
            pcm = await asyncio.shield(future)
        except asyncio.CancelledError:
            job.cancelled.set()
            self.cancelled += 1
            raise
        self.completed += 1
        return pcm

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
