"""The one error every wire's parser raises for bad input, and the JSON dispatch they share."""

import gc
import json


class ProtocolError(Exception):
    """Bad input from a peer. `kind` names it for logs and metrics (`not_json`, …)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


def dispatch_json(text: str, max_chars: int, key: str, parsers: dict, unknown_kind: str):
    """Parse one JSON text frame and hand it to the parser named by `message[key]`.

    Every wire speaks JSON objects tagged by one field ("event" for Twilio,
    "type" for the browser protocol); the checks before dispatch are the same.
    """
    if len(text) > max_chars:
        raise ProtocolError("oversized", f"message of {len(text)} characters")
    # No collection inside the parser: a deeply nested message takes it to the
    # edge of the stack, where any finalizer the collector ran (another call's
    # resources being freed) would fail with RecursionError and leak.
    collecting = gc.isenabled()
    gc.disable()
    try:
        message = json.loads(text)
    except ValueError as exc:
        raise ProtocolError("not_json", str(exc)) from None
    except RecursionError:
        raise ProtocolError("malformed", "JSON nested too deeply") from None
    finally:
        if collecting:
            gc.enable()
    if not isinstance(message, dict):
        raise ProtocolError("malformed", "a message must be a JSON object")
    tag = message.get(key)
    parser = parsers.get(tag) if isinstance(tag, str) else None
    if parser is None:
        raise ProtocolError(unknown_kind, f"{key} {str(tag)[:40]!r}")
    try:
        return parser(message)
    except ProtocolError:
        raise
    except (ValueError, TypeError, OverflowError, KeyError, AttributeError, RecursionError) as exc:
        # Fail closed: a field of a shape no parser foresaw is bad input, never a crash.
        raise ProtocolError("malformed", f"{tag} {type(exc).__name__}") from None
