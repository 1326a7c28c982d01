"""The core layer: what every lab and provider stands on, and which knows no lab.

    settings.py     every knob a deployer may turn (LAB_* environment variables), validated once
    errors.py       the lab's errors (each one a person can act on) and excerpt() for text from elsewhere
    keys.py         API keys: explicit -> environment -> an error naming the fix; scoping and redaction
    netguard.py     the address guard: may the server connect to this URL? (SSRF protection)
    assets.py       the offline models and data that PyPI packages ship: where, present or not, the fix
    imports.py      heavy imports (torch, transformers...) serialized process-wide (a measured race)
    gguf_check.py   is this file a GGUF llama.cpp can load? checked before llama.cpp sees it

Arrows point down only: nothing here imports lab.llm, lab.classroom or a lab (tests/test_layering.py).
"""
