"""Resampling at the transport edge.

Measured here, for 20 ms frames:
- soxr's streaming resampler holds back 100 ms or more before its first output
  at every quality above "quick": too late for speech going out to a caller.
- libswresample (PyAV) holds about 2 ms and costs about 17 µs a frame with a
  reused input frame: used for every downsampling stream (agent audio out),
  where a proper anti-aliasing filter matters.
- soxr "quick" holds 0.25 ms and costs about 4 µs: used for upsampling caller
  audio, which is already band-limited (telephony is under 4 kHz), so the
  quick filter's images sit 47 dB down, far below anything VAD or STT hear.
- soxr one-shot (HQ) for whole, finished pieces: a synthesized sentence.

Threads: PyAV's own AudioResampler builds a filter graph with FFmpeg's default
thread count (one per core), and the codecs do the same. A call holds several
of them, and their threads live until the cyclic collector frees the objects:
after a few dozen calls the process held 60 idle native threads. Every graph
and codec here runs on one thread (a 20 ms mono frame has nothing to split).
"""

from __future__ import annotations

import av
import numpy as np
import soxr


class MonoResampler:
    """libswresample through a one-thread filter graph: frames in, int16 mono out.

    The same graph PyAV's AudioResampler builds (abuffer -> aformat -> sink),
    built from the first frame, with `threads = 1` set before it is configured.
    """

    def __init__(self, out_rate: int) -> None:
        self.out_rate = out_rate
        self._graph: av.filter.Graph | None = None

    def _build(self, frame: av.AudioFrame) -> av.filter.Graph:
        graph = av.filter.Graph()
        graph.threads = 1
        source = graph.add(
            "abuffer",
            sample_rate=str(frame.sample_rate),
            sample_fmt=frame.format.name,
            channel_layout=frame.layout.name,
        )
        convert = graph.add(
            "aformat", sample_rates=str(self.out_rate), sample_fmts="s16", channel_layouts="mono"
        )
        sink = graph.add("abuffersink")
        source.link_to(convert)
        convert.link_to(sink)
        graph.configure()
        return graph

    def resample(self, frame: av.AudioFrame) -> list[av.AudioFrame]:
        if self._graph is None:
            self._graph = self._build(frame)
        self._graph.push(frame)
        out: list[av.AudioFrame] = []
        while True:
            try:
                out.append(self._graph.pull())
            except (EOFError, av.error.BlockingIOError):
                return out


def one_thread(codec: av.CodecContext) -> av.CodecContext:
    """A codec context that starts no worker threads (see the module docstring)."""
    codec.thread_count = 1
    return codec


class StreamResampler:
    """Resamples one continuous mono int16 stream; `reset` between unrelated streams.

    A new turn is an unrelated stream: resetting drops the old turn's last
    two milliseconds instead of smearing them into the next turn's first frame.
    """

    def __init__(self, in_rate: int, out_rate: int, band_limited: bool = True) -> None:
        """`band_limited`: upsampled input (telephony, caller audio) may take soxr's
        quick filter; agent speech going out to a listener is resampled properly."""
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._up = out_rate > in_rate and band_limited
        self._resampler = self._new()
        # Refilling one input frame per size costs about half of building a
        # new frame from an array each time (17 µs against 30 µs a frame).
        self._frames: dict[int, av.AudioFrame] = {}

    def _new(self) -> MonoResampler | soxr.ResampleStream:
        if self._up:
            return soxr.ResampleStream(self.in_rate, self.out_rate, 1, dtype="int16", quality="QQ")
        return MonoResampler(self.out_rate)

    def _input_frame(self, samples: np.ndarray) -> av.AudioFrame:
        frame = self._frames.get(samples.size)
        if frame is None:
            if len(self._frames) >= 8:
                self._frames.clear()
            frame = av.AudioFrame(format="s16", layout="mono", samples=samples.size)
            frame.sample_rate = self.in_rate
            self._frames[samples.size] = frame
        frame.planes[0].update(samples.astype(np.int16, copy=False).tobytes())
        frame.pts = None
        return frame

    def process(self, samples: np.ndarray) -> np.ndarray:
        if self.in_rate == self.out_rate or samples.size == 0:
            return samples
        if self._up:
            return self._resampler.resample_chunk(samples.astype(np.int16, copy=False))
        out = self._resampler.resample(self._input_frame(samples))
        parts = [np.frombuffer(bytes(f.planes[0]), dtype=np.int16)[: f.samples] for f in out]
        if not parts:
            return np.zeros(0, dtype=np.int16)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def reset(self) -> None:
        self._resampler = self._new()


def resample_once(samples: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """Resample a whole, finished piece of audio (a synthesized sentence)."""
    if in_rate == out_rate:
        return samples
    out = soxr.resample(samples, in_rate, out_rate, quality="HQ")
    return np.asarray(out, dtype=np.int16)
