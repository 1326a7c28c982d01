"""Start-up speed: Home's first paint, each lab page's first paint, and a second visit (served from cache).

Starts `streamlit run Home.py` on a free loopback port, drives Debian's Chromium (Playwright), and prints
seconds per page plus the import time of Home's code path (`python -X importtime`), checking that no
torch/transformers import sits on it. The goal (issue 11): Home's first paint <= 2 s after the server is up.

    python -m bench.startup
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "chromadb", "faiss", "llama_cpp", "sentence_transformers", "diffusers")


def home_imports() -> dict:
    """Cumulative import time (s) of Home's modules, and whether a heavy library is imported on that path."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import ui.home, ui.labs, ui.secrets"],
                         cwd=ROOT, capture_output=True, text=True).stderr
    mods = {m.group(2).strip(): int(m.group(1)) for m in re.finditer(r"import time:\s+\d+ \|\s+(\d+) \|(.*)", out)}
    heavy = sorted({m.split(".")[0] for m in mods if m.strip().split(".")[0] in HEAVY})
    return {"import_s": round(max(mods.values()) / 1e6, 3), "heavy_imports": heavy}


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from tests.test_browser import CHROME_ARGS, CHROMIUM, free_port
    from playwright.sync_api import sync_playwright
    from ui.labs import available

    report = home_imports()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "Home.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        import urllib.request

        t0 = time.perf_counter()
        while True:
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        report["server_up_s"] = round(time.perf_counter() - t0, 2)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS)
            page = browser.new_page()
            t = time.perf_counter()
            page.goto(url)
            page.get_by_text("Offline assets").wait_for(timeout=60_000)
            report["home_first_paint_s"] = round(time.perf_counter() - t, 2)
            pages = {}
            for lab in available():
                slug = re.sub(r"^\d+_", "", Path(lab.file).stem)
                times = []
                for _ in range(2):  # first visit, then a second one served from the caches
                    t = time.perf_counter()
                    page.goto(f"{url}/{slug}")
                    page.locator("h1").first.wait_for(timeout=120_000)
                    times.append(round(time.perf_counter() - t, 2))
                pages[lab.title] = {"first_s": times[0], "second_s": times[1]}
            report["pages"] = pages
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    print(json.dumps(report, indent=2))
    print(f"home first paint: {report['home_first_paint_s']} s (goal <= 2 s); heavy imports on Home's path: "
          f"{report['heavy_imports'] or 'none'}")


if __name__ == "__main__":
    main()
