"""The relays do what the profile says, measured through real sockets on loopback."""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest

from gateway.compare.profiles import Profile
from gateway.compare.relay import TcpRelay, UdpRelay

pytestmark = pytest.mark.timeout(30)

PROFILE = Profile("test", delay_ms=40, jitter_ms=10, loss=0.05)


async def test_udp_relay_applies_delay_jitter_and_loss():
    loop = asyncio.get_running_loop()
    arrivals: dict[int, float] = {}

    class Sink(asyncio.DatagramProtocol):
        def datagram_received(self, data, addr):
            arrivals[int(data)] = time.monotonic()

    sink, _ = await loop.create_datagram_endpoint(Sink, local_addr=("127.0.0.1", 0))
    relay = await UdpRelay(PROFILE, sink.get_extra_info("sockname"), seed=5).start()
    source, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    sent: dict[int, float] = {}
    for i in range(500):
        sent[i] = time.monotonic()
        source.sendto(str(i).encode(), ("127.0.0.1", relay.port))
        await asyncio.sleep(0.004)
    await asyncio.sleep(0.3)
    delays = [(arrivals[i] - sent[i]) * 1000 for i in arrivals]
    loss = 1 - len(arrivals) / len(sent)
    await relay.stop()
    source.close()
    sink.close()
    assert min(delays) >= 39
    assert 40 + 8 * 0.5 < statistics.mean(delays) < 40 + 8 * 0.8 + 6
    assert statistics.pstdev(delays) > 3  # jitter is there
    assert 0.02 < loss < 0.09


async def test_tcp_relay_applies_delay_in_order_and_stalls_on_loss():
    received: list[tuple[float, bytes]] = []

    async def sink(reader, writer):
        while data := await reader.read(1024):
            received.append((time.monotonic(), data))

    server = await asyncio.start_server(sink, "127.0.0.1", 0)
    profile = Profile("tcp", delay_ms=30, loss=0.1)
    relay = await TcpRelay(profile, server.sockets[0].getsockname()[1], seed=2).start()
    _, writer = await asyncio.open_connection("127.0.0.1", relay.port)
    sent = []
    for i in range(200):
        sent.append(time.monotonic())
        writer.write(f"{i:04d}".encode())
        await writer.drain()
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.6)
    writer.close()
    stream = b"".join(d for _, d in received)
    await relay.stop()
    server.close()
    assert stream == b"".join(f"{i:04d}".encode() for i in range(200))  # in order, complete
    first_delay = (received[0][0] - sent[0]) * 1000
    assert first_delay >= 29
    lost = relay.directions[0].lost
    assert lost > 5
    # Head-of-line blocking: some segment waited a whole retransmission timeout.
    gaps = [(b[0] - a[0]) * 1000 for a, b in zip(received, received[1:], strict=False)]
    assert max(gaps) > 150
