"""Prompting lab: system prompts, shots, memory, structured output, model comparison, a website brochure, and
next-token probabilities. Logic lives in lab.prompting / lab.brochure; renderers in ui.prompting."""

import inspect

import streamlit as st

from lab.core.settings import get_settings
from lab.llm import DEFAULT_SYSTEM, Options
from lab.prompting import compare, memory, messages, next_token, structured
from lab.prompting.brochure import make_brochure, summarize
from ui import prompting as U
from ui.widgets import provider_picker, show_messages, show_usage

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
    ]
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
    kind = st.radio("Schema", ["Deal / DealSelection (course)", "Your own fields"], horizontal=True, key="so.kind")
    st.caption(
        "The local model decodes under the schema (llama.cpp grammar): the *shape* is guaranteed, the "
        "*values* are not - check them."
    )
    with U.explained():
        if kind.startswith("Deal"):
            schema, sys_default, user_default = (
                structured.Schema.from_model(structured.DealSelection),
                structured.DEAL_SYSTEM_PROMPT,
                structured.DEAL_EXAMPLE,
            )
            st.code(
                inspect.getsource(structured.Deal) + "\n\n" + inspect.getsource(structured.DealSelection),
                language="python",
            )
        else:
            fields = st.text_area("Fields (`name: type  # description`)", structured.EXAMPLE_FIELDS, key="so.fields")
            schema = structured.Schema.from_fields(fields)
            sys_default, user_default = DEFAULT_SYSTEM, "Tell me about the capital of France."
        system = st.text_area("System prompt", sys_default, key=f"so.system.{kind}")
        user = st.text_area("User prompt", user_default, key=f"so.user.{kind}")
        with st.expander("JSON Schema sent"):
            st.json(schema.json_schema)
        describe = st.checkbox(
            "Also paste the schema into the system prompt",
            key="so.describe",
            help="For servers without structured output. SmolLM2 then copies the schema's text.",
        )
        if st.button("Ask for structured output", type="primary", key="so.send"):
            result = structured.structured(
                choice.build(),
                messages.build_messages(system, user),
                schema,
                model=choice.model_arg,
                options=Options(**opts),
                describe=describe,
            )
            U.show_structured(result)
            show_usage(result.usage[-1])

with tabs[4]:
    st.caption("The same prompt to 2-3 models, one after the other. Keys and base URLs come from the sidebar.")
    user = st.text_area("Prompt", "Explain what a token is, in two sentences.", key="cmp.user")
    targets = U.compare_picker()
    if st.button("Compare", type="primary", key="cmp.send") and targets:
        with U.explained():
            outs = [U.Streamer(col) for col, _ in targets]
            outcomes = compare.compare(
                [compare.Target(f"{c.provider}/{c.model or 'SmolLM2'}", c.build, c.model_arg) for _, c in targets],
                messages.build_messages(messages.PRESETS["Brief and factual"], user),
                Options(**opts),
                on_text=lambda i, t: outs[i](t),
            )
            for (col, _), out, o in zip(targets, outs, outcomes):
                out.done(o.text)
                if o.error:
                    col.error(o.error)
            U.show_compare(outcomes)

with tabs[5]:
    allow = get_settings().allow_private_urls
    st.caption(
        f"Private, loopback and link-local addresses are {'ALLOWED' if allow else 'refused'} "
        "(LAB_ALLOW_PRIVATE_URLS); cloud metadata addresses always are."
    )
    url = st.text_input("Company website", "https://huggingface.co", key="bro.url")
    company = st.text_input("Company name (default: the page title)", "", key="bro.company")
    c1, c2 = st.columns(2)
    if c1.button("Make a brochure", type="primary", key="bro.send"):
        with U.explained():
            out, steps = U.Streamer(), st.status("Working", expanded=True)
            material, reply = make_brochure(
                url,
                choice.build(),
                company=company or None,
                model=choice.model_arg,
                options=Options(**opts | {"max_tokens": max(opts["max_tokens"], 400)}),
                on_text=out,
                on_step=steps.write,
            )
            steps.update(label=f"Read {1 + len(material.pages)} pages", state="complete")
            out.done(reply.text)
            st.json({"links picked": material.links, "skipped": material.skipped}, expanded=False)
            show_usage(reply.usage)
    if c2.button("Just summarize the page", key="bro.summary"):
        with U.explained():
            out = U.Streamer()
            page, reply = summarize(url, choice.build(), model=choice.model_arg, options=Options(**opts), on_text=out)
            out.done(reply.text)
            show_usage(reply.usage)

with tabs[6]:
    st.caption("At each step the model scores every token in its vocabulary; here are the top candidates.")
    prompt = st.text_input("Prompt", "The capital of France is", key="nt.prompt")
    k = st.slider("Candidates per step (k)", 2, 10, 5, key="nt.k")
    steps = st.slider("Tokens to generate", 1, 20, 6, key="nt.steps")
    if st.button("Show next tokens", type="primary", key="nt.send"):
        with U.explained():
            reply, rows = next_token.next_tokens(
                choice.build(),
                messages.build_messages(DEFAULT_SYSTEM, prompt),
                k=k,
                steps=steps,
                options=Options(**opts),
            )
            st.markdown(f"**Generated:** {reply.text}")
            U.show_next_tokens(rows, k)
