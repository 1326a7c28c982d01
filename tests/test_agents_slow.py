"""The deal hunter with its real models, offline (slow): SmolLM2 scans and writes, the base SmolLM2 GGUF is the
specialist (no fine-tune run in a fresh data dir: labelled so), SmolLM2 + chromadb is the frontier, MiniLM + random
forest the third member. The first cycle fits the ensemble (the lab prices 60 held-out items per member; here 12,
to keep CI's time in bounds - the fit's arithmetic is tested on synthetic data in test_agents.py), the second reuses
it. Three cycles without a repeat are tested with scripted models in test_agents.py. The lab's goal is <= 60 s per warm cycle on 2 idle cores (README); the bound
asserted here is looser, because CI shares its cores.
"""

from __future__ import annotations

import time

import pytest

from lab.agents.framework import canonical_url

pytestmark = pytest.mark.slow


def test_offline_cycles_with_every_member(lab_data, tmp_path, monkeypatch):
    from lab.agents import ensemble
    from lab.agents.cycle import run_cycle
    from lab.llm import get_provider

    monkeypatch.setattr(ensemble, "HOLDOUT", 12)

    provider = get_provider("local")
    seen, times = [], []
    for _ in range(2):
        t0 = time.perf_counter()
        out = run_cycle("fixed", provider, folder=tmp_path / "state", threshold=0.0)
        times.append(time.perf_counter() - t0)
        assert out.scan["entries"] == 51 and out.scan["distinct"] >= 40
        assert len(out.opportunities) == 5
        for o in out.opportunities:
            assert set(o["members"]) == {"specialist", "frontier", "random_forest"}
            assert o["members"]["random_forest"] is not None and o["estimate"] >= 0
        assert "NOT fine-tuned" in out.members["specialist"]  # said, never hidden
        assert out.notified and out.notified[0]["channels"] == ["inbox"]
        seen += [canonical_url(o["url"]) for o in out.opportunities]
    assert len(seen) == len(set(seen)) == 10
    assert max(times[1:]) < 180, times
