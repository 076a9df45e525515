"""How each setting is reached from outside: its flag, its environment variable,
its TOML key, its group, whether it is a secret. The command line and the
settings reference page are both built from this, so neither can drift from
the settings model."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic.fields import FieldInfo

from gateway.runtime.config import Settings

ENV_PREFIX = "SLUICE_"

GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # (title, name prefixes); a setting goes to the first group with a prefix it has.
    ("Server", ("host", "port", "public_url", "log_level", "workers", "insecure",
                "allowed_hosts", "drain_timeout_s")),
    ("Admission and limits", ("max_calls", "pending_", "inbound_burst_ms", "retry_after_s",
                              "output_queue_ms", "stall_timeout_s", "flow_mode")),
    ("Cluster", ("redis_url", "node_url", "cluster_")),
    ("Conversation and interruptions", ("greeting", "interrupt_", "vad_")),
    ("Agent", ("agent", "system_prompt", "openai_base_url", "openai_model", "openai_api_key",
               "tools", "tool_timeout_s")),
    ("Voice: OpenAI Realtime", ("voice", "openai_realtime_")),
    ("Voice: Gemini Live", ("gemini_",)),
    ("Speech to text", ("stt",)),
    ("Text to speech", ("tts",)),
    ("Browser", ("browser_", "call_records_token")),
    ("WebRTC", ("webrtc_",)),
    ("Call control", ("end_call_tool", "transfer_", "outbound_", "voicemail_")),
    ("Twilio", ("twilio_",)),
    ("Other carriers", ("carriers", "carrier", "signalwire_", "telnyx_", "plivo_", "vonage_",
                        "exotel_", "asterisk_")),
)  # fmt: skip

SECRET_SUFFIXES = ("_key", "_token", "_secret", "_credential", "_headers")
"""Also headers: they carry an agent socket's credentials."""


@dataclass(frozen=True)
class Option:
    """One setting, as a user reaches it."""

    name: str
    field: FieldInfo

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def secret(self) -> bool:
        return self.name.endswith(SECRET_SUFFIXES)

    @property
    def choices(self) -> tuple[str, ...] | None:
        if typing.get_origin(self.field.annotation) is Literal:
            return typing.get_args(self.field.annotation)
        return None

    @property
    def kind(self) -> type:
        """bool, int, float or str: what a flag's text is parsed as."""
        annotation = self.field.annotation
        if isinstance(annotation, types.UnionType) or self.choices is not None:
            return str
        return annotation if annotation in (bool, int, float) else str

    @property
    def type_label(self) -> str:
        if self.choices is not None:
            return " | ".join(self.choices)
        return self.kind.__name__

    @property
    def default(self) -> Any:
        return self.field.default

    @property
    def default_label(self) -> str:
        if self.secret and self.default:
            return "(set)"
        if self.default == "":
            return '""'
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        return str(self.default)

    @property
    def description(self) -> str:
        text = self.field.description or ""
        return text[:1].upper() + text[1:]

    @property
    def bounds(self) -> str:
        """The range a number must fall in, as the model checks it."""
        parts = []
        for rule in self.field.metadata:
            for attr, word in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
                value = getattr(rule, attr, None)
                if value is not None:
                    parts.append(f"{word} {value}")
        return ", ".join(parts)


def group_of(name: str) -> str:
    for title, prefixes in GROUPS:
        # "stt" holds stt and stt_*; "pending_" holds pending_*.
        if any(name == p or name.startswith(p if p.endswith("_") else p + "_") for p in prefixes):
            return title
    raise LookupError(f"setting {name} is in no group: add it to GROUPS in {__name__}")


def options(model: type[Settings] = Settings) -> Iterator[Option]:
    for name, field in model.model_fields.items():
        yield Option(name, field)


def grouped(model: type[Settings] = Settings) -> list[tuple[str, list[Option]]]:
    """The settings in the order of GROUPS, each group in the model's order."""
    by_group: dict[str, list[Option]] = {title: [] for title, _ in GROUPS}
    for option in options(model):
        by_group[group_of(option.name)].append(option)
    return [(title, found) for title, found in by_group.items() if found]
