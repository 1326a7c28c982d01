"""RAG lab, fast parts: loading, chunking, both stores, incremental re-index, metrics, broken Chroma, threads.

No real model here: where text must become vectors, a hashing bag-of-words embedder (sklearn's
HashingVectorizer) stands in for MiniLM - it is deterministic, instant, and lets a test count what was embedded.
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from lab.llm.base import InputError
from lab.rag import chunking, evaluation, loading, stores
from lab.rag.chunking import ChunkOptions
from lab.rag.stores import ChromaStore, FaissStore, IndexUnavailable

ROOT = Path(__file__).resolve().parent.parent


class HashEmbedder:
    """Bag of words hashed into 384 buckets, L2-normalised; counts every text it embeds."""

    name = "hash"
    dim = 384

    def __init__(self) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        self.vec = HashingVectorizer(n_features=self.dim, norm="l2", alternate_sign=False)
        self.embedded: list[str] = []

    def embed(self, texts):
        self.embedded.extend(texts)
        return self.vec.transform(texts).toarray().astype(np.float32)


def unit(rng, n, dim=384):
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def meta(i):
    return {"source": f"knowledge-base/t/{i % 7}.md", "doc_type": "t", "sha256": "x"}


# ---------------------------------------------------------------------------------------------- loading
def test_load_documents_metadata():
    docs = loading.load_documents()
    assert len(docs) >= 60
    assert set(loading.doc_types(docs)) >= {"company", "products", "employees", "contracts"}
    for d in docs:
        src = d.metadata["source"]
        assert src.startswith("knowledge-base/") and (ROOT / src).is_file()
        assert d.metadata["doc_type"] == Path(src).parent.name
        assert d.metadata["sha256"] == loading.content_hash((ROOT / src).read_text(encoding="utf-8"))
    flow = next(d for d in docs if d.metadata["source"] == "knowledge-base/products/flowsense-valve-controller.md")
    assert flow.metadata["title"] == "FlowSense Valve Controller"


def test_load_documents_missing_folder(tmp_path):
    with pytest.raises(InputError, match="No knowledge base"):
        loading.load_documents(tmp_path / "nope")
    (tmp_path / "kb").mkdir()
    with pytest.raises(InputError, match="no markdown files"):
        loading.load_documents(tmp_path / "kb")


def test_eval_questions_point_at_real_files_and_keywords():
    qs = evaluation.load_questions()
    assert len(qs) >= 40 and {q.doc_type for q in qs} == {"company", "products", "employees", "contracts"}
    for q in qs:
        text = " ".join((ROOT / s).read_text(encoding="utf-8") for s in q.expected_sources).lower()
        assert all(k.lower() in text for k in q.keywords), q.question


# ---------------------------------------------------------------------------------------------- chunking
def _doc(text, source="knowledge-base/t/a.md"):
    from langchain_core.documents import Document

    return Document(page_content=text, metadata={"source": source, "doc_type": "t", "title": "A", "sha256": "h"})


def test_recursive_chunks_fit_and_overlap_repeats_text():
    text = " ".join(f"word{i}" for i in range(300))
    chunks = chunking.split_documents([_doc(text)], ChunkOptions(chunk_size=200, chunk_overlap=50, add_title=False))
    assert all(len(c.page_content) <= 200 for c in chunks) and len(chunks) > 5
    for a, b in zip(chunks, chunks[1:]):
        rep = chunking.overlap_between(a.page_content, b.page_content)
        assert 20 <= len(rep) <= 50    # the overlap repeats whole words, at most chunk_overlap characters
    assert [c.metadata["chunk"] for c in chunks] == list(range(len(chunks)))
    assert chunks[3].metadata["id"] == "knowledge-base/t/a.md#3"
    assert text[chunks[3].metadata["start"]:].startswith(chunks[3].page_content)
    none = chunking.split_documents([_doc(text)], ChunkOptions(chunk_size=200, chunk_overlap=0, add_title=False))
    assert len(none) < len(chunks)


def test_character_splitter_keeps_long_paragraph_whole():
    long_para = "x " * 400                                  # 800 characters, no blank line inside
    text = f"Intro.\n\n{long_para}\n\nOutro."
    char = chunking.split_documents([_doc(text)], ChunkOptions(splitter="character", chunk_size=300,
                                                               chunk_overlap=0, add_title=False))
    rec = chunking.split_documents([_doc(text)], ChunkOptions(splitter="recursive", chunk_size=300,
                                                              chunk_overlap=0, add_title=False))
    assert max(len(c.page_content) for c in char) > 300     # the character splitter cannot cut it
    assert max(len(c.page_content) for c in rec) <= 300


def test_title_header_and_option_bounds():
    chunks = chunking.split_documents([_doc("# A\n\nfirst part. " + "more text " * 60)], ChunkOptions(chunk_size=100, chunk_overlap=0))
    assert chunks[0].page_content.startswith("# A") and all(c.page_content.startswith(("A\n", "# A")) for c in chunks)
    with pytest.raises(ValueError, match="chunk_overlap"):
        ChunkOptions(chunk_size=100, chunk_overlap=100)
    with pytest.raises(InputError):
        chunking.split_documents([], ChunkOptions())


# ---------------------------------------------------------------------------------------------- stores
@pytest.fixture
def chroma_path(tmp_path):
    return tmp_path / "chroma"


@pytest.mark.parametrize("kind", ["faiss", "chroma"])
def test_store_query_matches_numpy_reference(kind, chroma_path):
    rng = np.random.default_rng(1)
    v = unit(rng, 300)
    store = FaissStore(384) if kind == "faiss" else ChromaStore("t-ref", 384, path=chroma_path, url="")
    store.add([f"c{i}" for i in range(300)], v, [f"text {i}" for i in range(300)], [meta(i) for i in range(300)])
    q = unit(rng, 1)[0]
    want = np.argsort(-(v @ q))[:5]
    hits = store.query(q, 5)
    assert [h.id for h in hits] == [f"c{i}" for i in want]
    assert np.allclose([h.score for h in hits], (v @ q)[want], atol=1e-4)
    assert hits[0].to_dict() == {"source": meta(want[0])["source"], "doc_type": "t",
                                 "score": pytest.approx(float((v @ q)[want[0]]), abs=1e-4), "text": f"text {want[0]}"}
    assert store.count() == 300 and store.size_bytes() > 300 * 384 * 4 * 0.9


def test_both_stores_same_results_on_same_vectors(chroma_path):
    rng = np.random.default_rng(2)
    v = unit(rng, 500)
    f, c = FaissStore(384), ChromaStore("t-same", 384, path=chroma_path, url="")
    for s in (f, c):
        s.add([f"c{i}" for i in range(500)], v, [str(i) for i in range(500)], [meta(i) for i in range(500)])
    for q in unit(rng, 20):
        a, b = f.query(q, 5), c.query(q, 5)
        assert [h.id for h in a] == [h.id for h in b]
        assert np.allclose([h.score for h in a], [h.score for h in b], atol=1e-4)


@pytest.mark.parametrize("kind", ["faiss", "chroma"])
def test_store_upsert_delete_and_bad_input(kind, chroma_path):
    store = FaissStore(3) if kind == "faiss" else ChromaStore("t-upd", 3, path=chroma_path, url="")
    assert store.query(np.array([1, 0, 0], np.float32), 3) == []      # empty index: no hits, no crash
    eye = np.eye(3, dtype=np.float32)
    store.add(["a", "b", "c"], eye, ["A", "B", "C"], [{"source": s, "doc_type": "t", "sha256": s} for s in "xyz"])
    store.add(["a"], eye[1:2], ["A2"], [{"source": "x", "doc_type": "t", "sha256": "x2"}])   # upsert
    assert store.count() == 3
    top = store.query(np.array([0, 1, 0], np.float32), 2)
    assert {h.id for h in top} == {"a", "b"} and store.file_hashes()["x"] == "x2"
    assert store.delete_sources(["y"]) == 1 and store.count() == 2
    ids, vecs, texts, metas = store.all_vectors()
    assert sorted(ids) == ["a", "c"] and vecs.shape == (2, 3)
    with pytest.raises(InputError, match="dimension"):
        store.query(np.ones(5, np.float32), 2)
    with pytest.raises(InputError, match="k=0"):
        store.query(eye[0], 0)


# ---------------------------------------------------------------------------------------------- incremental
@pytest.mark.parametrize("kind", ["faiss", "chroma"])
def test_incremental_reindex_embeds_only_changed_files(kind, tmp_path):
    kb = tmp_path / "knowledge-base"
    shutil.copytree(ROOT / "knowledge-base" / "products", kb / "products")
    emb, opts = HashEmbedder(), ChunkOptions(chunk_size=400, chunk_overlap=50)
    store = FaissStore(384) if kind == "faiss" else ChromaStore("t-inc", 384, path=tmp_path / "chroma", url="")

    first = stores.sync(store, loading.load_documents(kb), emb, opts)
    assert len(first.embedded_files) == 12 and first.unchanged_files == 0
    total = store.count()
    assert total == first.chunks_embedded == len(emb.embedded)

    again = stores.sync(store, loading.load_documents(kb), emb, opts)
    assert again.embedded_files == [] and again.chunks_embedded == 0 and again.unchanged_files == 12

    target = kb / "products" / "aqualedger.md"
    target.write_text(target.read_text() + "\n\nAquaLedger now supports the Zorbulon water-rights registry.\n")
    (kb / "products" / "canopyvision.md").unlink()
    emb.embedded.clear()
    third = stores.sync(store, loading.load_documents(kb), emb, opts)
    assert third.embedded_files == ["knowledge-base/products/aqualedger.md"]
    assert third.removed_files == ["knowledge-base/products/canopyvision.md"]
    assert all("AquaLedger" in t for t in emb.embedded)                      # only that file's chunks
    assert "knowledge-base/products/canopyvision.md" not in store.file_hashes()
    hit = store.query(emb.embed(["Zorbulon water-rights registry"])[0], 1)[0]
    assert hit.source == "knowledge-base/products/aqualedger.md" and "Zorbulon" in hit.text


def test_cached_embedder_never_embeds_a_text_twice(tmp_path):
    from lab.rag.embeddings import CachedEmbedder

    inner = HashEmbedder()
    cached = CachedEmbedder(inner, tmp_path)
    a = cached.embed(["one", "two", "one"])
    assert inner.embedded == ["one", "two"] and np.allclose(a[0], a[2])
    again = CachedEmbedder(HashEmbedder(), tmp_path)          # a new process: read from disk
    assert np.allclose(again.embed(["two"]), a[1:2]) and again.misses == 0 and again.inner.embedded == []


# ---------------------------------------------------------------------------------------------- broken Chroma
def test_corrupted_chroma_dir_clear_error_then_rebuild(tmp_path):
    path = tmp_path / "chroma"
    path.mkdir()
    (path / "chroma.sqlite3").write_bytes(b"this is not a database" * 50)
    kb_before = {p: p.read_bytes() for p in (ROOT / "knowledge-base").rglob("*.md")}
    with pytest.raises(IndexUnavailable, match=r"corrupted.*--rebuild.*knowledge-base/ is not touched"):
        ChromaStore("t-bad", 3, path=path, url="")
    stores.reset_chroma_dir(path)
    store = ChromaStore("t-bad", 3, path=path, url="")                     # same path, same process: works again
    store.add(["a"], np.eye(3, dtype=np.float32)[:1], ["A"], [{"source": "s", "doc_type": "t"}])
    assert store.query(np.eye(3, dtype=np.float32)[0], 1)[0].id == "a"
    assert {p: p.read_bytes() for p in (ROOT / "knowledge-base").rglob("*.md")} == kb_before


def test_reset_refuses_the_knowledge_base():
    with pytest.raises(InputError, match="Refusing"):
        stores.reset_chroma_dir(ROOT / "knowledge-base")
    with pytest.raises(InputError, match="Refusing"):
        stores.reset_chroma_dir(ROOT / "knowledge-base" / "products")


def test_chroma_server_unreachable_names_the_fix():
    with pytest.raises(IndexUnavailable, match="chroma run"):
        ChromaStore("t-srv", 3, url="http://127.0.0.1:9")


# ---------------------------------------------------------------------------------------------- threads
@pytest.mark.parametrize("kind", ["faiss", "chroma"])
def test_concurrent_queries_while_indexing(kind, chroma_path):
    rng = np.random.default_rng(3)
    v = unit(rng, 400)
    store = FaissStore(384) if kind == "faiss" else ChromaStore("t-thr", 384, path=chroma_path, url="")
    store.add([f"c{i}" for i in range(200)], v[:200], ["t"] * 200, [meta(i) for i in range(200)])
    queries = v[:50]
    errors, wrong = [], []

    def reader():
        try:
            for i, q in enumerate(queries):
                hits = store.query(q, 3)
                if hits[0].id != f"c{i}":                      # each stored vector is its own best match
                    wrong.append((i, hits[0].id))
        except Exception as e:  # pragma: no cover - recorded so the assertion below names it
            errors.append(e)

    def writer():
        for j in range(200, 400, 20):
            store.add([f"c{i}" for i in range(j, j + 20)], v[j:j + 20], ["t"] * 20, [meta(i) for i in range(j, j + 20)])

    threads = [threading.Thread(target=reader) for _ in range(6)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and not wrong
    assert store.count() == 400


# ---------------------------------------------------------------------------------------------- metrics
def test_metrics_hand_worked():
    ranked = ["b.md", "a.md", "a.md", "c.md", "d.md"]
    assert evaluation.reciprocal_rank(ranked, {"a.md"}) == 0.5
    assert evaluation.reciprocal_rank(ranked, {"z.md"}) == 0.0
    assert evaluation.reciprocal_rank(ranked, {"c.md", "a.md"}) == 0.5
    # one expected file at rank 1: perfect
    assert evaluation.ndcg_at_k(["a.md", "b.md"], {"a.md"}, 5) == pytest.approx(1.0)
    # at rank 3: 1/log2(4) = 0.5
    assert evaluation.ndcg_at_k(["x", "y", "a.md"], {"a.md"}, 5) == pytest.approx(0.5)
    # a.md at 2, c.md at 4 (the repeat of a.md at 3 gains nothing): (1/log2(3) + 1/log2(5)) / (1 + 1/log2(3))
    assert evaluation.ndcg_at_k(ranked, {"a.md", "c.md"}, 5) == pytest.approx(
        (1 / np.log2(3) + 1 / np.log2(5)) / (1 + 1 / np.log2(3)))
    # outside the top k counts nothing
    assert evaluation.ndcg_at_k(ranked, {"d.md"}, 4) == 0.0
    assert evaluation.keyword_coverage(["The FlowSense 64 Pro costs $3,250."], ["$3,250", "flowsense", "warranty"]) == pytest.approx(2 / 3)
    assert [evaluation.colour(x) for x in (0.95, 0.9, 0.8, 0.75, 0.5)] == ["green", "green", "amber", "amber", "red"]


def test_evaluate_store_on_a_tiny_index():
    store = FaissStore(3)
    eye = np.eye(3, dtype=np.float32)
    store.add(["a#0", "b#0", "c#0"], eye, ["alpha apples", "beta bananas", "gamma grapes"],
              [{"source": s, "doc_type": "t"} for s in ("a.md", "b.md", "c.md")])
    qs = [evaluation.EvalQuestion(question="q1", expected_sources=["a.md"], keywords=["apples"], doc_type="t"),
          evaluation.EvalQuestion(question="q2", expected_sources=["c.md"], keywords=["grapes", "kiwi"], doc_type="t")]
    qv = np.array([[1, 0.1, 0], [0, 1, 0.5]], np.float32)    # q2's best is b (wrong), then c
    qv /= np.linalg.norm(qv, axis=1, keepdims=True)
    r = evaluation.evaluate_store(store, qv, qs, k=2)
    assert [row.rank for row in r.rows] == [1, 2]
    assert r.mrr == pytest.approx(0.75) and r.coverage == pytest.approx(0.75)
    assert r.rows[1].missing_keywords == ["kiwi"]
    d = r.to_dict()
    assert d["colours"] == {"mrr": "amber", "ndcg": "amber", "coverage": "amber"} and "rows" not in d


def test_bad_question_file(tmp_path):
    p = tmp_path / "q.jsonl"
    p.write_text(json.dumps({"question": "x", "expected_sources": []}) + "\n")
    with pytest.raises(InputError, match="line 1"):
        evaluation.load_questions(p)


def test_viz_projections():
    from lab.rag import viz

    rng = np.random.default_rng(0)
    v = unit(rng, 30)
    for method in ("pca", "tsne"):
        for dims in (2, 3):
            pts, q = viz.project(v, method, dims, v[0])
            assert pts.shape == (30, dims) and q.shape == (dims,)
    metas = [{"source": f"s{i}", "doc_type": "ab"[i % 2]} for i in range(30)]
    fig = viz.figure(pts, metas, [f"chunk {i}" for i in range(30)], q, "my query")
    assert [t.name for t in fig.data] == ["a", "b", "query"] and "chunk 1" in fig.data[1].text[0]
    with pytest.raises(InputError):
        viz.project(v[:2], "pca", 2)


# ---------------------------------------------------------------------------------------------- OpenAI embeddings
def test_openai_embedder_over_the_wire(wire):
    from lab.rag.embeddings import OpenAIEmbedder

    wire.queue("rag_openai_embeddings.json")
    e = OpenAIEmbedder(api_key="sk-test", base_url=wire.url + "/v1", dim=4)
    v = e.embed(["first text", "second text"])
    assert np.allclose(v, [[0.6, 0, 0.8, 0], [0, 0.6, 0, 0.8]])       # put back in input order, unit length
    req = wire.requests[-1]
    assert req.path == "/v1/embeddings" and req.headers["authorization"] == "Bearer sk-test"
    assert req.json == {"model": "text-embedding-3-small", "input": ["first text", "second text"],
                        "encoding_format": "float"}


def test_openai_embedder_errors_name_the_fix(wire, no_keys):
    from lab.llm.base import AuthError, MissingKeyError
    from lab.rag.embeddings import OpenAIEmbedder, get_embedder

    with pytest.raises(MissingKeyError, match="OPENAI_API_KEY"):
        get_embedder("openai")
    wire.queue(status=401, body=b'{"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}')
    with pytest.raises(AuthError, match="OPENAI_API_KEY"):
        OpenAIEmbedder(api_key="sk-bad", base_url=wire.url + "/v1").embed(["x"])
    with pytest.raises(InputError):
        get_embedder("word2vec")
