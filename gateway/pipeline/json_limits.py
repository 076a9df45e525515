"""Limits on JSON a model writes (tool arguments), checked on the text before it
is parsed: a deep nest would make the parser recurse until Python gives up,
and a huge one would cost memory, whatever the tool then does with it."""

from __future__ import annotations

MAX_CHARS = 64 * 1024
MAX_DEPTH = 32


def shape_problem(text: str, max_chars: int = MAX_CHARS, max_depth: int = MAX_DEPTH) -> str | None:
    """Why `text` is too large or too deep to parse, or None. One pass over the
    characters, ignoring brackets inside strings."""
    if len(text) > max_chars:
        return f"arguments of {len(text)} characters (at most {max_chars})"
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > max_depth:
                return f"arguments nested more than {max_depth} deep"
        elif char in "]}":
            depth -= 1
    return None
