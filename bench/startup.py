"""Start-up speed: Home's first paint, each lab page usable before its heavy load, a second visit from cache.

Starts ``streamlit run Home.py`` on a free loopback port (as ``make run`` does) and measures, after the server
answers its health check:
- Home's first paint in Debian's Chromium (goal, issue 11: <= 2 s), and the import time of Home's code path
  (``python -X importtime``), checking that no torch/transformers import sits on it;
- for every lab page, a first visit by a new session (``bench.stclient``: the websocket messages a browser tab
  sends): seconds to the first widget (the student can work; heavy models load after it, behind a spinner) and
  to the end of the script run; then a second visit by another new session, served from the shared caches.

    python -m bench.startup
    {"import_s": 1.1, "heavy_imports": [], "server_up_s": 2.9, "home_first_paint_s": 0.9,
     "pages": {"Prompting": {"first_widget_s": 0.05, "first_s": 2.4, "second_s": 0.2}, ...}}
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "chromadb", "faiss", "llama_cpp", "sentence_transformers", "diffusers")


def home_imports() -> dict:
    """Cumulative import time (s) of Home's modules, and whether a heavy library is imported on that path."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import ui.home, ui.labs, ui.session"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stderr
    mods = {m.group(2).strip(): int(m.group(1)) for m in re.finditer(r"import time:\s+\d+ \|\s+(\d+) \|(.*)", out)}
    heavy = sorted({m.split(".")[0] for m in mods if m.strip().split(".")[0] in HEAVY})
    return {"import_s": round(max(mods.values()) / 1e6, 3), "heavy_imports": heavy}


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from bench import appserver
    from bench.appserver import CHROME_ARGS, CHROMIUM
    from bench.stclient import StClient
    from ui.labs import available

    report = home_imports()
    t0 = time.perf_counter()
    server, url = appserver.start(Path(tempfile.mkdtemp()) / "startup-server.log")
    report["server_up_s"] = round(time.perf_counter() - t0, 2)
    try:
        if Path(CHROMIUM).exists():
            from playwright.sync_api import sync_playwright

            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS)
                page = browser.new_page()
                t = time.perf_counter()
                page.goto(url)
                page.get_by_text("Offline assets").wait_for(timeout=60_000)
                report["home_first_paint_s"] = round(time.perf_counter() - t, 2)
                browser.close()
        pages = {}
        for lab in available():
            slug = re.sub(r"^\d+_", "", Path(lab.file).stem)
            visits = []
            for _ in range(2):  # a new session each time: the second one finds the server's caches warm
                with StClient(url) as s:
                    visits.append(s.open(slug))
            errors = [e for v in visits for e in v.errors]
            pages[lab.title] = {
                "first_widget_s": round(visits[0].first_widget_s or -1, 2),
                "first_s": round(visits[0].seconds, 2),
                "second_s": round(visits[1].seconds, 2),
                **({"errors": errors} if errors else {}),
            }
        report["pages"] = pages
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(json.dumps(report, indent=2))
    print(
        f"home first paint: {report.get('home_first_paint_s', 'n/a (no chromium)')} s (goal <= 2 s); "
        f"heavy imports on Home's path: {report['heavy_imports'] or 'none'}"
    )


if __name__ == "__main__":
    main()
