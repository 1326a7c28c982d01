"""Agents lab: the course's capstone (weeks 7-8), "The Price is Right" - an autonomous deal hunter.

A planner coordinates three agents, each built from another lab of this project:

    scanner   (feeds.py, scanner.py)   RSS deal feeds -> the best N deals as a ``DealSelection`` (Prompting lab's
                                       structured output; a deal whose price is not in its own text is dropped)
    ensemble  (members.py, ensemble.py) specialist (Fine-tune / GGUF lab or Modal) + frontier (any provider, RAG
                                       over a raw-chromadb "products" collection) + random forest (Pricer lab),
                                       combined by a linear regression over their guesses plus min and max
    messenger (messenger.py)            an in-app inbox, plus ntfy / Pushover when configured
    planner   (planner.py)              the fixed plan, or an LLM calling the three as tools (Tools lab's loop)

``framework.py`` holds what they share (name, colour, log, memory); ``cycle.py`` runs one whole cycle.
"""
