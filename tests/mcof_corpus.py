"""The shipped corpus as real cleaned `Document`s, the shared grader and gold, and a static searcher."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

from assistant.retrieval import Retriever
from assistant.types import Document, Hit
from ingest.chunking import chunk_document, sentences_of
from ingest.loaders import load_document
from ingest.manifest import read_manifest
from tests.fakes import InMemoryIndex

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
FRAMEWORK_DOC = "mcof-2012-key-elements.txt"
WEB_PAGE = "mcof-webpage-2023.txt"
EVALUATION = "mcof-evaluation-2019-summary.txt"
MOPAN = "mopan-iom-assessment-2017-18.txt"
SMALL_DOCS = (FRAMEWORK_DOC, EVALUATION, WEB_PAGE)


@lru_cache(maxsize=8)
def corpus_documents(names: tuple[str, ...] = (*SMALL_DOCS, MOPAN)) -> tuple[Document, ...]:
    """The named corpus files, loaded and cleaned the way ingestion does (cached per process)."""
    manifest = read_manifest(CORPUS)
    return tuple(load_document(CORPUS / name, manifest.get(name)) for name in names)


GRADER = Path(__file__).resolve().parents[2] / "shared" / "eval" / "grade.py"


def grader() -> ModuleType | None:
    """The shared grader (`../shared/eval/grade.py`) as a module, or None when it is not there."""
    if not GRADER.exists():
        return None
    spec = importlib.util.spec_from_file_location("mcof_grade", GRADER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dev_items(name: str) -> list[dict[str, Any]]:
    """The items of `../shared/eval/<name>` (empty when the file is not there)."""
    path = GRADER.parent / name
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@lru_cache(maxsize=4)
def small_retriever(embedder: Any) -> Retriever:
    """The real hybrid retriever over the three short MCOF documents (MOPAN left out: quick to embed)."""
    docs = corpus_documents(SMALL_DOCS)
    chunks = [c for d in docs for c in chunk_document(d)]
    sentences = [s for c in chunks for s in sentences_of(c)]
    return Retriever(InMemoryIndex(docs, chunks, sentences, embedder), embedder)


class StaticSearcher:
    """A searcher that returns the same hits for every query (and records the queries)."""

    def __init__(self, hits: Sequence[Hit] = ()) -> None:
        self.hits = list(hits)
        self.queries: list[str] = []

    def search(self, query: str, k: int = 10) -> list[Hit]:
        self.queries.append(query)
        return self.hits[:k]
