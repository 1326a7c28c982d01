"""The project's router (``lab/llm/router.py`` behind ``LocalProvider``, the ``LAB_LOCAL_BASE_URLS`` path) against
LiteLLM's ``Router`` (``routing_strategy="least-busy"``), on the same loopback fake engines, to decide issue 22's
"a kept router if it measures better".

The engines are small OpenAI-compatible SSE servers this module starts as subprocesses (``--serve``): each has
``--slots`` (like llama-server's ``--parallel``; more requests wait in line), a time to first token and a delay per
token, names itself in its first token, can be switched to answer 500 (``POST /_ctl?fail=1``; ``/health`` then
says 503, as llama-server does while it cannot serve) and can be killed and restarted. No model, no GPU, little CPU.

Scenarios, the same for each router, a fresh set of engines for each:

- ``overhead``: one engine that answers at once; sequential requests through the router vs the plain ``openai``
  client to the same engine (ms added per request), then ``--concurrency`` at once (requests per second);
- ``balance``: three engines, the third 2x slower, ``--requests`` requests ``--concurrency`` at once: requests per
  engine (capacity says 40/40/20 %), p50/p95 of the whole reply and of the first token, requests per second;
- ``fail500``: three engines, the second answers 500 from t=3 s to t=7 s: errors the caller sees, 500s the failing
  engine served (how fast traffic leaves it), seconds from its recovery to its next answered request;
- ``die``: the same with the second engine killed (SIGKILL) at t=3 s and restarted at t=7 s: errors split into
  before / after the first token (a reply cut mid-stream cannot be retried by either router).

Both routers are configured alike: a failed engine is skipped for ``--cooldown`` seconds (ours: ``retry_s``;
LiteLLM: ``cooldown_time`` with ``allowed_fails=0``), a request that fails before its first token is tried on the
other engines (LiteLLM: ``num_retries`` = engines - 1). ``--footprint`` adds import time, RSS, install size and the
network connections the library attempts at import and first call (non-loopback ones are refused and listed).

    python -m bench.routers [--router ours|litellm|both] [--requests 300] [--concurrency 24] [--cooldown 5]
                            [--scenarios overhead,balance,fail500,die] [--footprint]

The project does not depend on LiteLLM: with the project's venv the LiteLLM part is skipped with a message. To
measure it, use a separate venv (the engines and this harness need only the standard library there):

    python3 -m venv /tmp/litellm-venv && /tmp/litellm-venv/bin/pip install litellm openai
    /tmp/litellm-venv/bin/python -m bench.routers --router litellm --footprint      # from the repository root
    .venv/bin/python -m bench.routers --router ours --footprint

LiteLLM is run with ``LITELLM_LOCAL_MODEL_COST_MAP=True`` unless ``--litellm-online`` (otherwise it fetches its
model price list from GitHub at import).

Last line: one JSON object
{"<router>": {"overhead": {"direct_ms", "router_ms", "added_ms", "direct_rps", "router_rps"},
              "balance": {"served", "share", "errors", "e2e_p50_ms", "e2e_p95_ms", "ttft_p50_ms", "ttft_p95_ms", "rps"},
              "fail500": {..., "fail_500s_served", "last_500_after_s", "back_after_s"},
              "die": {..., "errors_before_first_token", "errors_mid_stream", "back_after_s"},
              "footprint": {"import_s", "rss_added_mb", "connections", ...}} | {"skipped": "why"}}
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Callable, Iterable

KEY = "bench-key"
MODEL = "fake-model"
MSGS = [{"role": "user", "content": "Say something."}]


# ---------------------------------------------------------------------------------------------- the fake engine
def serve(argv: list[str]) -> None:
    """One fake OpenAI-compatible engine (run as a subprocess by :class:`Engines`)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name", default="e1")
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--delay", type=float, default=0.025, help="seconds per token")
    ap.add_argument("--ttft", type=float, default=0.05, help="seconds before the first token (prompt processing)")
    ap.add_argument("--slots", type=int, default=4)
    a = ap.parse_args(argv)
    slots = threading.BoundedSemaphore(a.slots)
    state = {"fail": False}
    log: list[tuple[float, int]] = []  # (wall time, status) per chat request

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_a):
            pass

        def _send(self, status: int, obj: dict) -> None:
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path in ("/health", "/v1/health"):
                return self._send(503 if state["fail"] else 200, {"status": "error" if state["fail"] else "ok"})
            if self.path == "/v1/models":
                return self._send(200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
            if self.path == "/_stats":
                return self._send(200, {"log": log})
            self._send(404, {"error": {"message": "not found"}})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            if self.path.startswith("/_ctl"):
                state["fail"] = "fail=1" in self.path
                return self._send(200, state)
            if self.path != "/v1/chat/completions":
                return self._send(404, {"error": {"message": "not found"}})
            if state["fail"]:
                log.append((time.time(), 500))
                return self._send(500, {"error": {"message": "engine failing", "type": "server_error"}})
            log.append((time.time(), 200))
            with slots:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                base = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": MODEL}

                def event(obj: dict) -> None:
                    self.wfile.write(b"data: " + json.dumps(base | obj).encode() + b"\n\n")
                    self.wfile.flush()

                n = min(a.tokens, int(body.get("max_tokens") or a.tokens))
                time.sleep(a.ttft)
                for i in range(n):
                    if i:
                        time.sleep(a.delay)
                    piece = f"[{a.name}] " if i == 0 else "tok "
                    event({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
                event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                usage = {"prompt_tokens": 7, "completion_tokens": n, "total_tokens": 7 + n}
                event({"choices": [], "usage": usage})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            self.close_connection = True

    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    srv.serve_forever()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(url: str, method: str = "GET", timeout: float = 2.0) -> dict | None:
    try:
        req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


class Engines:
    """Fake engines as subprocesses: ``specs`` is a list of (name, delay per token, slots)."""

    def __init__(self, specs: list[tuple[str, float, int]], tokens: int, ttft: float) -> None:
        self.specs, self.tokens, self.ttft = specs, tokens, ttft
        self.ports = [_free_port() for _ in specs]
        self.procs: list[subprocess.Popen | None] = [None] * len(specs)
        for i in range(len(specs)):
            self.start(i)

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}/v1" for p in self.ports]

    def start(self, i: int) -> None:
        name, delay, slots = self.specs[i]
        cmd = [sys.executable, "-m", "bench.routers", "--serve", "--port", str(self.ports[i]), "--name", name]
        cmd += ["--delay", str(delay), "--slots", str(slots), "--tokens", str(self.tokens), "--ttft", str(self.ttft)]
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.procs[i] = subprocess.Popen(cmd, cwd=here)
        deadline = time.time() + 15
        while _http(f"http://127.0.0.1:{self.ports[i]}/health") is None:
            if time.time() > deadline:
                raise RuntimeError(f"fake engine {name} did not start")
            time.sleep(0.05)

    def kill(self, i: int) -> None:
        p = self.procs[i]
        if p is not None:
            p.send_signal(signal.SIGKILL)
            p.wait()
            self.procs[i] = None

    def fail(self, i: int, on: bool) -> None:
        _http(f"http://127.0.0.1:{self.ports[i]}/_ctl?fail={int(on)}", "POST")

    def log(self, i: int) -> list[tuple[float, int]]:
        return (_http(f"http://127.0.0.1:{self.ports[i]}/_stats") or {}).get("log", [])

    def close(self) -> None:
        for i in range(len(self.procs)):
            self.kill(i)


# ---------------------------------------------------------------------------------------------- the callers
Caller = Callable[[], Iterable[str]]  # one streamed chat request: yields the text pieces


def direct_caller(url: str, tokens: int) -> Caller:
    """The plain openai client to one engine: the baseline for the routers' overhead."""
    import openai

    client = openai.OpenAI(base_url=url, api_key=KEY, max_retries=0)

    def call() -> Iterable[str]:
        stream = client.chat.completions.create(model=MODEL, messages=MSGS, stream=True, max_tokens=tokens)
        return (c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content)

    return call


def ours_caller(urls: list[str], tokens: int, cooldown: float) -> tuple[Caller, Callable[[], None]]:
    """The app's own path: ``LocalProvider.stream`` → ``_stream_remote`` → ``lab.llm.router.Router``."""
    from lab.llm import local
    from lab.llm import router as rt
    from lab.llm.base import Options

    r = rt.Router([rt.Engine(u, KEY) for u in urls], retry_s=cooldown)
    saved = (rt.shared_router, local.engine)
    rt.shared_router = lambda: r  # this process only: the engines under test, not LAB_LOCAL_BASE_URLS
    local.engine = lambda: "remote"
    provider = local.LocalProvider()
    opts = Options(max_tokens=tokens, temperature=0.0)

    def call() -> Iterable[str]:
        return (c.text for c in provider.stream(MSGS, options=opts) if c.text)

    def undo() -> None:
        rt.shared_router, local.engine = saved

    return call, undo


def litellm_caller(urls: list[str], tokens: int, cooldown: float) -> tuple[Caller, Callable[[], None]]:
    """LiteLLM's Router as its docs configure it: one model group, one deployment per engine, least-busy."""
    import litellm
    from litellm import Router

    litellm.suppress_debug_info = True
    model_list = [
        {
            "model_name": "local",
            "litellm_params": {"model": f"openai/{MODEL}", "api_base": u, "api_key": KEY, "timeout": 60},
            "model_info": {"id": f"e{i + 1}"},
        }
        for i, u in enumerate(urls)
    ]
    router = Router(
        model_list=model_list,
        routing_strategy="least-busy",
        num_retries=len(urls) - 1,
        allowed_fails=0,
        cooldown_time=cooldown,
        retry_after=0,
    )

    def call() -> Iterable[str]:
        stream = router.completion(model="local", messages=MSGS, stream=True, max_tokens=tokens)
        return (c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content)

    return call, lambda: None


# ---------------------------------------------------------------------------------------------- the workload
def drive(
    call: Caller,
    concurrency: int,
    expect: int = 0,
    n: int | None = None,
    duration: float | None = None,
    events: tuple[tuple[float, Callable[[], None]], ...] = (),
) -> tuple[list[dict], float]:
    """Run requests ``concurrency`` at once (``n`` in all, or for ``duration`` s); ``events`` at their times.
    Each record: t0 (s from start), engine, ttft, e2e, whether it came back short of ``expect`` pieces without an
    error (an engine killed mid-stream closes the connection: the SSE stream just ends), or the error and whether
    text had come before it."""
    out: list[dict] = []
    count = itertools.count()
    t_start = time.time()

    def one() -> dict:
        t0, got, rec = time.time(), 0, {}
        rec["t0"] = t0 - t_start
        try:
            for piece in call():
                got += 1
                if got == 1:
                    got = True
                    rec["ttft"] = time.time() - t0
                    rec["engine"] = piece.strip().strip("[]") if piece.startswith("[") else "?"
            rec["e2e"] = time.time() - t0
            rec["short"] = got < expect
        except Exception as e:  # noqa: BLE001 - the caller's view: every failure counts
            rec["error"] = type(e).__name__
            rec["started"] = got > 0
        return rec

    def worker() -> None:
        while True:
            i = next(count)
            if n is not None and i >= n:
                return
            if duration is not None and time.time() - t_start >= duration:
                return
            out.append(one())

    def timeline() -> None:
        for at, fn in events:
            time.sleep(max(0.0, at - (time.time() - t_start)))
            fn()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    if events:
        threads.append(threading.Thread(target=timeline, daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out, t_start


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return round(1000 * xs[min(len(xs) - 1, int(q * len(xs)))], 1)


def summarize(recs: list[dict], wall: float) -> dict:
    ok = [r for r in recs if "error" not in r]
    served: dict[str, int] = {}
    for r in ok:
        served[r["engine"]] = served.get(r["engine"], 0) + 1
    errs = [r for r in recs if "error" in r]
    return {
        "requests": len(recs),
        "served": dict(sorted(served.items())),
        "share": {k: round(v / max(1, len(ok)), 3) for k, v in sorted(served.items())},
        "errors": len(errs),
        "errors_before_first_token": sum(1 for r in errs if not r["started"]),
        "errors_mid_stream": sum(1 for r in errs if r["started"]),
        "error_types": sorted({r["error"] for r in errs}),
        "truncated_no_error": sum(1 for r in ok if r.get("short")),
        "e2e_p50_ms": _pct([r["e2e"] for r in ok], 0.5),
        "e2e_p95_ms": _pct([r["e2e"] for r in ok], 0.95),
        "ttft_p50_ms": _pct([r["ttft"] for r in ok], 0.5),
        "ttft_p95_ms": _pct([r["ttft"] for r in ok], 0.95),
        "rps": round(len(ok) / wall, 1),
    }


def run_scenarios(name: str, make, args) -> dict:
    """``make(urls, tokens, cooldown)`` → (call, undo) for the router under test."""
    out: dict = {}
    scen = args.scenarios.split(",")
    d = args.delay
    if "overhead" in scen:
        eng = Engines([("e1", 0.0, 64)], args.tokens, 0.0)
        try:
            direct = direct_caller(eng.urls[0], args.tokens)
            call, undo = make(eng.urls, args.tokens, args.cooldown)
            res = {}
            for label, c in (("direct", direct), ("router", call)) * 3:
                drive(c, 1, n=10)  # warm: connections, imports, first-call setup
                recs, t0 = drive(c, 1, n=args.seq)
                res[label + "_ms"] = min(res.get(label + "_ms", 1e9), statistics.mean(r["e2e"] for r in recs) * 1000)
                recs, t0 = drive(c, args.concurrency, n=args.requests)
                res[label + "_rps"] = max(res.get(label + "_rps", 0), summarize(recs, time.time() - t0)["rps"])
            res = {k: round(v, 2) for k, v in res.items()}
            res["added_ms"] = round(res["router_ms"] - res["direct_ms"], 2)
            undo()
        finally:
            eng.close()
        out["overhead"] = res
        print(f"{name} overhead: {res}", flush=True)
    if "balance" in scen:
        eng = Engines([("e1", d, 4), ("e2", d, 4), ("e3", 2 * d, 4)], args.tokens, args.ttft)
        try:
            call, undo = make(eng.urls, args.tokens, args.cooldown)
            drive(call, 3, n=6)
            recs, t0 = drive(call, args.concurrency, args.tokens, n=args.requests)
            out["balance"] = summarize(recs, time.time() - t0)
            undo()
        finally:
            eng.close()
        print(f"{name} balance: {out['balance']}", flush=True)
    for kind in ("fail500", "die"):
        if kind not in scen:
            continue
        eng = Engines([("e1", d, 4), ("e2", d, 4), ("e3", d, 4)], args.tokens, args.ttft)
        t_down, t_up = 3.0, 7.0
        try:
            call, undo = make(eng.urls, args.tokens, args.cooldown)
            drive(call, 3, n=6)
            if kind == "fail500":
                events = ((t_down, lambda e=eng: e.fail(1, True)), (t_up, lambda e=eng: e.fail(1, False)))
            else:
                events = ((t_down, lambda e=eng: e.kill(1)), (t_up, lambda e=eng: e.start(1)))
            duration = t_up + args.cooldown + 4
            recs, t0 = drive(call, args.concurrency, args.tokens, duration=duration, events=events)
            res = summarize(recs, time.time() - t0)
            back = [r["t0"] for r in recs if r.get("engine") == "e2" and r["t0"] >= t_up]
            res["back_after_s"] = round(min(back) - t_up, 2) if back else None
            during = [r for r in recs if t_down <= r["t0"] < t_up + args.cooldown and "error" not in r]
            res["e2e_p95_ms_while_down"] = _pct([r["e2e"] for r in during], 0.95)
            if kind == "fail500":
                fails = [t - t0 for t, s in eng.log(1) if s == 500]
                res["fail_500s_served"] = len(fails)
                res["last_500_after_s"] = round(max(fails) - t_down, 2) if fails else None
            out[kind] = res
            undo()
        finally:
            eng.close()
        print(f"{name} {kind}: {out[kind]}", flush=True)
    return out


# ---------------------------------------------------------------------------------------------- footprint
_PROBE = r"""
import json, os, socket, sys, time
tried = []
_gai, _conn = socket.getaddrinfo, socket.socket.connect
def gai(host, *a, **k):
    if host not in ("127.0.0.1", "localhost", "::1", None):
        tried.append(str(host)); raise socket.gaierror("blocked by bench.routers")
    return _gai(host, *a, **k)
def conn(self, addr):
    if isinstance(addr, tuple) and addr[0] not in ("127.0.0.1", "::1"):
        tried.append(str(addr)); raise OSError("blocked by bench.routers")
    return _conn(self, addr)
socket.getaddrinfo, socket.socket.connect = gai, conn
def rss():  # VmRSS now: ru_maxrss would carry the parent's peak across fork
    return int(next(x for x in open("/proc/self/status") if x.startswith("VmRSS")).split()[1]) / 1024
t = time.perf_counter(); import openai; base_s = time.perf_counter() - t; base_rss = rss()
t = time.perf_counter()
exec(sys.argv[1])
import_s = time.perf_counter() - t; at_import = list(tried); import_rss = rss()
exec(sys.argv[2])
print(json.dumps({"openai_import_s": round(base_s, 3), "import_s": round(import_s, 3),
                  "rss_openai_mb": round(base_rss, 1), "rss_added_mb": round(import_rss - base_rss, 1),
                  "rss_after_first_call_mb": round(rss(), 1),
                  "connections_at_import": sorted(set(at_import)), "connections": sorted(set(tried))}))
"""

_FIRST = {
    "ours": (
        "import lab.llm.router, lab.llm.local",
        "from bench.routers import ours_caller\nc, _ = ours_caller([URL], 4, 5)\nlist(c())",
    ),
    "litellm": (
        "import litellm\nfrom litellm import Router",
        "from bench.routers import litellm_caller\nc, _ = litellm_caller([URL], 4, 5)\nlist(c())",
    ),
}


def _dist_closure(root: str) -> set[str]:
    import importlib.metadata as md
    import re

    seen: set[str] = set()
    todo = [root]
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        seen.add(name)
        for req in dist.requires or []:
            if "extra ==" in req:
                continue
            m = re.match(r"[A-Za-z0-9._-]+", req)
            if m:
                todo.append(m.group(0))
    return seen


def _size_mb(names: set[str]) -> float:
    import importlib.metadata as md

    total = 0
    for n in names:
        for f in md.distribution(n).files or []:
            total += f.size or 0
    return round(total / 1e6, 1)


def footprint(name: str, online: bool) -> dict:
    eng = Engines([("e1", 0.0, 8)], 4, 0.0)
    try:
        env = dict(os.environ)
        if name == "litellm" and not online:
            env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
        imp, first = _FIRST[name]
        first = f"URL = {eng.urls[0]!r}\n" + first
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = here + os.pathsep + env.get("PYTHONPATH", "")
        runs = []
        for _ in range(3):
            p = subprocess.run([sys.executable, "-c", _PROBE, imp, first], capture_output=True, text=True, env=env)
            if p.returncode:
                return {"error": p.stderr[-800:]}
            runs.append(json.loads(p.stdout.strip().splitlines()[-1]))
    finally:
        eng.close()
    res = min(runs, key=lambda r: r["import_s"])
    if name == "litellm":
        import importlib.metadata as md

        closure, base = _dist_closure("litellm"), _dist_closure("openai")
        meta = md.distribution("litellm").metadata
        res |= {
            "version": md.version("litellm"),
            "license": meta.get("License-Expression") or meta.get("License"),
            "dists_added": len(closure - base),
            "install_mb_added": _size_mb(closure - base),
            "install_mb_with_openai": _size_mb(closure),
        }
    return res


# ---------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve"]:
        return serve(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--router", choices=["ours", "litellm", "both"], default="both")
    ap.add_argument("--scenarios", default="overhead,balance,fail500,die")
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--seq", type=int, default=100, help="sequential requests for the overhead")
    ap.add_argument("--concurrency", type=int, default=24)
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--delay", type=float, default=0.025, help="seconds per token of a fast engine")
    ap.add_argument("--ttft", type=float, default=0.05)
    ap.add_argument("--cooldown", type=float, default=5.0, help="seconds a failed engine is skipped")
    ap.add_argument("--footprint", action="store_true", help="also import time, RSS, install size, connections")
    ap.add_argument("--litellm-online", action="store_true", help="let LiteLLM fetch its cost map at import")
    args = ap.parse_args(argv)
    result: dict = {}
    for name in ("ours", "litellm") if args.router == "both" else (args.router,):
        if name == "litellm":
            if not args.litellm_online:
                os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            try:
                import litellm  # noqa: F401 - only to know whether it is there
            except ImportError:
                why = "litellm is not installed in this interpreter (see this module's docstring for its venv)"
                print(f"litellm: skipped: {why}", flush=True)
                result[name] = {"skipped": why}
                continue
            make = litellm_caller
        else:
            try:
                import lab.llm.local  # noqa: F401
            except ImportError as e:
                result[name] = {"skipped": f"the project does not import here: {e}"}
                print(f"ours: skipped: {e}", flush=True)
                continue
            make = ours_caller
        result[name] = run_scenarios(name, make, args)
        if args.footprint:
            result[name]["footprint"] = footprint(name, args.litellm_online)
            print(f"{name} footprint: {result[name]['footprint']}", flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
