"""A killed ingest never damages the published index, and the next ingest recovers.

Each test runs `tests/ingest_child.py` in a subprocess, waits until it reports the stage it
stopped at, SIGKILLs it there, and checks what a user would see next.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.errors import IngestRunningError
from assistant.store import open_store
from ingest.pipeline import run_ingest
from tests.conftest import REPO
from tests.fakes import HashingEmbedder
from tests.ingest_fakes import chunk_ids_by_doc, fake_steps, write_corpus


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    write_corpus(tmp_path / "corpus")
    return Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")


@contextmanager
def paused_child(settings: Settings, stage: str) -> Iterator[subprocess.Popen[str]]:
    """An ingest process stopped at `stage`; SIGKILLed when the block ends."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.ingest_child", str(settings.corpus_dir), str(settings.index_dir), stage],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        assert line == f"PAUSED {stage}", f"child stopped with {line!r}, exit {child.poll()}"
        yield child
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)


def ingest(settings: Settings, embedder: HashingEmbedder):
    return run_ingest(settings, embedder, progress=False, steps=fake_steps())


def search_camps(settings: Settings) -> tuple[str, str]:
    """(generation, document of the best chunk) for a question about camps."""
    reader = open_store(settings).open_current()
    try:
        hits = reader.query(HashingEmbedder().embed(["shelter kits handed out in camps"]), k=3)[0]
        best = next(c for c in reader.chunks() if c.id == hits[0][0])
        return reader.info.generation, best.doc
    finally:
        reader.close()


def assert_clean_index(settings: Settings) -> None:
    """No duplicate ids, every file once, and no generation left behind beyond the kept ones."""
    reader = open_store(settings).open_current()
    try:
        chunks, sentences = reader.chunks(), reader.sentences()
        assert len({c.id for c in chunks}) == len(chunks)
        assert len({s.id for s in sentences}) == len(sentences)
        assert [f.doc for f in reader.info.files] == ["camps.txt", "health.md", "transport.txt"]
        assert chunk_ids_by_doc(reader) == chunk_ids_by_doc_fresh(settings)
    finally:
        reader.close()


def chunk_ids_by_doc_fresh(settings: Settings) -> dict[str, set[str]]:
    """What a from-scratch ingest of the same corpus holds."""
    fresh = settings.with_overrides(index_dir=settings.index_dir.with_name("fresh-index"))
    ingest(fresh, HashingEmbedder())
    reader = open_store(fresh).open_current()
    try:
        return chunk_ids_by_doc(reader)
    finally:
        reader.close()


@pytest.mark.parametrize("stage", ["embedding", "adding", "publishing"])
def test_killed_before_publishing_leaves_the_previous_generation_searchable(settings, stage) -> None:
    first = ingest(settings, HashingEmbedder())
    (settings.corpus_dir / "camps.txt").write_text("Camp closure.\n\nFamilies return home.", encoding="utf-8")

    with paused_child(settings, stage):
        pass

    partial = {p.name for p in (settings.index_dir / "generations").iterdir()} - {first.generation}
    assert len(partial) == (0 if stage == "embedding" else 1)
    assert search_camps(settings) == (first.generation, "camps.txt")  # the old camps text still answers
    report = ingest(settings, HashingEmbedder())
    assert report.changed == ("camps.txt",)
    assert_clean_index(settings)
    generations = sorted(p.name for p in (settings.index_dir / "generations").iterdir())
    assert generations == sorted([first.generation, report.generation])  # the partial one is gone


def test_killed_after_publishing_serves_the_new_generation(settings) -> None:
    first = ingest(settings, HashingEmbedder())
    (settings.corpus_dir / "transport.txt").unlink()

    with paused_child(settings, "published"):
        new_generation = open_store(settings).current_generation()

    assert new_generation != first.generation
    assert search_camps(settings) == (new_generation, "camps.txt")
    report = ingest(settings, HashingEmbedder())
    assert report.generation == new_generation and not report.changed_anything
    (settings.corpus_dir / "transport.txt").write_text("Buses leave the border every day.", encoding="utf-8")
    assert ingest(settings, HashingEmbedder()).added == ("transport.txt",)


def test_killed_during_the_first_ingest_leaves_no_index_and_the_next_one_builds_it(settings) -> None:
    with paused_child(settings, "adding"):
        pass

    assert open_store(settings).current_generation() is None
    report = ingest(settings, HashingEmbedder())
    assert report.added == ("camps.txt", "health.md", "transport.txt")
    assert_clean_index(settings)


def test_a_second_ingest_process_is_refused_while_one_runs(settings) -> None:
    with paused_child(settings, "embedding"), pytest.raises(IngestRunningError, match="ingest already running"):
        ingest(settings, HashingEmbedder())
    # the lock died with the killed process: a stale lock file does not block the next run
    assert (settings.index_dir / "ingest.lock").exists()
    assert ingest(settings, HashingEmbedder()).added == ("camps.txt", "health.md", "transport.txt")
