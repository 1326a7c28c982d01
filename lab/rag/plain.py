"""RAG without LangChain: the same ask pipeline as ``chain.py``, written with the raw chromadb client, a
sentence-transformers model and the lab's provider layer - nothing else.

The course ends week 5 by dropping the framework to show there is no magic in it. Every step of ``chain.py``
is a few plain lines here: condense the follow-up, embed the question, query the collection, drop weak
chunks, stuff the prompt, call the model. Given the same index and provider, both retrieve the same chunks
and send the same messages (``tests/test_rag.py`` checks it):

    >>> import chromadb
    >>> from sentence_transformers import SentenceTransformer          # doctest: +SKIP
    >>> model = SentenceTransformer(str(lab.core.assets.minilm_dir()))       # doctest: +SKIP
    >>> collection = chromadb.PersistentClient(path).get_collection("kb-minilm-recursive-400-50-t")   # doctest: +SKIP
    >>> encode = lambda texts: model.encode(texts, normalize_embeddings=True)                          # doctest: +SKIP
    >>> ask_plain("Who owns AquaLedger?", collection, encode, provider)                                # doctest: +SKIP

``open_plain()`` builds that collection and encoder for the lab's own Chroma directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lab.llm.base import Options, run
from lab.rag.chain import ANSWER_STOP, CONDENSE_PROMPT, NO_CONTEXT_ANSWER, SYSTEM_PROMPT, ChatOptions, check_query


@dataclass
class PlainAnswer:
    question: str
    standalone_question: str
    answer: str
    chunks: list[dict] = field(default_factory=list)  # {"id", "source", "score", "text"}, best first
    prompt: list[dict] = field(default_factory=list)


def open_plain(path=None, collection: str | None = None):
    """(raw chromadb collection, encode function) for the lab's MiniLM index on disk (build it first:
    ``python -m lab rag index --store chroma``)."""
    import chromadb
    from sentence_transformers import SentenceTransformer

    from lab.core import assets
    from lab.rag.chroma_store import default_chroma_dir
    from lab.rag.chunking import ChunkOptions

    model = SentenceTransformer(str(assets.minilm_dir()), device="cpu")
    client = chromadb.PersistentClient(path=str(path or default_chroma_dir()))
    col = client.get_collection(collection or f"kb-minilm-{ChunkOptions().tag()}")
    return col, lambda texts: model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)


def ask_plain(
    question: str,
    collection,
    encode,
    provider,
    *,
    history: list[dict] | None = None,
    options: ChatOptions | None = None,
    model: str | None = None,
    on_text=None,
) -> PlainAnswer:
    options = options or ChatOptions()
    question = check_query(question)
    history = list(history or [])
    llm = Options(temperature=options.temperature, max_tokens=options.max_tokens, stop=ANSWER_STOP)

    # 1. condense a follow-up into a standalone question (same prompt as the chain)
    standalone = question
    if history and options.condense == "append":
        earlier = [m["content"] for m in history if m["role"] == "user" and m.get("content")]
        standalone = " ".join(earlier[-2:] + [question])[-1500:]
    elif history and options.condense == "llm":
        conversation = "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in history[-6:] if m.get("content"))
        msgs = [
            {"role": "system", "content": CONDENSE_PROMPT},
            {
                "role": "user",
                "content": f"Conversation:\n{conversation}\n\nFollow-up question: {question}\nStandalone question:",
            },
        ]
        lines = run(provider, msgs, model=model, options=llm).text.strip().splitlines()
        standalone = (lines[0].strip().strip('"') if lines else "") or question

    # 2. embed it and query the collection (Chroma answers cosine *distance*; similarity = 1 - distance)
    vector = encode([standalone])
    r = collection.query(query_embeddings=vector, n_results=options.k, include=["documents", "metadatas", "distances"])
    chunks = [
        {"id": i, "source": (m or {}).get("source", ""), "score": 1.0 - float(d), "text": t}
        for i, d, t, m in zip(r["ids"][0], r["distances"][0], r["documents"][0], r["metadatas"][0])
    ]
    chunks = [c for c in chunks if c["score"] >= options.min_score]
    if not chunks:
        return PlainAnswer(question, standalone, NO_CONTEXT_ANSWER)

    # 3. stuff the numbered chunks into the prompt, 4. call the model
    context = "\n\n".join(f"[{n}] ({c['source']})\n{c['text']}" for n, c in enumerate(chunks, 1))
    prompt = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"Context:\n{context}\n\nQuestion: {standalone}"},
    ]
    answer = run(provider, prompt, model=model, options=llm, on_text=on_text).text.strip()
    return PlainAnswer(question, standalone, answer, chunks, prompt)
