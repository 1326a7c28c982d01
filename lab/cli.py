"""``python -m lab <command> ...``: every lab scriptable from a shell, JSON where it helps.

    $ python -m lab chat "What is the capital of France?"
    The capital of France is Paris.
    usage: local/SmolLM2-135M-Instruct.Q4_1.gguf, in 37 tok, out 8 tok, ttft 60 ms, 95.2 tok/s, ...
    $ python -m lab assets --json
    [{"name": "smollm2-gguf", "present": true, "path": "...", ...}, ...]

Each lab adds its own commands from its own module (``add_parser(subparsers)``), listed in ``LAB_COMMANDS``;
those modules keep heavy imports inside their functions so that ``--help`` stays instant.
Errors the lab can explain (``LabError``) print one line to stderr and exit 2; nothing else is swallowed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from pydantic import ValidationError

from lab.llm.base import LabError

# SmolLM2-135M answers greedily "L'Etoile, la Marseillaise..." to "What is the capital of France?" under its
# template's default system prompt, and "The capital of France is Paris." under this one: small models are
# that sensitive to the system prompt (a lesson of the Prompting lab).
DEFAULT_SYSTEM = "Answer briefly and factually."

LAB_COMMANDS = [
    "lab.prompting_cli",      # brochure
    "lab.tokenization_cli",   # tokens
    "lab.tools_cli",          # tools ask|prices
    "lab.pipelines_cli",      # pipeline, diffuse
    "lab.rag.cli",            # rag index|search|ask|eval
    "lab.pricer.cli",         # pricer data|baselines|llm
    "lab.finetune.cli",       # finetune plan|run|eval|modal
    "lab.gguf.cli",           # gguf inspect|bench|serve
]


def add_provider_args(p: argparse.ArgumentParser) -> None:
    """The provider flags every model-calling command shares."""
    from lab.llm import PROVIDERS

    p.add_argument("--provider", default="local", choices=PROVIDERS, help="Which backend answers (default: local llama.cpp).")
    p.add_argument("--base-url", default=None, help="Server URL (openai-compatible, ollama, or to point openai/anthropic elsewhere).")
    p.add_argument("--model", default=None, help="Model id (default: the provider's default; a .gguf path for local).")


def provider_from_args(args: argparse.Namespace):
    from lab.llm import get_provider

    return get_provider(args.provider, base_url=args.base_url, model=args.model)


def print_json(obj) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


# ---------------------------------------------------------------------------------------------- assets
def _assets(args: argparse.Namespace) -> int:
    from lab import assets

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
    from lab.llm import InputError, Options, run
    from lab.prompting import Schema, build_messages, load_shots, structured

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
            raise InputError(f"The reply did not validate against {args.json_schema}, even after one repair attempt: "
                             f"{result.errors[-1]}. Last reply: {result.attempts[-1][:300]!r}")
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
    p.add_argument("--system", default=DEFAULT_SYSTEM,
                   help=f"System prompt (default: {DEFAULT_SYSTEM!r}; a 135M model needs the nudge to stay on topic; "
                        "pass '' for none).")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default, reproducible).")
    p.add_argument("--max-tokens", type=int, default=512)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--usage-stderr", action="store_true", help="Print the usage line to stderr instead of stdout.")
    p.add_argument("--json-schema", default=None, metavar="FILE",
                   help="A JSON Schema file: the reply is parsed and validated (one repair attempt), then printed as JSON.")
    p.add_argument("--shots", default=None, metavar="FILE",
                   help='A JSON list of example turns: [{"user": "...", "assistant": "..."}] or alternating role/content.')
    p.add_argument("--shot-style", default="turns", choices=["turns", "system"],
                   help="Send the shots as fictitious user/assistant turns (default) or inside the system prompt.")
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ValidationError as e:  # an option out of its bounds: say which and why
        for err in e.errors():
            print(f"error: {'.'.join(map(str, err['loc']))}: {err['msg']}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
