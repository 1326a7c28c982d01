"""LLM Engineering Lab: the entry point. `make run` starts it (streamlit run Home.py).

Registers only the lab pages that exist, grouped in sections, plus the home view (lab map, provider
readiness, offline assets). No model library is imported on this path, so the first paint is fast.
"""

import streamlit as st

from lab.classroom import warmup
from lab.core import imports
from lab.core.settings import get_settings
from ui.home import home_view
from ui.labs import available
from ui.session import apply_secrets, keep_seen
from ui.warm import register_steps

imports.serialize_heavy_imports()  # page threads import torch/transformers one at a time (see lab/core/imports.py)

st.set_page_config(page_title="LLM Engineering Lab", page_icon="🧭", layout="wide")
apply_secrets()
keep_seen()  # an open session's folder is not swept while it is open (cheap: at most every 5 min)
if st.runtime.exists() and type(st.runtime.Runtime.instance()) is st.runtime.Runtime:  # served, not AppTest
    from lab.llm.local import use_app_defaults

    use_app_defaults()  # LAB_LOCAL_ENGINE=auto: the managed llama-server when built (README, "Bigger classes")
if get_settings().warm_up:
    register_steps()  # the labs' heavy objects, named in ui/warm.py
    warmup.start(delay_s=3)  # once per process, in the background: heavy models load before students ask

sections: dict[str, list] = {"": [st.Page(home_view, title="Home", icon="🏠", default=True)]}
for lab in available():
    sections.setdefault(lab.section, []).append(st.Page(lab.file, title=lab.title, icon=lab.icon))
st.navigation(sections).run()
