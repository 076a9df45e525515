"""Shared material for the property-based fuzzing of every parser that reads peer input.

Each parser has one way to say no: ProtocolError (the media wires), a 4xx
status (the HTTP bodies), OfferRejected (SDP). Anything else escaping is a
crash a peer can trigger at will, so the properties in test_fuzz_*.py are mostly
"only the documented refusal, never another exception", plus the few guarantees
the rest of the gateway relies on after a successful parse.

This module holds what more than one of those files uses: the Hypothesis
settings, JSON material and its mutations, hostile texts and the nesting sweep.
The module-scoped event loop they share is in conftest.py.
"""

from __future__ import annotations

import atexit
import copy
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from transports.errors import ProtocolError

# database=None: no example database; every run starts fresh (and writes nothing here).
FAST = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
SLOW = settings(  # each example builds a peer connection
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)


# Hypothesis's pytest plugin caches constants of the code under test in ./.hypothesis
# while collecting, before any fixture runs: point it at a temporary directory
# (unless the runner chose one), so the work tree stays clean.
if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    _HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="sluice-hypothesis-")
    atexit.register(shutil.rmtree, _HYPOTHESIS_HOME, ignore_errors=True)
    set_hypothesis_home_dir(_HYPOTHESIS_HOME)


# ---- JSON material ---------------------------------------------------------

JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(allow_nan=True, allow_infinity=True),  # dumped as NaN / Infinity
    st.text(max_size=30),
    st.sampled_from(["", "0", "-1", "1.5", " 1", "²", "١٢", "999999999", "1000000000", "a" * 65]),
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.text(max_size=12), inner, max_size=5),
    ),
    max_leaves=25,
)


@st.composite
def dumped(draw: st.DrawFn, value: Any) -> str:
    """JSON text of `value`, escaped or raw (raw puts surrogates and controls on the wire)."""
    return json.dumps(value, ensure_ascii=draw(st.booleans()))


def _paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every place in a JSON value, the root included."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value))
    return set()


@st.composite
def mutated(draw: st.DrawFn, bases: list[dict]) -> str:
    """A valid message with one to four fields replaced, deleted or added.

    Starting from valid messages gets past the tag dispatch into every field
    check; random JSON alone almost never names a known event.
    """
    message: Any = copy.deepcopy(draw(st.sampled_from(bases)))
    known = sorted(set().union(*(_keys(b) for b in bases)))
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(list(_paths(message))))
        op = draw(st.sampled_from(["replace", "delete", "add"]))
        if not path:
            if op == "replace":
                message = draw(JSON_VALUES)
            continue
        parent = message
        for step in path[:-1]:
            parent = parent[step]
        target = parent[path[-1]]
        if op == "replace":
            parent[path[-1]] = draw(JSON_VALUES)
        elif op == "delete":
            del parent[path[-1]]
        elif isinstance(target, dict):
            target[draw(st.sampled_from(known) | st.text(max_size=12))] = draw(JSON_VALUES)
    return draw(dumped(message))


def _replaced(base: dict, path: tuple, value: Any) -> dict:
    """A copy of `base` with the field at `path` (not the root) set to `value`."""
    message = copy.deepcopy(base)
    parent: Any = message
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return message


def single_replacements(base: dict) -> st.SearchStrategy[str]:
    """`base` with exactly one field (at any depth) replaced by arbitrary JSON."""
    paths = [p for p in _paths(base) if p]
    return st.tuples(st.sampled_from(paths), JSON_VALUES).flatmap(
        lambda pv: dumped(_replaced(base, *pv))
    )


def every_field_set_to(bases: list[dict], value: Any) -> Iterator[str]:
    for base in bases:
        for path in [p for p in _paths(base) if p]:
            yield json.dumps(_replaced(base, path, value))


# Deep nesting and numbers Python's json turns into inf, or refuses (over 4300 digits).
HOSTILE_TEXTS = [
    "[" * 100_000,
    "{" * 100_000,
    "[" * 60_000,
    "[" * 3000 + "]" * 3000,
    '{"a":' * 3000 + "1" + "}" * 3000,
    "1e999",
    "-1e999",
    "9" * 5000,
    "NaN",
    "Infinity",
    "",
    "\ufeff{}",
    "\ud800",
    "[1,]",
]


def hostile_values() -> list[Any]:
    """Field values that pass json.loads but are extreme: inf, 4000-digit ints."""
    return [float("inf"), float("-inf"), float("nan"), 10**4000, -(10**4000), 2**63, -1]


def _nested_text(depth: int) -> str:
    return "[" * depth + "]" * depth


def check_nesting_sweep(parse: Callable[[str], object], templates: list[str]) -> None:
    """Nesting near the recursion limit, in every field a parser stringifies or reads.

    Where exactly json.loads gives up depends on the stack depth of the caller;
    a parser that stringifies the value (str(), repr) a frame or two deeper
    could overflow where json.loads did not, so every depth is tried.
    """
    for template in templates:
        for depth in range(0, 1100):
            try:
                parse(template.replace("@", _nested_text(depth)))
            except ProtocolError:
                pass


def check_hostile_inputs(
    parse: Callable[[str], object], numbers: list[str], templates: list[str], bases: list[dict]
) -> None:
    """Every hostile text is refused; every number (as literal JSON text: json.dumps
    refuses 5000 digits) in every template, and every hostile value in every field
    of every base message, is either parsed or refused, never an exception."""
    for text in HOSTILE_TEXTS:
        assert parse(text) is None, text[:40]
    for number in numbers:
        for template in templates:
            parse(template.replace("@", number))
    for value in hostile_values():
        for text in every_field_set_to(bases, value):
            parse(text)
