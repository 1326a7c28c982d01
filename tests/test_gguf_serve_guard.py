"""`lab gguf serve` off loopback: refused without an API key, warned with one; checked before any model loads."""

from __future__ import annotations

import socket

import pytest

from lab.cli import main
from lab.core.errors import InputError
from lab.gguf import server

KEY = "k3y-for-tests-0123456789"


@pytest.mark.parametrize(
    "host,loopback",
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host, loopback):
    assert server.is_loopback(host) is loopback


def test_non_loopback_needs_a_long_key_and_warns():
    assert server.check_exposure("127.0.0.1", None) is None
    with pytest.raises(InputError, match="--api-key"):
        server.check_exposure("0.0.0.0", None)
    with pytest.raises(InputError, match="shorter than"):
        server.check_exposure("0.0.0.0", "short")
    warning = server.check_exposure("0.0.0.0", KEY)
    assert warning.startswith("warning:") and "reachable from other machines" in warning and KEY not in warning


def test_cli_refuses_an_unguarded_public_host(capsys, monkeypatch):
    monkeypatch.delenv(server.API_KEY_ENV, raising=False)
    assert main(["gguf", "serve", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Listening on 0.0.0.0") and "--api-key" in err and len(err.strip().splitlines()) == 1


def test_cli_key_from_the_environment_passes_the_guard(capsys, monkeypatch, tmp_path):
    """With a key (flag or LAB_GGUF_API_KEY) the host check passes; a bad model file then stops it, not the host."""
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x01" * 64)
    monkeypatch.setenv(server.API_KEY_ENV, KEY)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["gguf", "serve", "--host", "0.0.0.0", "--port", str(port), "--model", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "damaged" in err and "api-key" not in err and KEY not in err


def test_start_refuses_a_public_host_without_a_key(tmp_path):
    with pytest.raises(InputError, match="--api-key"):
        server.start(tmp_path / "any.gguf", host="0.0.0.0", port=9)
    assert server.running() == []


@pytest.mark.parametrize("host", ["[::1", "no such host", "http://x"])
def test_a_malformed_host_is_a_clear_error(host):
    with pytest.raises(InputError, match="not an address this machine can listen on"):
        server.check_port_free(host, 8080)
