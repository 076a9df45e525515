"""When the caller's voice may cut the agent: the interruption policy.

A voice over the agent first pauses the turn (a provisional interrupt); the
policy says what confirms it as a barge-in, and which sounds never do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BACKCHANNEL_WORDS = frozenset(
    """
    hm hmm hmmm mm mmm mhm mm-hm uh-huh uh huh yeah yes yep yup ok okay right sure
    uh um ah oh aha i see got it alright
    """.split()
)
"""Sounds a listener makes to say "go on". Multi-word entries are matched word
by word, so "i see" is two backchannel words."""

_WORD = re.compile(r"[a-z']+(?:-[a-z']+)*")


@dataclass(frozen=True, slots=True)
class InterruptPolicy:
    """When the caller's speech may cut the agent. Speech the policy lets pass
    over a protected turn is still heard: it is answered once the turn it spoke
    over has played out. Speech that only paused a turn (a backchannel) is not."""

    greeting: bool = True
    """The caller may cut the greeting (off: a greeting that must be heard whole,
    such as a recording notice)."""
    while_thinking: bool = True
    """The caller may cut a reply before its first word plays (off: the question
    asked is answered first, and what the caller added gets the next turn)."""
    provisional: bool = True
    """Pause the agent at the caller's first voiced window and confirm later (off:
    the whole barge-in runs when the detector declares speech, as before)."""
    min_speech_ms: int = 640
    """Voice held this long since its onset confirms the interruption. The
    default sits above every backchannel eSpeak makes ("mhm", the longest, is
    voiced for 608 ms) and below the first 0.7 s of a spoken objection."""
    min_words: int = 0
    """When above 0, words confirm instead of length: the transcript must hold
    this many words that are not backchannels. Worth it with a recogniser that
    hears a "hm" as a "hm": the offline Whisper tiny.en hears "stop", "no" and
    "wait" right, but a short "hm" as "them" (PocketSphinx: "i am")."""
    backchannel_words: frozenset[str] = BACKCHANNEL_WORDS

    def meaningful_words(self, text: str) -> int:
        """Words of `text` that are not backchannels."""
        words = _WORD.findall(text.lower())
        return sum(1 for w in words if w not in self.backchannel_words)

    def words_confirm(self, text: str) -> bool:
        return self.min_words > 0 and self.meaningful_words(text) >= self.min_words
