"""Shared fixtures. The real embedding model is loaded once per session (torch import ~8 s)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assistant.config import set_offline_env

set_offline_env()
# The suite runs on the small packaged MiniLM (fast to load and to embed with); the default model,
# EmbeddingGemma, has its own integration tests (tests/test_embedder_choice.py) and the eval.
os.environ.setdefault("MCOF_EMBEDDING_MODEL", "all-MiniLM-L6-v2")
# ... and answers extractively: the product's local LLM judge (Settings.PRODUCT_DEFAULTS) is tested where a
# test asks for it (tests/test_llm_integration.py, tests/test_llm_server.py), not started by every app.
os.environ.setdefault("MCOF_LLM_BACKEND", "none")

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
SHARED_EVAL = REPO.parent / "shared" / "eval"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    return CORPUS


@pytest.fixture(scope="session")
def real_embedder():
    """The packaged all-MiniLM-L6-v2 model, loaded once for the whole session."""
    from assistant.embeddings import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(os.environ.get("MCOF_EMBEDDING_MODEL", "all-MiniLM-L6-v2"))
    embedder.embed(["warm up"])
    return embedder


@pytest.fixture()
def hashing_embedder():
    from tests.fakes import HashingEmbedder

    return HashingEmbedder()
