"""Conversational RAG with langchain-core runnables: condense -> retrieve -> prompt -> any lab provider.

A follow-up like "And who owns it?" means nothing to a retriever. So, as the course's
``ConversationalRetrievalChain`` does, the chain first asks the model to rewrite the follow-up as a standalone
question using the chat history, retrieves chunks for *that*, and answers from those chunks only:

    {"question": "And who owns it?", "history": [user: "What does AquaLedger cost?", assistant: "..."]}
      -> condense  -> "Who is the product owner of AquaLedger?"
      -> retrieve  -> top-k chunks (knowledge-base/products/aqualedger.md#0, ...)
      -> prompt    -> [system: rules, user: "Context: [1] (knowledge-base/products/aqualedger.md) ... Question: ..."]
      -> provider  -> "Rainfold's AquaLedger is owned by ..."

    >>> from lab.llm.fake import FakeProvider
    >>> from lab.rag.retrieval import get_index
    >>> fake = FakeProvider(["Who owns AquaLedger?", "I don't know."])
    >>> r = ask(get_index("faiss"), "And who owns it?", provider=fake,
    ...         history=[{"role": "user", "content": "What does AquaLedger cost?"}, {"role": "assistant", "content": "..."}])
    >>> r.standalone_question, "knowledge-base/products/aqualedger.md" in r.sources
    ('Who owns AquaLedger?', True)
    >>> "Who owns AquaLedger?" in r.prompt[-1]["content"]     # the exact prompt the model saw
    True

How this relates to the course: ``ConversationalRetrievalChain`` (with ``ConversationBufferMemory``) moved to
``langchain-classic`` in LangChain 1.x and is deprecated there. Its two steps - a "condense question" LLM call
and a "stuff documents" answer call - are exactly the runnables below, each adding one key to a dict (as
``RunnablePassthrough.assign`` does, in the caller's thread) so every intermediate (standalone question, chunks,
prompt) stays visible for the debugging view. Memory is
simply the list of earlier turns the caller passes in (the page keeps it in the session). The model is any
lab provider (local SmolLM2 by default), wrapped in a ``RunnableLambda`` around ``lab.llm.run``.

Retrieval is guarded: chunks scoring below ``min_score`` are dropped, and when none is left the chain says it
does not know without calling the model (a 135M model told "say you don't know" still invents, sometimes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import itemgetter
from typing import Callable, Literal

from langchain_core.messages import convert_to_openai_messages
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel, Field

from lab.llm.base import DEFAULT_SYSTEM, Message, Options, Provider, Usage, run
from lab.rag.retrieval import StoreRetriever, check_query

SYSTEM_PROMPT = (
    "You answer questions about Rainfold Systems, using only the context below. If the context does "
    'not contain the answer, say "I don\'t know". ' + DEFAULT_SYSTEM
)
CONDENSE_PROMPT = (
    "Rewrite the user's follow-up question as one standalone question that makes sense without the "
    "conversation. Reply with the question only."
)
# Small models sometimes carry on by copying the context's layout ("[5] (knowledge-base/...)"): stop there.
ANSWER_STOP = ["\n\n[", "\n\n## "]
NO_CONTEXT_ANSWER = "I don't know: nothing in the knowledge base matches this question closely enough."

ANSWER_TEMPLATE = ChatPromptTemplate.from_messages(
    [
        ("system", SYSTEM_PROMPT),
        ("human", "Context:\n{context}\n\nQuestion: {question}"),
    ]
)
CONDENSE_TEMPLATE = ChatPromptTemplate.from_messages(
    [
        ("system", CONDENSE_PROMPT),
        ("human", "Conversation:\n{conversation}\n\nFollow-up question: {question}\nStandalone question:"),
    ]
)


class ChatOptions(BaseModel):
    """How the RAG chat retrieves and answers. Descriptions are the page's help texts."""

    model_config = {"extra": "forbid"}

    k: int = Field(4, ge=1, le=20, description="How many chunks go into the prompt (more context, more tokens).")
    condense: Literal["llm", "append", "off"] = Field(
        "llm",
        description="How a follow-up uses the history: llm = the model rewrites it as a standalone question "
        "(the course's way); append = earlier questions are added to the search text; off = ignore history.",
    )
    # Calibrated on MiniLM: every evaluation question's best chunk scores 0.39 or more, while off-topic questions
    # ("What is the capital of France?", "Who wrote Hamlet?") peak at 0.31. Other embedders need their own value.
    min_score: float = Field(
        0.35,
        ge=-1.0,
        le=1.0,
        description="Chunks below this cosine similarity are dropped; with none left the answer is 'I don't know' (MiniLM: on-topic >= ~0.4, off-topic <= ~0.3).",
    )
    temperature: float = Field(
        0.0, ge=0.0, le=2.0, description="Sampling temperature of the answer (0 = greedy, reproducible)."
    )
    max_tokens: int = Field(256, ge=1, le=4096, description="Longest answer, in tokens.")
    mode: Literal["dense", "bm25", "hybrid", "best"] = Field(
        "dense",
        description="Retrieval: dense = embeddings; bm25 = keywords; hybrid = both fused by reciprocal rank; "
        "best = hybrid with a second embedder's list and each chunk's closest line (a year in the question "
        "keeps only lines naming it), documents named by title first, and sub-queries for two-part questions "
        "(with the e5 index when installed).",
    )
    parent: bool = Field(
        False,
        description="Parent-document retrieval: search small chunks, but hand the model each "
        "chunk's whole section (its heading and everything under it).",
    )
    multi_query: bool = Field(
        False,
        description="The model rewrites the question 3 ways; every wording is searched "
        "(one extra model call; weak with a tiny local model).",
    )
    rerank: bool = Field(
        False,
        description="The model reorders the top 10 chunks by usefulness before the top k are "
        "kept (one extra model call; weak with a tiny local model).",
    )


@dataclass
class RagAnswer:
    question: str
    standalone_question: str
    answer: str
    chunks: list = field(default_factory=list)  # the retrieved Documents (score in metadata), best first
    prompt: list[Message] = field(default_factory=list)  # exactly what the model was sent ([] if not called)
    usage: Usage | None = None

    @property
    def sources(self) -> list[str]:
        return list(dict.fromkeys(d.metadata["source"] for d in self.chunks))

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "standalone_question": self.standalone_question,
            "answer": self.answer,
            "sources": self.sources,
            "prompt": self.prompt,
            "chunks": [
                {"source": d.metadata["source"], "score": d.metadata["score"], "text": d.page_content}
                for d in self.chunks
            ],
        }


def format_context(docs) -> str:
    """'[1] (knowledge-base/x.md)\\n<chunk>' blocks: numbered so an answer can cite them."""
    return "\n\n".join(f"[{i}] ({d.metadata['source']})\n{d.page_content}" for i, d in enumerate(docs, 1))


def _conversation(history: list[Message]) -> str:
    return "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in history if m.get("content"))


def build_chain(
    index,
    provider: Provider,
    options: ChatOptions | None = None,
    *,
    model: str | None = None,
    on_text: Callable[[str], None] | None = None,
) -> Runnable:
    """The runnable: ``invoke({"question": str, "history": [messages]})`` -> a dict with every intermediate."""
    options = options or ChatOptions()
    llm_options = Options(temperature=options.temperature, max_tokens=options.max_tokens, stop=ANSWER_STOP)

    def provider_runnable(stream_to=None) -> Runnable:
        # Our provider as a Runnable: OpenAI-shaped messages in, lab Response out.
        return RunnableLambda(
            lambda msgs: run(provider, msgs, model=model, options=llm_options, on_text=stream_to),
            name=f"lab_provider_{provider.name}",
        )

    def condense(x: dict) -> str:
        question, history = check_query(x["question"]), x.get("history") or []
        if not history or options.condense == "off":
            return question
        if options.condense == "append":
            earlier = [m["content"] for m in history if m["role"] == "user" and m.get("content")]
            return " ".join(earlier[-2:] + [question])[-1500:]
        msgs = convert_to_openai_messages(
            CONDENSE_TEMPLATE.invoke({"conversation": _conversation(history[-6:]), "question": question}).to_messages()
        )
        text = provider_runnable().invoke(msgs).text.strip().splitlines()
        rewritten = text[0].strip().strip('"') if text else ""
        return rewritten or question  # a model that returns nothing should not break retrieval

    retriever = StoreRetriever(index=index, k=options.k, mode=options.mode)

    def keep_relevant(docs) -> list:
        if options.mode == "dense":
            return [d for d in docs if d.metadata["score"] >= options.min_score]
        # fused scores are not cosines: keep the list when its best dense match clears the bar (BM25 alone: any hit)
        dense = [d.metadata["dense_score"] for d in docs if "dense_score" in d.metadata]
        return docs if (not dense or max(dense) >= options.min_score) else []

    def make_prompt(x: dict) -> list[Message]:
        if not x["docs"]:
            return []
        return convert_to_openai_messages(
            ANSWER_TEMPLATE.invoke({"context": format_context(x["docs"]), "question": x["standalone"]}).to_messages()
        )

    def answer(x: dict):
        if not x["prompt"]:
            return None
        return provider_runnable(on_text).invoke(x["prompt"])

    def llm_retrieve(question: str) -> list:
        # multi-query and/or reranking: the same retrieval, with the model's help around it
        from langchain_core.documents import Document

        from lab.rag import llm_steps, modes

        extra = llm_steps.rewrite(question, provider, 3, model) if options.multi_query else []
        p = modes.plan(question, options.mode, index.embedder, extra_queries=extra)
        hits = modes.run(
            p,
            index.store,
            index.bm25() if options.mode != "dense" else None,
            max(options.k, 10) if options.rerank else options.k,
        )
        if options.rerank:
            hits = llm_steps.rerank(question, hits, provider, model)
        return [
            Document(page_content=h.text, id=h.id, metadata={**h.metadata, "id": h.id, "score": h.score})
            for h in hits[: options.k]
        ]

    if options.multi_query or options.rerank:
        retriever = RunnableLambda(llm_retrieve, name="llm_assisted_retrieval")
    retrieve = itemgetter("standalone") | retriever | RunnableLambda(keep_relevant)
    if options.parent:
        retrieve = retrieve | RunnableLambda(parents, name="parent_sections")
    return (
        _assign("standalone", RunnableLambda(condense, name="condense_question"))
        | _assign("docs", retrieve)
        | _assign("prompt", RunnableLambda(make_prompt, name="stuff_prompt"))
        | _assign("response", RunnableLambda(answer, name="answer"))
    )


def parents(docs) -> list:
    """Parent-document retrieval: each chunk replaced by its whole section (once per section, best first)."""
    from langchain_core.documents import Document

    from lab.rag.chunking import parent_text
    from lab.rag.loading import load_documents

    texts = {d.metadata["source"]: d.page_content for d in load_documents()}
    out, seen = [], set()
    for d in docs:
        m = d.metadata
        key = (m.get("source"), m.get("parent_start"), m.get("parent_end"))
        if key in seen:
            continue
        seen.add(key)
        if m.get("source") not in texts or "parent_start" not in m:  # an index built before sections were kept
            out.append(d)
            continue
        out.append(
            Document(
                page_content=parent_text(texts[m["source"]], m), id=d.id, metadata={**m, "child_text": d.page_content}
            )
        )
    return out


def _assign(key: str, step: Runnable) -> Runnable:
    """``RunnablePassthrough.assign(key=step)`` without its thread pool: ``assign`` is a ``RunnableParallel``,
    which runs ``step`` on a worker thread, and a Streamlit page cannot write from such a thread (the streamed
    answer, the 'you are number 2 in line' notice). Same result, computed in the caller's thread."""
    return RunnableLambda(lambda x, config=None: {**x, key: step.invoke(x, config)}, name=f"assign_{key}")


def ask(
    index,
    question: str,
    *,
    history: list[Message] | None = None,
    provider: Provider | None = None,
    options: ChatOptions | None = None,
    model: str | None = None,
    on_text: Callable[[str], None] | None = None,
) -> RagAnswer:
    """One turn of the RAG chat. ``provider`` defaults to the local SmolLM2."""
    if provider is None:
        from lab.llm import get_provider

        provider = get_provider("local")
    out = build_chain(index, provider, options, model=model, on_text=on_text).invoke(
        {"question": question, "history": list(history or [])}
    )
    resp = out["response"]
    return RagAnswer(
        question,
        out["standalone"],
        resp.text.strip() if resp else NO_CONTEXT_ANSWER,
        out["docs"],
        out["prompt"],
        resp.usage if resp else None,
    )
