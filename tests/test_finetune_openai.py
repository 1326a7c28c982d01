"""OpenAI fine-tune data, offline: the course's chat examples from the pricer, the guide's checks, tokens, cost; the CLI.

Everything here runs without a key or a network: preparing and validating never leave the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.core.errors import InputError, LabError
from lab.finetune import openai_data as D

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("oa")
    return D.prepare(20, 10, out)


def lines(path) -> list[dict]:
    return [json.loads(x) for x in Path(path).read_text().splitlines()]


@pytest.mark.slow  # the pricer's offline data is tokenized with SmolLM2's tokenizer (transformers)
def test_prepare_builds_the_course_examples_from_the_pricer_split(prepared):
    from lab.pricer.data import prompt_completion

    rows = prompt_completion("train")
    train, val = lines(prepared.train), lines(prepared.validation)
    assert (len(train), len(val), prepared.examples, prepared.validation_examples) == (20, 10, 20, 10)
    for ex, row in zip(train + val, rows[:30]):  # train = items 0..19, validation = the next 10
        system, user, answer = ex["messages"]
        assert system == {
            "role": "system",
            "content": "You estimate prices of items. Reply only with the price, no explanation",
        }
        assert user["role"] == "user" and user["content"].startswith("How much does this cost?\n\n")
        assert "to the nearest dollar" not in user["content"] and not user["content"].endswith("Price is $")
        assert user["content"] == row["prompt"].replace(
            "How much does this cost to the nearest dollar?", "How much does this cost?"
        ).removesuffix("\n\nPrice is $")
        assert answer == {"role": "assistant", "content": f"Price is ${round(row['price'])}.00"}
    assert not {e["messages"][1]["content"] for e in train} & {e["messages"][1]["content"] for e in val}
    # the figures prepare reports are those of the file it wrote
    report = D.validate(prepared.train)
    assert report.ok and report.examples == 20 and report.tokens == prepared.tokens
    assert prepared.est_cost_usd == pytest.approx(prepared.tokens * 3.00 / 1e6)
    assert not list(Path(prepared.train).parent.glob("*.tmp*"))  # written atomically, no leftovers


@pytest.mark.slow  # the pricer's offline data is tokenized with SmolLM2's tokenizer (transformers)
def test_prepare_refuses_what_openai_or_the_split_cannot_take(tmp_path):
    with pytest.raises(InputError, match="at least 10"):
        D.prepare(5, 5, tmp_path)
    with pytest.raises(InputError, match="at most 279"):
        D.prepare(270, 50, tmp_path)
    assert not list(tmp_path.iterdir())


def test_token_count_follows_the_guide_by_hand():
    import tiktoken

    D.encoding()
    enc = tiktoken.get_encoding("o200k_base")
    # 3 framing per message + role + content (+1 per name), + 3 priming: "user" and "Hi" are one token each.
    assert len(enc.encode("user")) == 1 and len(enc.encode("Hi")) == 1
    assert D.count_tokens([{"role": "user", "content": "Hi"}]) == 3 + 1 + 1 + 3
    assert D.count_tokens([{"role": "user", "content": "Hi", "name": "bob"}]) == 8 + len(enc.encode("bob")) + 1


BROKEN = [
    '{"messages": [{"role": "user", "content": "A kettle"}, {"role": "assistant", "content": "Price is $30.00"}]}',
    '{"messages": [{"role": "user", "content": "A kettle"}, {"role": "assistant", "content": "Price is $30.00"}]',
    '["role", "user"]',
    '{"conversation": []}',
    '{"messages": [{"role": "human", "content": "A kettle"}, {"role": "assistant", "content": "Price is $30.00"}]}',
    '{"messages": [{"role": "user", "content": 42}, {"role": "assistant", "content": "Price is $30.00"}]}',
    '{"messages": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "A kettle"}]}',
    '{"messages": [{"role": "user", "content": "A kettle"}, {"role": "assistant", "content": "Price is $30.00"}], "price": 30}',
    '{"messages": [{"role": "user", "content": "A kettle", "price": 30}, {"role": "assistant", "content": "Price is $30.00"}]}',
    "",
    '{"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "Price is $30.00"}]}',
    '{"prompt": "A kettle", "completion": "30.00"}',
]
EXPECTED = {
    2: "not valid JSON",
    3: "JSON list",
    4: "no 'messages' list",
    5: "unknown role 'human'",
    6: "content must be a string, not int",
    7: "no assistant message",
    8: "unexpected key 'price'",
    9: "message 1: unexpected key 'price'",
    10: "blank line",
    11: "message 1: content is empty",
    12: "legacy format",
}


def write(tmp_path, rows, name="broken.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(rows) + "\n")
    return path


def test_each_mistake_is_reported_on_its_line(tmp_path):
    r = D.validate(write(tmp_path, BROKEN))
    assert not r.ok
    by_line: dict[int, list[str]] = {}
    for e in r.errors:
        by_line.setdefault(e["line"], []).append(e["error"])
    for no, text in EXPECTED.items():
        assert any(text in e for e in by_line.get(no, [])), (no, by_line.get(no))
    assert 1 not in by_line  # the good line is not blamed
    assert "conversation" in " ".join(by_line[4])  # the stray key is named too
    # too few examples is a whole-file problem: 11 examples (the blank line is not one) pass the minimum
    assert r.examples == 11 and 0 not in by_line
    assert r.token_counts == [D.count_tokens(json.loads(BROKEN[0])["messages"])]  # only well-formed lines counted


def test_whole_file_limits_too_few_too_big_too_long(tmp_path):
    good = BROKEN[0]
    few = D.validate(write(tmp_path, [good] * 3))
    assert few.errors == [{"line": 0, "error": "only 3 examples: OpenAI needs at least 10 (the course used 200)."}]
    ok = D.validate(write(tmp_path, [good] * 10))
    assert ok.ok and ok.tokens == 10 * ok.token_counts[0]
    big = D.validate(write(tmp_path, [good] * 10), max_bytes=500)
    assert big.errors[0]["line"] == 0 and "at most" in big.errors[0]["error"] and big.examples == 0
    long = D.validate(write(tmp_path, [good] * 10), max_tokens=12)
    assert [e["line"] for e in long.errors] == list(range(1, 11)) and "over the 12-token limit" in long.errors[0][
        "error"
    ]
    assert long.tokens == 10 * 12  # billed tokens are capped at the limit, as OpenAI truncates
    nosys = D.validate(write(tmp_path, [good] * 10))
    assert any("no system message" in w for w in nosys.warnings)
    with pytest.raises(InputError, match="prepare one first"):
        D.validate(tmp_path / "missing.jsonl")


def test_cost_table_and_auto_epochs():
    assert D.estimate_cost(1_000_000, 3, "gpt-4o-mini-2024-07-18") == pytest.approx(9.0)
    assert D.estimate_cost(20_000, 1, "gpt-4.1-nano-2025-04-14") == pytest.approx(0.03)
    assert D.estimate_cost(1000, 1, "no-such-model") is None
    assert D.estimate_cost(1_000_000, 1, "mine", {"mine": 2.0}) == 2.0  # the table is editable
    assert (D.auto_epochs(10), D.auto_epochs(200), D.auto_epochs(20_000)) == (10, 3, 1)


@pytest.mark.slow  # the pricer's offline data is tokenized with SmolLM2's tokenizer (transformers)
def test_broken_copy_demo_is_caught(prepared, tmp_path):
    r = D.validate(D.broken_copy(prepared.train, tmp_path / "b.jsonl"))
    assert sorted({e["line"] for e in r.errors}) == [2, 3, 4, 5, 6, 7]


# ---------------------------------------------------------------------------------------------- CLI
def harness(argv: list[str]) -> tuple[int, str]:
    """`finetune openai ...` through add_openai_parser, in-process, as lab.cli.main would run it."""
    from lab.finetune.openai_cli import add_openai_parser

    parser = argparse.ArgumentParser()
    ft = parser.add_subparsers(dest="command").add_parser("finetune").add_subparsers(dest="finetune_command")
    add_openai_parser(ft)
    args = parser.parse_args(["finetune", "openai", *argv])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            code = args.func(args)
        except LabError as e:
            print(f"error: {e}", file=sys.stderr)
            code = 2
    return code, out.getvalue()


@pytest.mark.slow  # the pricer's offline data is tokenized with SmolLM2's tokenizer (transformers)
def test_cli_prepare_and_validate_contract(tmp_path):
    code, out = harness(["prepare", "--n", "12", "--n-val", "3", "--out", str(tmp_path), "--json"])
    res = json.loads(out)
    assert code == 0 and {"train", "validation", "examples", "tokens", "est_cost_usd"} <= res.keys()
    assert res["examples"] == 12 and Path(res["train"]).is_file() and len(lines(res["validation"])) == 3
    code, out = harness(["validate", res["train"], "--json"])
    rep = json.loads(out)
    assert code == 0 and rep["ok"] is True and rep["examples"] == 12 and rep["tokens"] == res["tokens"]
    assert rep["errors"] == []
    code, out = harness(["validate", str(write(tmp_path, BROKEN)), "--json"])
    rep = json.loads(out)
    assert code == 1 and rep["ok"] is False and rep["examples"] == 11
    assert all(set(e) == {"line", "error"} and isinstance(e["line"], int) for e in rep["errors"])
    assert {e["line"] for e in rep["errors"]} == set(EXPECTED)


def _registered() -> bool:
    from lab.cli import build_parser

    with contextlib.redirect_stderr(io.StringIO()):
        try:
            build_parser().parse_args(["finetune", "openai", "validate", "x.jsonl"])
        except SystemExit:
            return False
    return True


needs_wiring = pytest.mark.skipif(
    not _registered(),
    reason="`finetune openai` is not wired into lab/finetune/cli.py "
    "yet (the lead adds add_openai_parser); the harness tests above cover the handlers",
)


@needs_wiring
@pytest.mark.slow  # the pricer's offline data is tokenized with SmolLM2's tokenizer (transformers); 77 s measured
def test_python_m_lab_finetune_openai_prepare_and_validate(tmp_path):
    env = os.environ | {"LAB_DATA_DIR": str(tmp_path)}

    def lab(*argv):
        return subprocess.run(
            [sys.executable, "-m", "lab", "finetune", "openai", *argv],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    p = lab("prepare", "--n", "12", "--n-val", "3", "--out", str(tmp_path / "oa"), "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["examples"] == 12 and Path(res["validation"]).is_file()
    ok = lab("validate", res["train"], "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    bad = lab("validate", str(write(tmp_path, BROKEN)), "--json")
    assert bad.returncode == 1 and {e["line"] for e in json.loads(bad.stdout)["errors"]} == set(EXPECTED)


def test_module_docstring_example_holds():
    import doctest

    assert doctest.testmod(D).failed == 0
