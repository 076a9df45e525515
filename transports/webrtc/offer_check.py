"""What an offer must hold before the gateway builds a peer connection for it:
a DTLS fingerprint in a hash aiortc can check (without one aiortc accepts the
offer and fails later, inside a task, with a traceback), and no more candidates
than the gateway will send connectivity checks to. Pure text checks: no
peer connection, no socket, no task exists yet."""

from __future__ import annotations

FINGERPRINT_HASHES = frozenset({"sha-256", "sha-384", "sha-512"})
"""The hashes aiortc verifies a DTLS certificate with."""


def count_candidates(sdp: str) -> int:
    """Every line aiortc could read as a candidate, however the lines are broken."""
    return sum(1 for line in sdp.splitlines() if line.startswith("a=candidate"))


def offer_problem(sdp: str, max_candidates: int) -> str | None:
    """Why this offer is refused (400), or None."""
    candidates = count_candidates(sdp)
    fingerprints: list[str] = []
    for line in sdp.splitlines():
        if line.startswith("a=fingerprint:"):
            algorithm, _, value = line[len("a=fingerprint:") :].strip().partition(" ")
            fingerprints.append(algorithm.lower())
            if not value.strip():
                return "a DTLS fingerprint with no value"
    if candidates > max_candidates:
        # Each remote candidate gets connectivity checks: an offer must not aim them anywhere.
        return f"{candidates} candidates; at most {max_candidates}"
    if not fingerprints:
        return "no DTLS fingerprint (a=fingerprint): the media could not be authenticated"
    unsupported = sorted(set(fingerprints) - FINGERPRINT_HASHES)
    if unsupported:
        return f"DTLS fingerprint hash {unsupported[0][:20]!r} is not one of sha-256/384/512"
    return None
