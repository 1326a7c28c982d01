"""The browser tour: every lab page in Debian's Chromium, its main action performed, a screenshot of each.

One real `streamlit run` server (conftest.py's fixtures, as in tests/test_browser.py), one page at a time as a student
would click. Screenshots land in test-artifacts/tour/ (README's gallery is made from them).
"""

from __future__ import annotations

import re

import pytest

from ui.labs import available

pytestmark = pytest.mark.browser  # skipped with the reason when Chromium or Playwright is missing (conftest.py)


def _click(page, text: str) -> None:
    page.get_by_role("button", name=re.compile(re.escape(text))).first.click()


def _tab(page, text: str) -> None:
    page.get_by_role("tab", name=re.compile(re.escape(text))).first.click()


def prompting(page):
    _click(page, "Send")
    page.get_by_text("Tokens out").first.wait_for(timeout=240_000)


def tokenization(page):
    page.get_by_text("o200k_base").first.wait_for(timeout=120_000)
    page.get_by_text("tokens").first.wait_for(timeout=120_000)


def tools(page):
    _click(page, "Ask FlightAI")
    page.get_by_text("The loop, step by step").first.wait_for(timeout=240_000)


def pipelines(page):
    page.get_by_text("Tiny untrained model").first.click()
    _click(page, "Run")
    page.get_by_text(re.compile("untrained", re.I)).nth(1).wait_for(timeout=240_000)


def rag(page):
    _tab(page, "Index side by side")
    _click(page, "Index and search both")
    page.get_by_text("Top-k agreement").first.wait_for(timeout=400_000)  # both stores answered


def pricer(page):
    _tab(page, "Baselines")
    _click(page, "Train and score")
    page.get_by_text("Training (MiniLM").first.wait_for(state="detached", timeout=400_000)
    _tab(page, "Scoreboard")
    page.get_by_text("Mean abs. error").first.wait_for(timeout=60_000)  # the course's Tester metrics


def fine_tune(page):
    _click(page, "Plan memory")
    page.get_by_text(re.compile("trainable", re.I)).first.wait_for(timeout=240_000)


def gguf_runner(page):
    page.get_by_text("Tensors").first.wait_for(timeout=120_000)  # the inspection, read from the header
    _tab(page, "Chat")
    _click(page, "Send")
    page.get_by_text(re.compile("Paris")).first.wait_for(timeout=240_000)


def agents(page):
    _tab(page, "Products map")
    _click(page, "Draw the products store")  # the store is built once from the Pricer's data (MiniLM)
    page.get_by_text(re.compile("products \\(the Pricer's data")).first.wait_for(timeout=400_000)


def evaluate(page):
    _tab(page, "Public leaderboards")
    page.get_by_text(re.compile("LLM-Perf Leaderboard")).first.wait_for(timeout=60_000)


ACTIONS = {
    "Prompting": prompting,
    "Tokenization": tokenization,
    "Tools": tools,
    "Pipelines": pipelines,
    "RAG": rag,
    "Pricer": pricer,
    "Fine-tune": fine_tune,
    "GGUF Runner": gguf_runner,
    "Agents": agents,
    "Evaluate": evaluate,
}


@pytest.mark.parametrize("lab", available(), ids=lambda lab: lab.title)
def test_tour(lab, app_url, browser, artifacts):
    folder = artifacts / "tour"
    folder.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    slug = re.sub(r"^\d+_", "", lab.file.split("/")[-1][:-3])
    page.goto(f"{app_url}/{slug}", wait_until="networkidle")
    page.locator("h1").first.wait_for(timeout=120_000)
    try:
        ACTIONS[lab.title](page)
        body = page.inner_text("body")
        assert "Traceback" not in body
        exceptions = page.locator('[data-testid="stException"]')
        assert exceptions.count() == 0, exceptions.first.inner_text()
    finally:
        page.screenshot(path=str(folder / f"{slug.lower()}.png"), full_page=True)
        page.close()
