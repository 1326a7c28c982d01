"""Load test: N concurrent student sessions for S seconds through the real app code (issue 11).

Each simulated student is a set of Streamlit ``AppTest`` sessions (its own session state, the process's shared
caches - exactly what a deployed server shares) that loop over three actions: a chat turn with the local model
(Prompting page), tokenizing a text (Tokenization page) and searching both vector stores (RAG page). A few real
headless-Chromium sessions load pages from a real ``streamlit run`` server at the same time. It reports errors
(goal 0), p50/p95 latency per action, and peak RSS early vs late in the run (goal: bounded, no growth).

    make load                                   # 30 sessions, 300 s
    LOAD_SESSIONS=5 LOAD_SECONDS=60 make load   # a quick one

The last line printed is one JSON object:
{"sessions": N, "seconds": S, "errors": E, "p95_ms": {ACTION: MS, ...}, "peak_rss_bytes": B}
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import traceback
from collections import defaultdict
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
WORDS = "the model reads tokens not letters so counting the r in strawberry is hard for it".split()
QUESTIONS = ["Who owns the GreenPath Energy Optimizer?", "When was Rainfold founded?", "What does FlowSense cost?",
             "Who is the CTO?", "Which office is in Pune?"]


def _chat(at):
    at.text_area(key="chat.user").set_value(random.choice(["What is the capital of France?", "Name a colour.",
                                                           "Say hello in French."]))
    at.button(key="chat.send").click()


def _tokenize(at):
    at.text_area(key="text").set_value(" ".join(random.choices(WORDS, k=60)))


def _rag(at):
    at.text_input(key="rag.search.q").set_value(random.choice(QUESTIONS))
    at.button(key="rag.search.go").click()


ACTIONS = {"chat": ("pages/1_Prompting.py", _chat), "tokenize": ("pages/2_Tokenization.py", _tokenize),
           "rag_search": ("pages/5_RAG.py", _rag)}


class Stats:
    def __init__(self) -> None:
        self.lat: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []
        self.lock = threading.Lock()

    def add(self, action: str, ms: float) -> None:
        with self.lock:
            self.lat[action].append(ms)

    def error(self, msg: str) -> None:
        with self.lock:
            self.errors.append(msg)


def student(i: int, deadline: float, stats: Stats) -> None:
    from streamlit.testing.v1 import AppTest

    apps = {}
    for name, (page, _) in ACTIONS.items():
        at = AppTest.from_file(str(ROOT / page), default_timeout=600)
        at.run()
        apps[name] = at
    rng = random.Random(i)
    while time.time() < deadline:
        name = rng.choice(list(ACTIONS))
        at = apps[name]
        t = time.perf_counter()
        try:
            ACTIONS[name][1](at)
            at.run()
            if at.exception:
                stats.error(f"{name}: {at.exception[0].message}")
        except Exception as e:  # a crash in the harness or the app counts as an error
            stats.error(f"{name}: {type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}")
        stats.add(name, (time.perf_counter() - t) * 1000)


def browsers(n: int, deadline: float, stats: Stats, proc_box: list) -> None:
    """A few real Chromium sessions against a real server (skipped without Debian's chromium)."""
    sys.path.insert(0, str(ROOT))
    from tests.test_browser import CHROME_ARGS, CHROMIUM, free_port

    if not Path(CHROMIUM).exists() or n == 0:
        return
    from playwright.sync_api import sync_playwright

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "Home.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc_box.append(proc)
    url = f"http://127.0.0.1:{port}"
    time.sleep(5)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS)
            pages = [browser.new_page() for _ in range(n)]
            while time.time() < deadline:
                for page in pages:
                    for path, marker in (("", "Offline assets"), ("/Tokenization", "Tokenization")):
                        t = time.perf_counter()
                        try:
                            page.goto(url + path)
                            page.get_by_text(marker).first.wait_for(timeout=60_000)
                        except Exception as e:
                            stats.error(f"browser{path or '/'}: {type(e).__name__}: {e}")
                        stats.add("browser_page", (time.perf_counter() - t) * 1000)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def main() -> None:
    sys.path.insert(0, str(ROOT))
    n = int(os.environ.get("LOAD_SESSIONS", 30))
    seconds = int(os.environ.get("LOAD_SECONDS", 300))
    n_browsers = int(os.environ.get("LOAD_BROWSERS", 3))
    stats = Stats()
    me = psutil.Process()
    rss: list[tuple[float, int]] = []
    procs: list = []
    start = time.time()
    deadline = start + seconds
    threads = [threading.Thread(target=student, args=(i, deadline, stats), daemon=True) for i in range(n)]
    threads.append(threading.Thread(target=browsers, args=(n_browsers, deadline, stats, procs), daemon=True))
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        total = me.memory_info().rss
        for p in procs:  # the real server of the browser sessions counts too
            try:
                total += psutil.Process(p.pid).memory_info().rss
            except psutil.Error:
                pass
        rss.append((time.time() - start, total))
        time.sleep(1)
        if time.time() > deadline + 900:  # a hung session counts as an error, and the run still ends
            stats.error("sessions still running 15 minutes past the deadline")
            break
    q = max(1.0, (time.time() - start) / 4)
    # models load during the first quarter: compare the second quarter's peak with the last one's (growth = leak)
    early = max((b for t, b in rss if q <= t <= 2 * q), default=0)
    late = max((b for t, b in rss if t >= 3 * q), default=0)
    p = {a: {"n": len(v), "p50_ms": round(statistics.median(v)),
             "p95_ms": round(sorted(v)[min(len(v) - 1, math.ceil(0.95 * len(v)) - 1)])}   # nearest rank
         for a, v in stats.lat.items() if v}
    for e in stats.errors[:10]:
        print("error:", e, file=sys.stderr)
    print(json.dumps({"latency": p, "rss_peak_second_quarter": early, "rss_peak_last_quarter": late}, indent=2))
    print(json.dumps({"sessions": n, "seconds": seconds, "errors": len(stats.errors),
                      "p95_ms": {a: v["p95_ms"] for a, v in p.items()},
                      "peak_rss_bytes": max((b for _, b in rss), default=0)}))


if __name__ == "__main__":
    main()
