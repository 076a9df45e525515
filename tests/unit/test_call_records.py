from types import SimpleNamespace

from gateway.call.records import Aliases, CallRecords
from gateway.call.turns import TurnState
from gateway.clock import FakeClock
from gateway.flow.credit import CreditWindow


def fake_call(call_id: str, clock: FakeClock) -> SimpleNamespace:
    return SimpleNamespace(
        call_id=call_id, kind="twilio", clock=clock, started_at=clock.now(), end_reason=None,
        flow=SimpleNamespace(window=CreditWindow(800)), starved_frames=0, starved_in_pause=0,
        underruns=0,
        turns=TurnState(clock), records={}, interrupts=[],
        backchannels=[], backchannels_ignored=0, core=SimpleNamespace(actions=[]),
    )  # fmt: skip


def test_an_ended_call_is_recorded_as_ended_even_without_a_reason():
    clock = FakeClock(100.0)
    records = CallRecords()
    call = fake_call("tw-1", clock)
    records.started(call, Aliases(trusted=("CA1",)))
    assert records.get("CA1")["ended"] is False
    records.ended(call)  # cancelled before any reason was set
    assert records.get("CA1")["ended"] is True and records.get("tw-1")["end_reason"] == "closed"


def test_records_are_bounded_and_a_reused_alias_survives_the_old_calls_eviction():
    clock = FakeClock(100.0)
    records = CallRecords(keep=2)
    first, second, third = (fake_call(f"tw-{i}", clock) for i in range(3))
    records.started(first, Aliases(trusted=("CA-same",)))
    records.ended(first)
    records.started(second, Aliases(trusted=("CA-same",)))  # a token bound it again
    records.ended(second)
    records.started(third)
    records.ended(third)  # evicts the first
    assert records.get("tw-0") is None
    assert records.get("CA-same")["call_id"] == "tw-1"
    assert [r["call_id"] for r in records.recent()] == ["tw-2", "tw-1"]


def test_a_peer_cannot_claim_a_callsid_another_call_holds():
    clock = FakeClock(100.0)
    records = CallRecords()
    victim, thief = fake_call("tw-victim", clock), fake_call("tw-thief", clock)
    records.started(victim, Aliases(trusted=("CA-victim",)))
    records.started(thief, Aliases(claimed=("CA-victim", "MZ-thief")))
    assert records.get("CA-victim")["call_id"] == "tw-victim"
    assert records.get("MZ-thief")["call_id"] == "tw-thief"
    assert records.get("tw-thief")["aliases"] == ["MZ-thief"]
    records.ended(victim)
    assert records.get("CA-victim")["call_id"] == "tw-victim"  # still, once ended


def test_a_claimed_alias_cannot_shadow_a_call_id():
    clock = FakeClock(100.0)
    records = CallRecords()
    victim, thief = fake_call("tw-victim", clock), fake_call("tw-thief", clock)
    records.started(victim)
    records.started(thief, Aliases(claimed=("tw-victim",)))
    assert records.get("tw-victim")["call_id"] == "tw-victim"
