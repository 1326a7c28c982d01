"""Every upload field, driven headless through its page: an upload is content only, a bad one is a message on the
page (never a traceback, never the content of a file on the server).

Fields: Fine-tune's run-config YAML, the GGUF Runner's .gguf, the Pricer's CSV/JSONL, Fine-tune -> OpenAI's JSONL.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGES = Path(__file__).resolve().parent.parent / "app_pages"
SECRET = "sk-page-upload-secret-0123456789"


def _uploader(at, key=None):
    ups = list(at.get("file_uploader"))
    return next(u for u in ups if key is None or u.key == key)


def _texts(at) -> str:
    """Everything the page shows as text (errors, warnings, markdown, captions, code, metrics...)."""
    parts = []
    for kind in (
        "error",
        "warning",
        "info",
        "success",
        "markdown",
        "caption",
        "code",
        "text",
        "exception",
        "text_input",
        "number_input",
    ):
        for el in at.get(kind):
            parts.append(str(getattr(el, "value", "")) + str(getattr(el, "message", "")))
    return "\n".join(parts)


def _upload(at, key, name: str, data: bytes, mime: str):
    _uploader(at, key).set_value((name, data, mime))
    return at.run()


# ---------------------------------------------------------------------------------------------- Fine-tune YAML
@pytest.fixture
def secret_yaml(tmp_path, monkeypatch):
    """A YAML file on the 'server' whose path a student types into an upload: its values must never show."""
    p = tmp_path / "deployment.yaml"
    p.write_text(f"lora_r: 8\nopenai_api_key: {SECRET}\npassword: hunter2-hunter2\n")
    monkeypatch.chdir(tmp_path)
    return p


def _finetune(tmp_settings):
    return AppTest.from_file(str(PAGES / "7_Fine_tune.py"), default_timeout=120).run()


@pytest.mark.slow  # the Fine-tune page imports torch and transformers (115 s measured)
def test_finetune_upload_whose_content_is_a_path_is_not_opened(tmp_settings, secret_yaml):
    """The old loader opened a one-line upload ending in .yaml as a server path and showed that file's values."""
    at = _finetune(tmp_settings)
    assert not at.exception, at.exception
    for content in (str(secret_yaml), secret_yaml.name, f"{secret_yaml}\n"):  # absolute, relative, with newline
        at = _upload(at, "ft.upload", "upload.yaml", content.encode(), "application/x-yaml")
        assert not at.exception, at.exception
        shown = _texts(at)
        assert SECRET not in shown and "hunter2" not in shown and "openai_api_key" not in shown
        assert any("not a run config" in e.value and "mapping" in e.value for e in at.error), [
            e.value for e in at.error
        ]


@pytest.mark.slow  # the Fine-tune page imports torch and transformers (115 s measured)
def test_finetune_upload_errors_name_the_field_never_the_value(tmp_settings):
    at = _finetune(tmp_settings)
    at = _upload(
        at,
        "ft.upload",
        "run.yaml",
        f"lora_r: 8\napi_key: {SECRET}\nlora_alpha: {SECRET}\n".encode(),
        "application/x-yaml",
    )
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert "api_key" in errors and "lora_alpha" in errors and "not a run config field" in errors
    assert SECRET not in _texts(at)


@pytest.mark.slow  # the Fine-tune page imports torch and transformers
def test_finetune_upload_invalid_binary_or_valid(tmp_settings):
    at = _finetune(tmp_settings)
    for data, says in [
        (b"lora_r: [8,\n\tlora_alpha: : :\n", "not valid YAML"),
        (bytes(range(256)), "not UTF-8"),
        (b"lora_r: 8\x00\x00", "binary"),
        (b"", "empty"),
        (b"- a\n- list\n", "mapping"),
        (b"lora_r: 4\nlora_alpha: 8\n", None),  # a valid one loads into the form
    ]:
        at = _upload(at, "ft.upload", "run.yaml", data, "application/x-yaml")
        assert not at.exception, (data[:20], at.exception)
        if says:
            assert any(says in e.value for e in at.error), (data[:20], [e.value for e in at.error])
            assert "Traceback" not in _texts(at)
        else:
            assert not at.error, [e.value for e in at.error]
            r = next(w for w in at.number_input if w.key and w.key.endswith(".lora_r"))
            assert r.value == 4


# ---------------------------------------------------------------------------------------------- GGUF upload
def test_gguf_upload_of_corrupt_bytes_is_a_clear_error(tmp_settings):
    at = AppTest.from_file(str(PAGES / "8_GGUF_Runner.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    for data in (b"GGUF" + b"\x01" * 64, b"not a gguf at all", bytes(range(256)) * 8):
        at = _upload(at, "gguf.upload", "broken.gguf", data, "application/octet-stream")
        at.button(key="gguf.save").click().run()
        assert not at.exception, at.exception
        assert any("broken.gguf" in e.value or "GGUF" in e.value for e in at.error), [e.value for e in at.error]
        assert not list((tmp_settings.data_dir).rglob("broken.gguf"))  # nothing half-written is kept


# ---------------------------------------------------------------------------------------------- Pricer upload
@pytest.mark.slow  # the pricer's offline data is tokenized with SmolLM2's tokenizer (transformers)
def test_pricer_upload_of_a_bad_file_is_a_clear_error(tmp_settings, no_keys):
    at = AppTest.from_file(str(PAGES / "6_Pricer.py"), default_timeout=120).run()
    at.radio(key="pricer.source").set_value("upload").run()
    assert not at.exception, at.exception
    for name, data in [
        ("items.csv", b"no,columns,we,know\n1,2,3,4\n"),
        ("items.csv", bytes(range(256)) * 4),
        ("items.jsonl", b'{"title": "x", "description": "y", "price": \n{oops\n'),
        ("items.csv", b""),
    ]:
        at = _upload(at, None, name, data, "text/csv")
        assert not at.exception, (name, data[:20], at.exception)
        assert at.error and "Traceback" not in _texts(at), (name, data[:20], [e.value for e in at.error])


# ---------------------------------------------------------------------------------------------- OpenAI JSONL
@pytest.mark.slow  # the Fine-tune page imports torch and transformers
def test_openai_jsonl_upload_of_binary_is_a_clear_error(tmp_settings, no_keys):
    at = AppTest.from_file(str(PAGES / "7_Fine_tune.py"), default_timeout=120).run()
    at.radio(key="ft.track").set_value("OpenAI (frontier)").run()
    radio = at.radio(key="oa.source")
    radio.set_value(radio.options[3]).run()
    assert not at.exception, at.exception
    for data, says in [(bytes(range(256)) * 4, "line"), (b"", None), (b"/etc/passwd\n", "not valid JSON")]:
        at = _upload(at, "oa.upload", "train.jsonl", data, "application/jsonl")
        at.button(key="oa.validate").click().run()
        assert not at.exception, at.exception
        assert at.error, f"a bad upload must be refused on the page: {data[:20]!r}"
        shown = _texts(at) + " ".join(str(df.value) for df in at.dataframe)
        assert "Traceback" not in shown and "root:x:0:0" not in shown  # the content is never opened as a path
        if says:
            assert says in shown
