"""Settings from the environment, validated once (pydantic-settings).

Every knob a deployer may turn is here, with its environment variable (prefix ``LAB_``) and a description
that the UI shows as help text. Keys are *not* here: they stay in the environment under their providers'
usual names (``OPENAI_API_KEY``...) and are read only by ``lab.core.keys.resolve_key`` when a request needs one.

    >>> import os; os.environ["LAB_MAX_PROMPT_CHARS"] = "5000"
    >>> get_settings.cache_clear(); get_settings().max_prompt_chars
    5000
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]  # lab/core/settings.py -> the repository


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAB_", extra="ignore")

    data_dir: Path = Field(
        default=Path.home() / ".cache" / "llm-engineering-lab",
        description="Where the lab keeps what it builds: converted models, indexes, runs, databases.",
    )
    models_dir: Path | None = Field(
        default=None, description="Folder scanned for extra .gguf files (default: <data_dir>/models)."
    )
    local_model: Path | None = Field(
        default=None, description="GGUF used by the 'local' provider (default: the bundled SmolLM2-135M)."
    )
    n_ctx: int = Field(default=4096, ge=256, le=131072, description="Context window for local llama.cpp models.")
    n_threads: int | None = Field(
        default=None, ge=1, le=256, description="CPU threads for llama.cpp (default: all cores)."
    )
    max_prompt_chars: int = Field(
        default=100_000, ge=100, description="Longest prompt accepted, in characters; longer input is refused."
    )
    request_timeout_s: float = Field(default=120.0, gt=0, description="Timeout for one provider request, seconds.")
    allow_private_urls: bool = Field(
        default=False,
        description="Let the web fetcher reach private/loopback addresses. Off on shared deployments.",
    )
    ollama_host: str = Field(default="http://127.0.0.1:11434", description="Ollama server for the 'ollama' provider.")
    openai_compatible_base_url: str | None = Field(
        default=None,
        description="Default base URL for the 'openai-compatible' provider (e.g. http://127.0.0.1:8080/v1).",
    )

    session_token_budget: int = Field(
        default=50_000,
        ge=0,
        description="Tokens (in + out) one browser session may spend on a key set by the deployment; 0 = no limit.",
    )
    global_token_budget: int = Field(
        default=2_000_000,
        ge=0,
        description="Tokens all sessions together may spend on the deployment's keys; 0 = no limit.",
    )
    local_concurrency: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Local generations running at once; other students wait in a queue and see their position. "
        "Unset, the managed llama-server decodes 8 at once (measured best on 2 cores) and in-process runs 2.",
    )
    local_engine: str = Field(
        default="auto",
        pattern="^(auto|server|inprocess)$",
        description="How the 'local' provider runs the model: 'server' = a managed llama-server process decoding "
        "LAB_LOCAL_CONCURRENCY sequences together (continuous batching); 'inprocess' = llama-cpp-python "
        "in this process, one generation at a time; 'auto' = server in the app when llama-server is built "
        "(`python -m lab gguf build-server`), in-process otherwise and on the command line.",
    )
    local_base_urls: str | None = Field(
        default=None,
        description="Comma-separated OpenAI-compatible engines (llama-server, vLLM, Ollama /v1) that serve the 'local' "
        "provider instead of this machine, least-busy first, health-checked. Set by the deployment, so "
        "loopback and private addresses are allowed. LAB_LOCAL_CONCURRENCY is then per engine.",
    )
    local_api_key: str | None = Field(
        default=None,
        description="Key sent to the engines in LAB_LOCAL_BASE_URLS (if they need one).",
    )
    session_secret: str | None = Field(
        default=None,
        description="Server secret that signs each browser's identity cookie (a reload keeps its folder). Default: a "
        "random secret kept in <data_dir>/.session-secret (0600).",
    )
    upload_max_mb: int = Field(default=200, ge=1, description="Largest upload accepted, in MB.")
    session_quota_mb: int = Field(
        default=2048,
        ge=1,
        le=1_048_576,
        description="MB one browser session may keep in its folder in all (uploads, runs, databases); an upload "
        "that would go past it is refused. Each upload is also capped by upload_max_mb.",
    )
    session_ttl_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 365,
        description="Hours a browser session's folder (uploads, runs, databases) is kept after its last use; "
        "older ones are swept away, except one whose fine-tune run is still training.",
    )
    warm_up: bool = Field(
        default=True,
        description="Load the tokenizers, the local model, the embedder and the RAG indexes (best mode's too) in the "
        "background a few seconds after the app serves its first page, so the first students do not wait for them.",
    )
    max_servers: int = Field(
        default=2,
        ge=1,
        le=64,
        description="OpenAI-compatible GGUF servers running at once on this machine (each holds its own model copy).",
    )

    @property
    def gguf_dir(self) -> Path:
        return self.models_dir or (self.data_dir / "models")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
