"""Logging that carries the call id of whatever task emits the line, and that a
peer cannot forge lines into.

Peer strings are logged quoted (`%r`) where they are written; as a second
guard, every message has its control characters escaped before it is
formatted, so a CallSid or mark name holding a newline stays on its own line,
and so has every traceback's exception text.
"""

from __future__ import annotations

import contextvars
import logging
import re

call_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("call_id", default="-")

_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F) if c != 0x09}
_CONTROL.update({0x0A: "\\n", 0x0D: "\\r"})


def escape_control(text: str) -> str:
    return text.translate(_CONTROL)


_TRACEBACK_FRAMING = ("Traceback (", "During handling of", "The above exception", " ")


def escape_traceback(text: str) -> str:
    """A traceback keeps its own lines (its frames are indented, its headers are
    Python's), but an exception's message can hold newlines a peer chose (a tool
    argument's name): such a line joins the one before it, escaped, so that no
    line of a traceback can pass for a log record."""
    lines: list[str] = []
    for line in text.split("\n"):
        line = escape_control(line)
        if lines and line and not line.startswith(_TRACEBACK_FRAMING) and _in_message(lines):
            lines[-1] += "\\n" + line
        else:
            lines.append(line)
    return "\n".join(lines)


def _in_message(lines: list[str]) -> bool:
    """The previous line is an exception's own text (not a frame or a header)."""
    last = lines[-1]
    return bool(last) and not last.startswith(_TRACEBACK_FRAMING)


class EscapingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # logging caches a record's traceback text: one formatted by another
        # handler first (unescaped) must not be reused here.
        cached, record.exc_text = record.exc_text, None
        try:
            return super().format(record)
        finally:
            record.exc_text = cached

    def formatException(self, ei) -> str:  # noqa: ANN001, N802 - logging's names
        return escape_traceback(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return escape_traceback(super().formatStack(stack_info))


_URL_TOKEN = re.compile(r"([?&]token=)[^&\s\"']+")


def redact_url_tokens(message: str) -> str:
    """A carrier that dials a fixed URL (Exotel, Asterisk) carries its secret
    as `?token=`; the server's access lines would write it to every log."""
    return _URL_TOKEN.sub(r"\1…", message) if "token=" in message else message


class CallIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.call_id = call_id_var.get()
        message = record.getMessage()
        escaped = redact_url_tokens(escape_control(message))
        if escaped != message or record.args:
            record.msg, record.args = escaped, None
        return True


FORMAT = "%(asctime)s %(levelname)s %(name)s call=%(call_id)s %(message)s"


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.addFilter(CallIdFilter())
    handler.setFormatter(
        EscapingFormatter(FORMAT)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
