import statistics

from gateway.compare.impairment import RTO_S, Impairment
from gateway.compare.profiles import Profile


def test_udp_delay_jitter_and_loss_follow_the_profile():
    imp = Impairment(Profile("x", delay_ms=40, jitter_ms=15, loss=0.05), ordered=False, seed=3)
    delays = []
    for i in range(20_000):
        at = imp.schedule(i * 0.02, 200)
        if at is not None:
            delays.append((at - i * 0.02) * 1000)
    assert min(delays) >= 40
    assert abs(statistics.mean(delays) - (40 + 15 * 0.798)) < 1.0  # half-normal mean
    assert abs(imp.lost / imp.sent - 0.05) < 0.01


def test_tcp_keeps_order_and_a_loss_stalls_everything_behind_it():
    imp = Impairment(Profile("x", delay_ms=10, loss=0.0), ordered=True)
    imp.profile = Profile("x", delay_ms=10, loss=1.0)
    first = imp.schedule(0.0, 100)
    imp.profile = Profile("x", delay_ms=10, loss=0.0)
    second = imp.schedule(0.001, 100)
    assert first is not None and abs(first - (0.010 + RTO_S)) < 1e-9
    assert second == first  # head-of-line: it waits for the retransmission


def test_a_bandwidth_cap_serializes_packets():
    imp = Impairment(Profile("x", rate_kbit=1000), ordered=True)
    times = [imp.schedule(0.0, 1250) for _ in range(4)]  # 10 ms each at 1 Mbit/s
    assert [round(t, 4) for t in times] == [0.01, 0.02, 0.03, 0.04]
