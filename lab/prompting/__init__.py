"""The Prompting lab: what actually goes to a model - the ``messages`` list - and what to do with what comes back.

A chat model sees one list of OpenAI-shaped turns. Everything this lab teaches is a way of building that list
or of reading the reply:

    messages.py    system prompt presets, zero/one/multi-shot examples, context injected when a keyword appears
    memory.py      the memory illusion: the whole history re-sent each turn, counted against the context window
    structured.py  validated structured output (Deal/DealSelection or your own fields), repaired once, never invented
    compare.py     the same messages to 2-3 models side by side (TTFT, tok/s, tokens, cost)
    next_token.py  the top-k candidates for each next token (logprobs)
    web.py         fetch and scrape a page for a model to read (behind the address guard, lab.core.netguard)
    brochure.py    the course's company brochure: pick the relevant links, then write from them
    cli.py         ``python -m lab chat ...`` and ``python -m lab brochure URL``
"""
