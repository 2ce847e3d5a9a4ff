"""Small, fast ingest steps and corpora for store and pipeline tests.

`fake_steps()` reads UTF-8 text files and cuts one chunk per blank-line paragraph, so a test
knows exactly which chunks a file yields. The real loaders and chunker are exercised by
`test_pipeline.py::test_real_steps_*`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from assistant.errors import DocumentError, FrameworkError
from assistant.store import IndexReader
from assistant.textutil import content_hash, sentence_spans
from assistant.types import Chunk, Document, DocumentMeta, FrameworkModel, Sentence
from ingest.pipeline import IngestSteps

CORPUS = {
    "camps.txt": "Camp coordination and camp management.\n\nShelter kits are handed out in camps.",
    "health.md": "# Health\n\nMobile clinics give primary care.\n\nVaccination of migrants at borders.",
    "transport.txt": "Humanitarian transport of stranded migrants.\n\nBuses leave the border every day.",
}


def write_corpus(folder: Path, files: dict[str, str] = CORPUS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def fake_load(path: Path, meta: DocumentMeta | None, max_bytes: int) -> Document:
    data = path.read_bytes()
    if len(data) > max_bytes:
        raise DocumentError(f"{path.name}: too large")
    if b"\x00" in data:
        raise DocumentError(f"{path.name}: binary file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{path.name}: not UTF-8 text") from exc
    return Document(meta or DocumentMeta(path.name, path.stem), text, path.suffix[1:], hashlib.sha256(data).hexdigest())


def fake_chunk(doc: Document) -> list[Chunk]:
    """One chunk per blank-line paragraph; the id hashes the document name and the text."""
    chunks = []
    start = 0
    for part in doc.text.split("\n\n"):
        end = start + len(part)
        if part.strip():
            chunks.append(
                Chunk(
                    id=content_hash(doc.meta.doc, part),
                    doc=doc.meta.doc,
                    title=doc.meta.title,
                    section="",
                    text=part,
                    start=start,
                    end=end,
                    index_text=f"{doc.meta.title}: {part}",
                )
            )
        start = end + 2
    return chunks


def fake_sentences(chunk: Chunk) -> list[Sentence]:
    return [
        Sentence(content_hash(chunk.id, str(s)), chunk.id, chunk.text[s:e], chunk.start + s, chunk.start + e, chunk.doc)
        for s, e in sentence_spans(chunk.text)
    ]


def no_framework(documents: Sequence[Document]) -> FrameworkModel:
    raise FrameworkError("no sectors in this corpus")


def fake_steps(chunker_version: str = "fake-v1") -> IngestSteps:
    return IngestSteps(fake_load, fake_chunk, fake_sentences, no_framework, chunker_version)


def chunk_ids_by_doc(reader: IndexReader) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for chunk in reader.chunks():
        out.setdefault(chunk.doc, set()).add(chunk.id)
    return out
