import asyncio

import pytest

from gateway.access.admission import Evicted, PendingConnections, PendingGate
from gateway.clock import FakeClock

pytestmark = pytest.mark.timeout(10)


def test_a_flood_from_one_address_evicts_its_own_oldest_connections():
    gate = PendingGate(FakeClock(), max_total=100, max_per_address=3)
    flood = [gate.enter("10.0.0.9").ticket for _ in range(3)]
    entered = gate.enter("10.0.0.9")
    assert entered.evicted == (flood[0],)
    assert gate.count("10.0.0.9") == 3
    caller = gate.enter("192.0.2.1")
    assert caller.evicted == ()


def test_a_full_gate_evicts_the_oldest_of_all_not_a_shared_address():
    gate = PendingGate(FakeClock(), max_total=4, max_per_address=10)
    flood = [gate.enter(f"10.0.0.{i}").ticket for i in range(2)]
    twilio = [gate.enter("192.0.2.1").ticket for _ in range(2)]  # Twilio's one egress address
    newcomer = gate.enter("198.51.100.7")
    assert newcomer.evicted == (flood[0],)
    assert all(gate.age(t) is not None for t in twilio) and len(gate) == 4


def test_leaving_is_idempotent_and_frees_the_address():
    clock = FakeClock()
    gate = PendingGate(clock, max_total=2, max_per_address=2)
    ticket = gate.enter("a").ticket
    clock.advance(1.5)
    assert gate.age(ticket) == 1.5
    gate.leave(ticket)
    gate.leave(ticket)
    assert len(gate) == 0 and gate.count("a") == 0 and gate.age(ticket) is None


async def test_an_evicted_handshake_is_cancelled_and_says_so():
    pending = PendingConnections(PendingGate(FakeClock(), max_total=1, max_per_address=1))
    first = pending.enter("a")
    step = asyncio.Event()
    running = asyncio.create_task(pending.run(first, step.wait(), timeout_s=5))
    await asyncio.sleep(0)
    pending.enter("b")
    with pytest.raises(Evicted):
        await running
    assert pending.evicted(first)


async def test_a_handshake_past_its_deadline_times_out():
    pending = PendingConnections(PendingGate(FakeClock(), max_total=4, max_per_address=4))
    ticket = pending.enter("a")
    with pytest.raises(TimeoutError):
        await pending.run(ticket, asyncio.Event().wait(), timeout_s=0.05)


async def test_a_handshake_that_completes_returns_its_result():
    pending = PendingConnections(PendingGate(FakeClock(), max_total=4, max_per_address=4))
    ticket = pending.enter("a")

    async def hello() -> str:
        return "start"

    assert await pending.run(ticket, hello(), timeout_s=1) == "start"
