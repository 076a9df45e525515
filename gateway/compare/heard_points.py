"""What a listener heard, read from a timeline of (instant, audio heard so far).

The page in Chromium keeps such a timeline, every 48 ms, stamped on the audio
clock: the player's count of samples played over WebSocket, the meter's count
of voiced samples on the browser's WebRTC output. An instant where the count
grew is an instant the listener was hearing the agent. Pure functions, so that the
measures can be checked without a browser.
"""

from __future__ import annotations

from collections.abc import Sequence

Points = Sequence[tuple[float, float]]
"""(instant in seconds, milliseconds heard so far), in time order."""

QUIET_S = 0.12
"""As the synthetic listener's talk-over: longer than two report intervals,
shorter than the pause it finds."""


def growth(points: Points, after: float = float("-inf")) -> list[float]:
    """The instants after `after` at which the heard count grew."""
    grew: list[float] = []
    previous: float | None = None
    for at, heard in points:
        if previous is not None and heard > previous and at > after:
            grew.append(at)
        previous = heard
    return grew


def talk_over_s(points: Points, onset: float, until: float, quiet_s: float = QUIET_S) -> float:
    """Seconds the listener heard the agent after their own `onset`: up to the
    last growth before a quiet of `quiet_s`, and at most up to `until`."""
    last = onset
    for at in growth(points, onset):
        if at >= until or at - last >= quiet_s:
            break
        last = at
    return last - onset


def resumed_at(points: Points, instant: float) -> float | None:
    """The first instant after `instant` at which the listener heard audio again."""
    return next(iter(growth(points, instant)), None)


def span_s(points: Points, after: float = float("-inf")) -> float:
    """From the first growth after `after` to the last: how long what was heard
    took to hear, its pauses included."""
    grew = growth(points, after)
    return grew[-1] - grew[0] if len(grew) > 1 else 0.0


def heard_ms(points: Points) -> float:
    return points[-1][1] - points[0][1] if points else 0.0
