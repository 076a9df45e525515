"""Flow control particular to carriers: Asterisk's bounded queue and its
XOFF/XON watermarks, and the Realtime voice truncating at what each
carrier's fake actually played."""

from __future__ import annotations

import asyncio

import pytest

from tests.fakes.openai_realtime import FakeRealtime
from tests.integration.carriers import NEW_CARRIERS, Account
from tests.integration.helpers import only_call, wait_for
from tests.integration.test_realtime_voice import ASK, realtime

pytestmark = pytest.mark.timeout(90)

LONG_GREETING = " ".join(
    f"This is sentence number {n} of a long recorded notice that fills the queue." for n in range(8)
)


async def test_asterisk_queue_never_overflows_even_with_the_naive_window(gateway_factory):
    """The naive baseline's window is unlimited: only Asterisk's own queue
    (1,000 frames, XOFF at 900) bounds what the gateway may send ahead."""
    account = Account("asterisk")
    gw = await gateway_factory(
        greeting=LONG_GREETING, flow_mode="naive", interrupt_greeting=False, **account.settings
    )
    async with await account.caller(gw) as caller:
        call = await only_call(gw.ctx, timeout=10)
        await wait_for(lambda: caller.peak_queue_frames >= 700, timeout=20)
        await asyncio.sleep(3.0)
        assert call.flow.window.limit_ms == 16_000
        assert caller.overflowed_ms == 0, f"{caller.overflowed_ms} ms sent past a full queue"
        assert caller.peak_queue_frames < 900, caller.peak_queue_frames
        assert caller.points_acked, "marks come back as the queue plays"
        assert not caller.problems, caller.problems[:5]


@pytest.mark.parametrize("carrier", NEW_CARRIERS)
async def test_the_realtime_voice_truncates_at_what_the_carrier_played(
    gateway_factory, speech, carrier
):
    account = Account(carrier)
    async with FakeRealtime(speed=3, reply_ms=30_000) as fake:
        gw = await gateway_factory(**realtime(fake, greeting="", **account.settings))
        async with await account.caller(gw) as caller:
            call = await only_call(gw.ctx, timeout=10)
            session = await fake.session(0)
            native = caller.far.wire.native_audio == "pcmu"
            fmt = session.session_config["audio"]["output"]["format"]
            assert fmt == (
                {"type": "audio/pcmu"} if native else {"type": "audio/pcm", "rate": 24000}
            )
            caller.say(await speech(ASK))
            await wait_for(lambda: caller.log.played_ms(1) >= 2000, timeout=20)
            caller.say(await speech("Stop. Wait a moment."))
            await wait_for(lambda: bool(call.interrupts), timeout=10)
            await wait_for(lambda: bool(session.truncations), timeout=5)
            await wait_for(lambda: bool(caller.clears), timeout=5)
            await asyncio.sleep(0.5)
        truncation = session.truncations[-1]
        played = caller.log.played_ms(1)
        assert abs(truncation["audio_end_ms"] - played) <= 60, (truncation, played)
        assert session.cancels == 1 and not session.errors_sent
        assert not caller.problems, caller.problems[:5]
