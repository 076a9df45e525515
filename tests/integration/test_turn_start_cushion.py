"""A turn starts with a cushion: its first media message carries several frames,
so under delay and jitter the first frame never plays alone with a gap after it."""

from __future__ import annotations

import pytest

from gateway.compare.profiles import Profile
from gateway.compare.relay import TcpRelay
from gateway.testing.twilio_caller import TwilioCaller
from tests.integration.helpers import listening_after, only_call, wait_for

pytestmark = pytest.mark.timeout(90)

JITTER = Profile("jitter", delay_ms=40, jitter_ms=30)
"""The comparison's delay with the jitter the outside measurement used (0 to 30 ms)."""


async def test_no_gap_after_a_turns_first_frame_under_delay_and_jitter(gateway_factory):
    gw = await gateway_factory(greeting="Hello there. This is Sluice, speaking to you now.")
    port = int(gw.base_url.rsplit(":", 1)[1])
    for seed in range(5):
        relay = await TcpRelay(JITTER, port, seed=seed).start()
        try:
            async with TwilioCaller(f"ws://127.0.0.1:{relay.port}/twilio/media") as caller:
                call = await only_call(gw.ctx)
                await wait_for(listening_after(call, 1), timeout=20)
                count, gap_ms = caller.log.underruns(1)
                assert (count, gap_ms) == (0, 0), f"seed {seed}: {count} gaps, {gap_ms} ms"
                # Three frames at once (less the resampler's 2 ms start-up delay).
                assert caller.media_sizes[0] >= 3 * 160 - 20, caller.media_sizes[:4]
            await wait_for(lambda: not gw.ctx.calls, timeout=5)
        finally:
            await relay.stop()
