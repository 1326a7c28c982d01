"""Two students on one server: one never sees the other's history, database or pasted key."""

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
    alice = AppTest.from_file(str(ROOT / "pages/1_Prompting.py"), default_timeout=300).run()
    bob = AppTest.from_file(str(ROOT / "pages/1_Prompting.py"), default_timeout=300).run()
    alice.text_input(key="memory.user").set_value("My name is Alice and I want a belt.")
    alice.button(key="memory.send").click().run()
    assert not alice.exception
    assert "Alice" in _chat_texts(alice)
    bob.run()
    assert "Alice" not in _chat_texts(bob)
    assert bob.session_state["conversation"].turns == []


def test_pasted_key_stays_in_its_session(no_keys):
    alice = AppTest.from_file(str(ROOT / "pages/1_Prompting.py"), default_timeout=300).run()
    alice.selectbox(key="provider").set_value("openai").run()
    alice.text_input(key="_pasted_key_openai").set_value("sk-alice-only-123456").run()
    bob = AppTest.from_file(str(ROOT / "pages/1_Prompting.py"), default_timeout=300).run()
    bob.selectbox(key="provider").set_value("openai").run()
    assert "_pasted_key_openai" not in bob.session_state or not bob.session_state["_pasted_key_openai"]
    import os

    assert "sk-alice-only-123456" not in os.environ.values()   # never moved into the shared environment


def test_flightai_bookings_are_per_session(no_keys):
    a = AppTest.from_file(str(ROOT / "pages/3_Tools.py"), default_timeout=300).run()
    b = AppTest.from_file(str(ROOT / "pages/3_Tools.py"), default_timeout=300).run()
    from lab.config import get_settings
    from lab.flightai import FlightDB

    ids = a.session_state["_session_id"], b.session_state["_session_id"]
    assert ids[0] != ids[1]
    folder = get_settings().data_dir / "flightai"
    db_a, db_b = FlightDB(folder / f"{ids[0]}.db"), FlightDB(folder / f"{ids[1]}.db")
    db_a.book_flight("Ada Lovelace", "London", "Paris", datetime.date(2030, 5, 1))
    assert len(db_a.bookings()) == 1 and db_b.bookings() == []
