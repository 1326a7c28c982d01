"""The command line, run as a user runs it (a subprocess)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def lab(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True, timeout=timeout)


def test_help_lists_commands():
    out = lab("--help")
    assert out.returncode == 0 and "chat" in out.stdout and "assets" in out.stdout


@pytest.mark.slow
def test_chat_answers_offline_with_paris():
    out = lab("chat", "What is the capital of France?")
    assert out.returncode == 0, out.stderr
    answer, usage = out.stdout.strip().rsplit("\n", 1)
    assert "Paris" in answer
    assert usage.startswith("usage: local/") and "tok/s" in usage


def test_chat_errors_are_one_clear_line(no_keys):
    out = lab("chat", "--provider", "openai", "hi")
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "error: The openai provider needs an API key: set OPENAI_API_KEY in the environment "
        "(or .streamlit/secrets.toml), or paste one in the sidebar."
    )


def test_chat_rejects_empty_prompt():
    out = lab("chat", "   ")
    assert out.returncode == 2 and "empty" in out.stderr


def test_chat_rejects_out_of_range_option():
    out = lab("chat", "--temperature", "9", "hi")
    assert out.returncode == 2 and "temperature" in out.stderr
