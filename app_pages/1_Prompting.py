"""Prompting lab: system prompts, shots, memory, structured output, model comparison, a website brochure, and
next-token probabilities. Logic lives in lab.prompting / lab.brochure; renderers and the later tabs' bodies in
ui.prompting."""

import streamlit as st

from lab.llm import Options
from lab.prompting import memory, messages
from ui import prompting as U
from ui.widgets import provider_picker, show_messages

st.title("💬 Prompting")
choice = provider_picker()
opts = U.sampling_options(temperature=0.3, max_tokens=256)
window = memory.context_window(choice.provider, choice.model)
if choice.provider == "local":
    st.caption("SmolLM2-135M is tiny: it follows short, plain instructions and gets facts wrong. That is the lesson.")
tabs = st.tabs(
    [
        "Chat & system prompts",
        "Shots",
        "Memory",
        "Structured output",
        "Compare models",
        "Brochure",
        "Next-token probabilities",
    ],
    key="prompting.tabs",
)


with tabs[0]:
    preset = st.selectbox("System prompt preset", list(messages.PRESETS), key="preset")
    system = st.text_area("System prompt", messages.PRESETS[preset], key=f"system.{preset}")
    user = st.text_area("User prompt", "What is the capital of France?", key="chat.user")
    json_mode = st.checkbox("JSON mode", help=Options.model_fields["json_mode"].description)
    if st.button("Send", type="primary", key="chat.send"):
        msgs = messages.build_messages(system, user)
        U.send(choice, msgs, Options(**opts, json_mode=json_mode), window)
        show_messages(msgs)

with tabs[1]:
    style = st.radio(
        "Examples go",
        list(messages.SHOT_STYLES),
        format_func=messages.SHOT_STYLES.get,
        horizontal=True,
        key="shots.style",
    )
    shots = U.shots_editor(messages.EXAMPLE_SHOTS, key="shots.table")
    n = st.slider("Examples used", 0, max(1, len(shots)), min(1, len(shots)), key="shots.n")
    system = st.text_area(
        "System prompt",
        "Classify the sentiment of the message as positive, negative or neutral. Answer with one word.",
        key="shots.system",
    )
    user = st.text_input("Message", "The colour faded after one wash.", key="shots.user")
    msgs = messages.build_messages(system, user, shots=shots[:n], style=style)
    st.caption(f"{messages.shots_label(min(n, len(shots)))}, examples {messages.SHOT_STYLES[style]}")
    show_messages(msgs)
    if st.button("Send", type="primary", key="shots.send"):
        U.send(choice, msgs, Options(**opts), window)

with tabs[2]:
    conv = st.session_state.setdefault("conversation", memory.Conversation(messages.PRESETS["Helpful shop assistant"]))
    conv.system = st.text_area("System prompt", conv.system, key="memory.system")
    st.markdown("**Context rules**: when the user mentions a keyword, an extra system message is added.")
    rules = U.rules_editor(messages.DEFAULT_RULES, key="memory.rules")
    said = st.text_input("Your message", "Do you sell belts?", key="memory.user")
    c1, c2 = st.columns(2)
    sent = c1.button("Send", type="primary", key="memory.send")
    if c2.button("Clear conversation", key="memory.clear"):
        st.session_state.conversation = conv = memory.Conversation(conv.system)
    U.show_conversation(conv)
    msgs = conv.messages(said, rules)
    if sent:
        st.chat_message("user").markdown(said)
        reply = U.send(choice, msgs, Options(**opts), window, where=st.chat_message("assistant"))
        if reply:
            conv.record(said, reply)
    with U.explained():
        U.token_meter(memory.count_tokens(conv.messages(said, rules)), window, conv.prompt_tokens)
    show_messages(msgs, label="Messages sent this turn" if sent else "Messages the next turn will send")

with tabs[3]:
    U.structured_tab(choice, opts)

with tabs[4]:
    U.compare_tab(opts)

with tabs[5]:
    U.brochure_tab(choice, opts)

with tabs[6]:
    U.next_token_tab(choice, opts)
