"""The Tokenization lab: the same text through several real tokenizers, piece by piece, with the reference libraries.

pieces.py            a Piece (id + bytes) and the Tokenizer protocol every backend implements
backend_tiktoken.py  cl100k_base, o200k_base, Qwen 3 (tiktoken with Qwen's regex and NFC)
backend_hf.py        Llama 3 and any tokenizer.json or Hub tokenizer (Hugging Face tokenizers)
backend_llamacpp.py  the vocabulary inside a GGUF (SmolLM2, any local GGUF), through llama.cpp
registry.py          the built-in tokenizers by name, built once and shared; hf:/gguf:/file: prefixes
analysis.py          analyse, decode ids, special tokens, chat templates, the numbers experiment
cost.py              what a text costs per model, and its share of the context window
cli.py               ``python -m lab tokens ...``
"""
