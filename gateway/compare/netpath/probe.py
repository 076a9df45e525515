"""The path measured from its ends: datagrams and a TCP bulk transfer between
the two namespaces, timed at the sockets. `sluice compare --check-network`
runs these under each profile before anything else depends on the path.

Both ends share this machine's monotonic clock, so one-way delays are exact.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass

import numpy as np

from gateway.compare.netpath import namespaces
from gateway.compare.netpath.path import NetworkPath

PORT = 5004
FLOWS = 10
"""Datagrams go out from ten sockets in turn, as ten calls would: each flow
every 20 ms, like RTP, and all of them every 2 ms."""
SPACING_S = 0.002
PAYLOAD = 100
"""128 bytes on the wire: 512 kbit/s in all, under the slowest profile's cap."""
TCP_INFO_TOTAL_RETRANS = 8 + 23 * 4
"""struct tcp_info: eight one-byte fields, then 32-bit ones; tcpi_total_retrans is the 24th."""


@dataclass(frozen=True)
class Datagrams:
    sent: np.ndarray
    """Send instants, by sequence number."""
    arrived: np.ndarray
    """Arrival instants, NaN for the lost."""

    @property
    def one_way_ms(self) -> np.ndarray:
        got = ~np.isnan(self.arrived)
        return (self.arrived[got] - self.sent[got]) * 1000

    @property
    def loss(self) -> float:
        return float(np.isnan(self.arrived).mean())

    def summary(self) -> dict:
        one_way = self.one_way_ms
        return {
            "packets": int(self.sent.size),
            "loss": round(self.loss, 4),
            "one_way_mean_ms": round(float(one_way.mean()), 2),
            "one_way_sd_ms": round(float(one_way.std()), 2),
            "one_way_min_ms": round(float(one_way.min()), 2),
            "one_way_p99_ms": round(float(np.percentile(one_way, 99)), 2),
        }


@dataclass(frozen=True)
class Bulk:
    kbit: float
    """Goodput: bytes the far end got, over the time until it had them all."""
    retransmitted: int
    """Segments the sender's kernel sent again (tcpi_total_retrans)."""


def datagrams(path: NetworkPath, packets: int = 2000) -> Datagrams:
    """Sends `packets` datagrams caller to gateway on a fixed schedule."""
    with namespaces.entered(path.gateway_ns):
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        receiver.bind((path.gateway_address, PORT))
    with namespaces.entered(path.caller_ns):
        senders = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(FLOWS)]
    arrived = np.full(packets, np.nan)
    receiver.settimeout(1.5)  # longer than any profile's delay: then all is in

    def receive() -> None:
        try:
            while True:
                data = receiver.recv(2048)
                arrived[struct.unpack_from("!I", data)[0]] = time.monotonic()
        except TimeoutError:
            pass

    listening = threading.Thread(target=receive)
    listening.start()
    sent = np.zeros(packets)
    start = time.monotonic()
    try:
        for n in range(packets):
            time.sleep(max(0.0, start + n * SPACING_S - time.monotonic()))
            sent[n] = time.monotonic()
            packet = struct.pack("!I", n) + bytes(PAYLOAD - 4)
            senders[n % FLOWS].sendto(packet, (path.gateway_address, PORT))
    finally:
        listening.join()
        for sender in senders:
            sender.close()
        receiver.close()
    return Datagrams(sent, arrived)


def bulk(path: NetworkPath, seconds: float = 2.5) -> Bulk:
    """Caller to gateway: sends for `seconds`, then waits until the gateway
    side has every byte."""
    with namespaces.entered(path.gateway_ns):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((path.gateway_address, PORT))
        listener.listen(1)
    with namespaces.entered(path.caller_ns):
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Under a rate cap, a small send buffer, so the unsent tail drains in about
    # a second; without one, room enough that the window, not the buffer, limits.
    buffer = 64 << 10 if path.profile.rate_kbit else 1 << 20
    client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer)
    received = [0, 0.0]

    def drain() -> None:
        connection, _ = listener.accept()
        with connection:
            while chunk := connection.recv(1 << 16):
                received[0] += len(chunk)
        received[1] = time.monotonic()

    reading = threading.Thread(target=drain)
    reading.start()
    try:
        client.connect((path.gateway_address, PORT))
        client.settimeout(seconds)
        block = bytes(1 << 14)
        start = time.monotonic()
        try:
            while time.monotonic() - start < seconds:
                client.send(block)
        except TimeoutError:
            pass
        client.shutdown(socket.SHUT_WR)
        reading.join(timeout=60)
        info = client.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    finally:
        client.close()
        listener.close()
    if reading.is_alive():
        raise TimeoutError("the bulk transfer did not finish in 60 s")
    retransmitted = struct.unpack_from("I", info, TCP_INFO_TOTAL_RETRANS)[0]
    return Bulk(received[0] * 8 / (received[1] - start) / 1000, retransmitted)
