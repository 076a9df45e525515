"""The seam between the call and a transport: everything an adapter uses of
the call.

A transport package imports the call's types from here and nothing else of
`gateway.call`: the `Call` it feeds, the `Transport` protocol it implements,
the chunk it sends, the points it asks the far end to confirm, the clear, the
events, and the one `Confirmation` type it reports playout with
(`Call.confirm`). Besides this module an adapter may use the shared libraries
below the call (`gateway.audio`, `gateway.flow`, `gateway.observe`) and the
process's services (`gateway.access`, `gateway.cluster`, `gateway.runtime`);
`tests/unit/test_import_layers.py` holds it to that.
"""

from __future__ import annotations

from gateway.audio.frames import AudioChunk
from gateway.call.call import Call
from gateway.call.call_actions import CallControl, ControlFailed
from gateway.call.events import CallEvent
from gateway.call.records import Aliases
from gateway.call.transport import Transport
from gateway.flow.confirmation import (
    Cleared,
    Confirmation,
    Mark,
    PlayedTo,
    PointReached,
    RanDry,
    RoomGranted,
)
from gateway.pipeline.agent import CallInfo
from gateway.voice.call_tools import allowed as transfer_allowed
from gateway.voice.call_tools import parse_allow

__all__ = [
    "Aliases",
    "AudioChunk",
    "Call",
    "CallControl",
    "CallEvent",
    "CallInfo",
    "Cleared",
    "Confirmation",
    "ControlFailed",
    "Mark",
    "PlayedTo",
    "PointReached",
    "RanDry",
    "RoomGranted",
    "Transport",
    "parse_allow",
    "transfer_allowed",
]
