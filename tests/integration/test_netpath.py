"""The kernel network path: real UDP and TCP between two namespaces, through
the impairer. Every figure here is measured at the sockets, not taken from the
forwarder, and then compared with both the profile and the forwarder's own
calibration."""

from __future__ import annotations

import dataclasses
import math

import pytest

from gateway.compare.netpath import namespaces, probe
from gateway.compare.netpath.packets import target_delay_ms
from gateway.compare.netpath.path import NetworkPath
from gateway.compare.profiles import BUILTIN, Profile

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(namespaces.unavailable() is not None, reason=str(namespaces.unavailable())),
]

PACKETS = 2000


@pytest.mark.parametrize("name", ["4g", "wifi-bad"])
def test_udp_through_the_impairer_has_the_profiles_delay_jitter_and_loss(name: str):
    profile = BUILTIN[name]
    with NetworkPath(profile, seed=3) as path:
        measured = probe.datagrams(path, PACKETS)
    one_way, loss = measured.one_way_ms, measured.loss
    mean, sd = target_delay_ms(profile)
    up = path.calibration["directions"]["up"]
    print(
        f"{name}: one-way mean {one_way.mean():.1f} ms (target {mean:.1f}), "
        f"sd {one_way.std():.1f} ms (target {sd:.1f}), loss {loss:.4f} (target {profile.loss}), "
        f"held for order {up['held_for_order']:.1%} ({up['held_mean_ms']} ms mean), "
        f"forwarder late p99 {up['forwarder_late_ms']['p99']} ms"
    )
    # At the sockets: the forwarder's own lateness (about a millisecond),
    # serialization at the cap and a flow's packets held behind one another
    # sit inside the 2 ms + 10 % tolerance.
    assert abs(one_way.mean() - mean) <= 2 + 0.1 * mean
    assert abs(one_way.std() - sd) <= 1.5 + 0.2 * sd
    allowed = 3 * math.sqrt(profile.loss * (1 - profile.loss) / PACKETS) + 0.002
    assert abs(loss - profile.loss) <= allowed
    assert one_way.min() >= profile.delay_ms  # nothing beats the path's delay
    # The forwarder's calibration agrees with the sockets and calls the run valid.
    assert up["sent"] == PACKETS and up["delivered"] == one_way.size
    through = up["delay_mean_ms"] + up["held_mean_ms"]  # serialization aside
    assert abs(through - one_way.mean()) <= 2
    assert path.calibration["valid"], path.calibration["verdicts"]
    assert up["max_packet_bytes"] == probe.PAYLOAD + 28


@pytest.mark.parametrize("name", ["4g", "wifi-bad"])
def test_tcp_slows_down_and_retransmits_under_loss(name: str):
    """The kernel's TCP does the recovering: every data segment the impairer
    dropped is sent again, and loss costs throughput. Where the profile caps
    the rate, a lossless flow fills the cap's queue and loses at its tail
    instead, so there the retransmissions follow the drops, not the loss."""
    lossy = BUILTIN[name]
    lossless = dataclasses.replace(lossy, name=name + "-lossless", loss=0.0)
    runs = {}
    for profile in (lossless, lossy):
        with NetworkPath(profile, seed=5) as path:
            result = probe.bulk(path)
        kbit, retransmitted = result.kbit, result.retransmitted
        up = path.calibration["directions"]["up"]  # the data segments' direction
        runs[profile.name] = (kbit, retransmitted, up["lost"] + up["queue_drops"])
        print(f"{profile.name}: {kbit:.0f} kbit/s, {retransmitted} segments retransmitted, "
              f"{up['lost']} lost and {up['queue_drops']} dropped by the queue, "
              f"{up['max_packet_bytes']} bytes at most")  # fmt: skip
        assert path.calibration["valid"], path.calibration["verdicts"]
        # No segmentation offload: the kernel handed over single packets.
        assert up["max_packet_bytes"] <= 1500
        # Reliability: every data segment dropped came again. (The caller's
        # own pure ACKs, the only other packets this way, are two or three.)
        assert retransmitted >= up["lost"] + up["queue_drops"] - 3
    (clean_kbit, clean_retrans, _), (lossy_kbit, lossy_retrans, lossy_drops) = runs.values()
    assert lossy_drops > 0
    assert lossy_kbit < clean_kbit
    if lossy.rate_kbit:
        assert clean_kbit <= lossy.rate_kbit * 1.05
    else:
        assert lossy_retrans > clean_retrans


def test_nothing_is_left_behind_even_when_the_run_fails():
    with pytest.raises(RuntimeError, match="inside"):
        with NetworkPath(Profile("clean")) as path:
            assert path.caller_ns in namespaces.listed()
            raise RuntimeError("a failure inside the run")
    assert not [n for n in namespaces.listed() if n.startswith(path.name)]
