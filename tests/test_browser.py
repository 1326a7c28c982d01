"""One real browser: `streamlit run` on a free loopback port, Debian's Chromium driven by Playwright."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.browser  # skipped with the reason when Chromium or Playwright is missing (conftest.py)


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
