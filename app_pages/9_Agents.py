"""Agents lab: the course's capstone, "The Price is Right" - a deal hunter made of agents.
Logic in lab.agents; widgets in ui.agents."""

import streamlit as st

from lab.agents.planner import local_planner_label
from ui import agents as U
from ui.widgets import provider_picker

st.title("🕵️ Agents: the deal hunter")
st.caption(
    "A planner coordinates three agents: a **scanner** reads deal feeds and lets a model pick the deals with "
    "a clear price (structured output, checked against each deal's own text); an **ensemble** prices each "
    "deal with a fine-tuned specialist, a frontier model shown 5 similar products from a chromadb store, and "
    "a random forest, combined by a linear regression; a **messenger** writes a one-line alert. A memory "
    "makes sure no deal is surfaced twice."
)
choice = provider_picker()
with st.sidebar:
    plan = st.radio(
        "Plan",
        ["fixed", "llm"],
        key="agents.plan",
        horizontal=True,
        help="fixed: scan -> price -> notify the best (the course's PlanningAgent). llm: the model calls "
        "the three agents as tools and decides the order itself (AutonomousPlanningAgent).",
    )
    specialist = st.selectbox(
        "Specialist",
        ["auto", "base"],
        key="agents.specialist",
        help="auto: the newest fine-tune run with an adapter (Fine-tune lab), else the base "
        "SmolLM2 GGUF, labelled as not fine-tuned. base: always the base model.",
    )
    threshold = st.number_input(
        "Notify when the discount is above ($)", 0.0, 1000.0, 50.0, 10.0, key="agents.threshold"
    )
    every = st.number_input(
        "Run every N minutes while open (0 = off)",
        0,
        120,
        0,
        key="agents.every",
        help="A fragment re-runs on its own timer while this tab stays open.",
    )
if choice.provider == "local" and plan == "llm":
    st.info(
        "SmolLM2-135M has no tool support: the Tools lab's constrained strategy makes it answer in JSON "
        "(tool call or answer). " + local_planner_label(),
        icon="🔬",
    )

run_tab, memory_tab, inbox_tab, map_tab = st.tabs(["Run", "Memory", "Inbox", "Products map"], key="agents.tabs")
with run_tab:
    clicked = st.button("Run one cycle", type="primary", key="agents.run")
    st.caption("The first cycle fits the ensemble once: each member prices 60 held-out products (cached on disk).")
    spot = st.empty()

    def run(where):
        return U.run_one(choice, plan, specialist, threshold, where)

    if clicked:
        run(spot)
    elif every:
        U.auto_runner(int(every), run)
    last = st.session_state.get("agents.last")
    if last is not None and not (every and not clicked):
        if not clicked:
            spot.html(U.log_html(last.log))
        U.opportunities(last)
with memory_tab:
    U.memory_panel()
with inbox_tab:
    U.inbox_panel()
with map_tab:
    dims = st.radio("Dimensions", [2, 3], horizontal=True, key="agents.dims")
    if st.button("Draw the products store", key="agents.map"):
        U.products_map(dims)
