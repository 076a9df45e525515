"""The public interface for agent plug-ins. Stable: what is named here keeps
its shape across minor versions.

A plug-in is a factory, `agent = "package.module:factory"` (or `--agent`).
Sluice calls it once per call, on the event loop, with the call's
`CallInfo`, and it returns an `Agent`:

    def make_agent(info: CallInfo) -> Agent: ...

An agent has one method, `reply(history, on_tool)`, an async generator of text
deltas:

- `history` is the conversation so far, oldest first, as `Message`s (`role`
  "user" or "assistant"). After a barge-in, the assistant's message holds only
  the words the caller heard, followed by " …".
- Deltas may be any size. Sluice cuts them into sentences and speaks each one
  as soon as it is complete, so yield early.
- On barge-in Sluice stops the generator: `asyncio.CancelledError` is raised
  at its current `await`, or, while it waits at a `yield` for Sluice to take
  the next delta, it is closed (`GeneratorExit`). Clean up in `finally`.
- `on_tool(name, arguments, result, error)` reports a tool the agent ran, so
  that the call's events and record show it.
- An agent that yields nothing within `agent_timeout_s` has its reply ended.
- An exception in `reply` ends that reply and is counted in
  `sluice_agent_errors`. An exception in the factory ends the call with
  a short apology and is counted in `sluice_voice_failures`.

Optional hooks, called when the agent has them: `async start(link)` once
before the first reply (an `AgentLink`, to ask for a turn, protect a reply,
end or fail the call), `interrupted(heard_text, heard_ms)` after a barge-in,
`dtmf(digit)` for each key, `async aclose()` at the end. `reply` may also yield
a `Clip` (16 kHz PCM16 audio) among its text deltas.

The factory and `reply` run on the gateway's event loop: anything slower than
a few milliseconds belongs in `await asyncio.to_thread(...)` or an async client,
or every call on the process hears it.

See docs/guides/plugin-agent.md and examples/lighthouse_agent/.
"""

from collections.abc import Callable

from gateway.pipeline.agent import Agent, AgentLink, CallInfo, Clip, Message, ToolReport

AgentFactory = Callable[[CallInfo], Agent]

__all__ = ["Agent", "AgentFactory", "AgentLink", "CallInfo", "Clip", "Message", "ToolReport"]
