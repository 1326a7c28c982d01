"""The RAG lab: a markdown knowledge base, chunked, embedded, indexed in Chroma and FAISS side by side.

One idea per module, in the order data flows:

    loading.py     knowledge-base/<doc_type>/*.md  -> Documents (doc_type, source, sha256)
    chunking.py    Documents -> chunks (character vs recursive splitter, size, overlap)
    embeddings.py  texts -> unit vectors (MiniLM offline, 384 dims; OpenAI when a key is set)
    stores.py      one VectorStore interface: Chroma on disk, FAISS in memory; incremental re-index
    retrieval.py   a langchain-core retriever over our store + embedder, and the shared index cache
    chain.py       conversational RAG with runnables: condense -> retrieve -> prompt -> any lab provider
    evaluation.py  MRR, nDCG@k, keyword coverage per store; the sweep over chunk size / overlap / k
    viz.py         the vector space in 2D/3D (t-SNE, PCA), coloured by doc_type
    cli.py         ``python -m lab rag index|search|ask|eval``

Nothing here imports streamlit; heavy libraries are imported inside functions so ``import lab.rag`` is cheap.
"""
