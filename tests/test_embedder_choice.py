"""Which embedder a configured name gives: the registry model, the packaged fallback, or a clear error."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from assistant.config import DEFAULT_EMBEDDING_MODEL
from assistant.embeddings import FALLBACK_MODEL, build_embedder
from assistant.errors import EmbeddingError
from assistant.models import installed_path

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / ".mcof" / "models"


def test_a_missing_registry_model_gives_way_to_the_packaged_one_with_one_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="assistant.embeddings"):
        embedder = build_embedder("embeddinggemma-300m", tmp_path / "empty")
        assert embedder.name == FALLBACK_MODEL and not caplog.records  # nothing said until the model is needed
        embedder.embed(["shelter"])
        embedder.embed(["shelter"])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "mcof models install embeddinggemma-300m" in warnings[0]
    assert "\n" not in warnings[0]


def test_a_corrupt_registry_model_gives_way_too(tmp_path, caplog):
    folder = tmp_path / "models" / "embeddinggemma-300m"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"not the model")
    embedder = build_embedder("embeddinggemma-300m", tmp_path / "models")
    assert embedder.name == FALLBACK_MODEL and "mcof models install" in embedder._warning


def test_a_gguf_or_chat_model_is_refused_as_embedder_with_the_choices(tmp_path):
    for name in ("nomic-embed-text-v1.5", "qwen2.5-coder-1.5b-instruct"):
        with pytest.raises(EmbeddingError, match="embeddinggemma-300m"):
            build_embedder(name, tmp_path)


def test_a_folder_or_packaged_name_is_used_as_given(tmp_path):
    assert build_embedder(str(tmp_path), tmp_path).name == str(tmp_path)
    assert build_embedder("all-MiniLM-L6-v2", tmp_path).name == "all-MiniLM-L6-v2"


@pytest.mark.integration
def test_the_default_model_reads_questions_and_passages_with_their_own_prompts():
    try:
        installed_path(DEFAULT_EMBEDDING_MODEL, MODELS)
    except Exception as exc:  # not installed here: `make install` installs it
        pytest.skip(f"{DEFAULT_EMBEDDING_MODEL} not installed in {MODELS}: {exc}")
    embedder = build_embedder(DEFAULT_EMBEDDING_MODEL, MODELS)
    assert embedder.name == DEFAULT_EMBEDDING_MODEL and embedder.dimension == 768
    question = "Once the acute emergency is over, what does IOM do?"
    passages = ["Phase 3: After a migration crisis: recovery, transition and durable solutions.",
                "Sector 12 Emergency Consular Assistance: emergency travel documents or laissez-passer."]
    asked = embedder.embed_queries([question])[0]
    as_passage = embedder.embed([question])[0]
    assert not np.allclose(asked, as_passage)  # a different prompt per side
    cosines = embedder.embed(passages) @ asked
    assert cosines[0] > cosines[1]
