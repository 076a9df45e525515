"""User-space relays on loopback that apply a network profile: the kernel's
netem is not available here. TCP for WebSocket and Twilio, UDP for WebRTC."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable

from gateway.compare.impairment import Impairment
from gateway.compare.profiles import Profile

log = logging.getLogger(__name__)

READ_BYTES = 65536
MAX_QUEUED = 4096
"""Segments or datagrams in flight inside one relay direction."""


class TcpRelay:
    """127.0.0.1:port -> target, each direction impaired on its own."""

    def __init__(
        self, profile: Profile, target_port: int, seed: int = 0, target_host: str = "127.0.0.1"
    ) -> None:
        self.profile = profile
        self.target_host = target_host
        self.target_port = target_port
        self.seed = seed
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self.directions: list[Impairment] = []

    async def start(self) -> TcpRelay:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        n = len(self.directions)
        out = Impairment(self.profile, ordered=True, seed=self.seed + n)
        back = Impairment(self.profile, ordered=True, seed=self.seed + n + 1)
        self.directions += [out, back]
        for task in (
            asyncio.create_task(self._pipe(reader, up_writer, out)),
            asyncio.create_task(self._pipe(up_reader, writer, back)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, impairment: Impairment
    ) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(MAX_QUEUED)

        async def deliver() -> None:
            while (item := await queue.get()) is not None:
                at, data = item
                await asyncio.sleep(max(0.0, at - loop.time()))
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        try:
            while data := await reader.read(READ_BYTES):
                at = impairment.schedule(loop.time(), len(data))
                await queue.put((at if at is not None else loop.time(), data))
            await queue.put(None)
            await sender
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            sender.cancel()
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class _UdpSide(asyncio.DatagramProtocol):
    def __init__(self, relay: UdpRelay, from_client: bool) -> None:
        self.relay = relay
        self.from_client = from_client
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.relay._received(data, addr, self.from_client)


class UdpRelay:
    """One peer's UDP path: the client sends to `port`, the relay forwards to the
    target (the gateway's ICE candidate) from a socket of its own, and the
    gateway's replies go back to wherever the client last sent from."""

    def __init__(self, profile: Profile, target: tuple[str, int], seed: int = 0) -> None:
        self.profile = profile
        self.target = target
        self.out = Impairment(profile, ordered=False, seed=seed)
        self.back = Impairment(profile, ordered=False, seed=seed + 1)
        self._client_addr: tuple[str, int] | None = None
        self._client_side: _UdpSide | None = None
        self._gateway_side: _UdpSide | None = None
        self.port = 0
        self._pending = 0

    async def start(self) -> UdpRelay:
        loop = asyncio.get_running_loop()
        _, self._client_side = await loop.create_datagram_endpoint(
            lambda: _UdpSide(self, True), local_addr=("127.0.0.1", 0)
        )
        _, self._gateway_side = await loop.create_datagram_endpoint(
            lambda: _UdpSide(self, False), local_addr=("127.0.0.1", 0)
        )
        self.port = self._client_side.transport.get_extra_info("sockname")[1]
        return self

    def _received(self, data: bytes, addr: tuple[str, int], from_client: bool) -> None:
        loop = asyncio.get_running_loop()
        if from_client:
            self._client_addr = addr
            at = self.out.schedule(loop.time(), len(data))
            side, dest = self._gateway_side, self.target
        else:
            at = self.back.schedule(loop.time(), len(data))
            side, dest = self._client_side, self._client_addr
        if at is None or dest is None or side is None or self._pending >= MAX_QUEUED:
            return
        self._pending += 1

        def send() -> None:
            self._pending -= 1
            with contextlib.suppress(Exception):
                side.transport.sendto(data, dest)

        loop.call_at(at, send)

    async def stop(self) -> None:
        for side in (self._client_side, self._gateway_side):
            if side is not None and side.transport is not None:
                side.transport.close()


_CANDIDATE = re.compile(r"a=candidate:(\S+) (\d) udp (\d+) ([\d.]+) (\d+) typ host")


def sdp_through_relay(profile: Profile, udp: list[UdpRelay]) -> Callable[[str], Awaitable[str]]:
    """An SDP rewrite: the first UDP host candidate is replaced by a relay in
    front of it. Applied to the offer and the answer, every ICE pair (peer
    reflexive ones included) crosses exactly one relay."""

    async def rewrite(sdp: str) -> str:
        match = _CANDIDATE.search(sdp)
        if match is None:
            raise RuntimeError("the description has no UDP host candidate")
        relay = await UdpRelay(profile, (match.group(4), int(match.group(5)))).start()
        udp.append(relay)
        kept = [line for line in sdp.split("\r\n") if not line.startswith("a=candidate:")]
        foundation, priority = match.group(1), match.group(3)
        candidate = f"a=candidate:{foundation} 1 udp {priority} 127.0.0.1 {relay.port} typ host"
        out = []
        for line in kept:
            out.append(line)
            if line.startswith("a=ice-pwd"):
                out.append(candidate)
        return "\r\n".join(out)

    return rewrite
