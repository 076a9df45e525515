"""Tools a user gives the agent: declarations from Python functions, running them
safely for the model, and loading them from `module:object`."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.pipeline.tools import (
    MAX_OUTPUT_CHARS,
    Tool,
    Tools,
    ToolsError,
    as_tool,
    load_tools,
    output_text,
    tool,
)

pytestmark = pytest.mark.timeout(5)


# ---- example tools -------------------------------------------------------------------


async def weather(city: str, days: int = 1, metric: bool = True) -> dict[str, Any]:
    """The forecast for a city."""
    return {"city": city, "days": days, "metric": metric}


async def everything(s: str, i: int, f: float, b: bool, items: list, mapping: dict) -> None:
    return None


async def unannotated(a, b=2):  # type: ignore[no-untyped-def]  # deliberately bare
    return a


async def no_doc() -> str:
    return "ok"


@tool(description="Says hi.", parameters={"type": "object", "properties": {}, "required": []})
async def greet(name: str) -> str:
    """Not this."""
    return f"hi {name}"


@tool(description="Only the description.")
async def described(x: int) -> int:
    """Not this either."""
    return x


async def fails(reason: str = "boom") -> None:
    raise RuntimeError(reason)


async def slow() -> str:
    await asyncio.sleep(1)
    return "late"


async def huge() -> str:
    return "y" * (MAX_OUTPUT_CHARS * 3)


# ---- declarations --------------------------------------------------------------------


def test_schema_comes_from_annotations_and_defaults() -> None:
    t = as_tool(weather)
    assert t.name == "weather"
    assert t.description == "The forecast for a city."
    assert t.function is weather
    assert t.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "metric": {"type": "boolean"},
        },
        "required": ["city"],
    }


def test_every_plain_type_maps_to_its_json_type() -> None:
    props = as_tool(everything).parameters["properties"]
    assert props == {
        "s": {"type": "string"},
        "i": {"type": "integer"},
        "f": {"type": "number"},
        "b": {"type": "boolean"},
        "items": {"type": "array"},
        "mapping": {"type": "object"},
    }
    assert as_tool(everything).parameters["required"] == ["s", "i", "f", "b", "items", "mapping"]


def test_unannotated_parameters_are_strings() -> None:
    params = as_tool(unannotated).parameters
    assert params["properties"] == {"a": {"type": "string"}, "b": {"type": "string"}}
    assert params["required"] == ["a"]


def test_a_function_without_docstring_is_described_by_its_name() -> None:
    t = as_tool(no_doc)
    assert t.description == "no_doc"
    assert t.parameters == {"type": "object", "properties": {}, "required": []}


def test_tool_decorator_overrides_description_and_parameters() -> None:
    t = as_tool(greet)
    assert t.description == "Says hi."
    assert t.parameters == {"type": "object", "properties": {}, "required": []}


def test_tool_decorator_may_override_the_description_only() -> None:
    t = as_tool(described)
    assert t.description == "Only the description."
    assert t.parameters["properties"] == {"x": {"type": "integer"}}
    assert t.parameters["required"] == ["x"]


def test_the_decorator_keeps_the_function_callable() -> None:
    assert asyncio.run(greet("Ada")) == "hi Ada"


def test_parametrised_containers_are_declared_as_their_json_type() -> None:
    async def tagged(tags: list[str], scores: dict[str, int]) -> None:
        return None

    props = as_tool(tagged).parameters["properties"]
    assert props["tags"]["type"] == "array"
    assert props["scores"]["type"] == "object"


def test_an_optional_parameter_is_declared_as_its_inner_type() -> None:
    async def paged(page: int | None = None) -> None:
        return None

    assert as_tool(paged).parameters["properties"]["page"]["type"] == "integer"


def sync_function(x: int) -> int:
    return x


async def async_generator() -> Any:
    yield 1


@pytest.mark.parametrize(
    "not_async",
    [sync_function, lambda: None, async_generator, print, "weather", 42, None],
    ids=["sync", "lambda", "async_generator", "builtin", "str", "int", "none"],
)
def test_anything_but_an_async_function_is_refused(not_async: Any) -> None:
    with pytest.raises(ToolsError, match="not an async function"):
        as_tool(not_async)
    with pytest.raises(ToolsError):
        Tools([weather, not_async])


def test_tools_error_is_a_value_error() -> None:
    assert issubclass(ToolsError, ValueError)


def test_realtime_declarations_are_flat() -> None:
    tools = Tools([weather, greet])
    assert tools.realtime_declarations() == [
        {
            "type": "function",
            "name": "weather",
            "description": "The forecast for a city.",
            "parameters": as_tool(weather).parameters,
        },
        {
            "type": "function",
            "name": "greet",
            "description": "Says hi.",
            "parameters": {"type": "object", "properties": {}, "required": []},
        },
    ]


def test_chat_declarations_nest_the_function() -> None:
    tools = Tools([weather])
    assert tools.chat_declarations() == [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "description": "The forecast for a city.",
                "parameters": as_tool(weather).parameters,
            },
        }
    ]


def test_declarations_are_json() -> None:
    tools = Tools([weather, greet, everything])
    json.dumps(tools.realtime_declarations())
    json.dumps(tools.chat_declarations())


def test_tool_declarations_match_for_one_tool() -> None:
    t: Tool = as_tool(weather)
    flat, nested = t.realtime_declaration(), t.chat_declaration()
    assert flat.pop("type") == nested["type"] == "function"
    assert flat == nested["function"]


def test_empty_tools_are_falsy_and_declare_nothing() -> None:
    tools = Tools()
    assert not tools
    assert tools.realtime_declarations() == []
    assert tools.chat_declarations() == []
    assert Tools([weather])


def test_a_later_function_of_the_same_name_wins() -> None:
    async def weather() -> str:
        """The other one."""
        return "x"

    tools = Tools([globals()["weather"], weather])
    assert list(tools.by_name) == ["weather"]
    assert tools.by_name["weather"].description == "The other one."


# ---- running -------------------------------------------------------------------------


async def test_run_returns_the_arguments_and_the_result() -> None:
    tools = Tools([weather])
    args, result, error = await tools.run("weather", '{"city": "Oslo", "days": 3}')
    assert args == {"city": "Oslo", "days": 3}
    assert result == {"city": "Oslo", "days": 3, "metric": True}
    assert error is None


@pytest.mark.parametrize("empty", ["", "{}"])
async def test_run_with_no_arguments(empty: str) -> None:
    tools = Tools([no_doc])
    assert await tools.run("no_doc", empty) == ({}, "ok", None)


@pytest.mark.parametrize("arguments", ["{not json", '{"city": ', "nan]", "\x00"])
async def test_run_reports_bad_json_arguments(arguments: str) -> None:
    args, result, error = await Tools([weather]).run("weather", arguments)
    assert (args, result) == ({}, None)
    assert error is not None and error.startswith("bad arguments")


@pytest.mark.parametrize("arguments", ["[1, 2]", '"Oslo"', "3", "null", "true"])
async def test_run_reports_arguments_that_are_not_an_object(arguments: str) -> None:
    args, result, error = await Tools([weather]).run("weather", arguments)
    assert (args, result) == ({}, None)
    assert error is not None and "JSON object" in error


async def test_run_reports_an_unknown_tool() -> None:
    args, result, error = await Tools([weather]).run("nope", '{"a": 1}')
    assert args == {"a": 1}
    assert result is None
    assert error == "no tool named 'nope'"


async def test_run_reports_a_tool_that_raises(caplog: pytest.LogCaptureFixture) -> None:
    args, result, error = await Tools([fails]).run("fails", '{"reason": "disk on fire"}')
    assert args == {"reason": "disk on fire"}
    assert result is None
    assert error == "RuntimeError: disk on fire"
    assert "tool fails failed" in caplog.text


async def test_a_tool_error_is_capped() -> None:
    _, _, error = await Tools([fails]).run("fails", json.dumps({"reason": "z" * 10_000}))
    assert error is not None and len(error) <= 500


async def test_run_reports_arguments_the_function_does_not_take() -> None:
    args, result, error = await Tools([weather]).run("weather", '{"town": "Oslo"}')
    assert args == {"town": "Oslo"}
    assert result is None
    assert error is not None and error.startswith("TypeError")


async def test_run_reports_a_tool_that_takes_too_long() -> None:
    tools = Tools([slow], timeout_s=0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    args, result, error = await tools.run("slow", "{}")
    assert loop.time() - started < 0.5
    assert (args, result) == ({}, None)
    assert error == "timed out after 0.05 s"


async def test_the_runner_survives_its_tools_failing() -> None:
    tools = Tools([weather, fails, slow], timeout_s=0.05)
    await tools.run("fails", "{}")
    await tools.run("slow", "{}")
    await tools.run("weather", "[]")
    assert await tools.run("weather", '{"city": "Rome"}') == (
        {"city": "Rome"},
        {"city": "Rome", "days": 1, "metric": True},
        None,
    )


# ---- what the model reads back --------------------------------------------------------


def test_output_text_is_the_result_as_json() -> None:
    assert output_text({"temp": 21}, None) == '{"temp": 21}'
    assert output_text("done", None) == '"done"'
    assert output_text(None, None) == "null"
    assert output_text([1, 2], None) == "[1, 2]"


def test_output_text_encodes_an_error_as_an_object() -> None:
    assert json.loads(output_text(None, "no tool named 'x'")) == {"error": "no tool named 'x'"}
    assert json.loads(output_text({"ignored": True}, "boom")) == {"error": "boom"}


def test_output_text_stringifies_what_json_cannot_encode() -> None:
    assert json.loads(output_text({"path": Path("/tmp/x")}, None)) == {"path": "/tmp/x"}
    circular: list[Any] = []
    circular.append(circular)
    assert json.loads(output_text(circular, None)) == "[[...]]"


def test_output_text_is_capped() -> None:
    text = output_text("x" * (MAX_OUTPUT_CHARS * 2), None)
    assert len(text) == MAX_OUTPUT_CHARS
    assert text.startswith('"xxx')
    error = output_text(None, "e" * (MAX_OUTPUT_CHARS * 2))
    assert len(error) == MAX_OUTPUT_CHARS
    assert error.startswith('{"error": "eee')


async def test_a_runaway_tool_reaches_the_model_capped() -> None:
    args, result, error = await Tools([huge]).run("huge", "{}")
    assert len(output_text(result, error)) == MAX_OUTPUT_CHARS


# ---- load_tools --------------------------------------------------------------------------


_names = itertools.count()

MODULE_SOURCE = textwrap.dedent(
    '''
    from gateway.pipeline.tools import Tools, tool

    async def add(a: int, b: int = 0) -> int:
        """Adds two numbers."""
        return a + b

    @tool(description="Shouts.")
    async def shout(text: str) -> str:
        return text.upper()

    def not_async(x: int) -> int:
        return x

    AS_LIST = [add, shout]
    AS_TUPLE = (add,)
    AS_TOOLS = Tools([shout], timeout_s=1.5)
    MIXED = [add, not_async]
    NOT_A_TOOL = "add"

    class Namespace:
        ONE = shout
    '''
)


@pytest.fixture
def tools_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module of tools on sys.path, under a name no other test imported."""
    name = f"sluice_test_tools_{next(_names)}"
    (tmp_path / f"{name}.py").write_text(MODULE_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_load_tools_from_a_list(tools_module: str) -> None:
    tools = load_tools(f"{tools_module}:AS_LIST")
    assert isinstance(tools, Tools)
    assert list(tools.by_name) == ["add", "shout"]
    assert tools.by_name["add"].description == "Adds two numbers."
    assert tools.by_name["add"].parameters["required"] == ["a"]
    assert tools.by_name["shout"].description == "Shouts."
    assert tools.timeout_s == 10.0


def test_load_tools_from_a_tuple(tools_module: str) -> None:
    assert list(load_tools(f"{tools_module}:AS_TUPLE").by_name) == ["add"]


def test_load_tools_from_one_function(tools_module: str) -> None:
    tools = load_tools(f"{tools_module}:add", timeout_s=2.5)
    assert list(tools.by_name) == ["add"]
    assert tools.timeout_s == 2.5


def test_load_tools_returns_a_tools_instance_as_it_is(tools_module: str) -> None:
    tools = load_tools(f"{tools_module}:AS_TOOLS")
    module = sys.modules[tools_module]
    assert tools is module.AS_TOOLS
    assert list(tools.by_name) == ["shout"]
    assert tools.timeout_s == 1.5


def test_load_tools_follows_a_dotted_attribute(tools_module: str) -> None:
    assert list(load_tools(f"{tools_module}:Namespace.ONE").by_name) == ["shout"]


async def test_loaded_tools_run(tools_module: str) -> None:
    tools = load_tools(f"{tools_module}:AS_LIST")
    assert await tools.run("add", '{"a": 2, "b": 3}') == ({"a": 2, "b": 3}, 5, None)
    assert await tools.run("shout", '{"text": "hi"}') == ({"text": "hi"}, "HI", None)


def test_an_empty_spec_is_no_tools() -> None:
    tools = load_tools("", timeout_s=3.0)
    assert not tools
    assert tools.timeout_s == 3.0


@pytest.mark.parametrize("spec", ["no_colon_here", "module:", ":object", ":"])
def test_load_tools_needs_module_colon_object(spec: str) -> None:
    with pytest.raises(ToolsError, match="module:object"):
        load_tools(spec)


def test_load_tools_reports_a_missing_module() -> None:
    with pytest.raises(ToolsError, match="cannot load tools"):
        load_tools("sluice_no_such_module_anywhere:tools")


def test_load_tools_reports_a_missing_attribute(tools_module: str) -> None:
    with pytest.raises(ToolsError, match="cannot load tools"):
        load_tools(f"{tools_module}:missing")
    with pytest.raises(ToolsError, match="cannot load tools"):
        load_tools(f"{tools_module}:Namespace.missing")


@pytest.mark.parametrize("attribute", ["not_async", "MIXED", "NOT_A_TOOL"])
def test_load_tools_refuses_what_is_not_async_functions(tools_module: str, attribute: str) -> None:
    with pytest.raises(ToolsError, match="not an async function"):
        load_tools(f"{tools_module}:{attribute}")


def test_load_tools_reports_a_missing_submodule(tools_module: str) -> None:
    with pytest.raises(ToolsError, match="cannot load tools"):
        load_tools(f"{tools_module}.sub:tools")
