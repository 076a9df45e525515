"""What the fake OpenAI Realtime server needs besides the protocol itself: the GA session
shape and its checks, G.711, a reply tone, and an energy detector standing in for server VAD.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import soxr

FORMAT_RATES = {"audio/pcm": 24000, "audio/pcmu": 8000, "audio/pcma": 8000}
BLOCK_MS = 20
CLIENT_EVENTS = (
    "session.update", "input_audio_buffer.append", "input_audio_buffer.commit",
    "input_audio_buffer.clear", "conversation.item.create", "conversation.item.retrieve",
    "conversation.item.truncate", "conversation.item.delete", "response.create", "response.cancel",
)  # fmt: skip
BETA_REFUSED = (
    "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API."
)
RATE_LIMITS = [
    {"name": "requests", "limit": 5000, "remaining": 4999, "reset_seconds": 0.012},
    {"name": "tokens", "limit": 40000, "remaining": 39000, "reset_seconds": 1.5},
]
USAGE = {
    "total_tokens": 120, "input_tokens": 80, "output_tokens": 40,
    "input_token_details": {"text_tokens": 60, "audio_tokens": 20, "cached_tokens": 0},
    "output_token_details": {"text_tokens": 10, "audio_tokens": 30},
}  # fmt: skip


class RealtimeError(Exception):
    """A client mistake the server answers with an `error` event; the session stays open."""

    def __init__(self, code: str | None, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.param = code, message, param
        self.kind = "invalid_request_error"


def missing(param: str) -> RealtimeError:
    return RealtimeError(
        "missing_required_parameter", f"Missing required parameter: '{param}'.", param
    )


def invalid(param: str, value: Any, extra: str = "") -> RealtimeError:
    return RealtimeError("invalid_value", f"Invalid value: '{value}'.{extra}", param)


# --- audio -----------------------------------------------------------------


def _ulaw_value(code: int) -> int:
    u = ~code & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return 0x84 - t if u & 0x80 else t - 0x84


def _alaw_value(code: int) -> int:
    a = code ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = t + 8 if seg == 0 else (t + 0x108) << max(seg - 1, 0)
    return t if a & 0x80 else -t


_DECODE = {
    "audio/pcmu": np.array([_ulaw_value(c) for c in range(256)], dtype=np.int16),
    "audio/pcma": np.array([_alaw_value(c) for c in range(256)], dtype=np.int16),
}


def _encoder(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Nearest-codeword quantisation: exact on decoded values, and a fake needs no more.
    order = np.argsort(table, kind="stable")
    values = table[order].astype(np.float64)
    return (values[1:] + values[:-1]) / 2, order.astype(np.uint8)


_ENCODE = {fmt: _encoder(table) for fmt, table in _DECODE.items()}


def sample_width(fmt: str) -> int:
    return 2 if fmt == "audio/pcm" else 1


def decode(fmt: str, data: bytes) -> np.ndarray:
    """Wire bytes in `fmt` to int16 samples at the format's own rate."""
    if fmt == "audio/pcm":
        return np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.int16)
    return _DECODE[fmt][np.frombuffer(data, dtype=np.uint8)]


def encode(fmt: str, pcm24k: bytes) -> bytes:
    """24 kHz int16 LE audio to wire bytes in `fmt` (the G.711 formats are 8 kHz)."""
    if fmt == "audio/pcm":
        return pcm24k
    low = soxr.resample(np.frombuffer(pcm24k, dtype="<i2"), 24000, 8000)
    mids, codes = _ENCODE[fmt]
    return codes[np.searchsorted(mids, low.astype(np.float64))].tobytes()


def tone_pcm24k(ms: int, hz: float = 440.0, dbfs: float = -12.0) -> bytes:
    t = np.arange(24000 * ms // 1000) / 24000.0
    return (32767 * 10 ** (dbfs / 20) * np.sin(2 * math.pi * hz * t)).astype("<i2").tobytes()


def level_dbfs(samples: np.ndarray) -> float:
    if samples.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
    return 20 * math.log10(max(rms, 1e-3) / 32768.0)


class EnergyVad:
    """Stands in for server VAD: a run of loud 20 ms blocks starts speech, a run of quiet
    ones ends it. Positions are ms into all the audio the session received."""

    def __init__(self, threshold_dbfs: float, start_ms: int, default_silence_ms: int) -> None:
        self.threshold_dbfs, self.start_ms = threshold_dbfs, start_ms
        self.default_silence_ms = default_silence_ms
        self._residual, self._pos_ms = b"", 0.0
        self.reset()

    def reset(self, drop_residual: bool = False) -> None:
        self.in_speech = False
        self._loud_ms = self._quiet_ms = 0
        self._first_loud_ms = 0.0
        if drop_residual:
            self._residual = b""

    def feed(self, fmt: str, raw: bytes, td: dict[str, Any] | None) -> list[tuple[str, int]]:
        """Appended wire audio in; ("start", audio_start_ms) / ("stop", audio_end_ms) out."""
        block = FORMAT_RATES[fmt] * BLOCK_MS // 1000 * sample_width(fmt)
        buf = self._residual + raw
        whole = len(buf) // block * block
        self._residual, hits = buf[whole:], []
        server_vad = td is not None and td["type"] == "server_vad"
        silence = (td.get("silence_duration_ms") if server_vad else None) or self.default_silence_ms
        prefix = td.get("prefix_padding_ms", 300) if server_vad else 0
        for offset in range(0, whole, block):
            start, self._pos_ms = self._pos_ms, self._pos_ms + BLOCK_MS
            if td is not None:
                hit = self._block(decode(fmt, buf[offset : offset + block]), start, silence, prefix)
                hits += [hit] if hit else []
        return hits

    def _block(
        self, samples: np.ndarray, start_ms: float, silence_ms: int, prefix_ms: int
    ) -> tuple[str, int] | None:
        loud = level_dbfs(samples) > self.threshold_dbfs
        if not self.in_speech:
            if not loud:
                self._loud_ms = 0
                return None
            if self._loud_ms == 0:
                self._first_loud_ms = start_ms
            self._loud_ms += BLOCK_MS
            if self._loud_ms < self.start_ms:
                return None
            self.in_speech, self._quiet_ms = True, 0
            # The real audio_start_ms reaches back by the configured prefix padding.
            return "start", int(max(0.0, self._first_loud_ms - prefix_ms))
        self._quiet_ms = 0 if loud else self._quiet_ms + BLOCK_MS
        if self._quiet_ms < silence_ms:
            return None
        self.in_speech, self._loud_ms = False, 0
        # The real audio_end_ms includes the silence that ended the turn.
        return "stop", int(start_ms + BLOCK_MS)


# --- GA shapes -------------------------------------------------------------


def default_session(
    model: str, session_id: str, silence_ms: int, expires_at: int
) -> dict[str, Any]:
    pcm = {"type": "audio/pcm", "rate": 24000}
    vad = {
        "type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
        "silence_duration_ms": silence_ms, "idle_timeout_ms": None,
        "create_response": True, "interrupt_response": True,
    }  # fmt: skip
    inp = {"format": pcm, "transcription": None, "noise_reduction": None, "turn_detection": vad}
    return {
        "type": "realtime", "object": "realtime.session", "id": session_id, "model": model,
        "output_modalities": ["audio"], "instructions": "You are a helpful AI.",
        "tools": [], "tool_choice": "auto", "max_output_tokens": "inf", "tracing": None,
        "truncation": "auto", "prompt": None, "include": None, "expires_at": expires_at,
        "audio": {"input": inp, "output": {"format": dict(pcm), "voice": "marin", "speed": 1.0}},
    }  # fmt: skip


_SESSION_KEYS = {
    "type", "audio", "include", "instructions", "max_output_tokens", "model", "output_modalities",
    "prompt", "tool_choice", "tools", "tracing", "truncation", "parallel_tool_calls", "reasoning",
}  # fmt: skip
_RESPONSE_KEYS = {
    "audio", "conversation", "input", "instructions", "max_output_tokens", "metadata",
    "output_modalities", "prompt", "tool_choice", "tools", "parallel_tool_calls", "reasoning",
}  # fmt: skip
_ITEM_REQUIRED = {
    "message": ("role", "content"),
    "function_call_output": ("call_id", "output"),
    "function_call": ("name", "call_id", "arguments"),
}


def _unknown_keys(obj: Any, allowed: set[str], path: str) -> None:
    # GA dropped the beta flat fields (voice, modalities, input_audio_format, ...): they land here.
    if not isinstance(obj, dict):
        raise RealtimeError("invalid_type", f"Invalid type for '{path}': expected an object.", path)
    for key in obj:
        if key not in allowed:
            raise RealtimeError(
                "unknown_parameter", f"Unknown parameter: '{path}.{key}'.", f"{path}.{key}"
            )


def _check_format(fmt: Any, path: str) -> None:
    kind = fmt.get("type") if isinstance(fmt, dict) else fmt
    if kind not in FORMAT_RATES:
        raise invalid(
            f"{path}.type", kind, " Supported values are: 'audio/pcm', 'audio/pcmu', 'audio/pcma'."
        )
    if kind == "audio/pcm" and fmt.get("rate", 24000) != 24000:
        raise invalid(f"{path}.rate", fmt.get("rate"), " Only 24000 is supported for audio/pcm.")


def check_session(update: Any) -> None:
    """Raise RealtimeError for what the GA server refuses in `session.update`."""
    if not isinstance(update, dict):
        raise missing("session")
    if update.get("type") != "realtime":
        raise (
            missing("session.type")
            if "type" not in update
            else invalid("session.type", update["type"])
        )
    _unknown_keys(update, _SESSION_KEYS, "session")
    mods = update.get("output_modalities")
    if mods is not None and mods not in (["audio"], ["text"]):
        raise invalid(
            "session.output_modalities",
            mods,
            " Supported combinations are: ['text'] and ['audio'].",
        )
    sides = update.get("audio", {})
    _unknown_keys(sides, {"input", "output"}, "session.audio")
    inp, out = sides.get("input", {}), sides.get("output", {})
    _unknown_keys(
        inp, {"format", "noise_reduction", "transcription", "turn_detection"}, "session.audio.input"
    )
    _unknown_keys(out, {"format", "voice", "speed"}, "session.audio.output")
    for side, path in ((inp, "session.audio.input.format"), (out, "session.audio.output.format")):
        if "format" in side:
            _check_format(side["format"], path)
    td = inp.get("turn_detection")
    kind = td.get("type") if isinstance(td, dict) else td
    if td is not None and kind not in ("server_vad", "semantic_vad"):
        raise invalid("session.audio.input.turn_detection.type", kind)


def check_response_params(params: Any) -> None:
    _unknown_keys(params, _RESPONSE_KEYS, "response")


def check_item(item: Any) -> None:
    """What conversation.item.create must carry, by item type."""
    if not isinstance(item, dict):
        raise missing("item")
    required = _ITEM_REQUIRED.get(item.get("type"))
    if required is None:
        raise invalid("item.type", item.get("type"))
    for key in required:
        if key not in item:
            raise missing(f"item.{key}")
    if item["type"] == "message" and item["role"] not in ("user", "system", "assistant"):
        raise invalid("item.role", item["role"])


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Only the fields present change; an explicit null clears (turn_detection: null)."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        # Formats and turn detection are replaced whole: pcm's rate must not stick to pcmu.
        if key in ("audio", "input", "output") and isinstance(value, dict):
            out[key] = merge(out.get(key) or {}, value)
        else:
            out[key] = copy.deepcopy(value)
    return out
