"""The worked examples in the pure modules' docstrings hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "assistant.config",
    "assistant.embeddings",
    "assistant.lexical",
    "assistant.retrieval",
    "assistant.textutil",
    "ingest.chunking",
    "ingest.cleaning",
    "ingest.manifest",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no worked example"
    assert result.failed == 0
