"""Network profiles: data, so that users can add their own (a JSON file of them)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Profile:
    name: str
    delay_ms: float = 0.0
    """One way, each direction."""
    jitter_ms: float = 0.0
    """Standard deviation of extra one-way delay, per packet (half-normal)."""
    loss: float = 0.0
    """Probability that a packet (UDP) or a segment (TCP) is lost."""
    loss_burst: float = 1.0
    """Mean length of a run of lost packets on the kernel path: 1 is independent
    loss, more is bursty (Gilbert's model) with the same mean loss."""
    rate_kbit: float = 0.0
    """Bandwidth cap per direction; 0 for none."""
    playout: str = "realtime"
    """The listener: "realtime", "slow" (plays 10 % slow) or "stalled" (stops after 2 s)."""

    def to_dict(self) -> dict:
        return asdict(self)


BUILTIN = {
    p.name: p
    for p in [
        Profile("clean"),
        Profile("4g", delay_ms=40, jitter_ms=15, loss=0.01),
        Profile("jitter", delay_ms=40, jitter_ms=30),
        Profile("wifi-bad", delay_ms=80, jitter_ms=40, loss=0.05, rate_kbit=1000),
        Profile("satellite", delay_ms=300, jitter_ms=10),
        Profile("slow-listener", playout="slow"),
        Profile("stalled-listener", playout="stalled"),
    ]
}


def load(names: list[str], extra: Path | None = None) -> list[Profile]:
    known = dict(BUILTIN)
    if extra is not None:
        for entry in json.loads(extra.read_text()):
            known[entry["name"]] = Profile(**entry)
    missing = [n for n in names if n not in known]
    if missing:
        raise ValueError(f"unknown profiles {missing}; known: {sorted(known)}")
    return [known[n] for n in names]
