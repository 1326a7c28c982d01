"""The one pydantic-to-widget builder (ui.widgets.field_widget): help = the field's description, limits = its bounds."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ui.widgets import field_widget, model_widgets


class Knobs(BaseModel):
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="How random.")
    dropout: float = Field(0.1, ge=0.0, le=0.5, description="Adapter dropout.")
    top_k: int = Field(40, ge=1, le=500, description="Candidates kept.")
    width: int = Field(512, ge=64, le=1024, multiple_of=8, description="Pixels.")
    seed: int | None = Field(None, ge=0, description="Empty = random.")
    mode: Literal["a", "b"] = Field("b", description="Which one.")
    fast: bool = Field(False, description="Go fast.")
    name: str = Field("x", description="A name.")


class Recorder:
    """Stands in for ``st`` / a column: records each widget call and returns its first value (or a typed one)."""

    def __init__(self, typed: dict | None = None):
        self.calls: list[tuple[str, tuple, dict]] = []
        self.typed = typed or {}

    def __getattr__(self, kind):
        def widget(label, *args, **kw):
            self.calls.append((kind, args, kw))
            if kind == "selectbox":
                return args[0][kw["index"]]
            if kind == "slider":
                return args[2]
            return self.typed.get(kw["key"], kw.get("value"))

        return widget


def test_each_kind_of_field_gets_its_widget_with_help_and_limits():
    where = Recorder(typed={"k.Knobs.seed": " 7 "})
    values = model_widgets(Knobs, list(Knobs.model_fields), where=where, key="k.", top_k_max=100)
    kinds = {kw["key"].split(".")[-1]: (kind, args, kw) for kind, args, kw in where.calls}
    assert {name: k for name, (k, _, _) in kinds.items()} == {
        "temperature": "slider",
        "dropout": "slider",
        "top_k": "number_input",
        "width": "number_input",
        "seed": "text_input",
        "mode": "selectbox",
        "fast": "checkbox",
        "name": "text_input",
    }
    assert all(kw["help"] == Knobs.model_fields[n].description for n, (_, _, kw) in kinds.items())
    assert kinds["temperature"][1] == (0.0, 2.0, 0.7)
    top_k = kinds["top_k"][2]
    assert (top_k["min_value"], top_k["max_value"], top_k["step"], top_k["value"]) == (1, 100, 1, 40)  # lowered max
    assert kinds["width"][2]["step"] == 8  # multiple_of
    assert values == {
        "temperature": 0.7,
        "dropout": 0.1,
        "top_k": 40,
        "width": 512,
        "seed": 7,
        "mode": "b",
        "fast": False,
        "name": "x",
    }


def test_the_form_style_keeps_floats_as_number_inputs():
    where = Recorder()
    assert field_widget(Knobs, "dropout", 0.2, where=where, key="ft.dropout", float_slider=False) == 0.2
    kind, _, kw = where.calls[0]
    assert kind == "number_input" and kw["min_value"] == 0.0 and kw["max_value"] == 0.5 and kw["step"] == 0.01


def test_the_stream_writer_redraws_a_few_times_a_second_and_ends_with_the_whole_text(monkeypatch):
    """Per-token redraws send the whole text each time (O(tokens²) bytes, a websocket message per token); the
    writer redraws at most every `every_s` and always ends with the complete reply."""
    from ui import widgets

    class Box:
        def __init__(self):
            self.drawn = []

        def markdown(self, text):
            self.drawn.append(text)

    class Where:
        def __init__(self):
            self.box = Box()

        def empty(self):
            return self.box

    clock = iter(i * 0.01 for i in range(1000))  # a token every 10 ms
    monkeypatch.setattr(widgets.time, "monotonic", lambda: next(clock))
    where = Where()
    out = widgets.Streamer(where, every_s=0.1)
    for i in range(100):
        out(f"t{i} ")
    out.done()
    assert 9 <= len(where.box.drawn) <= 12  # ~1 s of tokens: ten redraws, not a hundred
    assert where.box.drawn[-1] == "".join(f"t{i} " for i in range(100))
    assert all(d.endswith(" ▌") for d in where.box.drawn[:-1])  # the cursor while live


def test_usage_says_how_long_a_reply_waited_in_line():
    """A queued reply shows its wait beside its own first-token time; a reply that did not wait shows none."""
    from streamlit.testing.v1 import AppTest

    def page():
        from lab.llm.base import Usage
        from ui.widgets import show_usage

        show_usage(Usage(12, 30, 0.21, 2.5, 0.0, "m", "local", queue_s=8.46))
        show_usage(Usage(12, 30, 0.21, 2.5, 0.0, "m", "local", queue_s=0.01))

    at = AppTest.from_function(page).run()
    assert not at.exception
    assert [c.value for c in at.caption] == ["Waited in line: 8.5 s before the local model took this request."]
    assert [m.value for m in at.metric if m.label == "Time to first token"] == ["210 ms", "210 ms"]
