"""The worked examples in the modules' docstrings hold (the UI's and feedback's are run by their own tests)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "assistant.align",
    "assistant.answering",
    "assistant.citations",
    "assistant.cli",
    "assistant.config",
    "assistant.conversations",
    "assistant.draft",
    "assistant.draft_llm",
    "assistant.embeddings",
    "assistant.errors",
    "assistant.export",
    "assistant.files",
    "assistant.extractive",
    "assistant.framework",
    "assistant.llamacpp",
    "assistant.lexical",
    "assistant.llm",
    "assistant.prompts",
    "assistant.retrieval",
    "assistant.store",
    "assistant.textindex",
    "assistant.textutil",
    "assistant.types",
    "ingest.chunking",
    "ingest.cleaning",
    "ingest.loaders",
    "ingest.manifest",
    "ingest.uploads",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no worked example"
    assert result.failed == 0
