"""The real page in headless Chromium as a comparison client.

Chromium's fake microphone plays a WAV on a fixed schedule (silence through the
greeting, the question, silence through the reply, then the interruption), so
this caller cannot `say()` on cue: the runner waits for the gateway to hear it.
What the listener heard comes from the page's own timeline: wall-clock instants
of how much audio it had played (the player worklet's count over WebSocket,
the meter on the browser's WebRTC output), and its client buffer (the ring over
WebSocket, the jitter buffer over WebRTC).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from gateway.testing.chromium import launch, silence, write_wav

GREETING_SILENCE_S = 4.5
REPLY_SILENCE_S = 5.0


def mic_schedule(question: np.ndarray, interruption: np.ndarray | None) -> np.ndarray:
    parts = [silence(GREETING_SILENCE_S), question, silence(REPLY_SILENCE_S)]
    if interruption is not None:
        parts += [interruption, silence(3.0)]
    else:
        parts.append(silence(5.0))
    return np.concatenate(parts)


def _monotonic(wall_ms: float) -> float:
    """A page instant (wall-clock ms, `Date.now()`) on this process's monotonic clock."""
    return wall_ms / 1000 - (time.time() - time.monotonic())


class PageCaller:
    def __init__(
        self,
        page_url: str,
        wire: str,
        mic_wav: Path,
        rewrite_answer: Callable[[str], Awaitable[str]] | None = None,
        rewrite_offer: Callable[[str], Awaitable[str]] | None = None,
    ) -> None:
        """`wire` is "websocket" or "webrtc"; `rewrite_offer(sdp)` and
        `rewrite_answer(sdp)` point each side's WebRTC candidates at a relay, as
        for the synthetic client, so that no pair can bypass the relays."""
        self.page_url = page_url
        self.wire = wire
        self.mic_wav = mic_wav
        self.rewrite_answer = rewrite_answer
        self.rewrite_offer = rewrite_offer
        self.call_id: str | None = None
        self.error: str | None = None
        """Why the offer could not be relayed, if it could not."""
        self.stats: dict = {}
        self._playwright = None
        self._browser = None
        self._page = None

    @staticmethod
    def write_mic(path: Path, question: bytes, interruption: bytes | None) -> Path:
        pcm = mic_schedule(
            np.frombuffer(question, dtype=np.int16),
            None if interruption is None else np.frombuffer(interruption, dtype=np.int16),
        )
        return write_wav(path, pcm)

    @staticmethod
    def write_hm_mic(path: Path, hm: bytes | None, at_s: float) -> Path:
        """Silence, and `hm` (None: nothing) `at_s` into it; the file ends in
        silence, which %noloop repeats."""
        parts = [silence(at_s)]
        if hm is not None:
            parts.append(np.frombuffer(hm, dtype=np.int16))
        return write_wav(path, np.concatenate([*parts, silence(1.0)]))

    async def connect(self) -> None:
        from playwright.async_api import async_playwright

        self._playwright = await async_playwright().start()
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.page_url))
        self._browser = await launch(self._playwright, self.mic_wav, origin)
        self._page = await self._browser.new_page()
        if self.wire == "webrtc" and self.rewrite_answer is not None:
            await self._page.route("**/webrtc/offer", self._through_relay)
        await self._page.goto(self.page_url)
        await self._page.select_option("#transport", self.wire)
        await self._page.click("#call")
        try:
            await self._page.wait_for_function(
                "window.sluice.stats.callId !== null", timeout=20_000
            )
        except Exception:
            raise RuntimeError(self.error or "the page never got a call id") from None
        self.call_id = await self._page.evaluate("window.sluice.stats.callId")

    async def _through_relay(self, route) -> None:
        try:
            offer = json.loads(route.request.post_data or "{}")
            if self.rewrite_offer is not None and "sdp" in offer:
                offer["sdp"] = await self.rewrite_offer(offer["sdp"])
            response = await route.fetch(post_data=json.dumps(offer))
            if response.status != 200:
                await route.fulfill(response=response)  # the page shows the refusal
                return
            answer = await response.json()
            answer["sdp"] = await self.rewrite_answer(answer["sdp"])
            await route.fulfill(response=response, body=json.dumps(answer))
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            await route.abort()

    async def refresh(self) -> dict:
        """The page's figures now (timeline included)."""
        if self._page is not None:
            self.stats = await self._page.evaluate("window.sluice.stats")
        return self.stats

    def timeline(self) -> list[tuple[float, float, float]]:
        """(monotonic instant, heard ms so far, client buffer ms)."""
        return [(_monotonic(t), heard, buffered) for t, heard, buffered in self.stats.get(
            "timeline", [])]  # fmt: skip

    def heard_between(self, start: float, end: float) -> float:
        """Milliseconds of audio the page played between two monotonic instants."""
        points = self.timeline()

        def heard_at(instant: float) -> float:
            before = [h for t, h, _ in points if t <= instant]
            return before[-1] if before else 0.0

        return max(0.0, heard_at(end) - heard_at(start))

    def heard_points(self) -> list[tuple[float, float]]:
        """(monotonic instant, audio heard so far in ms)."""
        return [(t, heard) for t, heard, _ in self.timeline()]

    def mic_onsets(self) -> list[float]:
        """When each spell of the caller's voice began at the microphone (monotonic)."""
        return [_monotonic(t) for t in self.stats.get("micOnsets", [])]

    def mic_started(self) -> float | None:
        """When the page opened the microphone (monotonic): Chromium's fake
        capture plays its file from about then."""
        started = self.stats.get("micStartedAt")
        return None if started is None else _monotonic(started)

    def first_heard_after(self, instant: float) -> float | None:
        points = self.timeline()
        base = max((h for t, h, _ in points if t <= instant), default=0.0)
        return next((t for t, h, _ in points if t > instant and h > base), None)

    def rtc_stats(self) -> list[dict]:
        """Every getStats() reading the page took over WebRTC (every 250 ms), on
        this process's monotonic clock."""
        keys = ("jitter_buffer_ms", "jitter_target_ms", "concealed_samples",
                "concealment_events", "inserted_samples", "removed_samples",
                "packets_lost", "rtt_ms")  # fmt: skip
        return [
            {"at": _monotonic(row[0]), **dict(zip(keys, row[1:], strict=True))}
            for row in self.stats.get("rtcStats", [])
        ]

    def peak_buffer_ms(self, after: float) -> float:
        return max((b for t, _, b in self.timeline() if t >= after), default=0.0)

    def buffer_series(self) -> list[tuple[float, float]]:
        return [(t, b) for t, _, b in self.timeline()]

    async def hang_up(self) -> None:
        try:
            if self._page is not None:
                await self.refresh()
                await self._page.evaluate("window.sluice.hangUp()")
        finally:
            if self._browser is not None:
                await self._browser.close()
            if self._playwright is not None:
                await self._playwright.stop()
            self._page = self._browser = self._playwright = None
