"""``python -m lab tokens``: a text through one tokenizer, ids and pieces, from a shell.

    $ python -m lab tokens --tokenizer cl100k_base --json "hello world"
    {"tokenizer": "cl100k_base", "ids": [15339, 1917], "tokens": ["hello", " world"], "count": 2}
    $ python -m lab tokens --tokenizer llama-3 --special "Hi"     # adds <|begin_of_text|>, as the model expects
    2 tokens: [128000, 13347]
    <|begin_of_text|> | Hi
    $ python -m lab tokens --list --json
    [{"name": "cl100k_base", "source": "GPT-4 / GPT-3.5 (tiktoken)", "available": true}, ...]

Without ``--special`` nothing is added (no BOS/EOS) and ``<|im_start|>`` in the text is read as plain text.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> None:
    p = sub.add_parser(
        "tokens",
        help="Tokenize a text with one tokenizer: ids and pieces.",
        description="Tokenize TEXT: ids and pieces, as the model's own tokenizer library makes them.",
    )
    p.add_argument(
        "--tokenizer",
        default="cl100k_base",
        help="cl100k_base, o200k_base, llama-3, smollm2, qwen, or hf:<hub id>, gguf:<path>, "
        "file:<tokenizer.json> (default: cl100k_base).",
    )
    p.add_argument(
        "--special",
        action="store_true",
        help="Add BOS/EOS as the model's tokenizer does, and read special tokens written in the text.",
    )
    p.add_argument("--json", action="store_true", help='Print {"tokenizer", "ids", "tokens", "count"}.')
    p.add_argument("--list", action="store_true", help="List the built-in tokenizers with their source.")
    p.add_argument("text", nargs="?", default=None, help="The text to tokenize ('-' reads standard input).")
    p.set_defaults(func=_tokens)


def _tokens(args: argparse.Namespace) -> int:
    from lab.cli import print_json
    from lab.core.errors import InputError
    from lab.tokenization.analysis import tokenize
    from lab.tokenization.registry import PREFIXES, list_tokenizers

    if args.list:
        rows = list_tokenizers()
        if args.json:
            print_json(rows)
        else:
            for r in rows:
                print(f"{r['name']:12} {'ok     ' if r['available'] else 'MISSING'} {r['source']}")
            for prefix, what in PREFIXES.items():
                print(f"{prefix + '<...>':12}         {what}")
        return 0
    if args.text is None:
        raise InputError('Give the text to tokenize, e.g. python -m lab tokens --tokenizer llama-3 "hello world".')
    text = sys.stdin.read() if args.text == "-" else args.text
    out = tokenize(args.tokenizer, text, special=args.special)
    if args.json:
        print_json(out)
    else:
        print(f"{out['count']} tokens: {out['ids']}")
        print(" | ".join(out["tokens"]))
    return 0
