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

from lab.core.errors import InputError
from lab.rag import chroma_store, chunking, evaluation, loading, stores
from lab.rag.chroma_store import ChromaStore
from lab.rag.chunking import ChunkOptions
from lab.rag.faiss_store import FaissStore
from lab.rag.stores import IndexUnavailable

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
        assert 20 <= len(rep) <= 50  # the overlap repeats whole words, at most chunk_overlap characters
    assert [c.metadata["chunk"] for c in chunks] == list(range(len(chunks)))
    assert chunks[3].metadata["id"] == "knowledge-base/t/a.md#3"
    assert text[chunks[3].metadata["start"] :].startswith(chunks[3].page_content)
    none = chunking.split_documents([_doc(text)], ChunkOptions(chunk_size=200, chunk_overlap=0, add_title=False))
    assert len(none) < len(chunks)


def test_character_splitter_keeps_long_paragraph_whole():
    long_para = "x " * 400  # 800 characters, no blank line inside
    text = f"Intro.\n\n{long_para}\n\nOutro."
    char = chunking.split_documents(
        [_doc(text)], ChunkOptions(splitter="character", chunk_size=300, chunk_overlap=0, add_title=False)
    )
    rec = chunking.split_documents(
        [_doc(text)], ChunkOptions(splitter="recursive", chunk_size=300, chunk_overlap=0, add_title=False)
    )
    assert max(len(c.page_content) for c in char) > 300  # the character splitter cannot cut it
    assert max(len(c.page_content) for c in rec) <= 300


def test_title_header_and_option_bounds():
    chunks = chunking.split_documents(
        [_doc("# A\n\nfirst part. " + "more text " * 60)], ChunkOptions(chunk_size=100, chunk_overlap=0)
    )
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
    assert hits[0].to_dict() == {
        "source": meta(want[0])["source"],
        "doc_type": "t",
        "score": pytest.approx(float((v @ q)[want[0]]), abs=1e-4),
        "text": f"text {want[0]}",
    }
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
    assert store.query(np.array([1, 0, 0], np.float32), 3) == []  # empty index: no hits, no crash
    eye = np.eye(3, dtype=np.float32)
    store.add(["a", "b", "c"], eye, ["A", "B", "C"], [{"source": s, "doc_type": "t", "sha256": s} for s in "xyz"])
    store.add(["a"], eye[1:2], ["A2"], [{"source": "x", "doc_type": "t", "sha256": "x2"}])  # upsert
    assert store.count() == 3
    top = store.query(np.array([0, 1, 0], np.float32), 2)
    assert {h.id for h in top} == {"a", "b"} and store.file_hashes()["x"] == "x2"
    assert store.delete_sources(["y"]) == 1 and store.count() == 2
    ids, vecs, texts, metas = store.all_vectors()
    assert sorted(ids) == ["a", "c"] and vecs.shape == (2, 3)
    assert len(store.query(eye[0], 5)) == 2  # more asked than held: what there is
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
    assert all("AquaLedger" in t for t in emb.embedded)  # only that file's chunks
    assert "knowledge-base/products/canopyvision.md" not in store.file_hashes()
    hit = store.query(emb.embed(["Zorbulon water-rights registry"])[0], 1)[0]
    assert hit.source == "knowledge-base/products/aqualedger.md" and "Zorbulon" in hit.text


def test_cached_embedder_never_embeds_a_text_twice(tmp_path):
    from lab.rag.embeddings import CachedEmbedder

    inner = HashEmbedder()
    cached = CachedEmbedder(inner, tmp_path)
    a = cached.embed(["one", "two", "one"])
    assert inner.embedded == ["one", "two"] and np.allclose(a[0], a[2])
    again = CachedEmbedder(HashEmbedder(), tmp_path)  # a new process: read from disk
    assert np.allclose(again.embed(["two"]), a[1:2]) and again.misses == 0 and again.inner.embedded == []


# ---------------------------------------------------------------------------------------------- broken Chroma
def test_corrupted_chroma_dir_clear_error_then_rebuild(tmp_path):
    path = tmp_path / "chroma"
    path.mkdir()
    (path / "chroma.sqlite3").write_bytes(b"this is not a database" * 50)
    kb_before = {p: p.read_bytes() for p in (ROOT / "knowledge-base").rglob("*.md")}
    with pytest.raises(IndexUnavailable, match=r"corrupted.*--rebuild.*knowledge-base/ is not touched"):
        ChromaStore("t-bad", 3, path=path, url="")
    chroma_store.reset_chroma_dir(path)
    store = ChromaStore("t-bad", 3, path=path, url="")  # same path, same process: works again
    store.add(["a"], np.eye(3, dtype=np.float32)[:1], ["A"], [{"source": "s", "doc_type": "t"}])
    assert store.query(np.eye(3, dtype=np.float32)[0], 1)[0].id == "a"
    assert {p: p.read_bytes() for p in (ROOT / "knowledge-base").rglob("*.md")} == kb_before


def test_reset_refuses_the_knowledge_base():
    with pytest.raises(InputError, match="Refusing"):
        chroma_store.reset_chroma_dir(ROOT / "knowledge-base")
    with pytest.raises(InputError, match="Refusing"):
        chroma_store.reset_chroma_dir(ROOT / "knowledge-base" / "products")


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
                if hits[0].id != f"c{i}":  # each stored vector is its own best match
                    wrong.append((i, hits[0].id))
        except Exception as e:  # pragma: no cover - recorded so the assertion below names it
            errors.append(e)

    def writer():
        for j in range(200, 400, 20):
            store.add(
                [f"c{i}" for i in range(j, j + 20)], v[j : j + 20], ["t"] * 20, [meta(i) for i in range(j, j + 20)]
            )

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
        (1 / np.log2(3) + 1 / np.log2(5)) / (1 + 1 / np.log2(3))
    )
    # outside the top k counts nothing
    assert evaluation.ndcg_at_k(ranked, {"d.md"}, 4) == 0.0
    assert evaluation.keyword_coverage(
        ["The FlowSense 64 Pro costs $3,250."], ["$3,250", "flowsense", "warranty"]
    ) == pytest.approx(2 / 3)
    assert [evaluation.colour(x) for x in (0.95, 0.9, 0.8, 0.75, 0.5)] == ["green", "green", "amber", "amber", "red"]


def test_evaluate_store_on_a_tiny_index():
    store = FaissStore(3)
    eye = np.eye(3, dtype=np.float32)
    store.add(
        ["a#0", "b#0", "c#0"],
        eye,
        ["alpha apples", "beta bananas", "gamma grapes"],
        [{"source": s, "doc_type": "t"} for s in ("a.md", "b.md", "c.md")],
    )
    qs = [
        evaluation.EvalQuestion(question="q1", expected_sources=["a.md"], keywords=["apples"], doc_type="t"),
        evaluation.EvalQuestion(question="q2", expected_sources=["c.md"], keywords=["grapes", "kiwi"], doc_type="t"),
    ]
    qv = np.array([[1, 0.1, 0], [0, 1, 0.5]], np.float32)  # q2's best is b (wrong), then c
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
    assert np.allclose(v, [[0.6, 0, 0.8, 0], [0, 0.6, 0, 0.8]])  # put back in input order, unit length
    req = wire.requests[-1]
    assert req.path == "/v1/embeddings" and req.headers["authorization"] == "Bearer sk-test"
    assert req.json == {
        "model": "text-embedding-3-small",
        "input": ["first text", "second text"],
        "encoding_format": "float",
    }


def test_openai_embedder_errors_name_the_fix(wire, no_keys):
    from lab.core.errors import AuthError, MissingKeyError
    from lab.rag.embeddings import OpenAIEmbedder, get_embedder

    with pytest.raises(MissingKeyError, match="OPENAI_API_KEY"):
        get_embedder("openai")
    wire.queue(
        status=401, body=b'{"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}'
    )
    with pytest.raises(AuthError, match="OPENAI_API_KEY"):
        OpenAIEmbedder(api_key="sk-bad", base_url=wire.url + "/v1").embed(["x"])
    with pytest.raises(InputError):
        get_embedder("word2vec")


# ---------------------------------------------------------------------------------------------- Chroma manifest
def _build_chroma(path, emb):
    from lab.rag import retrieval

    return retrieval.get_index("chroma", ChunkOptions(), emb, path=path, url="")


def test_chroma_manifest_detects_overwritten_hnsw_file_and_rebuilds(tmp_path):
    from lab.rag import manifest, retrieval

    path, emb = tmp_path / "chroma", HashEmbedder()
    retrieval.forget_indexes()
    try:
        idx = _build_chroma(path, emb)
        assert idx.notice is None and (path / manifest.MANIFEST).exists()
        total = idx.store.count()
        question = "What does the AquaLedger Agency tier cost?"
        want = [h.id for h in retrieval.search(idx, question, 5)]
        retrieval.forget_indexes("chroma")

        again = _build_chroma(path, emb)  # untouched: trusted, nothing re-embedded
        assert again.notice is None and again.report.chunks_embedded == 0
        retrieval.forget_indexes("chroma")

        hnsw = [p for p in path.rglob("data_level0.bin")]
        assert hnsw, "the HNSW file is persisted"
        size = hnsw[0].stat().st_size
        hnsw[0].write_bytes(np.random.default_rng(0).bytes(size))  # same size, random content
        assert any("data_level0.bin" in p for p in manifest.check_manifest(path))

        fixed = _build_chroma(path, emb)
        assert fixed.notice and "did not match" in fixed.notice and "data_level0.bin" in fixed.notice
        assert fixed.report.chunks_embedded == total == fixed.store.count()
        assert [h.id for h in retrieval.search(fixed, question, 5)] == want
        assert manifest.check_manifest(path) == []
    finally:
        retrieval.forget_indexes()


def test_manifest_reports_size_missing_and_unreadable(tmp_path):
    from lab.rag import manifest

    (tmp_path / "a.bin").write_bytes(b"1234")
    (tmp_path / "b.bin").write_bytes(b"x")
    assert manifest.check_manifest(tmp_path) is None  # none yet
    manifest.write_manifest(tmp_path)
    (tmp_path / "a.bin").write_bytes(b"12345")
    (tmp_path / "b.bin").unlink()
    (tmp_path / "c.bin").write_bytes(b"new")
    assert manifest.check_manifest(tmp_path) == [
        "a.bin: size 5 bytes, manifest says 4",
        "b.bin: missing",
        "c.bin: not in the manifest",
    ]
    (tmp_path / manifest.MANIFEST).write_text("{not json")
    assert "unreadable" in manifest.check_manifest(tmp_path)[0]


# ---------------------------------------------------------------------------------------------- BM25, fusion, modes
def test_bm25_finds_exact_words_and_nothing_for_unrelated_words():
    from lab.rag.lexical import BM25Index, tokenize

    assert tokenize("The growers' policies were owned") == ["grower", "policy", "own"]
    bm = BM25Index(
        ["a", "b", "c"],
        ["AquaLedger keeps records for 10 years.", "FlowSense valves cost $3,250.", "Sprout Week is a hackathon."],
        [{"source": s} for s in "abc"],
    )
    assert [h.id for h in bm.search("how much do the valves cost", 3)] == ["b"]
    assert bm.search("zebra giraffe", 3) == []
    assert [h.id for h in bm.search("$3,250", 3)] == ["b"]


def test_rrf_and_interleave_hand_worked():
    from lab.rag import fusion
    from lab.rag.stores import Hit

    dense = [Hit("a", 0.9, ""), Hit("b", 0.8, ""), Hit("c", 0.7, "")]
    bm25 = [Hit("c", 12.0, ""), Hit("a", 9.0, "")]
    fused = fusion.rrf([dense, bm25])
    assert [h.id for h in fused] == ["a", "c", "b"]
    assert fused[0].score == pytest.approx(1 / 61 + 1 / 62)
    assert [h.id for h in fusion.rrf([dense, bm25], [1.0, 0.0])] == ["a", "b", "c"]  # weight 0 = dense only
    assert [h.id for h in fusion.interleave([dense, bm25, [Hit("d", 1, "")]], 4)] == ["a", "c", "d", "b"]


@pytest.mark.parametrize(
    "question, parts",
    [
        (
            "Who owns AquaLedger, and what does the GlassHouse Climate Hub cost?",
            ["Who owns AquaLedger", "what does the GlassHouse Climate Hub cost?"],
        ),
        (
            "What do Desert Bloom Farms and Tulpenhof Bloemen each pay over their contracts?",
            [
                "What do Desert Bloom Farms each pay over their contracts?",
                "What do Tulpenhof Bloemen each pay over their contracts?",
            ],
        ),
        (
            "What is Sprout Week, and how much parental leave does Rainfold give?",
            ["What is Sprout Week", "how much parental leave does Rainfold give?"],
        ),
        ("How much irrigation water did Rainfold customers save in 2024?", []),
        ("Does Rainfold match 401(k) contributions, and by how much?", []),  # 'by how much' is no question of its own
        ("Who got the Customer Champion Award in 2022, and what was it for?", []),  # 'what was it for' names nothing
    ],
)
def test_sub_queries(question, parts):
    from lab.rag.fusion import sub_queries

    assert sub_queries(question) == parts


def test_best_fuses_sharper_than_hybrid_hand_worked():
    """Twenty dense hits a..t; BM25 finds t, s (the dense list's last two: a common word) and x (not in the dense
    list at all). hybrid (K=60, weight 0.3): s = 1/79 + 0.3/62 = 0.0175 and t = 1/80 + 0.3/61 = 0.0174 both beat
    a = 1/61 = 0.0164, so the embedder's sure first place drops to third, and x (0.3/63) falls below every dense
    hit. best (K=5, weight 0.7): a = 1/6 stays first, t = 1/25 + 0.7/6 = 0.157 comes second (ahead of b = 1/7),
    s = 1/24 + 0.7/7 = 0.142 fourth, and x = 0.7/8 = 0.0875 lands between the dense 6th (1/11) and 7th (1/12)."""
    from lab.rag import modes
    from lab.rag.stores import Hit

    names = [chr(ord("a") + i) for i in range(20)]  # a..t

    class Store:
        def query(self, vector, k):
            return [Hit(n, 1 - i / 100, n, {"source": f"{n}.md"}) for i, n in enumerate(names)][:k]

    class BM25:
        def search(self, q, k):
            return [Hit(n, 10.0 - i, n, {"source": f"{n}.md"}) for i, n in enumerate(["t", "s", "x"])][:k]

    plan = lambda mode: modes.Plan("q", mode, ["q"], np.zeros((1, 3), dtype="float32"))  # noqa: E731
    hybrid = modes.run(plan("hybrid"), Store(), BM25(), k=20)
    best = modes.run(plan("best"), Store(), BM25(), k=20)
    assert [h.id for h in hybrid][:3] == ["s", "t", "a"]
    assert "x" not in [h.id for h in hybrid]  # 21st: outside the top 20
    assert [h.id for h in best][:4] == ["a", "t", "b", "s"]
    by_id = {h.id: h.score for h in best}
    assert by_id["a"] == pytest.approx(1 / 6) and by_id["t"] == pytest.approx(1 / 25 + 0.7 / 6)
    assert by_id["x"] == pytest.approx(0.7 / 8) and by_id["f"] > by_id["x"] > by_id["g"]  # dense 6th > x > 7th


def test_best_adds_a_second_embedders_list_hand_worked():
    """``best`` with a second embedder: its nearest chunks join the fusion at weight 0.3. Dense (first embedder)
    ranks a, b, c; BM25 finds nothing; the second embedder ranks c, b, a. At K=5: a = 1/6 + 0.3/8 = 0.2042,
    b = 1/7 + 0.3/7 = 0.1857, c = 1/8 + 0.3/6 = 0.175. Its chunk vectors are embedded once per index, and a plan
    without second vectors fuses dense and BM25 only."""
    from lab.rag import modes, views
    from lab.rag.lexical import BM25Index
    from lab.rag.stores import Hit

    ids, texts = ["a", "b", "c"], ["alpha one", "beta two", "gamma three"]
    metas = [{"source": f"{i}.md"} for i in ids]
    bm25 = BM25Index(ids, texts, metas)

    class Store:
        def query(self, vector, k):
            return [Hit(n, 1 - j / 10, n, {"source": f"{n}.md"}) for j, n in enumerate(ids)][:k]

    class Second:
        name = "second"
        calls = 0

        def embed(self, texts):  # passages: c is nearest the query vector below, then b, then a
            Second.calls += 1
            return np.array([[0.1, 1], [0.5, 1], [0.9, 1]], dtype=np.float32)[: len(texts)]

    q = np.zeros((1, 2), dtype=np.float32)
    p = modes.Plan("zzz", "best", ["zzz"], q, second=Second(), second_vectors=np.array([[1, 0]], np.float32))
    hits = modes.run(p, Store(), bm25, k=3)
    assert [(h.id, round(h.score, 4)) for h in hits] == [("a", 0.2042), ("b", 0.1857), ("c", 0.175)]
    modes.run(p, Store(), bm25, k=3)
    assert Second.calls == 1  # the chunks were embedded once for this index
    assert [h.id for h in views.chunk_vectors(bm25, Second()).search([1, 0], 3)] == ["c", "b", "a"]
    bare = modes.run(modes.Plan("zzz", "best", ["zzz"], q), Store(), bm25, k=3)
    assert [round(h.score, 4) for h in bare] == [round(1 / 6, 4), round(1 / 7, 4), round(1 / 8, 4)]


def test_line_list_ranks_a_chunk_by_its_closest_line_and_a_year_keeps_only_lines_naming_it():
    """Three chunks; the query vector points along x. Chunk a's lines score 0.6 and 0.2, b's 0.9 (no year), c's 0.5
    (with 2022). By best line: b (0.9), a (0.6), c (0.5). Asked about 2022, only c's line names the year, so every
    other line ranks 2 below it: c (0.5), then b (0.9 - 2), a (0.6 - 2). A year no line names changes nothing.
    In ``best`` the list joins the fusion at weight 0.3, or 0.5 when the question names a year."""
    from lab.rag import modes, views
    from lab.rag.lexical import BM25Index
    from lab.rag.stores import Hit

    vec = {
        "Award for support in the summer": [0.6, 0.8],
        "Drove modems overnight to the farm": [0.2, 0.98],
        "Award for the best firmware rewrite": [0.9, 0.436],
        "Customer Champion Award, 2022": [0.5, 0.866],
    }

    class Emb:
        name = "toy"

        def embed(self, texts):  # anything else (a document card) points along y
            return np.array([vec.get(t, [0.0, 1.0]) for t in texts], dtype=np.float32)

    texts = [
        "## A\n- Award for support in the summer\n- Drove modems overnight to the farm",
        "Award for the best firmware rewrite",
        "- **Customer Champion Award, 2022**",
    ]
    ids, metas = ["a", "b", "c"], [{"source": f"{n}.md"} for n in "abc"]
    lines = views.LineVectors.build(ids, texts, metas, Emb())
    assert lines.lines == list(vec) and lines.owner.tolist() == [0, 0, 1, 2]  # "## A" is too short to embed alone
    hits = lines.search([1, 0], 3)
    assert [(h.id, round(h.score, 3)) for h in hits] == [("b", 0.9), ("a", 0.6), ("c", 0.5)]
    q = "Who got the Customer Champion Award in 2022?"
    assert views.years_in(q) == ["2022"]
    assert [h.id for h in lines.search([1, 0], 3, must=views.years_in(q))] == ["c", "b", "a"]
    assert [h.id for h in lines.search([1, 0], 3, must=["1999"])] == ["b", "a", "c"]

    bm25 = BM25Index(ids, texts, metas)

    class Store:
        def query(self, vector, k):
            return [Hit(n, 1.0, n, {"source": f"{n}.md"}) for n in ids][:k]

    K = modes.BEST_RRF_K

    def rrf(order, w):
        return {n: w / (K + r) for r, n in enumerate(order, 1)}

    for question, line_order, w in (("zzz", "bac", modes.BEST_LINE_WEIGHT), (q, "cba", modes.BEST_LINE_YEAR_WEIGHT)):
        p = modes.Plan(question, "best", [question], np.array([[1, 0]], np.float32), embedder=Emb())
        got = {h.id: h.score for h in modes.ranked(p, Store(), bm25, 0, 3)}
        parts = [
            rrf("abc", 1.0),  # dense
            rrf([h.id for h in bm25.search(question, 20)], modes.BEST_BM25_WEIGHT),  # "zzz" finds nothing
            rrf("abc", modes.BEST_CARD_WEIGHT),  # the cards embed alike, so they rank in source order
            rrf(line_order, w),
        ]
        assert got == pytest.approx({n: sum(part.get(n, 0.0) for part in parts) for n in ids})


def test_best_prefers_the_document_a_question_names_by_title_hand_worked():
    """Dense ranks a (the Tulare Ridge Water Agency contract) first and b (AquaLedger's page) second;
    BM25 finds nothing for these words. The question names AquaLedger, so b gains 0.3 / (5 + 1): a = 1/6 = 0.1667,
    b = 1/7 + 0.05 = 0.1929 -> b first. A question naming no title leaves plain RRF."""
    from lab.rag import modes
    from lab.rag.lexical import BM25Index
    from lab.rag.stores import Hit

    ids, texts = ["a", "b"], ["zz yy", "xx ww"]
    metas = [
        {"source": "c/tulare.md", "title": "Contract with Tulare Ridge Water Agency"},
        {"source": "p/aqualedger.md", "title": "AquaLedger"},
    ]
    bm25 = BM25Index(ids, texts, metas)

    class Store:
        def query(self, vector, k):
            return [Hit(n, 1.0, n, dict(m)) for n, m in zip(ids, metas)][:k]

    def scores(question):
        p = modes.Plan(question, "best", [question], np.zeros((1, 2), np.float32))
        return [(h.id, round(h.score, 4)) for h in modes.run(p, Store(), bm25, k=2)]

    assert modes.BEST_TITLE_WEIGHT == 0.3
    assert scores("What does the AquaLedger Agency tier cost?") == [("b", 0.1929), ("a", 0.1667)]
    assert scores("What does the cheapest tier cost?") == [("a", 0.1667), ("b", 0.1429)]
    assert scores("Who signed for tulare ridge water agency?") == [("a", 0.2167), ("b", 0.1429)]


def test_best_pairs_e5_with_minilm_only():
    from lab.core import assets
    from lab.rag import modes

    class Named:
        def __init__(self, name):
            self.name = name

    assert modes.second_embedder(Named("minilm")) is None and modes.second_embedder(Named("hash")) is None
    second = modes.second_embedder(Named("e5"))
    assert (second is None) == (assets.minilm_dir() is None)
    if second is not None:
        assert second.name == "minilm"


def test_document_prior_hand_worked_and_cards_from_heading_paths():
    """Document-level ranking: each document gets one 'card' vector (title + section headings); a chunk's fused
    score gains weight / (K + its document's card rank). Hand-worked at K=5, weight 0.1: chunk a#0 (0.200, its
    document's card 5th) = 0.200 + 0.1/10 = 0.210; b#3 (0.199, card 1st) = 0.199 + 0.1/6 = 0.2157 -> b first."""
    from lab.rag import fusion, views
    from lab.rag.stores import Hit

    hits = [
        Hit("a#0", 0.200, "", {"source": "a.md"}),
        Hit("b#3", 0.199, "", {"source": "b.md"}),
        Hit("c#1", 0.150, "", {"source": "c.md"}),
    ]
    out = fusion.add_doc_prior(hits, {"b.md": 1, "a.md": 5}, 0.1, k0=5)
    assert [h.id for h in out] == ["b#3", "a#0", "c#1"]
    assert out[0].score == pytest.approx(0.199 + 0.1 / 6) and out[2].score == pytest.approx(0.150)  # c unranked
    assert hits[0].score == 0.200  # inputs untouched

    metas = [
        {"source": "k/p.md", "chunk": 2, "headings": "FlowSense > Models and list pricing (2025)"},
        {"source": "k/p.md", "chunk": 0, "headings": "FlowSense"},
        {"source": "k/p.md", "chunk": 1, "headings": "FlowSense > Key facts"},
        {"source": "k/e.md", "chunk": 0, "headings": "Wei Zhang > Summary"},
    ]
    assert views.card_texts(metas) == {
        "k/e.md": "Wei Zhang: Summary",
        "k/p.md": "FlowSense: Key facts; Models and list pricing (2025)",
    }
    emb = HashEmbedder()
    cards = views.doc_cards(metas, emb)
    assert cards.sources == ["k/e.md", "k/p.md"] and cards.vectors.shape == (2, 384)
    assert cards.ranks(emb.embed(["FlowSense models and pricing"])[0]) == {"k/p.md": 1, "k/e.md": 2}


def test_best_mode_ranks_with_document_cards_built_once_per_index():
    from lab.rag import modes, views
    from lab.rag.lexical import BM25Index

    emb = HashEmbedder()
    ids, texts, metas = _kb_chunks()
    store = FaissStore(384)
    store.add(ids, emb.embed(texts), texts, metas)
    bm25 = BM25Index(ids, texts, metas)
    p = modes.plan("What does the AquaLedger Agency tier cost?", "best", emb)
    assert p.embedder is emb
    before = len(emb.embedded)
    hits = modes.run(p, store, bm25, 5)
    cards, lines = views.cards_for(bm25, emb), views.line_vectors(bm25, emb)
    assert len(cards.sources) == len({m["source"] for m in metas})  # one card per document
    assert len(lines.lines) == sum(len(views.lines_of(t)) for t in texts) > len(texts)  # every line of every chunk
    assert len(emb.embedded) == before + len(cards.sources) + len(lines.lines)  # embedded once...
    modes.run(p, store, bm25, 5)
    assert len(emb.embedded) == before + len(cards.sources) + len(lines.lines)  # ...and reused
    assert "knowledge-base/products/aqualedger.md" in {h.source for h in hits}  # (a hashing embedder is no e5)
    # without an embedder on the plan (or for hybrid) there is no document prior: scores are plain RRF
    bare = modes.Plan(p.question, "best", p.queries, p.vectors)
    assert [h.score for h in modes.run(bare, store, bm25, 5)] != [h.score for h in hits]


def _kb_chunks():
    chunks = chunking.split_documents(loading.load_documents(), ChunkOptions())
    return [c.metadata["id"] for c in chunks], [c.page_content for c in chunks], [c.metadata for c in chunks]


def test_modes_on_the_knowledge_base_with_a_hashing_embedder():
    from lab.rag import modes
    from lab.rag.lexical import BM25Index

    emb = HashEmbedder()
    ids, texts, metas = _kb_chunks()
    store = FaissStore(384)
    store.add(ids, emb.embed(texts), texts, metas)
    bm25 = BM25Index(ids, texts, metas)
    q = "What do Desert Bloom Farms and Tulpenhof Bloemen each pay over their contracts?"
    for mode in modes.MODES:
        p = modes.plan(q, mode, emb)
        hits = modes.run(p, store, bm25, 5)
        assert 1 <= len(hits) <= 5 and len({h.id for h in hits}) == len(hits)
        assert (p.vectors is None) == (mode == "bm25") and (len(p.queries) == 3) == (mode == "best")
    best = {h.source for h in modes.run(modes.plan(q, "best", emb), store, bm25, 5)}
    assert {
        "knowledge-base/contracts/contract-with-desert-bloom-farms.md",
        "knowledge-base/contracts/contract-with-tulpenhof-bloemen.md",
    } <= best
    with pytest.raises(InputError, match="mode"):
        modes.plan(q, "magic", emb)


@pytest.mark.parametrize("index_type", ["flat", "hnsw", "ivf"])
def test_faiss_index_types_find_the_exact_neighbours_on_small_data(index_type):
    rng = np.random.default_rng(4)
    v = unit(rng, 400)
    store = FaissStore(384, index_type)
    store.add([f"c{i}" for i in range(400)], v, ["t"] * 400, [meta(i) for i in range(400)])
    for i in range(0, 400, 40):  # every vector finds itself first
        assert store.query(v[i], 1)[0].id == f"c{i}"
    if index_type != "ivf":  # IVF scans only the nearest cells: on random points the exact top 5 is not promised
        for q in unit(rng, 10):
            assert [h.id for h in store.query(q, 5)] == [f"c{i}" for i in np.argsort(-(v @ q))[:5]]
    ids, vecs, _, _ = store.all_vectors()
    assert ids[:2] == ["c0", "c1"] and np.allclose(vecs[:2], v[:2], atol=1e-6)
    store.add(["c0"], v[1:2], ["moved"], [meta(0)])  # upsert on HNSW rebuilds the graph
    assert store.count() == 400 and store.query(v[1], 2)[1].id in {"c0", "c1"}
    assert store.delete_sources([meta(3)["source"]]) > 0 and store.count() < 400
    with pytest.raises(InputError, match="index type"):
        FaissStore(3, "ivf-magic")


# ---------------------------------------------------------------------------------------------- eval contract
def test_cli_eval_contract_on_any_question_file(tmp_path, monkeypatch, capsys):
    from lab.cli import main
    from lab.rag import embeddings

    monkeypatch.setattr(embeddings, "get_embedder", lambda name="minilm", **kw: HashEmbedder())
    qfile = tmp_path / "held-out.jsonl"
    rows = [
        {
            "question": "How much does a FlowSense 64 Pro controller cost?",
            "keywords": ["$3,250"],
            "expected_sources": ["knowledge-base/products/flowsense-valve-controller.md"],
            "source_note": "ignored",
        },
        {
            "question": "zebra giraffe walrus",
            "expected_sources": ["knowledge-base/products/aqualedger.md"],
            "keywords": [],
            "kind": "paraphrase",
        },
    ]
    qfile.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert main(["rag", "eval", "--questions", str(qfile), "--mode", "hybrid", "--k", "5", "--json", "--rows"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"chroma", "faiss"}
    for r in out.values():
        assert {"mrr", "ndcg", "coverage", "query_ms_p50", "embed_ms_p50", "search_ms_p50", "build_s"} <= set(r)
        assert r["mode"] == "hybrid" and r["questions"] == 2
        first, second = r["rows"]
        assert first["question"] == rows[0]["question"] and first["rank"] == 1
        assert second["rank"] is None and second["kind"] == "paraphrase"
        assert r["mrr"] == pytest.approx(0.5) and set(r["by_kind"]) == {"plain", "paraphrase"}
    qfile.write_text("not json\n")
    assert main(["rag", "eval", "--questions", str(qfile), "--json"]) == 2
    assert "line 1" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- headings, parents
def test_chunks_carry_their_heading_path_and_section():
    text = (
        "# AquaLedger\n\nIntro.\n\n## Tiers and pricing (2025)\n\n"
        + "Essentials costs $1,800 per farm. " * 20
        + "\n\n## Data retention\n\nTen years."
    )
    chunks = chunking.split_documents(
        [_doc(text, "knowledge-base/t/a.md")], ChunkOptions(chunk_size=200, chunk_overlap=0, add_headings=True)
    )
    tiers = [c for c in chunks if "$1,800" in c.page_content]
    assert tiers and all(c.metadata["headings"] == "AquaLedger > Tiers and pricing (2025)" for c in tiers)
    assert tiers[-1].page_content.startswith("AquaLedger > Tiers and pricing (2025)\n")
    section = chunking.parent_text(text, tiers[-1].metadata)
    assert (
        section.startswith("## Tiers and pricing") and "Data retention" not in section and section.count("$1,800") == 20
    )
    assert chunks[-1].metadata["headings"] == "AquaLedger > Data retention"
    assert ChunkOptions(add_headings=True).tag().endswith("-h")


# ---------------------------------------------------------------------------------------------- LangChain vs plain
def test_plain_pipeline_retrieves_the_same_chunks_and_builds_the_same_prompt(tmp_path):
    from lab.llm.fake import FakeProvider
    from lab.rag import retrieval
    from lab.rag.chain import ChatOptions, ask
    from lab.rag.plain import ask_plain

    emb = HashEmbedder()
    retrieval.forget_indexes()
    try:
        idx = _build_chroma(tmp_path / "chroma", emb)
        history = [
            {"role": "user", "content": "Tell me about AquaLedger."},
            {"role": "assistant", "content": "Water software."},
        ]
        opts = ChatOptions(k=4, min_score=0.0)
        chained = ask(
            idx,
            "And the Agency tier price?",
            history=history,
            provider=FakeProvider(["What does the AquaLedger Agency tier cost?", "From $38,000."]),
            options=opts,
        )
        plain = ask_plain(
            "And the Agency tier price?",
            idx.store.collection,
            emb.embed,
            FakeProvider(["What does the AquaLedger Agency tier cost?", "From $38,000."]),
            history=history,
            options=opts,
        )
        assert plain.standalone_question == chained.standalone_question
        assert [c["id"] for c in plain.chunks] == [d.id for d in chained.chunks]
        assert plain.prompt == chained.prompt and plain.answer == chained.answer == "From $38,000."
    finally:
        retrieval.forget_indexes()


# ---------------------------------------------------------------------------------------------- judge
def test_judge_parses_grades_and_survives_a_bad_judge():
    from lab.llm.fake import FakeProvider
    from lab.rag import judge

    q = evaluation.EvalQuestion(
        question="What does the Agency tier cost?", expected_sources=["x"], keywords=["$38,000", "Agency"]
    )
    good = judge.judge_answer(
        q,
        "The Agency tier is from $38,000 a year.",
        FakeProvider(['{"accuracy": 5, "completeness": 9, "relevance": 4, "reason": "Right."}']),
    )
    assert (good.accuracy, good.completeness, good.relevance, good.reason, good.keyword_coverage) == (
        5,
        5,
        4,
        "Right.",
        1.0,
    )
    bad = judge.judge_answer(q, "No idea.", FakeProvider(["I think it is fine"]))
    assert bad.accuracy is None and "did not reply with JSON" in bad.reason and bad.keyword_coverage == 0.0
    msgs = judge.judge_messages(q, "ans")
    assert "$38,000; Agency" in msgs[-1]["content"] and msgs[0]["role"] == "system"


# ---------------------------------------------------------------------------------------------- LLM steps
def test_llm_rewrite_and_rerank_with_a_scripted_model():
    from lab.llm.fake import FakeProvider
    from lab.rag import llm_steps
    from lab.rag.stores import Hit

    assert llm_steps.rewrite(
        "Who runs the Dutch office?", FakeProvider(["1. Who leads Wageningen?\n- EMEA office head\n\n"])
    ) == ["Who leads Wageningen?", "EMEA office head"]
    hits = [Hit("a", 0.9, "alpha"), Hit("b", 0.8, "beta"), Hit("c", 0.7, "gamma")]
    fake = FakeProvider(['{"order": [3, 1, 9]}'])
    assert [h.id for h in llm_steps.rerank("q", hits, fake)] == ["c", "a", "b"]  # 9 ignored, b kept after
    assert "[2] beta" in fake.calls[0]["messages"][-1]["content"]
    assert [h.id for h in llm_steps.rerank("q", hits, FakeProvider(["no json"]))] == ["a", "b", "c"]


def test_chain_with_multi_query_and_rerank(tmp_path):
    from lab.llm.fake import FakeProvider
    from lab.rag import retrieval
    from lab.rag.chain import ChatOptions, ask

    emb = HashEmbedder()
    idx = retrieval.Index(FaissStore(384), emb, ChunkOptions())
    idx.refresh()
    fake = FakeProvider(["AquaLedger Agency tier price", '{"order": [2, 1]}', "From $38,000."])
    r = ask(
        idx,
        "What does the AquaLedger Agency tier cost?",
        provider=fake,
        options=ChatOptions(k=3, min_score=0.0, multi_query=True, rerank=True),
    )
    assert len(fake.calls) == 3 and r.answer == "From $38,000." and len(r.chunks) == 3
    assert "Passages:" in fake.calls[1]["messages"][-1]["content"]
