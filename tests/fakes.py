"""Fakes that implement the real interfaces, for fast unit tests."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from assistant.textutil import content_hash, terms


class HashingEmbedder:
    """Deterministic bag-of-stems embedder: texts sharing terms get similar vectors.

    Implements `assistant.embeddings.Embedder` with no model, no torch.
    """

    def __init__(self, dimension: int = 64, name: str = "hashing-test-embedder") -> None:
        self._dimension = dimension
        self._name = name
        self.calls = 0
        self.texts_embedded = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts_embedded += len(texts)
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for term in terms(text) or ["empty"]:
                out[row, int(content_hash(term, length=8), 16) % self._dimension] += 1.0
            out[row] /= np.linalg.norm(out[row]) or 1.0
        return out

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed(texts)


class InMemoryIndex:
    """An index generation with its chunk vectors held in memory (brute-force cosine search) and
    its text index in a temporary file, written the way ingest writes it.

    Implements the read side of `assistant.store.IndexReader` that retrieval uses.
    """

    def __init__(self, documents, chunks, sentences, embedder) -> None:
        from assistant.retrieval import lexical_tables
        from assistant.textindex import TEXT_INDEX_NAME, TextIndex, TextIndexWriter

        chunks, sentences = list(chunks), list(sentences)
        self._vectors = embedder.embed([c.index_text for c in chunks])
        self._ids = [c.id for c in chunks]
        path = Path(tempfile.mkdtemp(prefix="mcof-text-")) / TEXT_INDEX_NAME
        with TextIndexWriter(path) as writer:
            writer.add_chunks(chunks, self._vectors)
            writer.add_sentences(sentences, embedder.embed([s.text for s in sentences]))
            writer.add_lexical(lexical_tables(list(documents), chunks, sentences))
            writer.add_documents(documents)
        self._text = TextIndex(path)

    def text_index(self):
        return self._text

    def framework(self):
        return None

    def query(self, vectors, k):
        if not len(self._vectors):
            return [[] for _ in range(len(vectors))]
        sims = np.asarray(vectors, dtype=np.float32) @ self._vectors.T
        return [[(self._ids[i], float(row[i])) for i in np.argsort(-row)[:k]] for row in sims]

    def close(self) -> None:
        self._text.close()


class ScriptedChatModel(BaseChatModel):
    """A LangChain chat model that gives its `replies` in turn, or raises `error`; it keeps what it was
    sent (`received`: the messages and the call's keyword arguments, e.g. a bound `max_tokens`)."""

    replies: list[str] = Field(default_factory=list)
    error: Exception | None = None
    received: list[tuple[list[BaseMessage], dict]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted-test-chat-model"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        self.received.append((list(messages), kwargs))
        if self.error is not None:
            raise self.error
        reply = self.replies[(len(self.received) - 1) % len(self.replies)]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=reply))])
