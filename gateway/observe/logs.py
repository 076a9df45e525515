"""Logging that carries the call id of whatever task emits the line, and that a
peer cannot forge lines into.

Peer strings are logged quoted (`%r`) where they are written; as a second
guard, every message has its control characters escaped before it is
formatted, so a CallSid or mark name holding a newline stays on its own line.
"""

from __future__ import annotations

import contextvars
import logging

call_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("call_id", default="-")

_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F) if c != 0x09}
_CONTROL.update({0x0A: "\\n", 0x0D: "\\r"})


def escape_control(text: str) -> str:
    return text.translate(_CONTROL)


class CallIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.call_id = call_id_var.get()
        message = record.getMessage()
        escaped = escape_control(message)
        if escaped != message or record.args:
            record.msg, record.args = escaped, None
        return True


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.addFilter(CallIdFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s call=%(call_id)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
