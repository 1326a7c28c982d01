"""GGUF files: check, inspect, run with llama.cpp, benchmark, serve (the GGUF runner lab)."""
