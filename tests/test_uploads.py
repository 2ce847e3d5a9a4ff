"""Uploads: kept apart from the official corpus, never replacing it; rejected files never stored;
edited and deleted uploads re-indexed."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.errors import DocumentError, InputError
from assistant.store import open_store
from ingest.loaders import load_document
from ingest.pipeline import run_ingest
from ingest.uploads import UploadFolder
from tests.ingest_fakes import CORPUS, fake_steps, write_corpus

WHEN = "2026-01-05T10:00:00+00:00"


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    write_corpus(tmp_path / "corpus")
    return Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index",
                    embedding_model="hashing-test-embedder")


def add(settings: Settings, path: Path, user: str = "ana", replace_own: bool = False) -> str:
    folder = UploadFolder(settings.uploads_dir)
    return folder.add(path, load_document, user=user, when=WHEN, official=set(CORPUS), replace_own=replace_own).doc


def reindex(settings: Settings, embedder) -> dict:
    run_ingest(settings, embedder, progress=False, steps=fake_steps())
    reader = open_store(settings).open_current()
    try:
        return reader.documents()
    finally:
        reader.close()


def test_an_upload_named_like_an_official_source_gets_a_new_name_and_leaves_the_source_alone(
    settings, hashing_embedder, tmp_path: Path
) -> None:
    fake = tmp_path / "camps.txt"
    fake.write_text("The MCOF has 99 sectors.\n", encoding="utf-8")
    assert add(settings, fake) == "uploads/camps-2.txt"
    assert add(settings, fake) == "uploads/camps-3.txt"  # another clash, now with an upload too
    documents = reindex(settings, hashing_embedder)
    assert documents["camps.txt"].text == CORPUS["camps.txt"] and documents["camps.txt"].meta.official
    upload = documents["uploads/camps-2.txt"]
    assert "99 sectors" in upload.text and (upload.meta.uploaded_by, upload.meta.uploaded) == ("ana", WHEN)
    assert (settings.corpus_dir / "camps.txt").read_text(encoding="utf-8") == CORPUS["camps.txt"]


def test_a_rejected_file_is_never_stored(settings, tmp_path: Path) -> None:
    empty = tmp_path / "empty.md"
    empty.write_bytes(b"")
    with pytest.raises(DocumentError, match="empty"):
        add(settings, empty)
    assert not settings.uploads_dir.exists() or UploadFolder(settings.uploads_dir).files() == []


def test_only_the_uploader_replaces_an_upload_and_only_when_asked(settings, tmp_path: Path) -> None:
    note = tmp_path / "note.md"
    note.write_text("# Note\n\nFirst version.\n", encoding="utf-8")
    assert add(settings, note) == "uploads/note.md"
    note.write_text("# Note\n\nSecond version.\n", encoding="utf-8")
    assert add(settings, note, replace_own=True) == "uploads/note.md"
    assert "Second version" in (settings.uploads_dir / "note.md").read_text(encoding="utf-8")
    assert add(settings, note, user="bo", replace_own=True) == "uploads/note-2.md"
    assert add(settings, note) == "uploads/note-3.md"  # no replacement unless asked


def test_edited_and_deleted_uploads_are_reindexed_and_official_sources_refused(
    settings, hashing_embedder, tmp_path: Path
) -> None:
    note = tmp_path / "note.md"
    note.write_text("# Hygiene kit note\n\nKits for 300 families.\n", encoding="utf-8")
    doc = add(settings, note)
    assert reindex(settings, hashing_embedder)[doc].meta.title == "Hygiene kit note"
    folder = UploadFolder(settings.uploads_dir)
    folder.edit(doc, "Kit distribution report", "Field team", "2026-01")
    meta = reindex(settings, hashing_embedder)[doc].meta
    assert (meta.title, meta.publisher, meta.date, meta.uploaded_by) == ("Kit distribution report", "Field team",
                                                                         "2026-01", "ana")
    folder.delete(doc)
    assert doc not in reindex(settings, hashing_embedder)
    for change in (lambda: folder.delete("camps.txt"), lambda: folder.edit("camps.txt", "Fake", "", "")):
        with pytest.raises(InputError, match="official source: it cannot be changed or deleted"):
            change()
    with pytest.raises(InputError, match="no such uploaded document"):
        folder.delete(doc)
