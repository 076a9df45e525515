"""Tools a user gives the agent: async Python functions, declared to the model.

`--tools module:object` names a list (or tuple) of async functions, or one
function, or a `Tools`. A function's name, docstring and annotated parameters
become its declaration; `@tool(description=..., parameters=...)` overrides
either. Both the Realtime voice and the OpenAI-compatible chat agent use them.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from gateway.pipeline.json_limits import shape_problem

log = logging.getLogger(__name__)

ToolFunction = Callable[..., Awaitable[Any]]
MAX_OUTPUT_CHARS = 8_000
"""A tool's answer goes into the model's context; a runaway one must not fill it."""

_JSON_TYPES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    dict: "object",
}


class ToolsError(ValueError):
    """The tools spec names nothing usable."""


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    function: ToolFunction

    def realtime_declaration(self) -> dict[str, Any]:
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
        }

    def chat_declaration(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


def tool(
    description: str | None = None, parameters: dict[str, Any] | None = None
) -> Callable[[ToolFunction], ToolFunction]:
    """Declare a function's description or JSON-schema parameters explicitly."""

    def mark(function: ToolFunction) -> ToolFunction:
        function.__sluice_tool__ = {"description": description, "parameters": parameters}  # type: ignore[attr-defined]
        return function

    return mark


def _json_type(hint: Any) -> str:
    """`list[str]` is an array, `int | None` an integer: the outer type, and
    the one type an optional stands for."""
    args = [a for a in get_args(hint) if a is not type(None)]
    origin = get_origin(hint)
    if origin in (Union, UnionType) and len(args) == 1:
        return _json_type(args[0])
    return _JSON_TYPES.get(origin or hint, "string")


def _schema(function: ToolFunction) -> dict[str, Any]:
    hints = get_type_hints(function)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, param in inspect.signature(function).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        properties[name] = {"type": _json_type(hints.get(name, str))}
        if param.default is inspect.Parameter.empty:
            required.append(name)
    return {"type": "object", "properties": properties, "required": required}


def as_tool(function: ToolFunction) -> Tool:
    if not inspect.iscoroutinefunction(function):
        raise ToolsError(f"{function!r} is not an async function")
    declared = getattr(function, "__sluice_tool__", {})
    description = declared.get("description") or inspect.getdoc(function) or function.__name__
    parameters = declared.get("parameters") or _schema(function)
    return Tool(function.__name__, description, parameters, function)


class Tools:
    def __init__(self, functions: list[ToolFunction] | None = None, timeout_s: float = 10.0):
        self.timeout_s = timeout_s
        self.by_name: dict[str, Tool] = {}
        for function in functions or []:
            t = as_tool(function)
            self.by_name[t.name] = t

    def __bool__(self) -> bool:
        return bool(self.by_name)

    def with_functions(self, functions: list[ToolFunction]) -> Tools:
        """These tools and `functions` (one call's own, such as end_call); a
        user's tool of the same name keeps its place."""
        combined = Tools(timeout_s=self.timeout_s)
        combined.by_name = dict(self.by_name)
        for function in functions:
            t = as_tool(function)
            combined.by_name.setdefault(t.name, t)
        return combined

    def realtime_declarations(self) -> list[dict[str, Any]]:
        return [t.realtime_declaration() for t in self.by_name.values()]

    def chat_declarations(self) -> list[dict[str, Any]]:
        return [t.chat_declaration() for t in self.by_name.values()]

    async def run(self, name: str, arguments: str) -> tuple[dict[str, Any], Any, str | None]:
        """Returns (the parsed arguments, the result, an error); never raises
        for the tool's own failure: the model is told, and carries on."""
        problem = shape_problem(arguments or "")
        if problem is not None:
            log.warning("tool %r refused: %s", name[:80], problem)
            return {}, None, f"bad arguments: {problem}"
        try:
            args = json.loads(arguments or "{}")
            if not isinstance(args, dict):
                raise ValueError("arguments must be a JSON object")
        except Exception as exc:  # whatever the parser raises, the model is told
            log.warning("tool %r: bad arguments: %s", name[:80], type(exc).__name__)
            return {}, None, f"bad arguments: {type(exc).__name__}: {exc}"[:500]
        found = self.by_name.get(name)
        if found is None:
            log.warning("no tool named %r", name[:80])
            return args, None, f"no tool named {name[:80]!r}"
        try:
            async with asyncio.timeout(self.timeout_s) as deadline:
                return args, await found.function(**args), None
        except TimeoutError as exc:
            if not deadline.expired():
                return args, None, f"TimeoutError: {exc}"[:500]
            return args, None, f"timed out after {self.timeout_s:g} s"
        except Exception as exc:  # the user's code: report, do not crash the call
            # RecursionError and MemoryError included: the call goes on, the model is told.
            log.exception("tool %s failed", name)  # a registered name, not the model's text
            return args, None, f"{type(exc).__name__}: {exc}"[:500]


def output_text(result: Any, error: str | None) -> str:
    """What the model reads back: the result as JSON, or the error."""
    payload = {"error": error} if error is not None else result
    try:
        text = json.dumps(payload, default=str)
    except (TypeError, ValueError):
        text = json.dumps(str(payload))
    return text[:MAX_OUTPUT_CHARS]


def load_tools(spec: str, timeout_s: float = 10.0) -> Tools:
    """`module:object`, where the object is a Tools, a function, or a list of them."""
    if not spec:
        return Tools(timeout_s=timeout_s)
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ToolsError(f"tools must be given as module:object, got {spec!r}")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except Exception as exc:  # a broken module is a configuration error, said plainly
        raise ToolsError(f"cannot load tools {spec!r}: {exc}") from exc
    if isinstance(target, Tools):
        return target
    functions = list(target) if isinstance(target, list | tuple) else [target]
    return Tools(functions, timeout_s=timeout_s)
