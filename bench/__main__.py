"""Run every benchmark module in bench/ (``make bench``)."""

import importlib
import pkgutil
import sys

import bench

failed = 0
SEPARATE = {"load"}  # `make load`: 30 sessions for 5 minutes, run on its own
for mod in sorted(
    m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_") and m.name not in SEPARATE
):
    print(f"\n=== bench.{mod}", flush=True)
    try:
        importlib.import_module(f"bench.{mod}").main()
    except Exception as e:  # keep going: one broken benchmark should not hide the others
        failed += 1
        print(f"bench.{mod} failed: {type(e).__name__}: {e}", file=sys.stderr)
sys.exit(1 if failed else 0)
