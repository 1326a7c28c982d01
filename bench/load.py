"""Load test: N concurrent student sessions for S seconds against one real ``streamlit run`` server (issue 11).

One server runs the app exactly as a classroom deployment does; each simulated student holds three browser-less
sessions on it (``bench.stclient``: the websocket and protobuf messages a browser tab sends), one per page, and
loops over three actions with a short think time: a chat turn with the local model (Prompting), tokenizing a
text (Tokenization) and searching both vector stores (RAG). A few real headless-Chromium tabs load pages from the
same server meanwhile. All of them share the server's caches, locks and generation queue - what 30 students
share. It reports errors (goal 0: exceptions, st.error messages, missing results, dropped connections), p50/p95
latency per action, and the server's peak RSS early vs late in the run (goal: bounded, no growth).

    make load                                   # 30 sessions, 300 s
    LOAD_SESSIONS=5 LOAD_SECONDS=60 make load   # a quick one (LOAD_BROWSERS=3, LOAD_THINK_S=3 by default)

Why not ``AppTest`` sessions in threads: Streamlit's AppTest installs a process-wide ``Runtime`` for each run and
removes it afterwards, so concurrent AppTests break each other ("Runtime hasn't been created!"); they also would
not exercise the real server's threads. The isolation tests use AppTest, one session at a time.

The last line printed is one JSON object:
{"sessions": N, "seconds": S, "errors": E, "p95_ms": {ACTION: MS, ...}, "peak_rss_bytes": B, "engine": E,
 "chat_tok_s": T, "chat_ttft_p50_ms": MS, "chat_turns_per_min": R, "reply_tokens_mean": M}
The chat figures are for the second half of the run (models loaded): ``chat_tok_s`` = reply tokens generated per
second for the whole class, ``chat_ttft_p50_ms`` = time from clicking Send to the first token, queue included (the
turn's time minus the generation time its page reports: tokens out / speed), ``chat_turns_per_min`` = chat turns
answered per minute, ``reply_tokens_mean`` = tokens per reply.

Where a loaded minute goes (the details before the last line, ``loaded_minute``, second half): CPU seconds per
minute of the app (Streamlit, with in-process generation, embeddings and tokenizers), of the llama-server it
manages, of this load generator (the simulated students) and of its browsers - all on the same cores, 120 CPU
seconds a minute on 2 - plus llama-server's own counters (prompt tokens processed and reused from its cache, tokens
generated, decode calls) and the wall seconds of generation and RAG query embedding that the pages report, e.g.
``{"cpu_s": {"app": 40.1, "browsers": 41.3, "llama_server": 19.7, "load_generator": 0.8}, ...}``.

Both engines of the local model in one run (``LOAD_ENGINES``, comma list of ``inprocess``/``server``; one app
server each, one after the other, same students and seed), ending with one JSON line holding both and the ratio:

    LOAD_ENGINES=inprocess,server LOAD_SESSIONS=30 LOAD_SECONDS=300 make load
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import psutil

from bench import appserver

ROOT = Path(__file__).resolve().parent.parent
WORDS = "the model reads tokens not letters so counting the r in strawberry is hard for it".split()
QUESTIONS = [
    "Who owns the GreenPath Energy Optimizer?",
    "When was Rainfold founded?",
    "What does FlowSense cost?",
    "Who is the CTO?",
    "Which office is in Pune?",
]
PROMPTS = ["What is the capital of France?", "Name a colour.", "Say hello in French."]

# action -> (page URL path, widgets to set, text that must appear in the run's output)
ACTIONS = {
    "chat": ("Prompting", lambda r: {"chat.user": r.choice(PROMPTS), "chat.send": True}, "Tokens out"),
    "tokenize": ("Tokenization", lambda r: {"text": " ".join(r.choices(WORDS, k=60))}, "characters per token"),
    "rag_search": ("RAG", lambda r: {"rag.search.q": r.choice(QUESTIONS), "rag.search.go": True}, "Top-k agreement"),
}
IMPATIENT = 0.1  # share of chat turns where the student clicks Send again after a second (leaves the line)


class Stats:
    def __init__(self) -> None:
        self.lat: dict[str, list[tuple[float, float]]] = defaultdict(list)  # action -> [(finished at, ms)]
        self.errors: list[str] = []
        self.lock = threading.Lock()

        self.chat: list[tuple[float, int, float]] = []  # (finished at, tokens out, ms to the first token)
        self.gen_s: list[tuple[float, float]] = []  # (finished at, seconds the reply took to generate)
        self.embed_ms: list[tuple[float, float]] = []  # (finished at, the RAG query's embedding ms, from its page)
        # (finished at, {part: ms}) of a chat turn: the line, the model's first token, generation, and the rest
        self.turn_parts: list[tuple[float, dict]] = []

    def add(self, action: str, ms: float) -> None:
        with self.lock:
            self.lat[action].append((time.time(), ms))

    def add_chat(self, run) -> None:
        """Tokens out and the queue-included time to the first token of a finished chat turn (from its page)."""
        out, speed = _last_metric(run.texts, "Tokens out"), _last_metric(run.texts, "Speed")
        if out is None:
            return
        gen_s = (out - 1) / speed if speed and out > 1 else 0.0
        queue_s = _last_metric(run.texts, "Waited in line") or 0.0
        model_ttft_ms = _last_metric(run.texts, "Time to first token") or 0.0
        parts = {
            "queue": queue_s * 1000,
            "model_first_token": model_ttft_ms,
            "generation": gen_s * 1000,
            "streamlit": max(0.0, run.seconds * 1000 - queue_s * 1000 - model_ttft_ms - gen_s * 1000),
        }
        with self.lock:
            self.chat.append((time.time(), int(out), max(0.0, run.seconds - gen_s) * 1000))
            self.gen_s.append((time.time(), out / speed if speed else 0.0))
            self.turn_parts.append((time.time(), parts))

    def add_rag(self, run) -> None:
        ms = _last_metric(run.texts, "Query embedding (once, shared)")
        if ms is not None:
            with self.lock:
                self.embed_ms.append((time.time(), ms))

    def error(self, msg: str) -> None:
        with self.lock:
            self.errors.append(msg)


def _last_metric(texts: list[str], label: str) -> float | None:
    """The number in the last ``"<label>: <value>"`` text (a metric), e.g. ``Speed: 81.2 tok/s`` -> 81.2."""
    for t in reversed(texts):
        if t.startswith(label + ": "):
            try:
                return float(t[len(label) + 2 :].split()[0].replace(",", ""))
            except (ValueError, IndexError):
                return None
    return None


def student(i: int, url: str, deadline: float, think_s: float, stats: Stats) -> None:
    from bench.stclient import StClient

    rng = random.Random(i)
    tabs = {}
    try:
        for name, (page, _, _) in ACTIONS.items():
            tabs[name] = StClient(url)
            run = tabs[name].open(page)
            stats.add("page_open", run.seconds * 1000)
            for e in run.errors:
                stats.error(f"open {page}: {e}")
        while time.time() < deadline:
            time.sleep(rng.uniform(0, 2 * think_s))
            name = rng.choice(list(ACTIONS))
            _, values, expect = ACTIONS[name]
            try:
                if name == "chat" and rng.random() < IMPATIENT:
                    tabs[name].set(**values(rng)).rerun(wait=False)
                    time.sleep(rng.uniform(0.2, 2))
                    name = "chat_again"
                run = tabs["chat" if name == "chat_again" else name].set(**values(rng)).rerun()
            except Exception as e:  # a dropped connection or a timeout counts as an error
                stats.error(f"{name}: {type(e).__name__}: {e}")
                continue
            stats.add(name, run.seconds * 1000)
            if name in ("chat", "chat_again") and not run.errors:
                stats.add_chat(run)
            if name == "rag_search" and not run.errors:
                stats.add_rag(run)
            for e in run.errors:
                stats.error(f"{name}: {e}")
            if expect not in run.text and not run.errors:
                stats.error(f"{name}: the result ({expect!r}) did not appear")
    except Exception as e:
        stats.error(f"student {i}: {type(e).__name__}: {e}")
    finally:
        for t in tabs.values():
            t.close()


def browsers(n: int, url: str, deadline: float, stats: Stats) -> None:
    """A few real Chromium tabs on the same server (skipped without Debian's chromium)."""
    from bench.appserver import CHROME_ARGS, CHROMIUM

    if not Path(CHROMIUM).exists() or n == 0:
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS)
        pages = [browser.new_page() for _ in range(n)]
        while time.time() < deadline:
            for page in pages:
                for path, marker in (("", "Offline assets"), ("/Tokenization", "characters per token")):
                    t = time.perf_counter()
                    try:
                        page.goto(url + path)
                        page.get_by_text(marker).first.wait_for(timeout=120_000)
                    except Exception as e:
                        stats.error(f"browser {path or '/'}: {type(e).__name__}: {e}")
                    stats.add("browser_page", (time.perf_counter() - t) * 1000)
        browser.close()


def tree_rss(pid: int) -> int:
    """RSS of the server and its children (a fine-tune or GGUF server a page started counts too)."""
    try:
        root = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
    except psutil.Error:
        return 0


def cpu_snapshot(server_pid: int) -> dict:
    """CPU seconds (user + system) so far of each part of a loaded run: the app (Streamlit and what runs in it:
    in-process generation, embeddings, tokenizers), the llama-server it manages, the app's other children, this
    load generator's own threads (the simulated students) and its browsers (Chromium and Playwright's driver)."""
    out = defaultdict(float)

    def cpu(p: psutil.Process) -> float:
        t = p.cpu_times()
        return t.user + t.system  # children_* not added: every child is counted on its own below

    try:
        app = psutil.Process(server_pid)
        out["app"] += cpu(app)
        for c in app.children(recursive=True):
            out["llama_server" if c.name().startswith("llama-server") else "app_other"] += cpu(c)
    except psutil.Error:
        pass
    me = psutil.Process()
    out["load_generator"] += cpu(me)
    for c in me.children(recursive=True):
        if c.pid != server_pid and server_pid not in {a.pid for a in c.parents()}:
            try:
                out["browsers"] += cpu(c)
            except psutil.Error:
                pass
    return dict(out)


def llama_metrics(server_pid: int) -> dict:
    """The managed llama-server's Prometheus counters (``--metrics``), read with its own key from its command
    line (same user, loopback); {} for the in-process engine."""
    import urllib.request

    try:
        for c in psutil.Process(server_pid).children(recursive=True):
            if not c.name().startswith("llama-server"):
                continue
            argv = c.cmdline()
            port, key = argv[argv.index("--port") + 1], Path(argv[argv.index("--api-key-file") + 1]).read_text()
            req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {key}"})
            text = urllib.request.urlopen(req, timeout=5).read().decode()
            return {
                k.split(":", 1)[1]: float(v)
                for k, v in (ln.split() for ln in text.splitlines() if ln.startswith("llamacpp:"))
            }
    except (psutil.Error, OSError, ValueError, IndexError):
        pass
    return {}


def minute(stats: Stats, a: dict, b: dict, ma: dict, mb: dict, start: float, seconds: float) -> dict:
    """Where a loaded minute of the second half went: CPU seconds per minute of each part (2 cores = 120 available),
    the llama-server's counters per minute, and wall seconds per minute of generation and of RAG embeddings as the
    pages report them (replies overlap when batched, so generation seconds can exceed 60)."""
    per_min = 60 / (seconds / 2)
    half = start + seconds / 2
    out = {
        "cpu_s": {k: round((b.get(k, 0) - a.get(k, 0)) * per_min, 1) for k in sorted(set(a) | set(b))},
        "cpu_s_available": 60 * (os.cpu_count() or 1),
        "reply_generation_wall_s": round(sum(g for t, g in stats.gen_s if t >= half) * per_min, 1),
        "rag_query_embedding_s": round(sum(ms for t, ms in stats.embed_ms if t >= half) / 1000 * per_min, 2),
    }
    parts = [p for t, p in stats.turn_parts if t >= half]
    if parts:
        # a chat turn's wall time, p50 of each part: waiting in line, the model's first token (prompt processing),
        # generation (as streamed to the page), and the rest - the page's script and Streamlit around the call
        out["chat_turn_p50_ms"] = {k: round(statistics.median(p[k] for p in parts)) for k in parts[0]}
    if mb:
        keys = ("prompt_tokens_total", "prompt_tokens_cached_total", "tokens_predicted_total", "n_decode_total")
        out["llama_server"] = {k.removesuffix("_total"): round((mb.get(k, 0) - ma.get(k, 0)) * per_min) for k in keys}
        out["llama_server"]["busy_slots_per_decode_whole_run"] = round(mb.get("n_busy_slots_per_decode", 0), 2)
    return out


def summary(ms: list[float], seconds: float) -> dict | None:
    if not ms:
        return None
    return {
        "n": len(ms),
        "per_min": round(len(ms) / seconds * 60, 1),
        "p50_ms": round(statistics.median(ms)),
        "p95_ms": round(sorted(ms)[min(len(ms) - 1, math.ceil(0.95 * len(ms)) - 1)]),
    }  # nearest rank


def chat_figures(stats: Stats, start: float, seconds: float) -> dict:
    """The class-wide chat figures of the second half of the run."""
    half = [(out, ttft) for t, out, ttft in stats.chat if t >= start + seconds / 2]
    span = seconds / 2
    return {
        "chat_tok_s": round(sum(o for o, _ in half) / span, 1) if half else 0.0,
        "chat_ttft_p50_ms": round(statistics.median(t for _, t in half)) if half else None,
        "chat_turns_per_min": round(len(half) / span * 60, 1),
        "reply_tokens_mean": round(statistics.mean(o for o, _ in half), 1) if half else None,
    }


def run_load(n: int, seconds: int, n_browsers: int, think_s: float, log: Path, engine: str | None = None) -> dict:
    """One app server, ``n`` students for ``seconds``; prints the details and returns the summary (last line)."""
    if engine:
        os.environ["LAB_LOCAL_ENGINE"] = engine
    stats = Stats()
    log.parent.mkdir(parents=True, exist_ok=True)
    server, url = appserver.start(log)
    rss: list[tuple[float, int]] = []
    start = time.time()
    deadline = start + seconds
    threads = [threading.Thread(target=student, args=(i, url, deadline, think_s, stats), daemon=True) for i in range(n)]
    threads.append(threading.Thread(target=browsers, args=(n_browsers, url, deadline, stats), daemon=True))
    cpu_half = cpu_end = metrics_half = metrics_end = {}
    try:
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            rss.append((time.time() - start, tree_rss(server.pid)))
            time.sleep(1)
            now = time.time()
            if not cpu_half and now >= start + seconds / 2:
                cpu_half, metrics_half = cpu_snapshot(server.pid), llama_metrics(server.pid)
            if not cpu_end and now >= deadline:
                cpu_end, metrics_end = cpu_snapshot(server.pid), llama_metrics(server.pid)
            if time.time() > deadline + 900:  # a hung session counts as an error, and the run still ends
                stats.error("sessions still running 15 minutes past the deadline")
                break
    finally:
        server.terminate()
        server.wait(timeout=30)
    for line in log.read_text(errors="replace").splitlines():  # what the server logged counts too
        if line.startswith("Traceback") or " ERROR " in line:
            stats.error(f"server log: {line}")
    q = max(1.0, (time.time() - start) / 4)
    # models load during the first quarter: compare the second quarter's peak with the last one's (growth = leak)
    early = max((b for t, b in rss if q <= t <= 2 * q), default=0)
    late = max((b for t, b in rss if t >= 3 * q), default=0)
    p = {a: summary([ms for _, ms in v], seconds) for a, v in stats.lat.items() if v}
    # the second half alone: models and indexes are loaded by then, what a class sees after the first minutes
    half = {a: summary([ms for t, ms in v if t >= start + seconds / 2], seconds / 2) for a, v in stats.lat.items()}
    for e in stats.errors[:10]:
        print("error:", e, file=sys.stderr)
    print(
        json.dumps(
            {
                "engine": engine or os.environ.get("LAB_LOCAL_ENGINE", "auto"),
                "latency": p,
                "latency_second_half": {a: v for a, v in half.items() if v},
                "think_s": think_s,
                "browsers": n_browsers,
                "server_log": str(log),
                "rss_peak_second_quarter": early,
                "rss_peak_last_quarter": late,
                "loaded_minute": minute(stats, cpu_half, cpu_end, metrics_half, metrics_end, start, seconds),
            },
            indent=2,
        )
    )
    return {
        "sessions": n,
        "seconds": seconds,
        "errors": len(stats.errors),
        "p95_ms": {a: v["p95_ms"] for a, v in p.items()},
        "peak_rss_bytes": max((b for _, b in rss), default=0),
        "engine": engine or os.environ.get("LAB_LOCAL_ENGINE", "auto"),
        **chat_figures(stats, start, seconds),
    }


def main() -> None:
    sys.path.insert(0, str(ROOT))
    n = int(os.environ.get("LOAD_SESSIONS", 30))
    seconds = int(os.environ.get("LOAD_SECONDS", 300))
    n_browsers = int(os.environ.get("LOAD_BROWSERS", 3))
    think_s = float(os.environ.get("LOAD_THINK_S", 3))
    log = Path(os.environ.get("LOAD_LOG", ROOT / "test-artifacts" / "load-server.log"))
    engines = [e.strip() for e in os.environ.get("LOAD_ENGINES", "").split(",") if e.strip()]
    if not engines:
        print(json.dumps(run_load(n, seconds, n_browsers, think_s, log)))
        return
    results = {}
    for eng in engines:
        results[eng] = run_load(n, seconds, n_browsers, think_s, log.with_name(f"{log.stem}-{eng}{log.suffix}"), eng)
        print(json.dumps(results[eng]))
    out = {"engines": results}
    if "inprocess" in results and "server" in results and results["inprocess"]["chat_tok_s"]:
        out["chat_tok_s_ratio_server_vs_inprocess"] = round(
            results["server"]["chat_tok_s"] / results["inprocess"]["chat_tok_s"], 2
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
