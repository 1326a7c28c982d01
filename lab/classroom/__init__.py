"""The classroom layer: many students on one deployment - their folders, their turn, their budgets, a warm start.

    sessions.py   per-session folders under <data_dir>/sessions/<id>/, quotas, the TTL sweep
    identity.py   a signed per-browser identity, so a reload finds the same folder
    queue.py      the fair queue in front of the local model (place in line, wait estimate)
    budget.py     token budgets on the deployment's keys (per session and global)
    warmup.py     loads what the app registers, in the background, before students ask

It uses lab.core and lab.llm, never a lab: labs (through the app) register what the classroom needs to know.
"""
