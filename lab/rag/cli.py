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
    $ python -m lab rag eval --k 5 --json
    {"chroma": {"mrr": 0.9062, "ndcg": 0.9144, "coverage": 0.9062, "build_s": 1.04, "query_ms_p50": 1.43, ...},
     "faiss": {"mrr": 0.9062, ..., "build_s": 0.04, "query_ms_p50": 0.03, ...}}

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
    p.add_argument("--chunk-size", type=int, default=d.chunk_size, help=f"Characters per chunk (default {d.chunk_size}).")
    p.add_argument("--overlap", type=int, default=d.chunk_overlap, help=f"Characters shared by neighbours (default {d.chunk_overlap}).")
    p.add_argument("--splitter", choices=("recursive", "character"), default=d.splitter, help="Text splitter.")
    p.add_argument("--no-title", action="store_true", help="Do not put the document title in front of each chunk.")
    p.add_argument("--embedder", choices=("minilm", "openai"), default="minilm",
                   help="minilm = all-MiniLM-L6-v2 offline (384 dims); openai needs OPENAI_API_KEY.")


def _options(args):
    from lab.rag.chunking import ChunkOptions

    return ChunkOptions(splitter=args.splitter, chunk_size=args.chunk_size, chunk_overlap=args.overlap,
                        add_title=not args.no_title)


def _embedder(args):
    from lab.rag.embeddings import get_embedder

    return get_embedder(args.embedder, cache=True)


def _index(args) -> int:
    from lab.rag.retrieval import get_index
    from lab.rag.stores import reset_chroma_dir

    kinds = ("chroma", "faiss") if args.store == "both" else (args.store,)
    options, embedder = _options(args), _embedder(args)
    if args.rebuild and "chroma" in kinds:
        print(f"chroma: cleared {reset_chroma_dir()} (the knowledge-base markdown is untouched)", file=sys.stderr)
    for kind in kinds:
        idx = get_index(kind, options, embedder)
        print(f"{kind}: {idx.report.line()}; {idx.store.count()} chunks, {idx.store.size_bytes() / 1e6:.2f} MB"
              + (" on disk" if kind == "chroma" else " in memory"))
    return 0


def _search(args) -> int:
    from lab.cli import print_json
    from lab.rag.retrieval import get_index, search

    hits = search(get_index(args.store, _options(args), _embedder(args)), args.query, args.k)
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
    result = ask(index, args.question, provider=provider, options=ChatOptions(k=args.k),
                 model=None if args.provider == "local" else args.model,
                 on_text=lambda t: print(t, end="", flush=True))
    if not result.prompt:   # the guard answered without calling the model
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
    from lab.rag.evaluation import evaluate

    results = evaluate(k=args.k, options=_options(args), embedder=_embedder(args))
    if args.json:
        print_json({name: r.to_dict(rows=args.rows) for name, r in results.items()})
    else:
        for name, r in results.items():
            print(f"{name:7} MRR {r.mrr:.3f} ({r.to_dict()['colours']['mrr']})  nDCG@{r.k} {r.ndcg:.3f}  "
                  f"coverage {r.coverage:.1%}  build {r.build_s:.2f} s  query p50 {r.query_ms_p50:.2f} ms")
    return 0


def _sweep(args) -> int:
    from lab.cli import print_json
    from lab.rag.evaluation import sweep

    rows = sweep(chunk_sizes=args.sizes, overlaps=args.overlaps, ks=args.ks,
                 on_progress=lambda m: print(m, file=sys.stderr))
    print_json(rows)
    return 0


def add_parser(subparsers) -> None:
    from lab.cli import add_provider_args

    rag = subparsers.add_parser("rag", help="RAG over the knowledge base: index, search, ask, eval (Chroma and FAISS).")
    sub = rag.add_subparsers(dest="rag_command", required=True)

    p = sub.add_parser("index", help="Build or incrementally update the index (only changed files are re-embedded).")
    p.add_argument("--store", choices=("chroma", "faiss", "both"), default="both")
    p.add_argument("--rebuild", action="store_true", help="Delete the Chroma directory first (fixes a corrupted one).")
    _chunk_args(p)
    p.set_defaults(func=_index)

    p = sub.add_parser("search", help="Top-k chunks for a query, best first.")
    p.add_argument("--store", choices=("chroma", "faiss"), required=True)
    p.add_argument("--k", type=int, default=5, help="How many chunks (1-100).")
    p.add_argument("--json", action="store_true", help='Print [{"source", "doc_type", "score", "text"}, ...].')
    _chunk_args(p)
    p.add_argument("query")
    p.set_defaults(func=_search)

    p = sub.add_parser("ask", help="Answer a question from the knowledge base, with its sources.")
    add_provider_args(p)
    p.add_argument("--store", choices=("chroma", "faiss"), default="faiss")
    p.add_argument("--k", type=int, default=4, help="Chunks put in the prompt (1-20).")
    p.add_argument("--show-prompt", action="store_true", help="Also print the exact messages sent to the model.")
    _chunk_args(p)
    p.add_argument("question")
    p.set_defaults(func=_ask)

    p = sub.add_parser("eval", help="MRR, nDCG@k and keyword coverage on the question set, for both stores.")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.add_argument("--rows", action="store_true", help="With --json: include the per-question drill-down.")
    _chunk_args(p)
    p.set_defaults(func=_eval)

    p = sub.add_parser("sweep", help="Retrieval scores over chunk sizes x overlaps x k (FAISS), as JSON.")
    p.add_argument("--sizes", type=int, nargs="+", default=[300, 400, 700])
    p.add_argument("--overlaps", type=int, nargs="+", default=[0, 50])
    p.add_argument("--ks", type=int, nargs="+", default=[3, 5, 8])
    p.set_defaults(func=_sweep)
