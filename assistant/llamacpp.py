"""llama.cpp through `xllamacpp`: the only module that imports it.

Two uses of the server llama.cpp runs in this process's background threads: `chat_server` for
the local LLM (`assistant.llm_server` serves it over HTTP), and `GgufEncoder`, which embeds texts
with a GGUF embedding model (nomic-embed-text-v1.5) through the server's in-process handler.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import EmbeddingError, LLMError, McofError

HOST = "127.0.0.1"
INSTALL_HINT = "pip install 'mcof-assistant[local-llm]'"
EMBED_CONTEXT = 2048  # tokens a text may have: nomic-embed-text-v1.5's trained context, and llama.cpp's batch
EMBED_SLOTS = 4  # texts llama.cpp embeds side by side in one batch


def available() -> bool:
    """Is xllamacpp installed? (Looked up, not imported.)"""
    return importlib.util.find_spec("xllamacpp") is not None


def chat_server(model_path: Path, host: str, port: int, n_ctx: int, threads: int, alias: str | None) -> Any:
    """llama.cpp's OpenAI-compatible server for a chat GGUF on host:port, its metrics endpoint on."""
    xllamacpp = _module(LLMError(f"the local LLM server needs `xllamacpp`: {INSTALL_HINT}"))
    params = _params(xllamacpp, model_path, threads)
    if alias:
        params.model_alias = {alias}
    params.hostnames = [host]
    params.port = port
    params.n_ctx = n_ctx
    params.n_parallel = 1
    params.endpoint_metrics = True  # the idle watch reads the request counters
    try:
        return xllamacpp.Server(params)
    except Exception as exc:  # the C++ server reports a bad file or a busy port this way
        raise LLMError(f"cannot serve {model_path.name} on {host}:{port} ({exc}): check the file and the port") from exc


class EmbeddingHandler(Protocol):
    """What `GgufEncoder` needs of llama.cpp's server: its OpenAI-style embeddings handler."""

    def handle_embeddings(self, request: dict[str, Any]) -> dict[str, Any]: ...


class GgufEncoder:
    """Vectors from a GGUF embedding model, each text after its side's prefix.

    >>> class Echo:  # a fake server: the vector says how long the text it got was
    ...     def handle_embeddings(self, request):
    ...         return {"data": [{"index": i, "embedding": [len(t), 0.0]} for i, t in enumerate(request["input"])]}
    >>> GgufEncoder(Echo(), ("q: ", "d: "))(["abc"], "query").tolist()
    [[6.0, 0.0]]
    """

    def __init__(self, server: EmbeddingHandler, prefixes: tuple[str, str], max_chars: int = EMBED_CONTEXT - 2) -> None:
        self._server = server
        self._prefixes = {"query": prefixes[0], "document": prefixes[1]}
        # llama.cpp refuses a text longer than its batch instead of cutting it. A WordPiece tokenizer
        # makes at most one token per character, so this many characters (and [CLS], [SEP]) always fit.
        self._max_chars = max_chars

    def __call__(self, texts: Sequence[str], side: str) -> np.ndarray:
        prefix = self._prefixes[side]
        response = self._server.handle_embeddings({"input": [clip(prefix + t, self._max_chars) for t in texts]})
        if "error" in response:
            error = response["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            raise EmbeddingError(f"llama.cpp could not embed {len(texts)} texts: {message}")
        rows = sorted(response["data"], key=lambda row: int(row["index"]))
        return np.asarray([row["embedding"] for row in rows], dtype=np.float32)


def open_gguf_encoder(model_path: Path, prefixes: tuple[str, str], threads: int) -> GgufEncoder:
    """Load a GGUF embedding model into an in-process llama.cpp server (pooling and normalisation from the file).

    The server always listens too; here on a free loopback port that nothing uses.
    """
    xllamacpp = _module(EmbeddingError(f"{model_path.name} runs on llama.cpp: {INSTALL_HINT}"))
    params = _params(xllamacpp, model_path, threads)
    params.embedding = True
    params.hostnames = [HOST]
    params.port = 0
    params.n_parallel = EMBED_SLOTS
    params.n_ctx = EMBED_SLOTS * EMBED_CONTEXT
    params.n_batch = params.n_ubatch = EMBED_CONTEXT  # an embedding model reads a whole text in one batch
    params.verbosity = -1  # no line per request on the terminal during an ingest
    try:
        return GgufEncoder(xllamacpp.Server(params), prefixes)
    except Exception as exc:
        raise EmbeddingError(f"llama.cpp cannot load {model_path} ({exc}): run `mcof models verify`") from exc


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, at a space when there is one.

    >>> clip("one two three", 9), clip("one two", 9), clip("abcdefghijk", 4)
    ('one two', 'one two', 'abcd')
    """
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return cut[:space].rstrip() if space > 0 else cut


def _module(error: McofError) -> Any:
    try:
        import xllamacpp
    except ImportError as exc:
        raise error from exc
    return xllamacpp


def _params(xllamacpp: Any, model_path: Path, threads: int) -> Any:
    params = xllamacpp.CommonParams()
    params.model.path = str(model_path)
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    return params
