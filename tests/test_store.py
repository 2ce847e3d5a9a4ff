"""The Chroma store: generations published atomically, read back exactly, searched by cosine."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest

from assistant.config import Settings
from assistant.errors import IndexMismatchError, IndexMissingError, StoreError
from assistant.store import FileRecord, IndexInfo, check_compatible, open_store
from assistant.types import Document, DocumentMeta, FrameworkModel, Sector, Span
from tests.ingest_fakes import CORPUS, fake_chunk, fake_sentences


def _documents() -> list[Document]:
    return [
        Document(
            DocumentMeta(name, name.split(".")[0].title(), publisher="IOM", aliases=("x",)),
            text,
            "txt",
            f"sha-{name}",
        )
        for name, text in sorted(CORPUS.items())
    ]


def _publish(store, embedder, documents, framework=None) -> str:
    chunks = [c for d in documents for c in fake_chunk(d)]
    sentences = [s for c in chunks for s in fake_sentences(c)]
    writer = store.begin()
    writer.add_chunks(chunks, embedder.embed([c.index_text for c in chunks]))
    writer.add_sentences(sentences, embedder.embed([s.text for s in sentences]))
    files = tuple(FileRecord(d.meta.doc, d.sha256, sum(c.doc == d.meta.doc for c in chunks), d.meta) for d in documents)
    info = IndexInfo(writer.generation, embedder.name, embedder.dimension, "fake-v1", "2025-01-01T00:00:00Z", files)
    writer.publish(info, documents, framework)
    return writer.generation


@pytest.fixture()
def store(tmp_path: Path):
    return open_store(Settings(index_dir=tmp_path / "index"))


def test_published_generation_reads_back_exactly(store, hashing_embedder) -> None:
    documents = _documents()
    generation = _publish(store, hashing_embedder, documents)

    assert store.current_generation() == generation
    reader = store.open_current()
    try:
        expected_chunks = sorted((c for d in documents for c in fake_chunk(d)), key=lambda c: (c.doc, c.start))
        assert reader.chunks() == expected_chunks
        assert reader.sentences() == [s for c in expected_chunks for s in fake_sentences(c)]
        assert reader.documents() == {d.meta.doc: d for d in documents}
        assert reader.info.generation == generation
        assert reader.info.embedding_model == "hashing-test-embedder"
        assert reader.info.dimension == 64
        assert [f.doc for f in reader.info.files] == ["camps.txt", "health.md", "transport.txt"]
        assert reader.info.files[1].meta.aliases == ("x",)
        assert reader.framework() is None
    finally:
        reader.close()


def test_query_returns_nearest_ids_with_cosine_similarity(store, hashing_embedder) -> None:
    _publish(store, hashing_embedder, _documents())
    reader = store.open_current()
    try:
        vaccination = next(c for c in reader.chunks() if "Vaccination" in c.text)
        shelter = next(c for c in reader.chunks() if "Shelter kits" in c.text)
        queries = hashing_embedder.embed([vaccination.index_text, "shelter kits handed out"])

        by_chunk = reader.query(queries, k=3)
        assert by_chunk[0][0] == (vaccination.id, pytest.approx(1.0, abs=1e-5))
        assert len(by_chunk[0]) == 3
        assert [score for _, score in by_chunk[0]] == sorted((score for _, score in by_chunk[0]), reverse=True)
        assert by_chunk[1][0][0] == shelter.id  # every row of one query answered
        # k beyond the collection size returns every record once
        assert len(reader.query(queries[:1], k=100)[0]) == len(reader.chunks())
    finally:
        reader.close()


def test_framework_model_round_trips(store, hashing_embedder) -> None:
    span = Span("camps.txt", 0, 38, "Camp coordination and camp management.", "Sectors")
    model = FrameworkModel(sectors=(Sector(1, "Camp Coordination", "To manage camps.", span),), recommendation=span)
    _publish(store, hashing_embedder, _documents(), framework=model)
    reader = store.open_current()
    try:
        assert reader.framework() == model
    finally:
        reader.close()


def test_nothing_published_raises_index_missing(store) -> None:
    assert store.current_generation() is None
    with pytest.raises(IndexMissingError, match="run `mcof ingest`"):
        store.open_current()


def test_unpublished_generation_is_invisible_and_pruned(store, hashing_embedder, tmp_path: Path) -> None:
    published = _publish(store, hashing_embedder, _documents())
    writer = store.begin()
    chunk = fake_chunk(_documents()[0])[0]
    writer.add_chunks([chunk], hashing_embedder.embed([chunk.index_text]))

    assert store.current_generation() == published
    assert store.prune() == (writer.generation,)
    assert sorted(p.name for p in (tmp_path / "index" / "generations").iterdir()) == [published]


def test_abort_deletes_the_partial_generation(store, hashing_embedder, tmp_path: Path) -> None:
    writer = store.begin()
    writer.abort()
    assert not (tmp_path / "index" / "generations" / writer.generation).exists()
    assert store.current_generation() is None


def test_keeps_current_and_two_previous_generations(store, hashing_embedder, tmp_path: Path) -> None:
    generations = [_publish(store, hashing_embedder, _documents()) for _ in range(4)]
    old_reader = store.open_current()  # an app still reading generation 4 while 5 is published
    try:
        latest = _publish(store, hashing_embedder, _documents()[:1])
        assert store.prune() == (generations[0], generations[1])
        kept = sorted(p.name for p in (tmp_path / "index" / "generations").iterdir())
        assert kept == sorted([generations[2], generations[3], latest])
        assert old_reader.info.generation == generations[3]
        hits = old_reader.query(hashing_embedder.embed(["transport of stranded migrants"]), k=10)[0]
        assert len(hits) == 7  # all of generation 4, which held the three files
        assert next(c for c in old_reader.chunks() if c.id == hits[0][0]).doc == "transport.txt"
    finally:
        old_reader.close()
    new_reader = store.open_current()
    try:
        assert new_reader.info.generation == latest
        assert {c.doc for c in new_reader.chunks()} == {"camps.txt"}
    finally:
        new_reader.close()


def test_check_compatible_tells_the_user_to_rebuild() -> None:
    info = IndexInfo("g1", "all-MiniLM-L6-v2", 384, "v1", "2025-01-01T00:00:00Z")
    check_compatible(info, "all-MiniLM-L6-v2", 384)
    with pytest.raises(IndexMismatchError, match=r"'all-MiniLM-L6-v2' \(384 dimensions\).*mcof ingest --rebuild"):
        check_compatible(info, "hashing-test-embedder", 64)
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        check_compatible(info, "all-MiniLM-L6-v2", 768)


def test_damaged_pointer_is_a_store_error(store, tmp_path: Path) -> None:
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "CURRENT").write_text("{not json", encoding="utf-8")
    with pytest.raises(StoreError, match="rebuild"):
        store.current_generation()


def test_unreachable_server_is_a_one_line_store_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = open_store(Settings(chroma_host="127.0.0.1", chroma_port=port))
    with pytest.raises(StoreError, match=f"127.0.0.1:{port}.*chroma run") as caught:
        store.current_generation()
    assert "\n" not in str(caught.value)


def test_vectors_of_another_dimension_are_rejected(store, hashing_embedder) -> None:
    writer = store.begin()
    chunks = fake_chunk(_documents()[0])
    writer.add_chunks(chunks[:1], np.ones((1, 8), dtype=np.float32))
    with pytest.raises(StoreError, match="adding chunks"):
        writer.add_chunks(chunks[1:], np.ones((1, 16), dtype=np.float32))
    writer.abort()


def test_the_text_index_holds_each_chunks_vector_and_its_sentences_vectors(store, hashing_embedder) -> None:
    _publish(store, hashing_embedder, _documents())
    reader = store.open_current()
    try:
        text = reader.text_index()
        chunks = text.chunks_at(range(text.chunk_count))
        sentences = text.sentences_at(range(text.sentence_count))
        at = [2, 0]
        chunk_vectors, sentence_vectors = text.vectors_at(at)
        expected = hashing_embedder.embed([chunks[p].index_text for p in at])
        assert chunk_vectors.dtype == np.float32
        assert np.allclose(chunk_vectors, expected, atol=2e-3)  # stored as float16
        own = [s.text for p in at for s in sentences if s.chunk_id == chunks[p].id]
        assert len(own) == 2
        assert np.allclose(sentence_vectors, hashing_embedder.embed(own), atol=2e-3)
    finally:
        reader.close()


@pytest.mark.parametrize("old", [1, 2])  # 1: before the text index, 2: sentence vectors in Chroma
def test_a_generation_of_the_older_format_asks_for_an_ingest(store, hashing_embedder, old: int) -> None:
    from dataclasses import replace

    documents = _documents()
    writer = store.begin()
    info = IndexInfo(writer.generation, hashing_embedder.name, hashing_embedder.dimension, "fake-v1", "2025-01-01", ())
    writer.publish(replace(info, format=old), documents, None)
    reader = store.open_current()
    try:
        assert reader.info.format == old
        with pytest.raises(IndexMismatchError, match=r"older version.*run `mcof ingest`"):
            reader.text_index()
    finally:
        reader.close()
