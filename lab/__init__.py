"""LLM Engineering Lab: the logic behind every lab page, usable from notebooks, the CLI and tests.

Nothing in this package imports streamlit. Each lab is a package (docs/ARCHITECTURE.md) that does real work
offline on a laptop CPU and lights up frontier providers when keys exist:

    >>> from lab.llm import DEFAULT_SYSTEM, Options, get_provider, run
    >>> messages = [{"role": "system", "content": DEFAULT_SYSTEM},
    ...             {"role": "user", "content": "What is the capital of France?"}]
    >>> reply = run(get_provider("local"), messages, options=Options(temperature=0))   # greedy: reproducible
    >>> "Paris" in reply.text
    True
"""

__version__ = "0.1.0"
