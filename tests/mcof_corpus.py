"""The shipped corpus loaded as real cleaned `Document`s, for framework, align and draft tests."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from assistant.types import Document
from ingest.loaders import load_document
from ingest.manifest import read_manifest

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
