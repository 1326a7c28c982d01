"""Tokenization lab: tokenizers side by side, decoding ids, special tokens and chat templates, the numbers
experiment, letter counting, and what a text costs. Logic in lab.tokenization; renderers in ui.tokenization."""

import json

import pandas as pd
import streamlit as st

from lab.llm import DEFAULT_SYSTEM
from lab.llm.pricing import PRICES_AS_OF
from lab.tokenization import analysis, cost, registry
from ui import tokenization as U
from ui.widgets import explained

st.title("🔤 Tokenization")
st.caption(
    "A model reads integer ids, each standing for a piece of UTF-8 bytes. Each column below runs the "
    "tokenizer's own library (tiktoken, Hugging Face tokenizers, llama.cpp), so the ids are the model's."
)

with st.sidebar:
    names = st.multiselect("Tokenizers", list(registry.BUILTIN), default=list(registry.BUILTIN), key="names")
    extra = st.text_input(
        "Another tokenizer",
        "",
        key="extra",
        placeholder="hf:<hub id>, gguf:<path>, file:<tokenizer.json>",
        help="A Hub id works where the Hugging Face Hub is reachable; local files work everywhere.",
    )
    show_ws = st.toggle(
        "Show whitespace",
        key="ws",
        help="Draw spaces as ·, newlines as ↵: see why ' important' (with its leading space) is a single token.",
    )
    show_ids = st.toggle("Show ids", key="ids", help="Print each token's id under it (it is also on hover).")
    special = st.toggle(
        "Add special tokens",
        key="special",
        help="Add BOS/EOS as the model's tokenizer does, and read <|...|> in the text as one token.",
    )
names = names + [extra.strip()] if extra.strip() else names
if not names:
    st.info("Pick at least one tokenizer in the sidebar.")
    st.stop()

tabs = st.tabs(
    ["Side by side", "Decode ids", "Special tokens & chat template", "Numbers", "Letters", "Cost"], key="tok.tabs"
)

with tabs[0]:
    text = st.text_area(
        "Text",
        "Tokenization is important: GPT-4o costs $2.50 per 1M input tokens.\n"
        "    def add(a, b):\n        return a + b  # 😀 naïve café 東京",
        height=140,
        key="text",
    )
    if not text:
        st.info("Type or paste some text to see its tokens.")
    else:
        for col, name in zip(st.columns(min(len(names), 3)) * ((len(names) + 2) // 3), names):
            with col.container(border=True):
                with explained():
                    U.show_analysis(U.analyse(name, text, special), show_ws, show_ids)

with tabs[1]:
    dname = st.selectbox("Tokenizer", names, key="dec.name")
    raw = st.text_input(
        "Token ids",
        "9906, 1917, 11410, 99, 247",
        key="dec.ids",
        help="Ids separated by spaces or commas. Pieces that are not UTF-8 on their own show as bytes.",
    )
    if st.button("Decode", type="primary", key="dec.go"):
        with explained():
            decoded, dpieces = analysis.decode_ids(dname, analysis.parse_ids(raw))
            st.code(decoded, language=None)
            U.show_pieces(dpieces, show_ws, True)

with tabs[2]:
    cname = st.selectbox("Tokenizer", names, index=names.index("smollm2") if "smollm2" in names else 0, key="chat.name")
    raw_msgs = st.text_area(
        "Messages (JSON)",
        json.dumps(
            [
                {"role": "system", "content": DEFAULT_SYSTEM},
                {"role": "user", "content": "What is the capital of France?"},
            ],
            indent=1,
        ),
        height=150,
        key="chat.msgs",
    )
    gen = st.checkbox(
        "Add the generation prompt",
        value=True,
        key="chat.gen",
        help="add_generation_prompt=True ends with the assistant's header, so the model answers next.",
    )
    if st.button("Render template", type="primary", key="chat.go"):
        try:
            msgs = json.loads(raw_msgs)
        except json.JSONDecodeError as e:
            st.error(f"The messages are not valid JSON: {e}")
        else:
            with explained():
                rendered = analysis.render_chat(cname, msgs, gen)
                st.markdown(f"**{len(rendered.pieces)} tokens**; special tokens are dark.")
                U.show_pieces(rendered.pieces, show_ws, show_ids)
                st.code(rendered.text, language=None)
    with st.expander(f"Special tokens (added vocabulary) of {cname}"):
        with explained():
            st.dataframe(
                pd.DataFrame([{"id": p.id, "token": p.label} for p in analysis.special_tokens(cname)]), hide_index=True
            )

with tabs[3]:
    st.markdown(
        "The numbers experiment: **Llama 3 cuts numbers into chunks of up to three digits, SmolLM2 and "
        "Qwen into single digits.** When fine-tuning a model to predict prices, the price is a few "
        "tokens whose split shapes what the model must learn; a one-token-per-digit model predicts "
        "`999` as three separate choices."
    )
    with explained():
        rows = analysis.numbers_experiment(names)
        table = pd.DataFrame(rows).pivot(index="number", columns="tokenizer", values="pieces")
        st.dataframe(table.loc[[str(n) for n in analysis.NUMBERS]].map(" | ".join), key="numbers")

with tabs[4]:
    st.markdown("Why can't a model count letters? It never sees them: the word arrives as a few pieces.")
    example = st.text_input("Question", analysis.COUNTING_EXAMPLE, key="letters")
    if example:
        for name in names:
            with explained():
                st.markdown(f"**{name}**")
                U.show_pieces(U.analyse(name, example, False).pieces, show_ws, show_ids)

with tabs[5]:
    st.caption(f"Prices in US dollars per million tokens, as of {PRICES_AS_OF}. Edit the table to try others.")
    prices = st.data_editor(pd.DataFrame(cost.price_rows()), num_rows="dynamic", hide_index=True, key="prices")
    out_tokens = st.number_input("Expected output tokens", 0, 1_000_000, 500, key="out_tokens")
    if text:
        with explained():
            n = U.analyse("o200k_base", text, False).count
            costs = pd.DataFrame(cost.cost_rows(text, cost.table_from_rows(prices.to_dict("records")), out_tokens, n))
            st.dataframe(costs.style.format({"cost_usd": "${:.6f}", "context_share": "{:.4%}"}), hide_index=True)
            st.caption(
                "OpenAI models count with o200k_base (exact). Anthropic's tokenizer is not public: Claude rows "
                "reuse that count as an estimate."
            )
