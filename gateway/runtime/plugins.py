"""Agent plug-ins: `agent = "package.module:factory"` names a factory that
makes each call's agent (see gateway/agents.py, the public interface).

The factory is imported when the gateway starts, so a wrong name stops the
start with a clear message instead of failing the first caller."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from gateway.pipeline.agent import Agent, CallInfo

AgentFactory = Callable[[CallInfo], Agent]
BUILT_IN = ("offline", "openai", "relay")


class PluginError(ValueError):
    """The plug-in named by `agent` cannot be loaded."""


def load_factory(spec: str) -> AgentFactory:
    module_name, _, name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(
            f"agent {spec!r}: cannot import {module_name!r} ({exc}); is its package installed?"
        ) from exc
    factory = getattr(module, name, None)
    if not callable(factory):
        raise PluginError(f"agent {spec!r}: {module_name} has no callable {name!r}")
    return factory
