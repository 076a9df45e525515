"""The call-control tools every voice offers its model: `end_call` and, where
the wire can hand a call over, `transfer_call`.

They do not act: they ask the call, which carries the action out once the
caller has heard the last words (gateway/call/call_actions.py). A destination
is checked here, against `transfer_allow`, so that a prompt injection cannot
send a caller to any number: the model gets the refusal as the tool's error
and can say so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from gateway.pipeline.tools import ToolFunction, tool
from gateway.voice.session import EndWhenHeard, TransferWhenHeard, VoiceEvent

MAX_ANNOUNCEMENT_CHARS = 300
_DIAL_NOISE = re.compile(r"[\s().-]")


@dataclass(frozen=True, slots=True)
class CallToolOptions:
    end_call: bool = True
    transfer_allow: tuple[str, ...] = ()
    """Numbers or glob patterns ("+1555*", "sip:*@support.example.com"); empty: none."""
    can_transfer: bool = False
    """The wire can hand the call over (a carrier with a REST API and its credentials)."""

    @property
    def transfer(self) -> bool:
        return self.can_transfer and bool(self.transfer_allow)


def parse_allow(setting: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in setting.split(",") if p.strip())


def destination(to: str) -> str:
    """A number as dialled ("+1 (555) 123-0000" is "+15551230000"); a SIP address as given."""
    to = to.strip()
    return to if to.startswith("sip:") else _DIAL_NOISE.sub("", to)


def allowed(to: str, patterns: tuple[str, ...]) -> bool:
    number = destination(to)
    return bool(number) and any(fnmatchcase(number, destination(p)) for p in patterns)


class CallTools:
    """One call's control tools, bound to the call's voice output once it runs."""

    def __init__(self, options: CallToolOptions) -> None:
        self.options = options
        self._emit: Callable[[VoiceEvent], None] | None = None

    def bind(self, emit: Callable[[VoiceEvent], None]) -> None:
        self._emit = emit

    def _ask(self, event: VoiceEvent) -> None:
        if self._emit is None:
            raise RuntimeError("the call is not running")
        self._emit(event)

    def transfer(self, to: str, announcement: str = "") -> bool:
        """Ask the call to hand the caller to `to`; False where it may not go
        (this wire cannot transfer, or `to` is not in `transfer_allow`)."""
        if not self.options.transfer or not allowed(to, self.options.transfer_allow):
            return False
        self._ask(TransferWhenHeard(destination(to), announcement[:MAX_ANNOUNCEMENT_CHARS]))
        return True

    def functions(self) -> list[ToolFunction]:
        functions: list[ToolFunction] = []
        if self.options.end_call:
            functions.append(self._end_call())
        if self.options.transfer:
            functions.append(self._transfer_call())
        return functions

    def _end_call(self) -> ToolFunction:
        @tool(
            description="Hang up. Say goodbye first: the call ends once the caller has heard "
            "everything you said, unless they talk over your goodbye, which keeps the call going.",
            parameters={
                "type": "object",
                "properties": {"reason": {"type": "string", "description": "why, for the log"}},
                "required": [],
            },
        )
        async def end_call(reason: str = "") -> dict[str, Any]:
            self._ask(EndWhenHeard("agent ended", interruptible=True))
            return {"ok": True, "note": "The call ends once your last words are heard."}

        return end_call

    def _transfer_call(self) -> ToolFunction:
        @tool(
            description="Hand the caller to a person at `to` (a phone number or SIP address). "
            '`announcement` is spoken first, for example "I\'ll put you through"; the '
            "transfer happens once the caller has heard it.",
            parameters={
                "type": "object",
                "properties": {
                    "to": {"type": "string"},
                    "announcement": {"type": "string"},
                },
                "required": ["to"],
            },
        )
        async def transfer_call(to: str, announcement: str = "") -> dict[str, Any]:
            if not isinstance(to, str) or not self.transfer(to, str(announcement)):
                raise PermissionError(f"{str(to)[:40]!r} is not a destination this call may use")
            return {"ok": True, "note": "The caller is transferred once they have heard it."}

        return transfer_call
