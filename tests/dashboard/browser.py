"""Headless Chromium for the dashboard's tests: Debian's /usr/bin/chromium (scripts/install-browser.sh) driven by
Playwright's Python API; Playwright's own browser download is never used. Screenshots go to ARTIFACTS."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("SWARM_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = (
    Path(os.environ.get("SWARM_TEST_ARTIFACTS") or Path(__file__).resolve().parents[1] / "artifacts") / "dashboard"
)
# as root, in a closed network: no sandbox, nothing fetched in the background
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def need_chromium() -> None:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM}: run scripts/install-browser.sh (apt: chromium chromium-driver)")


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[object]:
    """A fresh browser, closed on the way out: Playwright gives each launch a new empty profile of its own (it
    refuses a --user-data-dir argument), removed when the browser closes."""
    need_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()
