"""Headless Chromium (Debian's package) driven by Playwright, on loopback only."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import numpy as np
import pytest

from gateway.testing.chromium import CHROMIUM, launch, write_wav
from gateway.testing.page_caller import mic_schedule
from tests import conftest as root


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = None
    if not root.NETWORK_ISOLATED:
        reason = "browser tests need root for a loopback-only network namespace"
    elif not os.path.exists(CHROMIUM):
        reason = f"no Chromium at {CHROMIUM} (make test installs it with apt)"
    if reason:
        for item in items:
            if "tests/browser" in str(item.fspath):
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def mic_wav(services, tmp_path_factory) -> Path:
    """Silence while the greeting plays, a question, silence while the answer
    plays, an interruption, and trailing silence: with %noloop Chromium repeats
    the file's last 10 ms forever, so the file must end in silence."""

    def speak(text: str) -> np.ndarray:
        # A session fixture runs outside any test's event loop.
        return np.frombuffer(asyncio.run(services.tts.synthesize(text)), dtype=np.int16)

    question = speak("Please tell me a long story.")
    stop = speak("Stop. Wait a moment.")
    return write_wav(tmp_path_factory.mktemp("mic") / "mic.wav", mic_schedule(question, stop))


@pytest.fixture
async def browser(mic_wav):
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await launch(p, mic_wav)
        try:
            yield browser
        finally:
            await browser.close()
