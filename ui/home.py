"""The home view: what each lab does, which providers are ready, which offline assets are present."""

from __future__ import annotations

import streamlit as st

from lab.classroom import warmup
from lab.classroom.budget import shared_budget
from lab.core import assets
from lab.core.settings import get_settings
from lab.llm import provider_status
from ui.labs import LABS
from ui.session import session_id


@st.cache_data(ttl=60, show_spinner=False)
def _asset_rows() -> list[dict]:
    return [a.to_dict() for a in assets.report()]


def home_view() -> None:
    st.title("🧭 LLM Engineering Lab")
    st.markdown(
        "Every page is a hands-on lab for one technique of LLM engineering. Turn the knobs and watch "
        "what happens: tokens, the exact prompts sent, chunks retrieved, the loss going down. "
        "Everything runs **offline on a laptop CPU** with small real models; add an API key to compare "
        "with frontier models."
    )
    st.subheader("Labs")
    cols = st.columns(2)
    for i, lab in enumerate(LABS):
        with cols[i % 2].container(border=True):
            if lab.exists:
                st.page_link(lab.file, label=f"**{lab.title}**", icon=lab.icon)
            else:
                st.markdown(f"{lab.icon} **{lab.title}** · _coming soon_")
            st.caption(lab.what)

    st.subheader("Providers")
    rows = provider_status()
    st.dataframe(
        [{"provider": r.name, "ready": "✅" if r.ready else "—", "detail": r.detail} for r in rows],
        hide_index=True,
        width="stretch",
    )
    st.caption(
        "Keys come from the environment or `.streamlit/secrets.toml` (OPENAI_API_KEY, ANTHROPIC_API_KEY, "
        "HF_TOKEN) and are never shown. A key pasted in a page's sidebar stays in your browser session only."
    )

    budget = shared_budget()
    if any(r.ready for r in rows if r.name in ("openai", "anthropic")):
        st.caption(
            f"Deployment keys, tokens used: this session {budget.used(session_id()):,}"
            f"{f' of {budget.per_session:,}' if budget.per_session else ''}; whole class "
            f"{budget.used_total():,}{f' of {budget.total:,}' if budget.total else ''} "
            "(LAB_SESSION_TOKEN_BUDGET, LAB_GLOBAL_TOKEN_BUDGET). Pasted keys are not counted."
        )

    warm = warmup.state()
    if get_settings().warm_up and warm:
        st.caption(
            "Loading in the background so nobody waits later (LAB_WARM_UP): "
            + " · ".join(f"{name}: {what}" for name, what in warm.items())
        )

    st.subheader("Offline assets")
    table = _asset_rows()
    st.dataframe(
        [
            {"asset": a["name"], "present": "✅" if a["present"] else "❌", "what": a["purpose"], "fix": a["fix"]}
            for a in table
        ],
        hide_index=True,
        width="stretch",
    )
    missing = [a for a in table if not a["present"]]
    if missing:
        st.info("Missing assets: " + "; ".join(f"`{a['fix']}`" for a in missing))
