"""The one place tokenizers are loaded and cached, and the one chat-prompt token count.

- ``auto_tokenizer(where, **kwargs)``: transformers' ``AutoTokenizer.from_pretrained(where, **kwargs)``, built
  once per process per (where, kwargs), thread-safe (``lab.core.once``). Shared: treat it as read-only (a caller
  that sets ``pad_token`` or ``padding_side``, or flips ``encode_special_tokens`` on its backend, loads its own).
- ``tiktoken_encoding(name)``: a tiktoken ``Encoding`` (``o200k_base``, ``cl100k_base``), offline: the official
  vocabulary files are placed in tiktoken's cache by ``lab.core.assets`` first. Built once; encodings are
  thread-safe.
- ``count_chat_tokens(messages)``: OpenAI's rule for the size of a chat prompt (the cookbook's
  ``num_tokens_from_messages``, also the fine-tuning data guide's): 3 tokens of framing per message, the tokens
  of each of its string values (role, content, name), 1 more for a name, and 3 to prime the reply.

    >>> count_chat_tokens([{"role": "user", "content": "hello world"}])   # 3 + (3 + 'user' + 'hello',' world') + 3
    9

It is an estimate for other tokenizers (each counts a little differently); a provider's own count arrives with
each reply (``usage.prompt_tokens``).
"""

from __future__ import annotations

import json
from typing import Iterable, Mapping

from lab.core.once import once

CHAT_ENCODING = "o200k_base"  # GPT-4o / GPT-4.1 / GPT-5's vocabulary: the estimate every lab shows
TOKENS_PER_MESSAGE = 3  # <|start|>{role}<|message|> ... <|end|>, less the role itself
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3  # <|start|>assistant<|message|>


@once
def auto_tokenizer(where: str, **kwargs):
    """``AutoTokenizer.from_pretrained(where, **kwargs)`` once per process (a folder, or a Hub id online)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(where, **kwargs)


@once
def tiktoken_encoding(name: str = CHAT_ENCODING):
    """tiktoken's ``Encoding`` called ``name``, offline, once per process."""
    import tiktoken

    from lab.core import assets

    assets.prepare_tiktoken_cache()  # offline: the official files from PyPI packages, under tiktoken's names
    return tiktoken.get_encoding(name)


def count_chat_tokens(messages: Iterable[Mapping], encoding: str = CHAT_ENCODING) -> int:
    """Tokens a chat prompt costs, by OpenAI's rule (see the module docstring). Content that is not a string
    (a list of parts, tool calls) is counted as its JSON text; special-token text like ``<|endoftext|>`` in a
    message counts as the plain text it is."""
    enc, total = tiktoken_encoding(encoding), REPLY_PRIMING
    for m in messages:
        total += TOKENS_PER_MESSAGE
        for key, value in m.items():
            if value is None:
                continue
            if not isinstance(value, str):
                if key != "content":
                    continue
                value = json.dumps(value)
            total += len(enc.encode(value, disallowed_special=()))
            if key == "name":
                total += TOKENS_PER_NAME
    return total
