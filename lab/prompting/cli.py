"""``python -m lab brochure URL``: the website brochure from a shell (the markdown streams to stdout).

    $ python -m lab brochure https://example.com --provider openai --model gpt-4o-mini
    # Example Inc.
    ...
    $ python -m lab brochure http://127.0.0.1:8000/
    error: Refused http://127.0.0.1:8000/: 127.0.0.1 is a loopback address. ... use --allow-private ...
    $ python -m lab brochure http://127.0.0.1:8000/ --allow-private      # a site served on this machine

Progress lines and the usage line go to stderr, so stdout is only the brochure.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> None:
    from lab.cli import add_provider_args

    p = sub.add_parser("brochure", help="Fetch a company website and stream a markdown brochure about it.")
    p.add_argument("url", help="The company's landing page (http:// or https://).")
    add_provider_args(p)
    p.add_argument("--company", default=None, help="The company's name (default: the page title).")
    p.add_argument(
        "--allow-private",
        action="store_true",
        help="Also fetch private/loopback addresses (a site served on this machine). Off by default.",
    )
    p.add_argument("--max-links", type=int, default=3, help="How many linked pages the model may pick (default 3).")
    p.add_argument("--max-tokens", type=int, default=700, help="Upper bound on the brochure's length in tokens.")
    p.add_argument("--temperature", type=float, default=0.3)
    p.set_defaults(func=_brochure)


def _brochure(args: argparse.Namespace) -> int:
    from lab.cli import provider_from_args
    from lab.llm import Options
    from lab.prompting.brochure import make_brochure

    provider = provider_from_args(args)
    options = Options(temperature=args.temperature, max_tokens=args.max_tokens)
    material, reply = make_brochure(
        args.url,
        provider,
        company=args.company,
        model=None if args.provider == "local" else args.model,
        options=options,
        max_links=args.max_links,
        allow_private=True if args.allow_private else None,
        on_text=lambda t: print(t, end="", flush=True),
        on_step=lambda s: print(f"... {s}", file=sys.stderr),
    )
    print()
    for s in material.skipped:
        print(f"skipped {s}", file=sys.stderr)
    print(reply.usage.line(), file=sys.stderr)
    return 0
