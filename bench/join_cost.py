"""What a call joining costs the event loop: building its voice (the cascade,
its share of the shared VAD) and the call itself, as `run_call` does, for 200
calls in a row. The transport and the sockets are left out: this is the part
that used to load a model.

    taskset -c 0 python -m bench.join_cost
"""

from __future__ import annotations

import asyncio
import statistics
import time

from bench.common import write_json
from gateway.call.call import Call
from gateway.clock import MonotonicClock
from gateway.flow.credit import CreditWindow
from gateway.flow.marks import MarkTracker
from gateway.observe.metrics import GatewayMetrics
from gateway.runtime.config import Settings
from gateway.runtime.services import build_services

JOINS = 200


class _Wire:
    kind = "twilio"
    native_audio = "pcmu"

    async def send_audio(self, chunk) -> None: ...
    async def send_mark(self, mark) -> None: ...
    async def send_clear(self, cleared) -> None: ...
    def send_event(self, event) -> None: ...
    async def close(self, code: int, reason: str) -> None: ...


async def main_async() -> dict:
    settings = Settings()
    services = build_services(settings)
    await services.start()
    clock, metrics = MonotonicClock(), GatewayMetrics()
    times = []
    for _ in range(JOINS):
        start = time.perf_counter()
        voice = services.voice(settings, "pcmu", services.vad.stream(), clock, metrics, "twilio")
        flow = MarkTracker(CreditWindow(800), clock)
        Call("bench", _Wire(), flow, voice, settings.call_settings(), clock, metrics)
        times.append((time.perf_counter() - start) * 1000)
    services.close()
    return {
        "joins": JOINS,
        "median_ms": round(statistics.median(times), 4),
        "p99_ms": round(sorted(times)[int(JOINS * 0.99) - 1], 4),
        "max_ms": round(max(times), 4),
    }


def main() -> None:
    result = asyncio.run(main_async())
    print(
        f"a join on the loop: median {result['median_ms']} ms, p99 {result['p99_ms']} ms, "
        f"max {result['max_ms']} ms (first join included)"
    )
    print(f"wrote {write_json('join_cost.json', {'benchmark': 'join_cost', **result})}")


if __name__ == "__main__":
    main()
