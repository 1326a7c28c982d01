"""The Home page, run headless with Streamlit's AppTest."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent


def test_home_lists_labs_providers_and_assets(monkeypatch, no_keys):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value-123")
    at = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value.startswith("🧭 LLM Engineering Lab")
    links = [e.proto.label for e in at.get("page_link")]
    assert {"**Prompting**", "**Tokenization**", "**Fine-tune**", "**GGUF Runner**"} <= set(links), links
    providers = at.dataframe[0].value
    assert list(providers["provider"])[:3] == ["local", "openai", "anthropic"]
    assert providers.set_index("provider").loc["openai", "ready"] == "✅"
    assets = at.dataframe[1].value
    assert "smollm2-gguf" in set(assets["asset"])
    # the key is never shown anywhere on the page
    rendered = str([e.value for e in at.main if hasattr(e, "value")]) + providers.to_string()
    assert "sk-secret-value-123" not in rendered


def test_home_without_any_key_says_how_to_add_one(no_keys):
    at = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=60).run()
    providers = at.dataframe[0].value.set_index("provider")
    assert providers.loc["openai", "detail"] == "set OPENAI_API_KEY"
    assert providers.loc["local", "ready"] == "✅"


def test_home_registers_the_labs_warm_up_steps_before_it_starts_them(monkeypatch, no_keys):
    from lab.classroom import warmup
    from lab.core.settings import get_settings

    started = []
    monkeypatch.setattr(warmup, "_STEPS", {})
    monkeypatch.setattr(warmup, "start", lambda delay_s=3.0: started.append([n for n, _ in warmup.steps()]) or True)
    monkeypatch.setenv("LAB_WARM_UP", "1")
    get_settings.cache_clear()
    try:
        at = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=60).run()
    finally:
        get_settings.cache_clear()
    assert not at.exception
    from ui.warm import STEPS

    assert started and started[0] == [name for name, _ in STEPS]  # all of the app's steps (names: test_warmup)
    assert "Loading in the background" in " ".join(c.value for c in at.caption)
