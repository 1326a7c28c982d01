"""Tools lab: FlightAI, an airline assistant whose tools are real (a SQLite price table, a bookings table),
and the tool loop made visible round by round. Logic in lab.tools / lab.flightai; renderers in ui.tools."""

import streamlit as st

from lab.tools import flightai
from lab.tools.loop import MAX_ROUNDS
from ui import tools as U
from ui.widgets import provider_picker

st.title("🛠️ Tools: function calling with FlightAI")
st.caption(
    "A model cannot run code: it *asks* for a call (a name and JSON arguments). The lab checks the request "
    "against the tool's schema, runs the function, sends the result back as a `tool` message, and asks "
    "again, until the model answers or the round limit stops it."
)
choice = provider_picker()
with st.sidebar:
    max_rounds = st.slider(
        "Max rounds",
        1,
        MAX_ROUNDS,
        4,
        key="tools.max_rounds",
        help="Most requests sent to the model for one question; stops a model that loops.",
    )
    strategy = st.radio(
        "Tool strategy",
        ["auto", "native", "constrained"],
        key="tools.strategy",
        horizontal=True,
        help="native: the provider's tool API. constrained: JSON-schema output, one call per round "
        "(auto picks it for the local model, whose chat template has no tool support).",
    )
    extras = st.multiselect(
        "Extra tools",
        list(flightai.EXTRA_TOOLS),
        key="tools.extras",
        help="Safe example tools to add: pure functions over fixed tables.",
    )
    compare = st.checkbox(
        "Also ask a frontier model",
        key="tools.compare",
        help="Replays the question on OpenAI or Anthropic when a key is set or pasted.",
    )
db = U.session_db()
if choice.provider == "local":
    st.info(U.LOCAL_HONESTY, icon="🔬")

chat, schemas, data = st.tabs(["Chat", "Tool schemas", "Prices & bookings"], key="tools.tabs")
with chat:
    history = st.session_state.setdefault("tools.history", [])
    U.show_history(history)
    question = st.text_input("Your question", "How much is a return ticket from London to Paris?", key="tools.q")
    c1, c2 = st.columns([1, 4])
    asked = c1.button("Ask FlightAI", type="primary", key="tools.ask")
    if c2.button("New conversation", key="tools.reset"):
        st.session_state["tools.history"], st.session_state["tools.last"] = [], None
        st.rerun()
    result = (
        U.ask(choice, question, db=db, history=history, extras=extras, max_rounds=max_rounds, strategy=strategy)
        if asked
        else None
    )
    if result:
        st.session_state["tools.history"], st.session_state["tools.last"] = result.messages, result
        st.chat_message("user").markdown(question)
        st.chat_message("assistant").markdown(result.answer or "_(no answer: see the rounds below)_")
    if st.session_state.get("tools.last"):
        st.subheader("The loop, step by step")
        U.show_rounds(st.session_state["tools.last"])
    if result and compare:
        U.compare(question, db=db, extras=extras, max_rounds=max_rounds)

# Rendered after the chat, so a booking made by this question shows in the table at once.
with schemas:
    st.markdown(
        "Each schema is generated from the typed function on its left: the docstring becomes the "
        "description, `Annotated[..., Field(description=...)]` the parameter help, parameters without a "
        "default are `required`, and `additionalProperties: false` refuses arguments the function lacks. "
        "The same types check what the model sends before anything runs: a wrong type, a blank name or a "
        f"date outside the booking window (today to {flightai.BOOKING_YEARS} years ahead) is "
        "`invalid_arguments`; a city missing from the price table is `refused`. Either way the reason goes "
        "back to the model as its `tool` message, and the loop goes on."
    )
    U.show_schemas(flightai.registry(db, extras))
with data:
    U.price_editor(db)
