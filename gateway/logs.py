"""Logging that carries the call id of whatever task emits the line."""

from __future__ import annotations

import contextvars
import logging

call_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("call_id", default="-")


class CallIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.call_id = call_id_var.get()
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
