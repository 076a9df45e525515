"""Opus straight from libopus, for the WebRTC wire's 20 ms frames.

PyAV's `libopus` encoder context pushes every frame through a libavfilter graph
first (libopus takes fixed-size frames, so PyAV re-chunks everything it is
given), and its `opus` decoder always gives 48 kHz that then needs resampling
to the pipeline's 16 kHz. On 20 ms frames of recorded speech (`python -m
bench.opus`): encoding 78 to 83 µs a frame through PyAV against 56 µs calling
libopus, and decoding to 16 kHz 43 to 45 µs against 16.5 µs from a libopus
decoder opened at 16 kHz. A WebRTC call does both 50 times a second on the
event loop, for the gateway and for the test callers alike.

The library is the libopus PyAV's wheel already bundles and loads (so a pip
install needs nothing more), else the system's. Calls go through ctypes: about
a microsecond each, and the GIL is released while libopus works.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import weakref

import av

APPLICATION_VOIP = 2048
_SET_BITRATE = 4002
_SET_COMPLEXITY = 4010
MAX_PACKET = 1275
"""The largest Opus frame RFC 6716 allows."""
MAX_FRAME_SAMPLES = 5760
"""120 ms at 48 kHz: the longest frame a packet can carry."""


class OpusError(Exception):
    """libopus refused: a bad packet to decode, or a bad setting to open with."""


def _candidates() -> list[str]:
    # auditwheel/delocate put PyAV's bundled libraries beside the package.
    root = os.path.dirname(os.path.dirname(av.__file__))
    bundled = glob.glob(os.path.join(root, "av.libs", "libopus*.so*"))
    bundled += glob.glob(os.path.join(os.path.dirname(av.__file__), ".dylibs", "libopus*.dylib"))
    system = ctypes.util.find_library("opus")
    return sorted(bundled) + ([system] if system else [])


def _load() -> ctypes.CDLL:
    errors = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as error:
            errors.append(f"{path}: {error}")
            continue
        c_int, c_void_p, c_char_p = ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p
        int_p = ctypes.POINTER(c_int)
        lib.opus_encoder_create.restype = c_void_p
        lib.opus_encoder_create.argtypes = [c_int, c_int, c_int, int_p]
        lib.opus_encoder_ctl.restype = c_int
        lib.opus_encoder_ctl.argtypes = [c_void_p, c_int, c_int]
        lib.opus_encode.restype = c_int
        lib.opus_encode.argtypes = [c_void_p, c_char_p, c_int, c_char_p, c_int]
        lib.opus_encoder_destroy.argtypes = [c_void_p]
        lib.opus_decoder_create.restype = c_void_p
        lib.opus_decoder_create.argtypes = [c_int, c_int, int_p]
        lib.opus_decode.restype = c_int
        lib.opus_decode.argtypes = [c_void_p, c_char_p, c_int, c_char_p, c_int, c_int]
        lib.opus_decoder_destroy.argtypes = [c_void_p]
        lib.opus_strerror.restype = c_char_p
        lib.opus_strerror.argtypes = [c_int]
        lib.opus_get_version_string.restype = c_char_p
        return lib
    found = "; ".join(errors) or "none"
    raise ImportError(f"no libopus found (PyAV's bundled copy or the system's): {found}")


_lib: ctypes.CDLL | None = None


def library() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        _lib = _load()
    return _lib


def version() -> str:
    return library().opus_get_version_string().decode()


def _check(code: int, what: str) -> int:
    if code < 0:
        raise OpusError(f"{what}: {library().opus_strerror(code).decode()}")
    return code


class OpusEncoder:
    """One mono or stereo stream at `rate` (8, 12, 16, 24 or 48 kHz): 16-bit
    PCM in, one Opus packet out per call. Opus is rate-agnostic on the wire, so
    any receiver decodes a 16 kHz encoder's packets at 48 kHz."""

    def __init__(
        self,
        rate: int,
        channels: int = 1,
        *,
        bitrate: int,
        complexity: int,
        application: int = APPLICATION_VOIP,
    ) -> None:
        lib = library()
        error = ctypes.c_int()
        handle = lib.opus_encoder_create(rate, channels, application, ctypes.byref(error))
        _check(error.value, "opus_encoder_create")
        self._handle = handle
        self._finalizer = weakref.finalize(self, lib.opus_encoder_destroy, handle)
        _check(lib.opus_encoder_ctl(handle, _SET_BITRATE, bitrate), "bitrate")
        _check(lib.opus_encoder_ctl(handle, _SET_COMPLEXITY, complexity), "complexity")
        self.channels = channels
        self._out = ctypes.create_string_buffer(MAX_PACKET)
        self._encode = lib.opus_encode

    def encode(self, pcm: bytes) -> bytes:
        """`pcm`: one frame (2.5 to 60 ms) of int16 samples, interleaved."""
        samples = len(pcm) // (2 * self.channels)
        size = _check(self._encode(self._handle, pcm, samples, self._out, MAX_PACKET), "encode")
        return self._out.raw[:size]

    def close(self) -> None:
        self._finalizer()


class OpusDecoder:
    """Opus packets in, int16 PCM at `rate` out: libopus decodes straight to
    the rate asked for, so no resampler follows it."""

    def __init__(self, rate: int, channels: int = 1) -> None:
        lib = library()
        error = ctypes.c_int()
        handle = lib.opus_decoder_create(rate, channels, ctypes.byref(error))
        _check(error.value, "opus_decoder_create")
        self._handle = handle
        self._finalizer = weakref.finalize(self, lib.opus_decoder_destroy, handle)
        self.rate = rate
        self.channels = channels
        self._max_samples = MAX_FRAME_SAMPLES * rate // 48_000
        self._out = ctypes.create_string_buffer(self._max_samples * 2 * channels)
        self._decode = lib.opus_decode

    def decode(self, packet: bytes) -> bytes:
        """One packet's PCM. An empty packet is refused: libopus would take it
        as a loss and conceal a whole 120 ms."""
        if not packet:
            raise OpusError("decode: empty packet")
        samples = self._decode(self._handle, packet, len(packet), self._out, self._max_samples, 0)
        samples = _check(samples, "decode")
        return self._out.raw[: samples * 2 * self.channels]

    def close(self) -> None:
        self._finalizer()
