"""The real page in headless Chromium calls over WebRTC: heard, answered, interrupted."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.helpers import only_call, wait_for

pytestmark = pytest.mark.timeout(90)

STATS = "window.sluice.stats"


async def test_the_page_calls_over_webrtc_and_a_barge_in_stops_the_old_turn(
    browser, gateway_factory
):
    gw = await gateway_factory(webrtc_host_addresses="127.0.0.1", vad_min_silence_ms=500)
    context = await browser.new_context()
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(gw.base_url + "/")
    await page.select_option("#transport", "webrtc")
    await page.click("#call")
    call = await only_call(gw.ctx, timeout=15)
    assert await page.evaluate(f"{STATS}.wire") == "WebRTC"

    await page.wait_for_function(f"{STATS}.transcripts.length > 0", timeout=25_000)
    await page.wait_for_function(f"{STATS}.agentText.some(t => t.turn_id === 2)", timeout=15_000)
    await page.wait_for_function(f"{STATS}.clears > 0", timeout=25_000)
    at_clear = await page.evaluate(f"{STATS}.voicedAtClear")
    # The clear pauses the turn at the caller's first voiced window; the barge-in
    # is confirmed once the voice has lasted.
    await wait_for(lambda: bool(call.interrupts), timeout=10)
    assert call.interrupts[-1].turn_id == 2
    await asyncio.sleep(0.8)
    figures = await page.evaluate(STATS)
    stale = figures["voicedMs"] - at_clear
    assert at_clear > 2000  # the greeting and the start of the story were heard
    # The browser's jitter buffer still plays what it held; nothing after that.
    assert stale < 250, f"{stale:.0f} ms of the old turn played after the clear"
    assert figures["packetsLost"] == 0
    assert figures["jitterBufferMs"] is not None and figures["jitterBufferMs"] < 200
    assert errors == []
    await page.evaluate("window.sluice.hangUp()")
    await context.close()


async def test_the_page_calls_through_turn_only(browser, gateway_factory):
    """`?ice=relay`: Chromium may use only relayed paths, through a real coturn,
    with the credentials the gateway made for this call."""
    import secrets

    from gateway.testing.local_services import Coturn

    if not Coturn.available():
        pytest.skip("needs apt-get install coturn")
    coturn = Coturn(secret=secrets.token_hex(16)).start()
    try:
        gw = await gateway_factory(
            webrtc_host_addresses="127.0.0.1",
            webrtc_turn_url=coturn.url,
            webrtc_turn_secret=coturn.secret,
        )
        context = await browser.new_context()
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(gw.base_url + "/?ice=relay")
        await page.select_option("#transport", "webrtc")
        await page.click("#call")
        await only_call(gw.ctx, timeout=15)
        await page.wait_for_function(f"{STATS}.voicedMs > 1000", timeout=20_000)
        pair = await page.evaluate(
            """async () => {
                const report = await window.sluice.session.call.pc.getStats();
                let pair = null;
                report.forEach((s) => {
                  if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded")
                    pair = report.get(s.localCandidateId);
                });
                return pair && pair.candidateType;
            }"""
        )
        assert pair == "relay"
        assert errors == []
        await page.evaluate("window.sluice.hangUp()")
        await context.close()
    finally:
        coturn.stop()
