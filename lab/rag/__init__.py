"""The RAG lab: a markdown knowledge base, chunked, embedded, indexed in Chroma and FAISS side by side.

One idea per module, in the order data flows:

    loading.py     knowledge-base/<doc_type>/*.md  -> Documents (doc_type, source, sha256)
    chunking.py    Documents -> chunks (character vs recursive splitter, size, overlap)
    embeddings.py  texts -> unit vectors (MiniLM offline, 384 dims; OpenAI when a key is set)
    stores.py      one VectorStore interface, the Hit, incremental re-index (sync)
    chroma_store.py the Chroma store, persisted on disk or on a Chroma server
    faiss_store.py  the FAISS store, in memory (flat, HNSW or IVF)
    manifest.py    sizes + SHA-256 of a persisted Chroma index, checked at load (rebuilt with a notice if changed)
    lexical.py     BM25 over the same chunks (bm25s)
    fusion.py      reciprocal-rank fusion, round-robin merging, sub-queries for two-part questions
    modes.py       dense | bm25 | hybrid | best: a question -> ranked chunks, embedding timed apart from search
    retrieval.py   a langchain-core retriever over our store + embedder, and the shared index cache
    compare.py     stores side by side and modes side by side, timed fairly (embed once, time each search alone)
    chain.py       conversational RAG with runnables: condense -> retrieve -> prompt -> any lab provider
    plain.py       the same pipeline without LangChain: raw chromadb + sentence-transformers + provider layer
    evaluation.py  MRR, nDCG@k, keyword coverage per store and mode; the sweep over chunk size / overlap / k
    judge.py       LLM-as-judge: accuracy, completeness, relevance 1-5 with a reason, beside keyword coverage
    viz.py         the vector space in 2D/3D (t-SNE, PCA), coloured by doc_type
    cli.py         ``python -m lab rag index|search|ask|eval|sweep|judge``

Nothing here imports streamlit; heavy libraries are imported inside functions so ``import lab.rag`` is cheap.
"""

import os

# FAISS and PyTorch each bring their own OpenMP runtime; with both loaded, their idle threads spin against each
# other, and on 2 busy cores a MiniLM query took ~300 ms instead of ~15 ms (README, RAG). Passive waiting
# fixes it; it must be set before either library starts, hence here (a user's own setting wins).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
