"""``python -m lab <command> ...``: every lab scriptable from a shell, JSON where it helps.

    $ python -m lab chat "What is the capital of France?"
    The capital of France is Paris.
    usage: local/SmolLM2-135M-Instruct.Q4_1.gguf, in 37 tok, out 8 tok, ttft 60 ms, 95.2 tok/s, ...
    $ python -m lab assets --json
    [{"name": "smollm2-gguf", "present": true, "path": "...", ...}, ...]

Each lab adds its own commands from its own module (``add_parser(subparsers)``), listed in ``LAB_COMMANDS``;
those modules keep heavy imports inside their functions so that ``--help`` stays instant.
Errors the lab can explain (``LabError``) print one line to stderr and exit 2; so do the input errors the lab did not
word itself (a missing file, bytes that are not UTF-8, invalid YAML/JSON): no input ends in a traceback. Anything else
is a bug, printed as one ``error: unexpected ...`` line with exit 1 (``LAB_DEBUG=1`` shows its traceback).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from pydantic import ValidationError

from lab.core.errors import LabError
from lab.llm.base import DEFAULT_SYSTEM  # the chat's default system prompt: a 135M model needs it (base says why)

LAB_COMMANDS = [
    "lab.prompting.cli",  # brochure
    "lab.tokenization.cli",  # tokens
    "lab.tools.cli",  # tools ask|prices
    "lab.pipelines.cli",  # pipeline, diffuse
    "lab.rag.cli",  # rag index|search|ask|eval
    "lab.pricer.cli",  # pricer data|baselines|llm
    "lab.finetune.cli",  # finetune plan|run|eval|modal
    "lab.gguf.cli",  # gguf inspect|bench|serve
    "lab.agents.cli",  # agents run|scan|price|memory|modal|score
    "lab.evaluate.cli",  # evaluate run|arena|battle|vote|rungs|leaderboards
]


def add_provider_args(p: argparse.ArgumentParser) -> None:
    """The provider flags every model-calling command shares."""
    from lab.llm import PROVIDERS

    p.add_argument(
        "--provider", default="local", choices=PROVIDERS, help="Which backend answers (default: local llama.cpp)."
    )
    p.add_argument(
        "--base-url",
        default=None,
        help="Server URL (openai-compatible, ollama, or to point openai/anthropic elsewhere).",
    )
    p.add_argument("--model", default=None, help="Model id (default: the provider's default; a .gguf path for local).")


def provider_from_args(args: argparse.Namespace):
    from lab.llm import get_provider

    if args.provider == "local" and getattr(args, "model", None):  # a typed path: said now if no GGUF, not ignored
        from pathlib import Path

        from lab.core.errors import InputError
        from lab.core.gguf_check import check_gguf_file

        if not args.model.endswith(".gguf"):
            raise InputError(
                f"--model {args.model}: the local provider runs a .gguf file; give its path, or leave "
                "--model out for the bundled SmolLM2 (python -m lab gguf list shows the ones here)"
            )
        check_gguf_file(Path(args.model).expanduser())
    return get_provider(args.provider, base_url=args.base_url, model=args.model)


def print_json(obj) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


# ---------------------------------------------------------------------------------------------- assets
def _assets(args: argparse.Namespace) -> int:
    from lab.core import assets

    rows = assets.prepare(lambda m: print(m, file=sys.stderr), hf=args.prepare) if args.prepare else assets.report()
    if not args.prepare:
        assets.prepare_tiktoken_cache()
        rows = assets.report()
    if args.json:
        print_json([r.to_dict() for r in rows])
    else:
        for r in rows:
            print(f"{'ok     ' if r.present else 'MISSING'} {r.name:24} {r.path or r.fix}")
    return 0 if all(r.present for r in rows if r.name != "smollm2-hf") else 1


# ---------------------------------------------------------------------------------------------- chat
def _chat(args: argparse.Namespace) -> int:
    from lab.core.errors import InputError
    from lab.llm import Options, run
    from lab.prompting.messages import build_messages, load_shots
    from lab.prompting.structured import Schema, structured

    provider = provider_from_args(args)
    shots = load_shots(args.shots) if args.shots else []
    messages = build_messages(args.system or "", args.prompt, shots=shots, style=args.shot_style)
    options = Options(temperature=args.temperature, max_tokens=args.max_tokens, seed=args.seed)
    model = None if args.provider == "local" else args.model
    if args.json_schema:  # stdout is only the validated JSON; the usage line goes to stderr
        result = structured(provider, messages, Schema.from_file(args.json_schema), model=model, options=options)
        for u in result.usage:
            print(u.line(), file=sys.stderr)
        if not result.ok:
            raise InputError(
                f"The reply did not validate against {args.json_schema}, even after one repair attempt: "
                f"{result.errors[-1]}. Last reply: {result.attempts[-1][:300]!r}"
            )
        print_json(result.value)
        return 0
    reply = run(provider, messages, model=model, options=options, on_text=lambda t: print(t, end="", flush=True))
    print()
    print(reply.usage.line(), file=sys.stderr if args.usage_stderr else sys.stdout)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lab", description="LLM Engineering Lab from the command line.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("assets", help="List the offline models and data, or prepare the derived ones.")
    p.add_argument("--json", action="store_true", help="Print a JSON list of {name, present, path, purpose, fix}.")
    p.add_argument("--prepare", action="store_true", help="Also make the derived assets (SmolLM2 transformers copy).")
    p.set_defaults(func=_assets)

    p = sub.add_parser("chat", help="Ask a model; the answer streams to stdout, then one line of usage.")
    add_provider_args(p)
    p.add_argument(
        "--system",
        default=DEFAULT_SYSTEM,
        help=f"System prompt (default: {DEFAULT_SYSTEM!r}; a 135M model needs the nudge to stay on topic; "
        "pass '' for none).",
    )
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default, reproducible).")
    p.add_argument("--max-tokens", type=int, default=512)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--usage-stderr", action="store_true", help="Print the usage line to stderr instead of stdout.")
    p.add_argument(
        "--json-schema",
        default=None,
        metavar="FILE",
        help="A JSON Schema file: the reply is parsed and validated (one repair attempt), then printed as JSON.",
    )
    p.add_argument(
        "--shots",
        default=None,
        metavar="FILE",
        help='A JSON list of example turns: [{"user": "...", "assistant": "..."}] or alternating role/content.',
    )
    p.add_argument(
        "--shot-style",
        default="turns",
        choices=["turns", "system"],
        help="Send the shots as fictitious user/assistant turns (default) or inside the system prompt.",
    )
    p.add_argument("prompt", help="The user prompt.")
    p.set_defaults(func=_chat)

    for mod_name in LAB_COMMANDS:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as e:
            if e.name and mod_name.startswith(e.name):  # that lab has not landed yet
                continue
            raise
        mod.add_parser(sub)
    return parser


def _input_errors() -> tuple[type[BaseException], ...]:
    """What bad input (a path, a file's bytes, a URL, a number) raises below the lab's own checks."""
    import http.client
    import sqlite3

    import yaml

    return OSError, ValueError, LookupError, yaml.YAMLError, sqlite3.Error, http.client.InvalidURL


# A malformed URL that reached an HTTP library: each has its own class, none a ValueError (httpx's InvalidURL,
# requests' InvalidSchema, urllib3's LocationParseError...); matched by name so no SDK is imported to say so.
URL_ERROR_NAMES = {
    "InvalidURL",
    "UnsupportedProtocol",
    "InvalidSchema",
    "MissingSchema",
    "InvalidHeader",
    "LocationParseError",
    "LocationValueError",
}


def _is_input_error(e: BaseException) -> bool:
    return isinstance(e, _input_errors()) or any(c.__name__ in URL_ERROR_NAMES for c in type(e).__mro__)


def describe_error(e: BaseException) -> str:
    """One line for an exception the lab did not word itself: what is wrong, and where to look.

    >>> describe_error(IsADirectoryError(21, "Is a directory", "/etc"))
    'Is a directory: /etc (check the path: a file was expected)'
    >>> describe_error(UnicodeDecodeError("utf-8", b"\\xff", 0, 1, "invalid start byte"))
    'a file is not UTF-8 text (invalid start byte at byte 0): give a text file saved as UTF-8'
    """
    from lab.core.keys import redact

    if isinstance(e, UnicodeDecodeError):
        text = f"a file is not UTF-8 text ({e.reason} at byte {e.start}): give a text file saved as UTF-8"
    elif isinstance(e, OSError) and e.strerror:
        target = f": {e.filename}" if e.filename else ""
        text = f"{e.strerror}{target} (check the path: a file was expected)" if e.filename else e.strerror
    else:
        text = str(e) or type(e).__name__
    text = " ".join(text.split())  # one line, whatever the library wrote
    if not isinstance(e, LabError) and len(text) > 400:  # the lab's own messages are worded to be read whole
        text = text[:400] + "..."
    return redact(text)


def main(argv: list[str] | None = None) -> int:
    """Run one command. Every failure ends as ``error: ...`` lines on stderr and a non-zero exit, never a traceback:
    2 for what the lab or the input got wrong, 1 for an unexpected error (a bug: ``LAB_DEBUG=1`` shows its traceback).
    """
    import os

    args = build_parser().parse_args(argv)  # argparse's own errors: usage + one line, exit 2
    try:
        return int(args.func(args) or 0)
    except LabError as e:
        print(f"error: {describe_error(e)}", file=sys.stderr)
        return 2
    except ValidationError as e:  # an option out of its bounds: say which and why (never the value)
        for err in e.errors(include_input=False, include_url=False):
            print(f"error: {'.'.join(map(str, err['loc'])) or 'options'}: {err['msg']}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # the last resort: still one line, still redacted
        if os.environ.get("LAB_DEBUG"):
            raise
        if _is_input_error(e):
            print(f"error: {describe_error(e)}", file=sys.stderr)
            return 2
        print(
            f"error: unexpected {type(e).__name__}: {describe_error(e)} (a bug in the lab: rerun with LAB_DEBUG=1 "
            "to see the traceback, and report it)",
            file=sys.stderr,
        )
        return 1
