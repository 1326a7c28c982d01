"""LLM Engineering Lab: the logic behind every lab page, usable from notebooks, the CLI and tests.

Nothing in this package imports streamlit. Each lab is one module (or sub-package) that does real work
offline on a laptop CPU and lights up frontier providers when keys exist:

    >>> from lab.llm import get_provider, Options, run
    >>> reply = run(get_provider("local"), [{"role": "user", "content": "What is the capital of France?"}])
    >>> "Paris" in reply.text
    True
"""

__version__ = "0.1.0"
