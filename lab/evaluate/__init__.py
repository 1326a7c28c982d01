"""The Evaluate lab: choose a model for *your* use case, measured on this machine, and a class arena.

One idea per module:

    models.py        "local", a GGUF path, "rung:Q8_0" or "provider:model" -> a ModelSpec (label, bytes, build)
    rungs.py         the quantization ladder's rungs (F16, Q8_0, Q4_K_M...) of the bundled SmolLM2, made once
    tasks.py         the suite's tasks, built from the labs' own: general knowledge, JSON validity, FlightAI tool
                     calls, pricer hit rate, RAG answer correctness (keywords, or a judge model)
    suite.py         models x tasks -> rows {model, task, score, latency_ms_p50, tok_s, bytes, cost_usd}
    ratings.py       pairwise votes -> Bradley-Terry ratings (logistic regression, as the Chatbot Arena) or online
                     Elo, with bootstrap confidence intervals
    arena.py         blind battles: two anonymous answers, a vote, an append-only SQLite store (WAL) the class shares
    leaderboards.py  the public leaderboards the course uses, and what each one measures
    cli.py           ``python -m lab evaluate run|arena|battle|vote|rungs|leaderboards``

Nothing here imports streamlit; heavy libraries (llama.cpp, sklearn, the RAG stack) load inside functions.
"""

import os

# `python -m lab evaluate` may load llama.cpp (making rungs) before lab.llm.local sets this: OpenMP reads it once,
# when the library loads, and spinning idle threads made generation several times slower on shared cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
