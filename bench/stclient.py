"""A Streamlit session without a browser: one websocket speaking Streamlit's own protobuf messages.

A browser tab talks to ``streamlit run`` over one websocket (``/_stcore/stream``): it sends a ``BackMsg`` with
``rerun_script`` (the page to run and every widget's value), the server runs the page script in that session's
thread and streams ``ForwardMsg`` deltas back (one per element) until ``script_finished``. This client does the
same, so thirty of them share one real server - its caches, locks and queue - the way thirty students do:

    >>> with StClient("http://127.0.0.1:8501") as s:                # doctest: +SKIP
    ...     s.open("Tokenization").seconds                          # first run of the page: widgets arrive
    3.2
    >>> run = s.set(text="strawberry").rerun()                      # a widget by its key, then a rerun
    >>> run.errors, "characters per token" in run.text, run.first_widget_s < run.seconds
    ([], True, True)

Why it is written here: Streamlit ships no Python client besides its React frontend, and its testing API
(``AppTest``) installs a process-wide ``Runtime`` for each run and removes it afterwards, so many AppTest sessions
in threads break each other ("Runtime hasn't been created!", measured in this repo's first load test). The
messages used are Streamlit's own generated protobuf classes (``streamlit.proto``); only text, checkbox and
button widgets can be set, which is all the load test and start-up benchmark need.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState, WidgetStates
from websockets.sync.client import connect

_VALUE_FIELD = {"text_input": "string_value", "text_area": "string_value", "checkbox": "bool_value"}
_TRIGGERS = {"button"}
_TEXT_FIELDS = {
    "markdown": "body",
    "text": "body",
    "heading": "body",
    "alert": "body",
    "code": "code_text",
    "exception": "message",
    "spinner": "text",
}


@dataclass
class Run:
    """What one script run sent back."""

    seconds: float = 0.0  # from sending the rerun to script_finished
    first_element_s: float | None = None  # from sending the rerun to the first element (something painted)
    first_widget_s: float | None = None  # ... to the first widget (the student can start working)
    kinds: list[str] = field(default_factory=list)  # element types in arrival order ("markdown", "button", ...)
    texts: list[str] = field(default_factory=list)  # markdown, alerts, code, exceptions, "metric: value"...
    errors: list[str] = field(default_factory=list)  # exceptions and st.error alerts, as the student sees them

    @property
    def text(self) -> str:
        return "\n".join(self.texts)


class StClient:
    """One browser-less session on a running Streamlit server (``base_url`` like ``http://127.0.0.1:8501``)."""

    def __init__(self, base_url: str, timeout: float = 600.0) -> None:
        self.timeout = timeout
        self.ws = connect(
            base_url.replace("http", "ws", 1).rstrip("/") + "/_stcore/stream",
            subprotocols=["streamlit"],
            max_size=None,
            open_timeout=60,
            close_timeout=5,
        )
        self.page_hash = ""
        self.sections: list[str] = []  # the sidebar's navigation sections, as last sent
        self.widgets: dict[str, tuple[str, str]] = {}  # user key -> (widget id, element type)
        self._values: dict[str, WidgetState] = {}  # widget id -> last value set (sent on every rerun)
        self._triggers: list[WidgetState] = []  # one-shot button presses for the next rerun

    def __enter__(self) -> StClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.ws.close()

    def open(self, page: str = "") -> Run:
        """Run a page by its URL path ("" = Home, "Tokenization", ...), as loading that URL does."""
        self.page_hash, self._values, self.widgets = "", {}, {}
        return self._run(ClientState(page_name=page))

    def set(self, **values) -> StClient:
        """Set widgets by their ``key=``; ``True`` presses a button. Sent with the next ``rerun()``."""
        for key, value in values.items():
            if key not in self.widgets:
                raise KeyError(f"no widget with key {key!r} on this page (seen: {sorted(self.widgets)})")
            wid, kind = self.widgets[key]
            if kind in _TRIGGERS:
                self._triggers.append(WidgetState(id=wid, trigger_value=bool(value)))
            elif kind in _VALUE_FIELD:
                self._values[wid] = WidgetState(id=wid, **{_VALUE_FIELD[kind]: value})
            else:
                raise TypeError(
                    f"{key!r} is a {kind}; this client sets only {sorted(_VALUE_FIELD) + sorted(_TRIGGERS)}"
                )
        return self

    def rerun(self, wait: bool = True) -> Run | None:
        """Rerun with the widget values set so far. ``wait=False`` returns as soon as the run has started, like a
        student who clicks and then clicks again: the next rerun interrupts this one, or finds it finished."""
        states = WidgetStates(widgets=[*self._values.values(), *self._triggers])
        self._triggers = []
        return self._run(ClientState(page_script_hash=self.page_hash, widget_states=states), wait)

    def _run(self, state: ClientState, wait: bool = True) -> Run | None:
        run, t0 = Run(), time.perf_counter()
        self.ws.send(BackMsg(rerun_script=state).SerializeToString())
        # A run announces its start with new_session. A run interrupted by a newer request sends no script_finished,
        # and an older run may finish before the newer one starts: so only a finish after our run started counts.
        started = False
        while True:
            msg = ForwardMsg()
            msg.ParseFromString(self.ws.recv(timeout=self.timeout))
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                started = True
                if not wait:
                    return None
            elif kind == "navigation":
                self.page_hash = msg.navigation.page_script_hash
                self.sections = list(msg.navigation.sections)
            elif kind == "page_not_found":
                run.errors.append(f"page not found: {msg.page_not_found.page_name!r}")
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                self._element(msg.delta.new_element, run, t0)
            elif kind == "script_finished" and started:
                if msg.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    run.errors.append("the page did not compile")
                if msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    break
        run.seconds = time.perf_counter() - t0
        return run

    def _element(self, el, run: Run, t0: float) -> None:
        kind = el.WhichOneof("type")
        if run.first_element_s is None:
            run.first_element_s = time.perf_counter() - t0
        run.kinds.append(kind)
        body = getattr(el, kind)
        if run.first_widget_s is None and getattr(body, "id", "").startswith("$$ID-"):
            run.first_widget_s = time.perf_counter() - t0
        wid = getattr(body, "id", "") if kind in _VALUE_FIELD or kind in _TRIGGERS else ""
        if wid.startswith("$$ID-") and not wid.endswith("-None"):
            self.widgets[wid.split("-", 2)[2]] = (wid, kind)
        if kind == "metric":
            run.texts.append(f"{body.label}: {body.body}")
        elif kind in _TEXT_FIELDS:
            text = getattr(body, _TEXT_FIELDS[kind])
            run.texts.append(text)
            if kind == "exception" or (kind == "alert" and body.format == Alert.ERROR):
                run.errors.append(f"{kind}: {text}")
