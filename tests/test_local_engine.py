"""The local provider's engines: building llama-server (command lines only, unless it is already built), engine
selection, the managed server's supervisor (a fake llama-server script: start, health, restart after it dies,
stop), the in-process fallback, and least-busy routing over two loopback engines (LAB_LOCAL_BASE_URLS)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from lab.core.errors import ProviderUnavailable
from lab.llm.base import DEFAULT_SYSTEM, Options, run

FAKE = [sys.executable, str(Path(__file__).parent / "fake_llama_server.py")]
MSGS = [{"role": "user", "content": "Hi"}]


def _drain(gen):
    """Run a generator to its end; (chunks, return value)."""
    out = []
    while True:
        try:
            out.append(next(gen))
        except StopIteration as stop:
            return out, stop.value


# ---------------------------------------------------------------------------------------------- build
def test_build_command_lines_are_portable_static_and_offline(tmp_settings, monkeypatch):
    from lab.gguf import build

    flags = build.cmake_flags("")
    for f in (
        "-DGGML_NATIVE=OFF",
        "-DLLAMA_CURL=OFF",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DLLAMA_BUILD_SERVER=ON",
        "-DLLAMA_USE_PREBUILT_UI=OFF",
        "-DBUILD_SHARED_LIBS=OFF",
    ):
        assert f in flags
    cuda = build.cmake_flags("-DGGML_NATIVE=OFF -DGGML_CUDA=on")
    assert cuda[-1] == "-DGGML_CUDA=on" and cuda.count("-DGGML_NATIVE=OFF") == 1  # CMAKE_ARGS adds, once
    assert build.build_key("0.3.36", flags) != build.build_key("0.3.36", cuda)  # cached per flags
    assert build.build_key("0.3.36", flags) != build.build_key("0.3.37", flags)  # and per version
    b = build.build_dir("0.3.36", flags)
    assert b.parent == tmp_settings.data_dir / "llama.cpp-build"
    conf = build.configure_command("cmake", Path("/src"), b, flags)
    assert conf[:5] == ["cmake", "-S", "/src", "-B", str(b)] and conf[5:] == flags
    cmd = build.build_command("cmake", b, ["llama-server", "llama-bench"], 2)
    assert cmd == [
        "cmake",
        "--build",
        str(b),
        "--config",
        "Release",
        "-j",
        "2",
        "--target",
        "llama-server",
        "llama-bench",
    ]
    monkeypatch.setenv("CMAKE_ARGS", "-DGGML_CUDA=on")
    assert "-DGGML_CUDA=on" in build.cmake_flags()
    assert build.server_binary() is None  # nothing built in tmp


def test_build_says_what_is_missing_without_cmake(tmp_settings, monkeypatch):
    from lab.gguf import build

    monkeypatch.setattr(build, "find_cmake", lambda: None)
    with pytest.raises(ProviderUnavailable, match="cmake is not installed.*in-process"):
        build.build_tools(["llama-server"])
    monkeypatch.setattr(build, "find_cmake", lambda: "/usr/bin/cmake")
    monkeypatch.setattr(build, "find_compiler", lambda: None)
    with pytest.raises(ProviderUnavailable, match="no C\\+\\+ compiler"):
        build.build_tools(["llama-server"])


def test_a_build_counts_only_when_complete(tmp_settings):
    from lab.gguf import build

    d = build.build_dir()
    (d / "bin").mkdir(parents=True)
    (d / "bin" / "llama-server").write_text("#!/bin/sh\n")
    assert build.server_binary() is None  # no .complete: an interrupted build
    (d / ".complete").write_text('{"targets": ["llama-server"]}')
    assert build.server_binary() == d / "bin" / "llama-server"
    assert build.binary("llama-bench") is None
    from lab.core import llamacpp_build  # the lookup lives in core (the local provider asks it there)

    assert (
        build.server_binary is llamacpp_build.server_binary
        and llamacpp_build.server_binary() == d / "bin" / "llama-server"
    )


# ---------------------------------------------------------------------------------------------- selection
def test_engine_selection(tmp_settings, monkeypatch):
    from lab.core import llamacpp_build
    from lab.core.settings import get_settings
    from lab.llm import local

    monkeypatch.setattr(local, "_APP_DEFAULTS", False)
    built = {"path": None}
    monkeypatch.setattr(llamacpp_build, "server_binary", lambda: built["path"])  # where the provider asks
    assert local.engine() == "inprocess"  # nothing built
    built["path"] = Path("/x/llama-server")
    assert local.engine() == "inprocess"  # built, but the CLI stays in-process by default
    local.use_app_defaults()
    assert local.engine() == "server"  # the app: the server when built
    monkeypatch.setenv("LAB_LOCAL_ENGINE", "inprocess")
    get_settings.cache_clear()
    assert local.engine() == "inprocess"
    local.use_app_defaults(False)
    monkeypatch.setenv("LAB_LOCAL_ENGINE", "server")
    get_settings.cache_clear()
    assert local.engine() == "server"  # asked for explicitly, CLI included
    built["path"] = None
    assert local.engine() == "inprocess"  # ...but not built: in-process, and it says so
    assert "in-process" in local.engine_status()["detail"]
    monkeypatch.setenv("LAB_LOCAL_BASE_URLS", "http://10.0.0.5:8080/v1, http://10.0.0.6:8080/v1")
    get_settings.cache_clear()
    assert local.engine() == "remote"
    from lab.llm.router import base_urls

    assert base_urls() == ["http://10.0.0.5:8080/v1", "http://10.0.0.6:8080/v1"]


def test_features_only_in_process_stay_in_process(tmp_settings):
    from lab.llm.local import LocalProvider

    p = LocalProvider()
    assert p._wire_ok(None, Options(), None)
    assert p._wire_ok(None, Options(json_schema={"type": "object"}), None)  # structured output: through the server
    assert not p._wire_ok(None, Options(logprobs=3), None)  # next-token probabilities
    assert not p._wire_ok(None, Options(), [{"type": "function"}])  # tools=
    assert not p._wire_ok(Path("/other/model.gguf"), Options(), None)  # another GGUF


def test_server_args_match_the_brief():
    from lab.llm.llama_server import server_args

    a = server_args("/m/SmolLM2.gguf", parallel=4, n_ctx=4096, threads=2)
    assert a[a.index("--parallel") + 1] == "4" and "--cont-batching" in a and "--no-ui" in a
    assert a[a.index("--ctx-size") + 1] == str(4 * 4096) and "--no-kv-unified" in a  # n_ctx per slot
    assert "--api-key" not in a and "--host" not in a  # added by the supervisor
    assert a[a.index("--log-verbosity") + 1] == "2" and "--metrics" in a  # bounded log; counters for make load


def test_server_logs_stay_bounded(tmp_path):
    import os

    from lab.llm.llama_server import LOG_MAX_BYTES, prune_logs

    mine, fresh, stale = (tmp_path / f"llama-server-{n}.log" for n in (1, 2, 3))
    mine.write_bytes(b"x" * (LOG_MAX_BYTES + 1))
    fresh.write_text("another app process, still running")
    stale.write_text("a process of last month")
    os.utime(stale, (0, 0))
    prune_logs(tmp_path, keep=mine)
    assert not stale.exists() and fresh.exists()  # only week-old logs of other processes go
    assert not mine.exists() and (tmp_path / "llama-server-1.log.1").stat().st_size == LOG_MAX_BYTES + 1


# ---------------------------------------------------------------------------------------------- supervisor
@pytest.fixture
def fake_server(tmp_path):
    from lab.llm.llama_server import ManagedServer

    srv = ManagedServer(FAKE, log_dir=tmp_path, startup_timeout_s=30)
    yield srv
    srv.stop()


def test_managed_server_starts_lazily_answers_restarts_and_stops(fake_server):
    from lab.llm import local
    from lab.llm.llama_server import http_status

    assert fake_server.proc is None  # lazily: nothing before the first use
    base = fake_server.ensure()
    assert base.startswith("http://127.0.0.1:") and base.endswith("/v1") and fake_server.healthy()
    key_file = Path(fake_server.proc.args[-1])
    assert key_file.read_text() == fake_server.api_key and oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert fake_server.api_key not in " ".join(fake_server.proc.args)  # never on the command line
    assert http_status(base + "/models") == 401  # the random key is required
    chunks = list(local._client(base, fake_server.api_key).stream(MSGS, "m", Options(), "label"))
    assert "".join(c.text for c in chunks).startswith("port=")
    assert chunks[-1].usage.completion_tokens == 3 and chunks[-1].usage.ttft_s is not None

    first_pid = fake_server.proc.pid
    os.killpg(first_pid, signal.SIGKILL)  # the server dies
    fake_server.proc.wait(timeout=10)
    assert not fake_server.alive()
    base2 = fake_server.ensure()  # the next request restarts it
    assert fake_server.proc.pid != first_pid and fake_server.restarts == 1 and fake_server.healthy()
    assert list(local._client(base2, fake_server.api_key).stream(MSGS, "m", Options(), "label"))

    pid = fake_server.proc.pid
    fake_server.stop()
    assert not fake_server.alive() and not key_file.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_local_provider_streams_through_the_managed_server_and_survives_a_crash(fake_server, monkeypatch):
    from lab.llm import llama_server, local

    monkeypatch.setattr(local, "engine", lambda: "server")
    monkeypatch.setattr(llama_server, "managed_server", lambda model=None: fake_server)
    p = local.LocalProvider()
    r = run(p, MSGS)
    assert r.text.endswith("schema=no ok") and r.usage.provider == "local" and r.usage.prompt_tokens == 7
    assert r.usage.model.endswith(".gguf")
    r = run(p, MSGS, options=Options(json_schema={"type": "object", "properties": {"a": {"type": "string"}}}))
    assert "schema=yes" in r.text  # response_format json_schema on the wire
    r = run(p, MSGS, options=Options(stream=False))
    assert r.text.endswith("ok") and r.usage.completion_tokens == 3
    os.killpg(fake_server.proc.pid, signal.SIGKILL)
    fake_server.proc.wait(timeout=10)
    assert run(p, MSGS).text.endswith("ok") and fake_server.restarts == 1  # restarted, the student saw nothing


def test_a_server_that_cannot_start_falls_back_in_process(tmp_path, monkeypatch):
    from lab.llm import llama_server, local
    from lab.llm.llama_server import ManagedServer

    broken = ManagedServer(["false"], log_dir=tmp_path, startup_timeout_s=5)
    monkeypatch.setattr(llama_server, "managed_server", lambda model=None: broken)
    monkeypatch.setattr(local, "_FALLBACK_NOTE", None)
    chunks, fell_back = _drain(local.LocalProvider()._stream_server(MSGS, Options()))
    assert chunks == [] and fell_back is True
    assert "exited at start" in local._FALLBACK_NOTE


# ---------------------------------------------------------------------------------------------- routing
@pytest.fixture
def two_engines(tmp_path):
    from lab.llm.llama_server import ManagedServer

    servers = [
        ManagedServer(FAKE + ["--delay", "0.05"], log_dir=tmp_path / str(i), startup_timeout_s=30) for i in (0, 1)
    ]
    for s in servers:
        s.ensure()
    yield servers
    for s in servers:
        s.stop()


def test_router_picks_the_least_busy_engine_and_skips_a_dead_one(two_engines):
    from lab.llm.router import Engine, Router

    a, b = (Engine(s.base_url, s.api_key) for s in two_engines)
    r = Router([a, b], retry_s=60)
    e1 = r.acquire()
    e2 = r.acquire()
    assert {e1.base_url, e2.base_url} == {a.base_url, b.base_url}  # one busy: the other is chosen
    r.release(e1)
    assert r.acquire() is e1  # e1 is free again, e2 is still busy
    r.release(e1)
    r.release(e2)
    r.mark_down(a)  # a failed: skipped for retry_s
    assert all(r.acquire() is b for _ in range(3))
    two_engines[1].stop()  # b dies too: a is rechecked and used
    a.down_until = 0.0
    assert r.acquire() is a


def test_local_provider_routes_over_lab_local_base_urls(two_engines, tmp_settings, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from lab.core.settings import get_settings
    from lab.llm import router
    from lab.llm.local import LocalProvider

    key = two_engines[0].api_key
    two_engines[1].api_key = key  # one deployment key for both engines (LAB_LOCAL_API_KEY)
    two_engines[1].stop()
    two_engines[1].ensure()
    ports = [str(s.port) for s in two_engines]
    monkeypatch.setenv("LAB_LOCAL_BASE_URLS", ",".join(s.base_url for s in two_engines))
    monkeypatch.setenv("LAB_LOCAL_API_KEY", key)
    get_settings.cache_clear()
    monkeypatch.setattr(router, "_ROUTER", None)
    p = LocalProvider()
    with ThreadPoolExecutor(4) as pool:
        texts = list(pool.map(lambda _: run(p, MSGS).text, range(8)))
    seen = {t.split()[0].removeprefix("port=") for t in texts}
    assert seen == set(ports)  # both engines served
    assert run(p, MSGS).usage.model == "fake-model"  # the engine's own model id
    two_engines[0].stop()  # one engine goes away
    texts = [run(p, MSGS).text for _ in range(4)]
    assert all(t.startswith(f"port={ports[1]}") for t in texts)  # no error: the other answers


def test_an_engine_answering_500_is_marked_down_and_the_request_goes_elsewhere(tmp_path, tmp_settings, monkeypatch):
    """bench.routers found it: a 5xx was a ProviderError, so the failing engine was never marked down, and as the one
    that failed fastest it looked least busy and drew every request while it failed."""
    from lab.core.settings import get_settings
    from lab.llm import router
    from lab.llm.llama_server import ManagedServer
    from lab.llm.local import LocalProvider

    bad = ManagedServer(FAKE + ["--fail", "500"], log_dir=tmp_path / "bad", startup_timeout_s=30)
    good = ManagedServer(FAKE, log_dir=tmp_path / "good", startup_timeout_s=30)
    good.api_key = bad.api_key
    try:
        bad.ensure(), good.ensure()
        monkeypatch.setenv("LAB_LOCAL_BASE_URLS", f"{bad.base_url},{good.base_url}")
        monkeypatch.setenv("LAB_LOCAL_API_KEY", bad.api_key)
        get_settings.cache_clear()
        monkeypatch.setattr(router, "_ROUTER", None)
        p = LocalProvider()
        texts = [run(p, MSGS).text for _ in range(6)]  # no error reaches the student
        assert all(t.startswith(f"port={good.port}") for t in texts)
        status = {e["base_url"]: e for e in router.shared_router().status()}
        assert status[bad.base_url]["up"] is False and status[bad.base_url]["served"] == 1  # tried once, then skipped
    finally:
        bad.stop(), good.stop()


def test_a_reply_cut_off_mid_stream_is_an_error_that_keeps_what_arrived(tmp_path):
    from lab.core.errors import ProviderUnavailable
    from lab.llm.llama_server import ManagedServer

    srv = ManagedServer(FAKE + ["--cut-after", "1"], log_dir=tmp_path, startup_timeout_s=30)
    try:
        srv.ensure()
        with pytest.raises(ProviderUnavailable, match="stopped mid-reply") as e:
            run(_WireProvider(srv), MSGS)
        assert e.value.partial_text == f"port={srv.port}" and e.value.started  # not a silently short answer
    finally:
        srv.stop()


class _WireProvider:
    """The wire client alone as a provider (what the managed-server and routed paths stream through)."""

    name = "local"

    def __init__(self, srv):
        self.srv = srv

    def default_model(self) -> str:
        return "m"

    def stream(self, messages, model=None, options=None, tools=None):
        from lab.llm import local

        yield from local._client(self.srv.base_url, self.srv.api_key).stream(messages, "m", options or Options(), "m")


# ---------------------------------------------------------------------------------------------- the real binary
@pytest.mark.slow
def test_real_llama_server_streams_a_reply_when_built():
    from lab.core.llamacpp_build import server_binary

    if server_binary() is None:
        pytest.skip("llama-server is not built: `python -m lab gguf build-server` (make run/test build it once)")
    from lab.llm import llama_server, local

    srv = llama_server.managed_server()
    try:
        base = srv.ensure()
        chunks = list(
            local._client(base, srv.api_key).stream(
                [
                    {"role": "system", "content": DEFAULT_SYSTEM},
                    {"role": "user", "content": "What is the capital of France?"},
                ],
                "local",
                Options(temperature=0, max_tokens=24),
                "SmolLM2",
            )
        )
        text = "".join(c.text for c in chunks)
        assert "Paris" in text and chunks[-1].usage.completion_tokens > 0 and chunks[-1].usage.ttft_s < 30
        schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        chunks = list(
            local._client(base, srv.api_key).stream(
                [{"role": "user", "content": "Capital of France as JSON"}],
                "local",
                Options(temperature=0, max_tokens=40, json_schema=schema),
                "SmolLM2",
            )
        )
        import json

        assert isinstance(json.loads("".join(c.text for c in chunks))["city"], str)  # decoded under the schema
    finally:
        srv.stop()
