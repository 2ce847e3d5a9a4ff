"""Incremental ingest: only changed files are re-chunked, only new texts are embedded."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.errors import EmbeddingError, IngestRunningError, InputError, StoreError
from assistant.store import open_store
from assistant.types import FrameworkModel, PhaseDef, Span
from ingest.pipeline import ingest_lock, run_ingest
from tests.fakes import HashingEmbedder
from tests.ingest_fakes import CORPUS, chunk_ids_by_doc, fake_steps, write_corpus


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    write_corpus(tmp_path / "corpus")
    return Settings(
        corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", embedding_model="hashing-test-embedder"
    )


def ingest(settings: Settings, embedder, **kwargs):
    kwargs.setdefault("steps", fake_steps())
    return run_ingest(settings, embedder, progress=False, **kwargs)


def read_index(settings: Settings):
    reader = open_store(settings).open_current()
    try:
        return reader.info, reader.chunks(), reader.sentences(), reader.documents()
    finally:
        reader.close()


def indexed_texts(settings: Settings) -> set[str]:
    _, chunks, sentences, _ = read_index(settings)
    return {c.index_text for c in chunks} | {s.text for s in sentences}


def generation_dirs(settings: Settings) -> list[str]:
    return sorted(p.name for p in (settings.index_dir / "generations").iterdir())


def never_called() -> HashingEmbedder:
    raise AssertionError("the embedding model was loaded although nothing needed embedding")


def test_first_ingest_indexes_every_file(settings, hashing_embedder) -> None:
    report = ingest(settings, hashing_embedder)

    assert report.added == ("camps.txt", "health.md", "transport.txt")
    assert report.chunks == 7
    info, chunks, _, documents = read_index(settings)
    assert info.generation == report.generation
    assert len(chunks) == 7 and len({c.id for c in chunks}) == 7
    assert report.embedded == len(indexed_texts(settings)) == hashing_embedder.texts_embedded
    assert documents["health.md"].text == CORPUS["health.md"]
    assert report.warnings == (
        "MCOF framework structure not found (no sectors in this corpus): sector and phase tools are off",
    )


def test_unchanged_corpus_returns_at_once_without_loading_the_model(settings, hashing_embedder) -> None:
    first = ingest(settings, hashing_embedder)

    again = ingest(settings, never_called)

    assert not again.changed_anything
    assert again.generation == first.generation
    assert again.unchanged == ("camps.txt", "health.md", "transport.txt")
    assert again.embedded == 0 and again.chunks == 7
    assert generation_dirs(settings) == [first.generation]


def test_editing_one_file_replaces_only_its_chunks(settings, hashing_embedder) -> None:
    ingest(settings, hashing_embedder)
    before = chunk_ids_by_doc(open_store(settings).open_current())
    texts_before = indexed_texts(settings)
    embedded_before = hashing_embedder.texts_embedded
    (settings.corpus_dir / "transport.txt").write_text(
        "Humanitarian transport of stranded migrants.\n\nTrains leave the capital at night.", encoding="utf-8"
    )

    report = ingest(settings, hashing_embedder)

    assert report.changed == ("transport.txt",)
    assert report.unchanged == ("camps.txt", "health.md")
    after = chunk_ids_by_doc(open_store(settings).open_current())
    assert after["camps.txt"] == before["camps.txt"]
    assert after["health.md"] == before["health.md"]
    assert len(after["transport.txt"] & before["transport.txt"]) == 1  # the unedited paragraph
    new_texts = indexed_texts(settings) - texts_before
    assert new_texts == {
        "transport: Trains leave the capital at night.",
        "Trains leave the capital at night.",
    }
    assert hashing_embedder.texts_embedded - embedded_before == report.embedded == 2


def test_deleting_a_file_removes_its_chunks(settings, hashing_embedder) -> None:
    ingest(settings, hashing_embedder)
    (settings.corpus_dir / "health.md").unlink()

    report = ingest(settings, hashing_embedder)

    assert report.removed == ("health.md",)
    info, chunks, sentences, documents = read_index(settings)
    assert {c.doc for c in chunks} == {"camps.txt", "transport.txt"}
    assert {s.chunk_id for s in sentences} <= {c.id for c in chunks}
    assert [f.doc for f in info.files] == ["camps.txt", "transport.txt"] == sorted(documents)
    assert report.embedded == 0


def test_rebuild_makes_a_new_generation_from_cached_vectors(settings, hashing_embedder) -> None:
    first = ingest(settings, hashing_embedder)
    calls = hashing_embedder.calls
    chunks_before = read_index(settings)[1]

    report = ingest(settings, never_called, rebuild=True)

    assert report.generation != first.generation
    assert report.unchanged == ("camps.txt", "health.md", "transport.txt")
    assert report.embedded == 0 and hashing_embedder.calls == calls
    assert read_index(settings)[1] == chunks_before
    assert generation_dirs(settings) == sorted([first.generation, report.generation])


class TitleReadingEmbedder(HashingEmbedder):
    """A model that reads passages under a title (its folder's config has a title slot): records what it read."""

    reads_titles = True

    def __init__(self, folder: Path) -> None:
        super().__init__(name=str(folder))
        self.titled: list[tuple[str, str]] = []

    def embed_titled(self, texts, titles):
        self.titled.extend(zip(texts, titles, strict=True))
        return self.embed([f"{title} {text}" for text, title in zip(texts, titles, strict=True)])


def test_a_model_that_reads_titles_reads_chunks_and_sentences_under_their_section(settings, tmp_path) -> None:
    folder = tmp_path / "titled-model"
    folder.mkdir()
    config = {"prompts": {"document": "title: none | text: "}}
    (folder / "config_sentence_transformers.json").write_text(json.dumps(config))
    embedder = TitleReadingEmbedder(folder)
    settings = replace(settings, embedding_model=str(folder))

    first = ingest(settings, embedder)

    _, chunks, sentences, _ = read_index(settings)
    titles = dict(embedder.titled)
    assert all(titles[s.text] for s in sentences)  # every sentence read under its chunk's title
    assert {titles[c.index_text] for c in chunks} == {" | ".join(p for p in (c.title, c.section) if p) for c in chunks}
    again = ingest(settings, never_called, rebuild=True)  # cached under their titles: nothing embedded again
    assert again.embedded == 0 and again.generation != first.generation


def test_a_new_chunker_version_rechunks_everything(settings, hashing_embedder) -> None:
    first = ingest(settings, hashing_embedder)
    report = ingest(settings, hashing_embedder, steps=fake_steps("fake-v2"))
    assert report.generation != first.generation
    assert read_index(settings)[0].chunker_version == "fake-v2"


def test_a_generation_of_the_previous_format_is_rewritten_by_a_plain_ingest(
    settings, hashing_embedder, monkeypatch
) -> None:
    import ingest.pipeline as pipeline
    from assistant.service import build_assistant
    from assistant.store import IndexInfo

    with monkeypatch.context() as patch:  # as written before sentence vectors moved to the text index
        patch.setattr(pipeline, "IndexInfo", partial(IndexInfo, format=2))
        patch.setattr(pipeline, "INDEX_FORMAT", 2)
        old = ingest(settings, hashing_embedder)
    calls = hashing_embedder.calls

    report = ingest(settings, hashing_embedder)

    assert report.generation != old.generation and hashing_embedder.calls == calls  # vectors from the cache
    assert read_index(settings)[0].format == 3
    hit = build_assistant(settings, embedder=hashing_embedder).search("vaccination of migrants at borders", 1)[0]
    assert (hit.doc, hit.text) == ("health.md", "Vaccination of migrants at borders.")


def test_another_embedding_model_reembeds_every_text_but_keeps_the_chunks(settings, hashing_embedder) -> None:
    ingest(settings, hashing_embedder)
    ids = chunk_ids_by_doc(open_store(settings).open_current())
    other = HashingEmbedder(dimension=32, name="other-model")

    report = ingest(settings, other)

    info = read_index(settings)[0]
    assert (info.embedding_model, info.dimension) == ("other-model", 32)
    assert report.embedded == other.texts_embedded == len(indexed_texts(settings))
    assert chunk_ids_by_doc(open_store(settings).open_current()) == ids


def test_a_manifest_title_change_rechunks_that_file(settings, hashing_embedder) -> None:
    manifest = settings.corpus_dir / "manifest.json"
    manifest.write_text(json.dumps([{"doc": "camps.txt", "title": "Camps"}]), encoding="utf-8")
    ingest(settings, hashing_embedder)
    manifest.write_text(json.dumps([{"doc": "camps.txt", "title": "Camp management"}]), encoding="utf-8")

    report = ingest(settings, hashing_embedder)

    assert report.changed == ("camps.txt",)
    chunks = read_index(settings)[1]
    assert {c.title for c in chunks if c.doc == "camps.txt"} == {"Camp management"}


def test_unreadable_files_are_skipped_with_their_reason(settings, hashing_embedder) -> None:
    (settings.corpus_dir / "scan.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    (settings.corpus_dir / "latin1.txt").write_bytes("Caf\xe9 des migrants".encode("latin-1"))

    report = ingest(settings, hashing_embedder)

    assert report.skipped == (
        ("latin1.txt", "not UTF-8 text"),
        ("scan.txt", "binary file"),
    )
    assert report.added == ("camps.txt", "health.md", "transport.txt")
    assert {f.doc for f in read_index(settings)[0].files} == {"camps.txt", "health.md", "transport.txt"}
    again = ingest(settings, never_called)  # known-bad files do not defeat the quick check
    assert again.skipped == report.skipped and not again.changed_anything


def test_dropped_files_are_copied_into_the_corpus_and_ingested(settings, hashing_embedder, tmp_path: Path) -> None:
    ingest(settings, hashing_embedder)
    dropped = tmp_path / "downloads" / "shelter.md"
    dropped.parent.mkdir()
    dropped.write_text("# Shelter\n\nEmergency shelter for displaced families.", encoding="utf-8")

    report = ingest(settings, hashing_embedder, paths=[dropped])

    assert report.added == ("shelter.md",)
    assert (settings.corpus_dir / "shelter.md").read_text(encoding="utf-8") == dropped.read_text(encoding="utf-8")
    assert "shelter.md" in read_index(settings)[3]


def test_unsupported_dropped_file_is_an_input_error_and_nothing_is_copied(settings, hashing_embedder, tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("Fine text.", encoding="utf-8")
    table = tmp_path / "table.csv"
    table.write_text("a,b", encoding="utf-8")

    with pytest.raises(InputError, match=r"table.csv: unsupported file type; use one of .txt"):
        ingest(settings, hashing_embedder, paths=[good, table])

    assert not (settings.corpus_dir / "good.txt").exists()
    assert open_store(settings).current_generation() is None


def test_a_dropped_file_that_cannot_be_read_is_never_copied(settings, hashing_embedder, tmp_path: Path) -> None:
    from ingest.loaders import load_document

    empty = tmp_path / "empty.md"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty.md: the file is empty.*\(nothing was added\)"):
        ingest(settings, hashing_embedder, paths=[empty], steps=replace(fake_steps(), load=load_document))
    assert not (settings.corpus_dir / "empty.md").exists()


def test_a_held_lock_makes_a_second_ingest_fail_at_once(settings, hashing_embedder) -> None:
    with ingest_lock(settings.index_dir), pytest.raises(IngestRunningError, match="ingest already running"):
        ingest(settings, hashing_embedder)
    assert ingest(settings, hashing_embedder).added  # the lock is free again


class FailingEmbedder(HashingEmbedder):
    def embed(self, texts):
        raise EmbeddingError("model crashed")


def test_a_failure_before_publishing_keeps_the_index(settings, hashing_embedder) -> None:
    first = ingest(settings, hashing_embedder)
    (settings.corpus_dir / "camps.txt").write_text("Camp closure.\n\nReturn home.", encoding="utf-8")

    with pytest.raises(EmbeddingError):
        ingest(settings, FailingEmbedder())

    assert open_store(settings).current_generation() == first.generation
    assert generation_dirs(settings) == [first.generation]
    assert "Camp coordination and camp management." in read_index(settings)[3]["camps.txt"].text


def test_a_failure_while_writing_deletes_the_partial_generation(settings, hashing_embedder) -> None:
    first = ingest(settings, hashing_embedder)
    (settings.corpus_dir / "camps.txt").write_text("Camp closure.\n\nReturn home.", encoding="utf-8")
    store = open_store(settings)

    class FullDiskStore:
        def __getattr__(self, name):
            return getattr(store, name)

        def begin(self):
            writer = store.begin()

            def add_sentences(sentences, vectors):
                raise StoreError("vector store: adding sentences failed (disk full)")

            writer.add_sentences = add_sentences
            return writer

    with pytest.raises(StoreError, match="disk full"):
        ingest(settings, hashing_embedder, store=FullDiskStore())

    assert open_store(settings).current_generation() == first.generation
    assert generation_dirs(settings) == [first.generation]
    assert ingest(settings, hashing_embedder).changed == ("camps.txt",)


def test_a_parsed_framework_is_stored_with_the_generation(settings, hashing_embedder) -> None:
    span = Span("camps.txt", 0, 4, "Camp")
    model = FrameworkModel(phases=(PhaseDef("before", "Phase 1: Before", "Preparedness.", span),))
    steps = replace(fake_steps(), parse_framework=lambda documents: model)

    report = ingest(settings, hashing_embedder, steps=steps)

    assert report.warnings == ()
    reader = open_store(settings).open_current()
    try:
        assert reader.framework() == model
    finally:
        reader.close()


def test_an_empty_corpus_is_an_input_error(tmp_path: Path, hashing_embedder) -> None:
    (tmp_path / "corpus").mkdir()
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    with pytest.raises(InputError, match="no readable documents"):
        ingest(settings, hashing_embedder)


def test_real_steps_ingest_a_small_mixed_corpus(tmp_path: Path, hashing_embedder) -> None:
    corpus = tmp_path / "corpus"
    write_corpus(
        corpus,
        {
            "notes.md": "# Field notes\n\nCamp managers met the shelter cluster.\n\nThey agreed on kits.\n",
            "page.html": "<html><body><h1>Transport</h1><p>Buses evacuate migrants.</p></body></html>",
        },
    )
    (corpus / "broken.txt").write_bytes(b"\x00\x01\x02 not text")
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", embedding_model="hashing-test-embedder")

    report = run_ingest(settings, hashing_embedder, progress=False)

    assert report.added == ("notes.md", "page.html")
    assert [doc for doc, _ in report.skipped] == ["broken.txt"]
    assert any("framework" in w for w in report.warnings)
    info, chunks, _, documents = read_index(settings)
    assert info.chunker_version  # the real chunker's version is recorded
    assert {c.doc for c in chunks} == {"notes.md", "page.html"}
    assert all(documents[c.doc].text[c.start : c.end] == c.text for c in chunks)
    assert "<p>" not in documents["page.html"].text
    assert not run_ingest(settings, never_called, progress=False).changed_anything


@pytest.mark.integration
def test_real_steps_ingest_the_project_corpus(tmp_path: Path, corpus_dir: Path, hashing_embedder) -> None:
    settings = Settings(corpus_dir=corpus_dir, index_dir=tmp_path / "index")

    report = run_ingest(settings, hashing_embedder, progress=False)

    assert report.added == tuple(sorted(p.name for p in corpus_dir.glob("*.txt")))
    assert report.skipped == () and report.warnings == ()
    reader = open_store(settings).open_current()
    try:
        framework = reader.framework()
        assert framework is not None and framework.complete
        assert len(reader.chunks()) == report.chunks
        assert len({s.id for s in reader.sentences()}) == len(reader.sentences())
    finally:
        reader.close()


def test_a_reader_open_in_the_same_process_survives_an_ingest(settings, hashing_embedder) -> None:
    """The app keeps answering from its open generation while an upload is ingested in-process."""
    first = ingest(settings, hashing_embedder)
    app_reader = open_store(settings).open_current()
    try:
        (settings.corpus_dir / "camps.txt").write_text("Camp closure.\n\nFamilies return home.", encoding="utf-8")
        second = ingest(settings, hashing_embedder)

        hits = app_reader.query(hashing_embedder.embed(["shelter kits handed out in camps"]), k=1)[0]
        assert app_reader.info.generation == first.generation
        assert (
            next(c.text for c in app_reader.chunks() if c.id == hits[0][0]) == "Shelter kits are handed out in camps."
        )
    finally:
        app_reader.close()
    assert open_store(settings).current_generation() == second.generation
    assert "Families return home." in read_index(settings)[3]["camps.txt"].text


# --- damaged caches and indexes, unreadable and linked files --------------------------------------


def test_a_garbage_cache_file_is_moved_aside_and_rebuilt(settings, hashing_embedder) -> None:
    first = ingest(settings, hashing_embedder)
    cache = settings.index_dir / "ingest-cache.sqlite3"
    cache.write_bytes(b"this is not a sqlite database " * 100)

    again = ingest(settings, hashing_embedder)

    assert again.generation == first.generation and not again.changed_anything
    assert again.warnings == (
        "the ingest cache was damaged (file is not a database): moved to ingest-cache.sqlite3.damaged and rebuilt",
    )
    assert (settings.index_dir / "ingest-cache.sqlite3.damaged").read_bytes().startswith(b"this is not")
    assert not ingest(settings, never_called).warnings  # the rebuilt cache serves the next run


def test_plain_ingest_reports_a_damaged_index_instead_of_up_to_date(settings, hashing_embedder) -> None:
    first = ingest(settings, hashing_embedder)
    database = settings.index_dir / "generations" / first.generation / "chroma" / "chroma.sqlite3"
    database.write_bytes(b"garbage" * 1000)

    with pytest.raises(StoreError, match=r"file is not a database.*run `mcof ingest --rebuild`"):
        ingest(settings, never_called)
    rebuilt = ingest(settings, hashing_embedder, rebuild=True)
    assert rebuilt.generation != first.generation and rebuilt.chunks == 7


def test_an_unreadable_file_is_skipped_and_the_others_are_indexed(
    settings, hashing_embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ingest.pipeline as pipeline

    secret = settings.corpus_dir / "secret.txt"
    secret.write_text("Locked away.", encoding="utf-8")
    secret.chmod(0)
    if os.geteuid() == 0:  # root reads any file: refuse it as the kernel would for anyone else
        real = pipeline._sha256

        def refuse(path: Path) -> str:
            if path.name == "secret.txt":
                raise PermissionError(13, "Permission denied", str(path))
            return real(path)

        monkeypatch.setattr(pipeline, "_sha256", refuse)

    report = ingest(settings, hashing_embedder)

    assert report.added == ("camps.txt", "health.md", "transport.txt")
    assert report.skipped == (("secret.txt", "cannot be read (Permission denied): check its permissions"),)
    assert ingest(settings, never_called).skipped == report.skipped


def test_a_link_out_of_the_corpus_folder_is_refused(settings, hashing_embedder, tmp_path: Path) -> None:
    outside = tmp_path / "private.txt"
    outside.write_text("root:x:0:0:root:/root:/bin/bash", encoding="utf-8")
    (settings.corpus_dir / "passwd.txt").symlink_to(outside)
    (settings.corpus_dir / "alias.txt").symlink_to(settings.corpus_dir / "camps.txt")  # inside: fine

    report = ingest(settings, hashing_embedder)

    assert report.skipped == (("passwd.txt", "a link to a file outside the corpus folder: copy the file in instead"),)
    assert "alias.txt" in report.added
    _, chunks, _, _ = read_index(settings)
    assert not any("root:x" in c.text for c in chunks)


class _PassageCounter(HashingEmbedder):
    """Counts the passage-side texts embedded (queries apart)."""

    def __init__(self) -> None:
        super().__init__()
        self.passages: list[str] = []

    def embed(self, texts):
        self.passages += list(texts)
        return super().embed(texts)

    def embed_queries(self, texts):
        return super().embed(texts)


def test_answering_embeds_no_passage_sentence_once_ingest_stored_them(tmp_path: Path, hashing_embedder) -> None:
    from assistant.extractive import reading_texts
    from assistant.service import build_assistant

    corpus = tmp_path / "corpus"
    write_corpus(corpus, {"notes.md": "# Field notes\n\nCamp managers met the shelter cluster.\n\n"
                                      "They agreed on kits for displaced families.\n"})
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", embedding_model="hashing-test-embedder")
    run_ingest(settings, hashing_embedder, progress=False)
    counter = _PassageCounter()
    answer = build_assistant(settings, embedder=counter).answerer().answer("Whom did the camp managers meet?")
    assert answer.citations and not answer.refused
    _, chunks, _, _ = read_index(settings)
    read = {t for c in chunks for t in reading_texts(c.text)}
    assert read and not read & set(counter.passages)  # served from the index, not embedded again
