"""Server mode: the same generations, held by a real `chroma run` server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.service import build_assistant
from assistant.store import open_store
from assistant.textindex import TEXT_INDEX_NAME
from bench.servers import CHROMA, chroma_server
from ingest.pipeline import run_ingest
from tests.fakes import HashingEmbedder
from tests.ingest_fakes import fake_steps, write_corpus

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def chroma_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    if not CHROMA.exists():
        pytest.skip(f"no Chroma server binary at {CHROMA}: run `make install`")
    with chroma_server(tmp_path_factory.mktemp("chroma-server")) as (port, _):
        yield port


def _settings(tmp_path: Path, port: int, collection: str, corpus: Path | None = None) -> Settings:
    return Settings(
        corpus_dir=corpus or write_corpus(tmp_path / "corpus"),
        index_dir=tmp_path / "index",
        chroma_host="127.0.0.1",
        chroma_port=port,
        collection=collection,
    )


def _collections(port: int) -> set[str]:
    import chromadb

    client = chromadb.HttpClient(host="127.0.0.1", port=port)
    return {c.name for c in client.list_collections()}


def test_ingest_and_search_through_the_server(tmp_path: Path, chroma_port: int) -> None:
    settings = _settings(tmp_path, chroma_port, "mcof-small")
    embedder = HashingEmbedder()
    first = run_ingest(settings, embedder, progress=False, steps=fake_steps())

    store = open_store(settings)
    assert store.current_generation() == first.generation
    reader = store.open_current()
    try:
        hits = reader.query(embedder.embed(["vaccination of migrants"]), k=2)[0]
        best = next(c for c in reader.chunks() if c.id == hits[0][0])
        assert (best.doc, best.text) == ("health.md", "Vaccination of migrants at borders.")
        # the vectors live in the server; the folder holds only the generation's text index
        generation_dir = settings.index_dir / "generations" / first.generation
        assert sorted(p.name for p in generation_dir.iterdir()) == [TEXT_INDEX_NAME]
    finally:
        reader.close()

    # an app process: vectors from the server, passages and the lexical index from the text index
    hit = build_assistant(settings, embedder=embedder).search("vaccination of migrants at borders", 1)[0]
    assert (hit.doc, hit.text) == ("health.md", "Vaccination of migrants at borders.")

    calls = embedder.calls
    again = run_ingest(settings, embedder, progress=False, steps=fake_steps())
    assert again.generation == first.generation and not again.changed_anything and embedder.calls == calls

    generations = [first.generation]
    for n in range(3):
        (settings.corpus_dir / "camps.txt").write_text(f"Camp version {n}.", encoding="utf-8")
        generations.append(run_ingest(settings, embedder, progress=False, steps=fake_steps()).generation)
    kept = {name for name in _collections(chroma_port) if name.startswith("mcof-small-")}
    assert kept == {"mcof-small-current"} | {
        f"mcof-small-{g}-{kind}" for g in generations[1:] for kind in ("chunks", "meta")
    }
    assert store.current_generation() == generations[-1]
    assert {p.name for p in (settings.index_dir / "generations").iterdir()} == set(generations[1:])


def test_the_project_corpus_through_the_server(tmp_path: Path, chroma_port: int, corpus_dir: Path) -> None:
    settings = _settings(tmp_path, chroma_port, "mcof-full", corpus=corpus_dir)

    report = run_ingest(settings, HashingEmbedder(), progress=False)

    assert report.skipped == () and report.warnings == ()
    reader = open_store(settings).open_current()
    try:
        documents = reader.documents()
        assert sorted(documents) == sorted(report.added)
        mopan = documents["mopan-iom-assessment-2017-18.txt"]
        assert len(mopan.text) > 300_000  # large documents survive the HTTP round trip
        assert all(documents[c.doc].text[c.start : c.end] == c.text for c in reader.chunks())
        framework = reader.framework()
        assert framework is not None and len(framework.sectors) == 15
    finally:
        reader.close()
