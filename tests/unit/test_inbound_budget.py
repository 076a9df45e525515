from gateway.clock import FakeClock
from gateway.flow.inbound import InboundBudget


def test_real_time_audio_always_passes():
    clock = FakeClock()
    budget = InboundBudget(clock, burst_ms=200)
    for _ in range(500):
        clock.advance(0.02)
        assert budget.admit(20)
    assert budget.dropped_ms == 0


def test_a_burst_passes_then_the_surplus_is_dropped_and_counted():
    clock = FakeClock()
    budget = InboundBudget(clock, burst_ms=200)
    admitted = sum(budget.admit(20) for _ in range(50))  # a second of audio at once
    assert admitted == 10 and budget.dropped_ms == 800
    clock.advance(0.1)
    assert sum(budget.admit(20) for _ in range(10)) == 5


def test_fifty_times_real_time_keeps_about_one_fiftieth():
    clock = FakeClock()
    budget = InboundBudget(clock, burst_ms=1000)
    admitted = 0
    for _ in range(5000):  # 100 s of audio over 2 s
        clock.advance(0.0004)
        admitted += budget.admit(20)
    assert 2900 // 20 <= admitted <= 3100 // 20  # the burst plus 2 s of real time
