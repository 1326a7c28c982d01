"""SDK clients built one way: the OpenAI client every part of the lab uses (chat, embeddings, fine-tuning jobs).

Four places talk to an OpenAI-shaped server - the ``openai`` provider, the local provider's wire engines
(llama-server, ``LAB_LOCAL_BASE_URLS``), the RAG lab's embedder and the fine-tuning jobs - and each used to build
``openai.OpenAI(...)`` itself. Here the timeout comes from one setting (``LAB_REQUEST_TIMEOUT_S``, seconds, for
one request), and the retry count is a required argument: how often to retry is each caller's decision (a chat
stream must fail fast so the error reaches the learner; an embedding batch may retry once), so it stays visible
at the call.

    >>> c = openai_client(api_key="not-needed", base_url="http://127.0.0.1:8080/v1", max_retries=0)
    >>> c.max_retries, c.timeout
    (0, 120.0)

Resolving the key (explicit -> environment -> an error naming the variable) is not done here: that is
:func:`lab.core.keys.resolve_key`, called first by whoever knows which provider the key is for. The SDK is
imported when a client is built, so importing this module costs nothing.
"""

from __future__ import annotations


def openai_client(*, api_key: str, base_url: str | None = None, timeout: float | None = None, max_retries: int):
    """An ``openai.OpenAI`` for ``base_url`` (None = api.openai.com); ``timeout`` defaults to LAB_REQUEST_TIMEOUT_S.

    ``api_key`` must be a string: OpenAI-compatible servers that need none still get one ("not-needed"), because
    the SDK refuses to build a client without it."""
    import openai

    from lab.core.settings import get_settings

    return openai.OpenAI(
        api_key=api_key,
        base_url=base_url,
        timeout=get_settings().request_timeout_s if timeout is None else timeout,
        max_retries=max_retries,
    )
