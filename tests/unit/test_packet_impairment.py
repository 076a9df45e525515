"""The kernel path's per-packet rules (sans-I/O), and the calibration's verdict."""

import struct

import numpy as np
import pytest

from gateway.compare.netpath.calibration import judge
from gateway.compare.netpath.packets import (
    QUEUE_MS,
    PacketImpairment,
    flow_of,
    target_delay_ms,
)
from gateway.compare.profiles import Profile

JITTERY = Profile("jittery", delay_ms=40, jitter_ms=30)


def udp_packet(source_port: int, size: int = 100) -> bytes:
    header = bytes([0x45, 0]) + struct.pack("!H", size) + bytes(5) + bytes([17]) + bytes(2)
    header += bytes([10, 201, 0, 1, 10, 201, 0, 2])
    return header + struct.pack("!HH", source_port, 5004) + bytes(size - 24)


def test_a_flow_keeps_its_order_and_other_flows_may_pass_it():
    path = PacketImpairment(JITTERY, seed=1)
    flows = {a: [] for a in (b"a", b"b")}
    for n in range(2000):
        flow = b"a" if n % 2 else b"b"
        flows[flow].append(path.schedule(n * 0.001, 100, flow).at)
    for deliveries in flows.values():
        assert all(np.diff(deliveries) >= 0)
    merged = sorted((t, f) for f, ds in flows.items() for t in ds)
    sent_order = [f for n in range(2000) for f in [b"a" if n % 2 else b"b"]]
    assert [f for _, f in merged] != sent_order  # across flows, packets overtook


def test_unordered_lets_a_flows_packets_overtake():
    path = PacketImpairment(JITTERY, seed=1, ordered=False)
    deliveries = [path.schedule(n * 0.001, 100, b"a").at for n in range(500)]
    assert any(later < earlier for earlier, later in zip(deliveries, deliveries[1:], strict=False))


def test_drawn_delay_has_the_profiles_distribution_and_holding_is_apart():
    path = PacketImpairment(JITTERY, seed=2)
    fates = [path.schedule(n * 0.02, 100, b"a") for n in range(20_000)]
    drawn = np.array([f.drawn_s for f in fates]) * 1000
    mean, sd = target_delay_ms(JITTERY)
    assert abs(drawn.mean() - mean) < 0.5
    assert abs(drawn.std() - sd) < 0.5
    assert drawn.min() >= JITTERY.delay_ms
    for n, fate in enumerate(fates):
        assert fate.at == pytest.approx(n * 0.02 + fate.drawn_s + fate.held_s)


@pytest.mark.parametrize("burst", [1.0, 4.0])
def test_loss_has_the_profiles_mean_and_its_runs_the_burst_length(burst: float):
    profile = Profile("lossy", loss=0.05, loss_burst=burst)
    path = PacketImpairment(profile, seed=3)
    lost = np.array([path.schedule(n * 0.001, 100).at is None for n in range(200_000)])
    assert abs(lost.mean() - 0.05) < 0.004
    edges = np.diff(np.r_[0, lost.astype(int), 0])
    runs = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    assert abs(runs.mean() - burst / (1 - 0.05 if burst == 1 else 1)) < 0.15 * burst


def test_the_rate_cap_serializes_and_its_queue_drops_when_full():
    profile = Profile("capped", rate_kbit=1000)
    path = PacketImpairment(profile)
    fates = [path.schedule(0.0, 1250) for _ in range(100)]  # 10 ms each at the cap
    delivered = [f for f in fates if f.at is not None]
    assert [f.reason for f in fates if f.at is None] == ["queue"] * (100 - len(delivered))
    assert abs(len(delivered) - QUEUE_MS / 10) <= 1  # the queue's bound in milliseconds
    gaps = np.diff([f.at for f in delivered])
    assert np.allclose(gaps, 0.010)


def test_flow_of_reads_an_ipv4_packets_addresses_protocol_and_ports():
    assert flow_of(udp_packet(4000)) != flow_of(udp_packet(4001))
    assert flow_of(udp_packet(4000)) == flow_of(udp_packet(4000, size=300))
    assert flow_of(b"\x60" + bytes(50)) == b""  # IPv6 (not carried) is one flow


def test_the_verdict_marks_a_missed_target_invalid():
    profile = Profile("4g", delay_ms=40, jitter_ms=15, loss=0.01)
    mean, sd = target_delay_ms(profile)
    achieved = {"delay_mean_ms": mean + 1, "delay_sd_ms": sd, "sent": 2000,
                "queue_drops": 0, "loss": 0.011, "throughput_kbit": 500.0}  # fmt: skip
    assert judge(profile, achieved).valid
    assert not judge(profile, {**achieved, "loss": 0.03}).valid
    assert not judge(profile, {**achieved, "delay_mean_ms": mean + 12}).valid
    assert not judge(profile, {**achieved, "delay_sd_ms": sd * 2}).valid
    capped = Profile("capped", rate_kbit=400)
    assert not judge(capped, {**achieved, "delay_mean_ms": 0.5, "delay_sd_ms": 0.2,
                              "loss": 0.0}).valid  # fmt: skip
