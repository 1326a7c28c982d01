"""OpenAI fine-tuning data, offline: build the course's chat JSONL, check it as OpenAI's guide does, price it.

A frontier fine-tune learns from chat examples, one JSON object a line. From one pricer item the course makes

    {"messages": [
      {"role": "system", "content": "You estimate prices of items. Reply only with the price, no explanation"},
      {"role": "user", "content": "How much does this cost?\\n\\nDefender Sentinel 4K Ultra HD POE ..."},
      {"role": "assistant", "content": "Price is $450.00"}]}

(the pricer's test prompt without "to the nearest dollar" and the dangling "Price is $", which moved into the
answer; the price to the nearest dollar, as the pricer's own completions). A malformed line fails the job
minutes after upload, so ``validate`` runs the checks of OpenAI's data-preparation guide (cookbook "Data
preparation and analysis for chat model fine-tuning") before anything is paid for:

    >>> r = validate_bytes(b'{"messages": [{"role": "user", "content": "Hi"}]}\\nnot json\\n')
    >>> [(e["line"], e["error"][:24]) for e in r.errors]
    [(1, 'no assistant message: th'), (2, 'not valid JSON: Expectin'), (0, 'only 2 examples: OpenAI ')]

Line 0 means the file as a whole. Tokens are counted with o200k_base (the tokenizer of gpt-4o and gpt-4.1) and
the guide's overhead: 3 per message, 1 more for a ``name``, 3 to prime the reply. Cost = training tokens x
epochs x the dated price per 1M training tokens below; the course's 200 examples, made from the offline
shop data, are 20,925 tokens: $0.063 for one epoch of gpt-4o-mini.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lab.core.errors import InputError
from lab.core.tokenizers import count_chat_tokens, tiktoken_encoding

SYSTEM = "You estimate prices of items. Reply only with the price, no explanation"
QUESTION_CUT = " to the nearest dollar"
ANSWER_PREFIX = "Price is $"

# US dollars per 1M *training* tokens (training tokens = tokens in the training file x epochs; validation
# tokens are not billed). From OpenAI's pricing page; edit when it changes.
TRAINING_PRICES_AS_OF = "2025-09"
TRAINING_PRICES: dict[str, float] = {
    "gpt-4o-mini-2024-07-18": 3.00,  # the course's model
    "gpt-4.1-nano-2025-04-14": 1.50,
    "gpt-4.1-mini-2025-04-14": 5.00,
    "gpt-4.1-2025-04-14": 25.00,
    "gpt-4o-2024-08-06": 25.00,
}
DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"
MAX_TOKENS_PER_EXAMPLE = 65_536  # training context of these models; longer examples get truncated
MIN_EXAMPLES = 10  # OpenAI refuses a training file with fewer
MAX_FILE_BYTES = 512 * 1024 * 1024  # the Files API's limit for one upload
EXAMPLE_KEYS = {"messages", "tools", "parallel_tool_calls", "functions"}
MESSAGE_KEYS = {"role", "content", "name", "weight", "function_call", "tool_calls", "tool_call_id"}
ROLES = ("system", "user", "assistant", "tool", "function")


# ---------------------------------------------------------------------------------------------- prepare
def user_text(prompt: str) -> str:
    """The pricer's test prompt as the course asked frontier models: no 'to the nearest dollar', no 'Price is $'."""
    return prompt.replace(QUESTION_CUT, "").removesuffix(ANSWER_PREFIX).strip()


def chat_example(row: dict) -> dict:
    """One pricer row ({"prompt", "completion": "450.00", ...}) -> one training example."""
    return {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": user_text(row["prompt"])},
            {"role": "assistant", "content": f"{ANSWER_PREFIX}{row['completion']}"},
        ]
    }


def write_text(path: str | Path, text: str) -> Path:
    """Write atomically: a reader (or an upload) never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}.{threading.get_ident()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_jsonl(path: str | Path, rows: list[dict]) -> Path:
    return write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


@dataclass
class Prepared:
    train: Path
    validation: Path
    examples: int
    validation_examples: int
    tokens: int  # training file, one epoch
    est_cost_usd: float | None
    model: str
    epochs: int

    def to_dict(self) -> dict:
        return asdict(self) | {"train": str(self.train), "validation": str(self.validation)}


def prepare(
    n: int = 200,
    n_val: int = 50,
    out: str | Path | None = None,
    *,
    model: str = DEFAULT_MODEL,
    epochs: int = 1,
    seed: int = 42,
) -> Prepared:
    """Train on the pricer's first ``n`` training items, validate on the next ``n_val`` (as the course: 200 / 50)."""
    from lab.core.settings import get_settings
    from lab.pricer.data import prompt_completion

    if n < MIN_EXAMPLES:
        raise InputError(f"OpenAI needs at least {MIN_EXAMPLES} training examples; ask for --n {MIN_EXAMPLES} or more.")
    if n_val < 1:
        raise InputError("Keep at least one validation example (--n-val 1): the validation loss is the honest one.")
    rows = prompt_completion("train", seed=seed)
    if n + n_val > len(rows):
        raise InputError(
            f"The pricer's training split has {len(rows)} items: --n {n} plus --n-val {n_val} is too many "
            f"(at most {len(rows)} together)."
        )
    out = Path(out) if out else get_settings().data_dir / "finetune" / "openai"
    train = write_jsonl(out / "train.jsonl", [chat_example(r) for r in rows[:n]])
    val = write_jsonl(out / "validation.jsonl", [chat_example(r) for r in rows[n : n + n_val]])
    tokens = sum(count_tokens(chat_example(r)["messages"]) for r in rows[:n])
    return Prepared(train, val, n, n_val, tokens, estimate_cost(tokens, epochs, model), model, epochs)


# ---------------------------------------------------------------------------------------------- tokens and cost
def encoding():
    """o200k_base, offline (the encoding file is placed in tiktoken's cache by lab.core.assets), built once."""
    return tiktoken_encoding("o200k_base")


def count_tokens(messages: list[dict]) -> int:
    """The guide's count: 3 tokens of framing per message, its string values, +1 for a name, +3 reply priming
    (``lab.core.tokenizers.count_chat_tokens``, the same estimate the Prompting lab shows)."""
    return count_chat_tokens(messages)


def estimate_cost(tokens: int, epochs: int, model: str, prices: dict[str, float] | None = None) -> float | None:
    """Training tokens x epochs x $ per 1M; None for a model not in the (editable) table - never a guess."""
    per_m = (prices or TRAINING_PRICES).get(model)
    return None if per_m is None else round(tokens * epochs * per_m / 1e6, 6)


# ---------------------------------------------------------------------------------------------- validate
@dataclass
class Report:
    examples: int = 0  # non-blank lines
    tokens: int = 0  # billed per epoch: each well-formed example, capped
    errors: list[dict] = field(default_factory=list)  # [{"line": 1-based (0 = whole file), "error": text}]
    warnings: list[str] = field(default_factory=list)
    token_counts: list[int] = field(default_factory=list)  # per well-formed example, in file order
    bytes: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "examples": self.examples,
            "tokens": self.tokens,
            "errors": self.errors,
            "warnings": self.warnings,
            "bytes": self.bytes,
            "max_example_tokens": max(self.token_counts, default=0),
        }


def _check_example(ex) -> list[str]:
    """The guide's format checks for one parsed line; an empty list means well-formed."""
    if not isinstance(ex, dict):
        return [f"the line is a JSON {type(ex).__name__}, not an object with a 'messages' list"]
    if "prompt" in ex and "completion" in ex and "messages" not in ex:
        return ["prompt/completion is the legacy format: chat models learn from a 'messages' list"]
    problems = [
        f"unexpected key {k!r} (an example has: messages, optionally tools)" for k in ex if k not in EXAMPLE_KEYS
    ]
    messages = ex.get("messages")
    if not isinstance(messages, list) or not messages:
        return problems + ["no 'messages' list (or it is empty)"]
    for i, m in enumerate(messages, 1):
        if not isinstance(m, dict):
            problems.append(f"message {i} is a JSON {type(m).__name__}, not an object with role and content")
            continue
        problems += [f"message {i}: unexpected key {k!r}" for k in m if k not in MESSAGE_KEYS]
        role, content = m.get("role"), m.get("content")
        if role not in ROLES:
            problems.append(f"message {i}: unknown role {role!r} (use {', '.join(ROLES[:3])})")
        calls = m.get("function_call") or m.get("tool_calls")
        if "content" not in m and not calls:
            problems.append(f"message {i}: no 'content'")
        elif content is not None and not isinstance(content, str):
            problems.append(f"message {i}: content must be a string, not {type(content).__name__}")
        elif not content and not calls:
            problems.append(f"message {i}: content is empty")
        if "weight" in m and m["weight"] not in (0, 1):
            problems.append(f"message {i}: weight must be 0 or 1")
    if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
        problems.append("no assistant message: the model learns only from assistant turns")
    return problems


def validate_bytes(
    data: bytes,
    *,
    max_tokens: int = MAX_TOKENS_PER_EXAMPLE,
    min_examples: int = MIN_EXAMPLES,
    max_bytes: int = MAX_FILE_BYTES,
) -> Report:
    """Check every line; errors name the 1-based line and what is wrong. Nothing is sent anywhere."""
    r = Report(bytes=len(data))
    if len(data) > max_bytes:
        r.errors.append(
            {
                "line": 0,
                "error": f"the file is {len(data) / 1e6:,.1f} MB; one upload may be at most "
                f"{max_bytes / 1e6:,.0f} MB. Use fewer examples.",
            }
        )
        return r
    lines = data.split(b"\n")
    if lines and lines[-1].strip() == b"":
        lines.pop()  # the newline that ends the last line
    no_system = no_user = 0
    for no, raw in enumerate(lines, 1):
        if not raw.strip():
            r.errors.append({"line": no, "error": "blank line: JSONL wants exactly one JSON object per line"})
            continue
        r.examples += 1
        try:
            ex = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            r.errors.append({"line": no, "error": "not UTF-8 text: save the file as UTF-8"})
            continue
        except json.JSONDecodeError as e:
            r.errors.append({"line": no, "error": f"not valid JSON: {e.msg} (column {e.colno})"})
            continue
        problems = _check_example(ex)
        r.errors += [{"line": no, "error": p} for p in problems]
        if problems:
            continue
        n_tok = count_tokens(ex["messages"])
        r.token_counts.append(n_tok)
        r.tokens += min(n_tok, max_tokens)
        if n_tok > max_tokens:
            r.errors.append(
                {
                    "line": no,
                    "error": f"{n_tok:,} tokens: over the {max_tokens:,}-token limit per example; "
                    "it would be truncated (the answer at its end lost). Shorten it.",
                }
            )
        roles = {m["role"] for m in ex["messages"]}
        no_system += "system" not in roles
        no_user += "user" not in roles
    if r.examples < min_examples:
        r.errors.append(
            {
                "line": 0,
                "error": f"only {r.examples} examples: OpenAI needs at least {min_examples} (the course used 200).",
            }
        )
    if no_system:
        r.warnings.append(f"{no_system} example(s) have no system message: prompts at inference should match training.")
    if no_user:
        r.warnings.append(f"{no_user} example(s) have no user message.")
    return r


def validate(path: str | Path, **limits) -> Report:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"No file at {path}: prepare one first (python -m lab finetune openai prepare --out DIR).")
    return validate_bytes(path.read_bytes(), **limits)


def auto_epochs(n_examples: int) -> int:
    """What OpenAI picks for n_epochs='auto' (the guide's heuristic): about 3, more for tiny sets, 1..25."""
    if n_examples * 3 < 100:
        return min(25, 100 // max(n_examples, 1))
    if n_examples * 3 > 25_000:
        return max(1, 25_000 // n_examples)
    return 3


def broken_copy(src: str | Path, dst: str | Path) -> Path:
    """A copy of a training file with one of each mistake the validator catches (the page's demo)."""
    lines = Path(src).read_text(encoding="utf-8").splitlines()
    if len(lines) < 8:
        raise InputError("The demo needs a prepared file of at least 8 lines.")
    good = json.loads(lines[1])
    sys_msg, user, answer = good["messages"]
    lines[1] = lines[1][:-1]  # cut closing brace
    lines[2] = json.dumps({"messages": [sys_msg, user]})  # no assistant
    lines[3] = json.dumps({"messages": [sys_msg, user | {"role": "human"}, answer]})  # unknown role
    lines[4] = json.dumps({"messages": [sys_msg, user, answer | {"content": 450.0}]})  # not a string
    lines[5] = json.dumps({"messages": [sys_msg, user, answer], "price": 450})  # unexpected key
    lines[6] = json.dumps({"prompt": user["content"], "completion": answer["content"]})  # old format
    return write_text(dst, "\n".join(lines) + "\n")
