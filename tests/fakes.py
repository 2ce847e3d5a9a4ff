"""Fakes that implement the real interfaces, for fast unit tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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
