"""Evaluate lab: choose a model for your use case. Your own leaderboard (the labs' tasks measured on this machine:
score x speed x size x cost), a blind arena whose votes the class shares, and the public leaderboards explained.
Logic in lab.evaluate; widgets in ui.evaluate."""

import streamlit as st

from lab.evaluate.tasks import TASKS
from ui import evaluate as U

st.title("🏁 Evaluate: choose a model for your use case")
st.caption(
    "Public leaderboards rank models on *their* tasks and hardware. Here you shortlist candidates, measure "
    "them on the labs' own tasks on this machine, and let the class vote blind between their answers."
)
U.key_fields()
suite_tab, arena_tab, boards_tab = st.tabs(
    ["Your leaderboard", "Blind arena", "Public leaderboards"], key="evaluate.tabs"
)

with suite_tab:
    specs = U.pick_models("evaluate.suite")
    c1, c2, c3 = st.columns([3, 1, 2])
    names = c1.multiselect(
        "Tasks",
        list(TASKS),
        default=list(TASKS),
        key="evaluate.tasks",
        format_func=lambda t: f"{t}: {TASKS[t].what}",
        help="Each task comes from a lab: FlightAI tool calls, the Pricer's hit rate, RAG answers...",
    )
    n = c2.number_input(
        "Cases per task",
        1,
        20,
        5,
        key="evaluate.n",
        help="Fewer cases = faster, noisier scores. 5 cases x 5 tasks x 3 rungs takes ~1-2 min on 2 cores.",
    )
    judge = c3.text_input(
        "RAG judge (optional)",
        "",
        key="evaluate.judge",
        placeholder="openai:gpt-4o-mini",
        help="A model that grades RAG answers for meaning; without it, every keyword must appear.",
    )
    st.caption(" · ".join(f"**{t}**: {TASKS[t].what}" for t in names))
    if st.button("▶️ Run the suite", type="primary", key="evaluate.run", disabled=not (specs and names)):
        rows = U.run_suite(specs, names, int(n), judge)
        if rows is not None:
            st.session_state["evaluate.rows"] = rows
    if st.session_state.get("evaluate.rows"):
        U.show_results(st.session_state["evaluate.rows"])
    else:
        st.info(
            "Pick models and tasks, then run. Tip: compare the ladder's rungs: does Q4_K_M lose accuracy "
            "against F16 on *these* tasks, and how much faster is it?"
        )

with arena_tab:
    st.markdown(
        "Two models drawn at random answer your prompt **anonymously**. Vote for the better answer; the names "
        "appear after your vote. Every student's votes go into one shared, append-only store, and the "
        "ratings below are fitted to all of them, as the Chatbot Arena does."
    )
    U.battle_box(U.pick_models("evaluate.arena", uploads=False))
    st.subheader("Class ratings")
    U.ratings_box()

with boards_tab:
    st.markdown(
        "Read them for a shortlist, then measure the shortlist yourself (first tab): each board answers one "
        "question, on its own tasks and hardware."
    )
    U.leaderboard_cards()
