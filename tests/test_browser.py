"""One real browser: `streamlit run` on a free loopback port, Debian's Chromium driven by Playwright."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.appserver import CHROME_ARGS, CHROMIUM

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (apt-get install chromium)")]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS)
        yield b
        b.close()


def test_home_in_a_real_browser(app_url, browser, artifacts):
    page = browser.new_page(viewport={"width": 1400, "height": 2200})
    page.goto(app_url, wait_until="networkidle")
    page.get_by_text("LLM Engineering Lab").first.wait_for(timeout=30_000)
    page.get_by_text("Offline assets").wait_for(timeout=30_000)
    body = page.inner_text("body")
    for lab in ("Prompting", "Tokenization", "Tools", "RAG", "Pricer", "Fine-tune", "GGUF Runner"):
        assert lab in body
    page.screenshot(path=str(artifacts / "home.png"), full_page=True)
    page.close()
