"""Optional parts of Sluice that come as pip extras, and the startup check that
names the extra when a setting asks for a part that is not installed."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from gateway.runtime.config import Settings


@dataclass(frozen=True)
class Extra:
    setting: str
    value: str
    module: str
    extra: str
    why: str


EXTRAS = (
    Extra("stt", "pocketsphinx", "pocketsphinx", "pocketsphinx",
          "PocketSphinx is kept for comparison; Whisper is the default"),
    Extra("tts", "piper", "piper", "piper",
          "Piper is GPL-3.0-or-later, so it is never installed with the gateway"),
)  # fmt: skip


class MissingExtra(RuntimeError):
    """A setting names a part whose extra is not installed."""


def missing(settings: Settings) -> list[str]:
    """One sentence per setting whose part is not installed, naming the extra."""
    found = []
    for extra in EXTRAS:
        if getattr(settings, extra.setting) != extra.value:
            continue
        if extra.setting == "stt" and settings.voice != "cascade":
            continue  # a speech-to-speech voice loads no recogniser
        if not _installed(extra.module):
            found.append(
                f'{extra.setting} = "{extra.value}" needs an extra that is not installed: '
                f"pip install 'sluice-gateway[{extra.extra}]' ({extra.why})"
            )
    return found


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or blocked install counts as none
        return False


def require(settings: Settings) -> None:
    problems = missing(settings)
    if problems:
        raise MissingExtra("; ".join(problems))
