"""Fuzz the command line: every subcommand x malformed arguments and files ends in a message and a non-zero exit,
never a traceback.

Subcommands are read from the argparse parser itself (``lab.cli.build_parser``), so a new lab's commands get the
argparse-level cases (unknown option, missing arguments, non-numbers and bad choices) with no edit here. File-,
path- and URL-taking arguments are listed in ``FILE_ARGS`` / ``URL_ARGS`` and each gets every malformation of its kind
(empty, binary, huge, wrong type, invalid YAML/JSON, a path-looking line, a directory, /dev/null, a missing file);
``NUMBERS`` adds negative / NaN / infinite numbers where they are out of bounds, and hypothesis adds random binary
and text files. Every case is one that fails *before* any model loads or any request leaves: the whole file runs
in well under a minute, in process through ``lab.cli.main`` (plus a handful through ``python -m lab`` to prove the
real entry point). The cases run per subcommand are printed at the end (``-s``) and written to
``test-artifacts/cli-fuzz-summary.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
CASES: Counter = Counter()  # subcommand -> cases run (the closing note's counts)
KINDS: Counter = Counter()  # kind of malformation -> cases run
SLOWEST: list[tuple[float, str]] = []


# ---------------------------------------------------------------------------------------------- the parser's tree
def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command path, its parser) for every runnable subcommand, aliases once."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    seen = set()
    for name, sub in subs[0].choices.items():
        if id(sub) not in seen:
            seen.add(id(sub))
            yield from leaves(sub, path + (name,))


PARSER = build_parser()
LEAVES = dict(leaves(PARSER))
NAMES = [" ".join(p) for p in LEAVES]


def options(parser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


def positionals(parser) -> list[argparse.Action]:
    return [a for a in parser._actions if not a.option_strings]


# ---------------------------------------------------------------------------------------------- running
@pytest.fixture(scope="module", autouse=True)
def isolated(tmp_path_factory):
    """No keys, a private data dir, no network access allowed to private addresses, the Hub offline (conftest)."""
    from lab.core.keys import ENV_VARS
    from lab.core.settings import get_settings

    saved = dict(os.environ)
    for var in [*ENV_VARS.values(), "LAB_ALLOW_PRIVATE_URLS", "LAB_DEBUG", "LAB_GGUF_API_KEY", "MODAL_TOKEN_SECRET"]:
        os.environ.pop(var, None)
    os.environ["LAB_DATA_DIR"] = str(tmp_path_factory.mktemp("fuzz-data"))
    get_settings.cache_clear()
    yield
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


def run_cli(argv: list[str]) -> tuple[int, str]:
    """``lab.cli.main(argv)`` in process: (exit code, stdout + stderr). An exception escaping main is what a user
    would see as a traceback: it is returned as one, so the assertion shows it."""
    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse: usage + one line, exit 2
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:  # noqa: BLE001 - exactly what the test exists to catch
            code, err = 99, io.StringIO(traceback.format_exc())
    SLOWEST.append((time.perf_counter() - t0, " ".join(argv)[:120]))
    return code, out.getvalue() + err.getvalue()


def check(argv: list[str], kind: str) -> str:
    """Run one malformed case; it must exit non-zero with a message and no traceback."""
    leaf = next(
        n for n in sorted(NAMES, key=len, reverse=True) if " ".join(argv).startswith(n + " ") or " ".join(argv) == n
    )
    code, output = run_cli(argv)
    CASES[leaf] += 1
    KINDS[kind] += 1
    assert "Traceback" not in output, f"{argv}: traceback\n{output}"
    assert code != 0, f"{argv}: exit 0 for a malformed input\n{output[-2000:]}"
    assert output.strip(), f"{argv}: failed silently"
    assert "error: unexpected" not in output, f"{argv}: an unexpected error (a bug) instead of a message\n{output}"
    return output


# ---------------------------------------------------------------------------------------------- 1. argparse level
def argparse_cases() -> list[tuple[list[str], str]]:
    """For every subcommand, from its own parser: an unknown option, no arguments when some are required, a
    non-number for each numeric option, an unknown choice for each option with choices."""
    cases = []
    for path, parser in LEAVES.items():
        cases.append(([*path, "--no-such-option-zz"], "unknown option"))
        if not positionals(parser):
            cases.append(([*path, "an-extra-argument"], "extra argument"))
        required = [a for a in parser._actions if a.required and not isinstance(a, argparse._HelpAction)]
        if required:
            cases.append(([*path], "missing arguments"))
        for a in options(parser):
            flag = a.option_strings[-1]
            if a.type in (int, float):
                cases.append(([*path, flag, "not-a-number"], "non-number"))
                cases.append(([*path, flag, ""], "non-number"))
                if a.type is int:
                    cases.append(([*path, flag, "1.5"], "non-number"))
            if a.choices:
                cases.append(([*path, flag, "no-such-choice-zz"], "unknown choice"))
            if isinstance(a, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
                cases.append(([*path, f"{flag}=maybe"], "value for a flag"))
            elif not isinstance(a, argparse._CountAction):
                cases.append(([*path, flag], "option without its value"))
        for a in positionals(parser):
            if a.choices:
                cases.append(([*path, "no-such-choice-zz"], "unknown choice"))
    return cases


ARGPARSE_CASES = argparse_cases()


@pytest.mark.parametrize("name", NAMES)
def test_argparse_level(name):
    """All the argparse-level cases of one subcommand (one test item per subcommand keeps pytest's overhead low)."""
    mine = [
        (argv, kind)
        for argv, kind in ARGPARSE_CASES
        if tuple(argv[: len(name.split())]) == tuple(name.split())
        and max((n for n in NAMES if tuple(argv[: len(n.split())]) == tuple(n.split())), key=len) == name
    ]
    assert mine
    for argv, kind in mine:
        out = check(argv, kind)
        assert "usage:" in out or "error:" in out


def test_every_subcommand_has_argparse_cases():
    covered = {" ".join(a[: len(p)]) for a, _ in ARGPARSE_CASES for p in LEAVES if tuple(a[: len(p)]) == p}
    assert covered == set(NAMES)


# ---------------------------------------------------------------------------------------------- 2. files and paths
MALFORMED = {  # name -> bytes of the file (None: a special path, made in `bad_paths`)
    "empty": b"",
    "binary": bytes(range(256)) * 4,
    "nul": b"lora_r: 8\x00\x00",
    "huge": b"a" * (3 * 2**20),
    "invalid yaml": b"lora_r: [8,\n\tlora_alpha: : :\n  - {",
    "invalid json": b'{"type": "object", "properties": {',
    "wrong type (list)": b"[1, 2, 3]\n",
    "wrong type (scalar)": b"42\n",
    "path-looking content": b"/etc/hostname.yaml\n",
    "latin-1 text": "caf\xe9: ol\xe9\n".encode("latin-1"),
    "directory": None,
    "/dev/null": None,
    "missing": None,
}
# Which malformations make sense for which kind of file (an empty SQLite file, for one, is a valid new database).
APPLIES = {
    "yaml": set(MALFORMED),
    "json": set(MALFORMED),
    "jsonl": set(MALFORMED) - {"empty", "/dev/null"},  # validate reports "0 examples", exit 1: still covered below
    "gguf": set(MALFORMED),
    "sqlite": set(MALFORMED) - {"empty", "/dev/null", "missing"},  # a missing --db is created and seeded
    "text": {"binary", "nul", "directory", "missing", "latin-1 text"},
    "model": {"empty", "binary", "directory", "/dev/null", "missing", "path-looking content"},
    "run": {"directory", "missing", "/dev/null", "binary"},
}
JSONL_EMPTY_OK = {"empty", "/dev/null"}

# (subcommand, the option or positional, what it holds, the other arguments it needs to get that far)
FILE_ARGS = [
    ("finetune plan", "--config", "yaml", []),
    ("finetune run", "--config", "yaml", []),
    ("finetune modal", "--config", "yaml", ["--print"]),
    ("chat", "--json-schema", "json", ["hi"]),
    ("chat", "--shots", "json", ["hi"]),
    ("chat", "--model", "gguf", ["hi"]),
    ("finetune openai validate", None, "jsonl", []),
    ("finetune openai launch", "--train", "jsonl", []),
    ("gguf inspect", None, "gguf", []),
    ("gguf fit", "--model", "gguf", []),
    ("gguf chat", "--model", "gguf", ["hi"]),
    ("gguf steps", "--model", "gguf", ["hi"]),
    ("gguf bench", "--model", "gguf", []),
    ("gguf sweep", "--model", "gguf", []),
    ("gguf serve", "--model", "gguf", ["--port", "1"]),  # port 1 is refused first on most machines: either way fast
    ("gguf quantize", None, "gguf", ["--type", "Q4_0", "--out", "{tmp}/out.gguf"]),
    ("gguf convert", None, "model", ["--out", "{tmp}/out.gguf"]),
    ("pipeline text-generation", "--model", "model", ["hi"]),
    ("diffuse", "--model", "model", ["--out", "{tmp}/out.png", "a fox"]),
    ("tools prices", "--db", "sqlite", []),
    ("tools ask", "--db", "sqlite", ["--provider", "openai", "hi"]),
    ("finetune eval", None, "run", []),
    ("finetune stop", None, "run", []),
    ("finetune resume", None, "run", []),
]


def leaf_argv(name: str) -> list[str]:
    """The command path of ``name`` ('pipeline text-generation' is the command 'pipeline' with TASK)."""
    return name.split()


EXT = {
    "yaml": ".yaml",
    "json": ".json",
    "jsonl": ".jsonl",
    "gguf": ".gguf",
    "sqlite": ".db",
    "text": ".md",
    "model": "",
    "run": "",
}


@pytest.fixture(scope="module")
def bad_paths(tmp_path_factory) -> dict[tuple[str, str], str]:
    """(malformation, kind) -> a path named as that kind's files are (run.yaml, train.jsonl...): the old config
    loader treated a string ending in .yaml differently from any other."""
    d = tmp_path_factory.mktemp("malformed")
    paths = {}
    for kind, ext in EXT.items():
        for name, data in MALFORMED.items():
            if data is not None:
                p = d / (name.replace(" ", "-").replace("(", "").replace(")", "").replace("/", "") + (ext or ".dat"))
                p.write_bytes(data)
                paths[name, kind] = str(p)
        (d / f"a-folder{ext}").mkdir(exist_ok=True)
        paths |= {
            ("directory", kind): str(d / f"a-folder{ext}"),
            ("/dev/null", kind): os.devnull,
            ("missing", kind): str(d / f"no-such-file{ext}"),
        }
    return paths


def file_cases():
    for name, opt, kind, extra in FILE_ARGS:
        for mal in sorted(APPLIES[kind]):
            yield pytest.param(
                name,
                opt,
                kind,
                extra,
                mal,
                id=f"{name} {opt or '<arg>'} {mal}",
                marks=[pytest.mark.slow] if name == "diffuse" else [],
            )  # diffuse imports torch first


@pytest.mark.parametrize("name,opt,kind,extra,mal", list(file_cases()))
def test_malformed_files(name, opt, kind, extra, mal, bad_paths, tmp_path):
    path = bad_paths[mal, kind]
    extra = [e.replace("{tmp}", str(tmp_path)) for e in extra]
    argv = leaf_argv(name)
    argv += [opt, path, *extra] if opt else [path, *extra]
    if name == "pipeline text-generation":  # TASK is a positional: options go after it
        argv = ["pipeline", "text-generation", opt, path, *extra]
    check(argv, f"file: {mal}")


def test_file_args_name_real_subcommands_and_options():
    """The table above follows the parser: a renamed command or option fails here instead of fuzzing nothing."""
    for name, opt, _, _ in FILE_ARGS:
        path = tuple(name.split()[:1]) if name.startswith(("pipeline", "chat", "diffuse")) else tuple(name.split())
        assert path in LEAVES, name
        if opt:
            assert opt in {s for a in options(LEAVES[path]) for s in a.option_strings}, (name, opt)


def test_empty_jsonl_is_refused(bad_paths):
    for mal in sorted(JSONL_EMPTY_OK):
        check(["finetune", "openai", "validate", bad_paths[mal, "jsonl"]], f"file: {mal}")


# ---------------------------------------------------------------------------------------------- 3. URLs and hosts
BAD_URLS = [
    "http://[::1",
    "http://[::1]:99999/",
    "ht!tp://x",
    "http://",
    "file:///etc/passwd",
    "://nohost",
    "http://exa mple.com/",
    "http://%zz/",
    "javascript:alert(1)",
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:1/",
    "http://[::ffff:127.0.0.1]/",
    "\x00http://x/",
    "http://" + "a" * 5000 + ".com/",
]

URL_ARGS = [
    ("brochure", [], "{url}"),
    ("chat", ["--provider", "openai-compatible", "--base-url", "{url}", "hi"], None),
    ("chat", ["--provider", "ollama", "--base-url", "{url}", "hi"], None),
]


@pytest.mark.parametrize("url", BAD_URLS, ids=[u[:40] for u in BAD_URLS])
@pytest.mark.parametrize("name,args,positional", URL_ARGS, ids=["brochure", "chat-compatible", "chat-ollama"])
def test_malformed_urls(name, args, positional, url):
    argv = [name, *[a.replace("{url}", url) for a in args]]
    if positional:
        argv.append(positional.replace("{url}", url))
    check(argv, "url")


BAD_HOSTS = ["0.0.0.0", "::", "192.0.2.1", "[::1", "no such host", "example.invalid", ""]


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_gguf_serve_refuses_bad_or_unguarded_hosts(host):
    out = check(["gguf", "serve", "--host", host, "--port", "8"], "host")
    assert "api-key" in out or "address" in out or "port" in out.lower()


# ---------------------------------------------------------------------------------------------- 4. numbers
NUMBERS = [  # out-of-bounds numbers that are refused before anything loads
    ["chat", "--temperature", "nan", "hi"],
    ["chat", "--temperature", "-1", "hi"],
    ["chat", "--temperature", "inf", "hi"],
    ["chat", "--max-tokens", "-5", "hi"],
    ["chat", "--max-tokens", "0", "hi"],
    ["pipeline", "text-generation", "--max-new-tokens", "-1", "hi"],
    ["pipeline", "fill-mask", "--top-k", "-3", "a [MASK] b"],
    ["diffuse", "--tiny", "--steps", "-1", "--out", "{tmp}/x.png", "a fox"],
    ["diffuse", "--tiny", "--guidance", "nan", "--out", "{tmp}/x.png", "a fox"],
    ["diffuse", "--tiny", "--width", "-64", "--out", "{tmp}/x.png", "a fox"],
    ["finetune", "plan", "--config", "{cfg:lora_r: -1}"],
    ["finetune", "plan", "--config", "{cfg:learning_rate: .nan}"],
    ["finetune", "plan", "--config", "{cfg:learning_rate: -.inf}"],
    ["finetune", "run", "--max-steps", "-1"],
    ["finetune", "eval", "no-such-run", "--n", "-1"],
    ["gguf", "serve", "--port", "-1"],
    ["gguf", "serve", "--port", "70000"],
    ["gguf", "fit", "--n-ctx", "-4096"],
    ["gguf", "chat", "--n-ctx", "-1", "hi"],
    ["gguf", "chat", "--temperature", "nan", "hi"],
    ["gguf", "steps", "--n-steps", "-1", "hi"],
    ["gguf", "bench", "--repeats", "0"],
    ["gguf", "sweep", "--layers", "a,b"],
    ["tools", "ask", "--max-rounds", "-1", "--provider", "openai", "hi"],
    ["tools", "reliability", "--tries", "-1"],
    ["finetune", "openai", "prepare", "--n", "-1", "--out", "{tmp}/oa"],
]


@pytest.mark.parametrize("argv", NUMBERS, ids=[" ".join(a)[:60] for a in NUMBERS])
def test_out_of_bounds_numbers(argv, tmp_path):
    resolved = []
    for a in argv:
        if a.startswith("{cfg:"):
            p = tmp_path / "cfg.yaml"
            p.write_text(a[5:-1] + "\n")
            a = str(p)
        resolved.append(a.replace("{tmp}", str(tmp_path)))
    check(resolved, "number")


# ---------------------------------------------------------------------------------------------- 5. hypothesis
BLOBS = st.one_of(
    st.binary(max_size=4096).map(lambda b: b"\x80" + b),  # never UTF-8
    st.text(max_size=400).map(lambda t: ("- " + t).encode("utf-8", "surrogatepass")),  # a YAML list, or no YAML
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300).map(
        lambda t: ("{" + t).encode()
    ),  # an unclosed JSON object / YAML flow map
)
HYPO_TARGETS = [t for t in FILE_ARGS if t[2] in ("yaml", "json", "jsonl", "gguf", "sqlite")]


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(target=st.sampled_from(HYPO_TARGETS), blob=BLOBS)
def test_random_file_contents(target, blob, tmp_path_factory):
    name, opt, kind, extra = target
    if kind == "jsonl" and blob.startswith(b"{"):
        blob = b"- " + blob  # '{' + text can be one valid JSON object: not a malformed case
    if kind == "sqlite":
        blob = (blob * (1024 // max(1, len(blob)) + 1))[:1024]  # SQLite takes a file under ~100 bytes for an empty db
    d = tmp_path_factory.mktemp("hyp", numbered=True)
    p = d / f"input{EXT[kind]}"
    p.write_bytes(blob)
    argv = name.split() + ([opt, str(p)] if opt else [str(p)]) + [e.replace("{tmp}", str(d)) for e in extra]
    check(argv, "hypothesis file")


@settings(max_examples=40, deadline=None, derandomize=True)
@given(url=st.text(max_size=60).map(lambda t: "http://[" + t))
def test_random_malformed_urls(url):
    if "\x00" in url:
        url = url.replace("\x00", "")
    check(["brochure", url], "hypothesis url")


# ---------------------------------------------------------------------------------------------- 6. the real entry point
def test_python_m_lab_entry_point(tmp_path):
    """A handful through ``python -m lab``: what a user actually runs, exit code and all."""
    binary = tmp_path / "run.yaml"
    binary.write_bytes(bytes(range(256)))
    secret = tmp_path / "server-secrets.yaml"
    secret.write_text("lora_r: 8\napi_key: sk-fuzz-secret-0123456789\n")
    looks_like_path = tmp_path / "upload.yaml"
    looks_like_path.write_text(str(secret) + "\n")  # content that looks like a path is content, never opened
    env = {k: v for k, v in os.environ.items() if k != "LAB_DEBUG"}
    cases = [
        ["finetune", "plan", "--config", str(binary)],
        ["finetune", "run", "--config", str(looks_like_path)],
        ["finetune", "plan", "--config", "/etc"],
        ["pipeline", "text-generation", "--model", "/etc", "hi"],
        ["gguf", "inspect", "/etc"],
        ["gguf", "serve", "--host", "0.0.0.0"],
        ["brochure", "http://[::1"],
    ]
    for argv in cases:
        r = subprocess.run(
            [sys.executable, "-m", "lab", *argv], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env
        )
        leaf = next(n for n in sorted(NAMES, key=len, reverse=True) if " ".join(argv).startswith(n + " "))
        CASES[leaf] += 1
        KINDS["subprocess"] += 1
        assert r.returncode != 0 and "Traceback" not in r.stderr + r.stdout, (argv, r.stderr)
        assert "sk-fuzz-secret" not in r.stderr + r.stdout
        assert r.stderr.strip().splitlines()[-1].startswith("error:"), (argv, r.stderr)  # progress lines may precede


# ---------------------------------------------------------------------------------------------- summary
def test_zz_summary(artifacts):
    """Last: every subcommand got cases; the counts are the closing note's (printed with -s, saved as JSON)."""
    missing = [n for n in NAMES if CASES[n] < 2]
    summary = {
        "total": sum(CASES.values()),
        "subcommands": len(NAMES),
        "per_subcommand": dict(sorted(CASES.items())),
        "per_kind": dict(KINDS.most_common()),
        "slowest": [{"seconds": round(s, 2), "argv": a} for s, a in sorted(SLOWEST, reverse=True)[:8]],
    }
    (artifacts / "cli-fuzz-summary.json").write_text(json.dumps(summary, indent=2))
    print("\nCLI fuzz:", json.dumps(summary, indent=2))
    if len(CASES) > 10:  # only when the whole file ran (not a -k selection)
        assert not missing, f"subcommands with fewer than 2 cases: {missing}"
