"""Incremental, crash-safe ingestion: the corpus folder → a new published index generation.

`run_ingest` hashes every corpus file. When nothing changed since the current generation it
returns at once, without loading the embedding model. Otherwise it builds a new generation:
unchanged files keep their chunks, changed files are re-chunked, deleted files drop out, and
only texts never embedded before go to the model (vectors are cached by model + text). The
generation is published atomically, so a crash at any point leaves the last good index
searchable. One ingest runs at a time (an fcntl lock in the index folder).

Example, a corpus of a.txt and b.md:
    first run            → added ('a.txt', 'b.md'), every text embedded
    second run           → changed_anything False, same generation, model never loaded
    after editing b.md   → changed ('b.md',), a's chunk ids untouched, only b's new texts embedded
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
from tqdm import tqdm

from assistant.config import Settings
from assistant.embeddings import Embedder, embed_passages, model_reads_titles
from assistant.errors import (
    DocumentError,
    FrameworkError,
    IndexMissingError,
    IngestRunningError,
    InputError,
    McofError,
    StoreError,
)
from assistant.extractive import reading_texts
from assistant.retrieval import lexical_tables
from assistant.store import INDEX_FORMAT, FileRecord, IndexInfo, IndexReader, Store, open_store
from assistant.textindex import reading_tables
from assistant.textutil import content_hash
from assistant.types import Chunk, Document, DocumentMeta, FrameworkModel, IngestReport, Sentence
from ingest.chunking import framework_labels
from ingest.manifest import MANIFEST_NAME, SUPPORTED_SUFFIXES, corpus_files, read_manifest
from ingest.uploads import UPLOAD_PREFIX, UploadFolder, copy_file

log = logging.getLogger(__name__)

LOCK_NAME = "ingest.lock"
CACHE_NAME = "ingest-cache.sqlite3"

_Passage = TypeVar("_Passage", Chunk, Sentence)


@dataclass(frozen=True)
class IngestSteps:
    """The pure steps of ingestion, passed in so tests can swap them."""

    load: Callable[[Path, DocumentMeta | None, int], Document]
    chunk: Callable[[Document], list[Chunk]]
    sentences: Callable[[Chunk], list[Sentence]]
    parse_framework: Callable[[Sequence[Document]], FrameworkModel]
    chunker_version: str


def default_steps() -> IngestSteps:
    """The real loaders, chunker and framework parser."""
    from assistant.framework import parse_framework
    from ingest.chunking import CHUNKER_VERSION, chunk_document, sentences_of
    from ingest.loaders import load_document

    return IngestSteps(load_document, chunk_document, sentences_of, parse_framework, CHUNKER_VERSION)


def run_ingest(
    settings: Settings,
    embedder: Embedder | Callable[[], Embedder],
    *,
    paths: Sequence[Path] = (),
    rebuild: bool = False,
    progress: bool = True,
    store: Store | None = None,
    steps: IngestSteps | None = None,
    prepare: Callable[[], None] | None = None,
) -> IngestReport:
    """Copy `paths` into the corpus folder, then bring the index up to date with the folder and the uploads.

    `prepare` runs under the ingest lock before the folders are scanned (an upload added, edited or deleted).
    `embedder` may be a factory: it is called only when some text must be embedded.
    Raises `IngestRunningError` when another ingest holds the lock, `InputError` for an
    unusable dropped file or an empty corpus; unreadable corpus files are skipped and reported.
    """
    started = time.perf_counter()
    steps = steps or default_steps()
    max_bytes = settings.max_upload_mb * 1024 * 1024
    cache_path = settings.index_dir / CACHE_NAME
    with ingest_lock(settings.index_dir), closing(_Cache.open(cache_path)) as cache:
        try:
            _copy_into_corpus(paths, settings.corpus_dir, max_bytes, steps.load)
            if prepare is not None:
                prepare()
            store = store or open_store(settings)
            model = _LazyEmbedder(embedder, settings.embedding_model)
            corpus = _scan(settings.corpus_dir, settings.uploads_dir, model.name, steps.chunker_version)
            current = store.current_generation()
            state = cache.state(current) if current else None
            if current and state and not rebuild and state.fingerprint == corpus.fingerprint:
                _check_opens(store)  # a damaged index is reported here, not only by the next search
                log.info("index %s is up to date", current)
                return IngestReport(
                    generation=current,
                    unchanged=state.docs,
                    skipped=state.skipped_reasons,
                    chunks=state.chunks,
                    seconds=time.perf_counter() - started,
                )
            store.prune()  # partial generations of crashed runs
            build = _Build(settings, store, model, cache, corpus, steps, progress, list(cache.warnings))
            report = build.run(rebuild, max_bytes)
        except sqlite3.Error as exc:  # the cache failed mid-run (disk full, damaged page)
            raise StoreError(f"the ingest cache {cache_path} failed ({exc}): delete it and run `mcof ingest`") from exc
    report = replace(report, seconds=time.perf_counter() - started)
    log.info(
        "ingest %s: %d added, %d changed, %d removed, %d unchanged, %d skipped, %d texts embedded",
        report.generation,
        len(report.added),
        len(report.changed),
        len(report.removed),
        len(report.unchanged),
        len(report.skipped),
        report.embedded,
    )
    return report


def _check_opens(store: Store) -> None:
    """Open the current generation as a search would, so damage is found by ingest too."""
    reader = store.open_current()
    reader.close()


@contextmanager
def ingest_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index folder's ingest lock, or raise `IngestRunningError` at once.

    An fcntl lock dies with its process, so a killed ingest never blocks the next one.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(index_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IngestRunningError() from exc
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


# --- what is in the corpus folder --------------------------------------------------------


@dataclass(frozen=True)
class _Corpus:
    paths: dict[str, Path]
    shas: dict[str, str]  # file name → sha256 of its bytes
    manifest: dict[str, DocumentMeta]
    fingerprint: dict[str, Any]  # everything a generation depends on, as JSON-able data
    refused: dict[str, str] = field(default_factory=dict)  # file name → why it is not read at all

    @property
    def manifest_sha(self) -> str:
        return str(self.fingerprint["manifest"])


def _scan(corpus_dir: Path, uploads_dir: Path, model: str, chunker_version: str) -> _Corpus:
    """Hash every corpus file and every upload; a file that cannot be read, or links out of its folder, is refused.

    Official files keep their name as document id; uploads are "uploads/<name>" (never the same).
    """
    paths: dict[str, Path] = {}
    shas: dict[str, str] = {}
    refused: dict[str, str] = {}
    folders = [("", corpus_dir, corpus_files(corpus_dir))]
    if uploads_dir.is_dir():
        folders.append((UPLOAD_PREFIX, uploads_dir, corpus_files(uploads_dir)))
    for prefix, folder, files in folders:
        root = folder.resolve()
        for path in files:
            doc = prefix + path.name
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                refused[doc] = "a link to a file outside the corpus folder: copy the file in instead"
                continue
            try:
                shas[doc] = _sha256(path)
            except OSError as exc:
                refused[doc] = f"cannot be read ({exc.strerror or exc}): check its permissions"
                continue
            paths[doc] = path
    manifest_sha = ":".join(
        _sha256(folder / MANIFEST_NAME) if (folder / MANIFEST_NAME).exists() else "" for _, folder, _ in folders
    )
    fingerprint = {
        "model": model, "chunker": chunker_version, "format": INDEX_FORMAT, "manifest": manifest_sha, "files": shas,
        "refused": sorted(refused),
    }
    manifest = {**read_manifest(corpus_dir), **UploadFolder(uploads_dir).entries()}
    return _Corpus(paths, shas, manifest, fingerprint, refused)


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def check_dropped(path: Path, max_bytes: int) -> None:
    """Raise `InputError` for a file that cannot be added: missing, hidden, too big or of an unknown type."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise InputError(f"{path.name}: unsupported file type; use one of {', '.join(SUPPORTED_SUFFIXES)}")
    if path.name.startswith("."):
        raise InputError(f"{path.name}: hidden files are not ingested; rename it")
    if path.stat().st_size > max_bytes:
        raise InputError(f"{path.name} is larger than {max_bytes // (1024 * 1024)} MB (MCOF_MAX_UPLOAD_MB)")


def _copy_into_corpus(
    paths: Sequence[Path], corpus_dir: Path, max_bytes: int, load: Callable[[Path, None, int], Document]
) -> None:
    """Copy dropped files into the corpus folder; check (and read) them all before copying any,
    so a file that cannot be read is never stored."""
    for path in paths:
        check_dropped(path, max_bytes)
        try:
            load(path, None, max_bytes)
        except DocumentError as exc:
            raise InputError(f"{exc} (nothing was added)") from exc
    if paths:
        corpus_dir.mkdir(parents=True, exist_ok=True)
    for path in paths:
        target = corpus_dir / path.name
        if target.exists() and target.resolve() == path.resolve():
            continue
        copy_file(path, target)
        log.info("copied %s into %s", path, corpus_dir)


# --- the embedding cache and the record of what each generation was built from ------------


@dataclass(frozen=True)
class _State:
    """What a published generation was built from (to skip work when nothing changed)."""

    fingerprint: dict[str, Any]
    docs: tuple[str, ...]
    chunks: int
    skipped: dict[str, tuple[str, str]]  # file → (sha256 of the bytes that failed, reason)

    @property
    def skipped_reasons(self) -> tuple[tuple[str, str], ...]:
        return tuple((doc, reason) for doc, (_, reason) in sorted(self.skipped.items()))


class _Cache:
    """A sqlite file in the index folder, written only under the ingest lock.

    `vectors`: key = hash(model name, text) → float32 vector. `states`: generation → `_State`.
    Only a cache: a damaged file is moved aside and started afresh (`open`).
    """

    def __init__(self, path: Path) -> None:
        self.warnings: tuple[str, ...] = ()
        self._db = sqlite3.connect(path)
        try:
            self._db.executescript(
                "CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL);"
                "CREATE TABLE IF NOT EXISTS states (generation TEXT PRIMARY KEY, state TEXT NOT NULL);"
            )
            self._db.execute("SELECT count(*) FROM states").fetchone()
        except sqlite3.Error:
            self._db.close()
            raise

    @classmethod
    def open(cls, path: Path) -> _Cache:
        """The cache at `path`; a damaged one is renamed `*.damaged` and rebuilt (texts are embedded again)."""
        try:
            return cls(path)
        except sqlite3.Error as exc:
            aside = path.with_name(path.name + ".damaged")
            try:
                os.replace(path, aside)
            except OSError as move:
                raise StoreError(
                    f"the ingest cache {path} is damaged ({exc}) and cannot be moved aside ({move.strerror}): "
                    "delete it and run `mcof ingest` again"
                ) from exc
            log.warning("the ingest cache %s was damaged (%s): moved to %s, starting afresh", path, exc, aside)
            cache = cls(path)
            cache.warnings = (f"the ingest cache was damaged ({exc}): moved to {aside.name} and rebuilt",)
            return cache

    def close(self) -> None:
        self._db.close()

    def vectors(self, keys: Iterable[str]) -> dict[str, np.ndarray]:
        keys = list(keys)
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(keys), 500):
            batch = keys[i : i + 500]
            rows = self._db.execute(
                f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(batch))})", batch
            )
            out.update((key, np.frombuffer(blob, dtype=np.float32)) for key, blob in rows)
        return out

    def put(self, vectors: dict[str, np.ndarray]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                ((key, np.asarray(v, dtype=np.float32).tobytes()) for key, v in vectors.items()),
            )

    def retain(self, keys: Iterable[str]) -> None:
        """Keep only these vectors: the cache holds what the current generation uses."""
        with self._db:
            self._db.execute("CREATE TEMP TABLE IF NOT EXISTS keep (key TEXT PRIMARY KEY)")
            self._db.execute("DELETE FROM keep")
            self._db.executemany("INSERT OR IGNORE INTO keep VALUES (?)", ((k,) for k in keys))
            self._db.execute("DELETE FROM vectors WHERE key NOT IN (SELECT key FROM keep)")

    def state(self, generation: str) -> _State | None:
        row = self._db.execute("SELECT state FROM states WHERE generation = ?", (generation,)).fetchone()
        if row is None:
            return None
        data = json.loads(row[0])
        skipped = {doc: (sha, reason) for doc, sha, reason in data["skipped"]}
        return _State(data["fingerprint"], tuple(data["docs"]), int(data["chunks"]), skipped)

    def record(self, generation: str, state: _State) -> None:
        data = {
            "fingerprint": state.fingerprint,
            "docs": list(state.docs),
            "chunks": state.chunks,
            "skipped": [[doc, sha, reason] for doc, (sha, reason) in sorted(state.skipped.items())],
        }
        with self._db:
            self._db.execute("DELETE FROM states")
            self._db.execute("INSERT INTO states VALUES (?, ?)", (generation, json.dumps(data)))


class _LazyEmbedder:
    """An embedder, or a factory called only when a text must really be embedded."""

    def __init__(self, source: Embedder | Callable[[], Embedder], configured_name: str) -> None:
        self._embedder: Embedder | None = cast(Embedder, source) if hasattr(source, "embed") else None
        self._factory = cast(Callable[[], Embedder], source)
        self.name = self._embedder.name if self._embedder is not None else configured_name

    def get(self) -> Embedder:
        if self._embedder is None:
            self._embedder = self._factory()
        return self._embedder


# --- building a generation ---------------------------------------------------------------


@dataclass
class _Build:
    """One ingest that has to look at the files (the quick no-change check failed)."""

    settings: Settings
    store: Store
    model: _LazyEmbedder
    cache: _Cache
    corpus: _Corpus
    steps: IngestSteps
    progress: bool
    warnings: list[str] = field(default_factory=list)

    def run(self, rebuild: bool, max_bytes: int) -> IngestReport:
        previous = _open_previous(self.store, rebuild)
        try:
            return self._run(previous, rebuild, max_bytes)
        finally:
            if previous is not None:
                previous.close()

    def _run(self, previous: IndexReader | None, rebuild: bool, max_bytes: int) -> IngestReport:
        info = previous.info if previous else None
        old_files = {f.doc: f for f in info.files} if info else {}
        state = self.cache.state(info.generation) if info else None
        reprocess = (
            rebuild or info is None or info.chunker_version != self.steps.chunker_version or info.format != INDEX_FORMAT
        )

        reuse, load, skipped = _plan(self.corpus, old_files, state, reprocess)
        skipped.update((doc, ("", reason)) for doc, reason in self.corpus.refused.items())
        loaded = self._load(load, max_bytes, skipped)

        added = tuple(d for d in loaded if d not in old_files)
        changed = tuple(
            d
            for d in loaded
            if d in old_files and (old_files[d].sha256 != self.corpus.shas[d] or old_files[d].meta != loaded[d].meta)
        )
        removed = tuple(d for d in old_files if d not in loaded and d not in reuse)
        unchanged = tuple(d for d in self.corpus.shas if d in old_files and d not in changed + removed)
        report = IngestReport(
            generation=info.generation if info else "",
            added=added,
            changed=changed,
            removed=removed,
            unchanged=unchanged,
            skipped=tuple((d, reason) for d, (_, reason) in sorted(skipped.items())),
        )
        model_changed = info is not None and info.embedding_model != self.model.name
        if previous is not None and not (reprocess or model_changed or report.changed_anything):
            self._record(previous.info.generation, list(old_files), sum(f.chunks for f in old_files.values()), skipped)
            return replace(report, chunks=sum(f.chunks for f in old_files.values()), warnings=tuple(self.warnings))

        old_documents = previous.documents() if previous is not None and reuse else {}
        documents = {d: loaded.get(d) or old_documents[d] for d in self.corpus.shas if d in loaded or d in reuse}
        if not documents:
            raise InputError(
                f"no readable documents in {self.settings.corpus_dir} ({len(skipped)} skipped):"
                " add .txt, .md, .html, .pdf or .docx files; the existing index was kept"
            )
        chunks, sentences = self._passages(documents, reuse, previous)
        framework = self._framework(list(documents.values()))
        chunks = framework_labels(chunks, framework)
        generation, embedded, keys = self._write(documents, chunks, sentences, framework)
        self._record(generation, list(documents), len(chunks), skipped)
        self.cache.retain(keys)
        try:
            self.store.prune()
        except McofError as exc:  # the index is published; old generations go next time
            log.warning("could not drop old index generations: %s", exc)
        return replace(
            report,
            generation=generation,
            chunks=len(chunks),
            embedded=embedded,
            warnings=tuple(self.warnings),
        )

    def _load(self, docs: list[str], max_bytes: int, skipped: dict[str, tuple[str, str]]) -> dict[str, Document]:
        loaded: dict[str, Document] = {}
        for doc in tqdm(docs, desc="reading", unit="file", file=sys.stderr, disable=not self.progress):
            try:
                loaded[doc] = self.steps.load(self.corpus.paths[doc], self.corpus.manifest.get(doc), max_bytes)
            except DocumentError as exc:
                reason = str(exc).removeprefix(f"{doc}: ")  # the report names the file
                log.info("skipped %s: %s", doc, reason)  # reported by the front ends, from the report
                skipped[doc] = (self.corpus.shas[doc], reason)
        return loaded

    def _passages(
        self, documents: dict[str, Document], reuse: list[str], previous: IndexReader | None
    ) -> tuple[list[Chunk], list[Sentence]]:
        """Chunks and sentences of every document: the previous generation's for reused files."""
        old_chunks: dict[str, list[Chunk]] = {}
        old_sentences: dict[str, list[Sentence]] = {}
        if previous is not None and reuse:
            for c in previous.chunks():
                old_chunks.setdefault(c.doc, []).append(c)
            for s in previous.sentences():
                old_sentences.setdefault(s.chunk_id, []).append(s)
        chunks: list[Chunk] = []
        sentences: list[Sentence] = []
        for doc, document in documents.items():
            if doc in reuse:
                doc_chunks = old_chunks.get(doc, [])
                chunks.extend(doc_chunks)
                sentences.extend(s for c in doc_chunks for s in old_sentences.get(c.id, []))
            else:
                doc_chunks = self.steps.chunk(document)
                chunks.extend(doc_chunks)
                sentences.extend(s for c in doc_chunks for s in self.steps.sentences(c))
        return self._unique(chunks, "chunk"), self._unique(sentences, "sentence")

    def _unique(self, items: list[_Passage], what: str) -> list[_Passage]:
        """Drop repeated ids (identical passages): Chroma ids must be unique."""
        first: dict[str, _Passage] = {}
        for x in items:
            first.setdefault(x.id, x)
        out = list(first.values())
        if len(out) < len(items):
            self.warnings.append(f"{len(items) - len(out)} duplicate {what} ids dropped")
        return out

    def _framework(self, documents: list[Document]) -> FrameworkModel | None:
        try:
            return self.steps.parse_framework(documents)
        except FrameworkError as exc:
            self.warnings.append(f"MCOF framework structure not found ({exc}): sector and phase tools are off")
            return None

    def _write(
        self,
        documents: dict[str, Document],
        chunks: list[Chunk],
        sentences: list[Sentence],
        framework: FrameworkModel | None,
    ) -> tuple[str, int, list[str]]:
        """Embed what the cache lacks, then write and publish a new generation."""
        reading = list(dict.fromkeys(t for c in chunks for t in reading_texts(c.text)))
        section = {c.id: section_title(c) for c in chunks}
        texts = [c.index_text for c in chunks] + [s.text for s in sentences] + reading
        titles = [section[c.id] for c in chunks] + [section.get(s.chunk_id, "") for s in sentences]
        titles += [""] * len(reading)  # read as the answer step reads them: headings in the text, no title
        vectors, embedded, keys = self._vectors(texts, titles)
        passages = len(chunks) + len(sentences)
        counts: dict[str, int] = {}
        for c in chunks:
            counts[c.doc] = counts.get(c.doc, 0) + 1
        writer = self.store.begin()
        try:
            writer.add_chunks(chunks, vectors[: len(chunks)])
            writer.add_sentences(sentences, vectors[len(chunks) : passages])
            lexical = lexical_tables(list(documents.values()), chunks, sentences)
            arrays, meta = reading_tables(reading, vectors[passages:])  # so answering embeds only the question
            writer.add_lexical(replace(lexical, arrays={**lexical.arrays, **arrays}, meta={**lexical.meta, **meta}))
            info = IndexInfo(
                generation=writer.generation,
                embedding_model=self.model.name,
                dimension=int(vectors.shape[1]),
                chunker_version=self.steps.chunker_version,
                created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                files=tuple(
                    FileRecord(doc, self.corpus.shas[doc], counts.get(doc, 0), d.meta) for doc, d in documents.items()
                ),
            )
            writer.publish(info, list(documents.values()), framework)
        except BaseException:
            writer.abort()
            raise
        return writer.generation, embedded, keys

    def _vectors(self, texts: list[str], titles: list[str]) -> tuple[np.ndarray, int, list[str]]:
        """One vector per text, read under its title ("" for none; `embed_passages`): from the cache,
        else from the model (cached per batch, so a crashed ingest's work is not lost).
        Returns (vectors, texts embedded, cache keys)."""
        if not model_reads_titles(self.model.name, self.settings.models_dir):
            titles = [""] * len(texts)  # the model reads a text the same under any title: one vector per text
        keys = [
            content_hash(self.model.name, *((title, text) if title else (text,)), length=32)
            for text, title in zip(texts, titles, strict=True)
        ]
        known = self.cache.vectors(set(keys))
        missing = {k: (t, title) for k, t, title in zip(keys, texts, titles, strict=True) if k not in known}
        # similar lengths per batch: less padding, about twice as fast on the CPU
        todo = sorted(missing.items(), key=lambda item: len(item[1][0]) + len(item[1][1]))
        if todo:
            embedder = self.model.get()
            size = max(1, self.settings.embed_batch_size)
            with tqdm(
                total=len(todo), desc="embedding", unit="text", file=sys.stderr, disable=not self.progress
            ) as bar:
                for i in range(0, len(todo), size):
                    batch = todo[i : i + size]
                    vectors = embed_passages(embedder, [t for _, (t, _) in batch], [title for _, (_, title) in batch])
                    fresh = dict(zip((k for k, _ in batch), vectors, strict=True))
                    self.cache.put(fresh)
                    known.update(fresh)
                    bar.update(len(batch))
        if not keys:
            return np.zeros((0, self.model.get().dimension), dtype=np.float32), 0, keys
        return np.stack([known[k] for k in keys]), len(todo), keys

    def _record(self, generation: str, docs: list[str], chunks: int, skipped: dict[str, tuple[str, str]]) -> None:
        self.cache.record(generation, _State(self.corpus.fingerprint, tuple(docs), chunks, skipped))


def section_title(chunk: Chunk) -> str:
    """The title a chunk and its sentences are embedded under: the document's, then the section's.

    >>> from assistant.types import Chunk
    >>> section_title(Chunk("c", "d.txt", "MCOF (2012)", "Annex > Phases", "…", 0, 1, "…"))
    'MCOF (2012) | Annex > Phases'
    """
    return " | ".join(part for part in (chunk.title.strip(), chunk.section.strip()) if part)


def _plan(
    corpus: _Corpus, old_files: dict[str, FileRecord], state: _State | None, reprocess: bool
) -> tuple[list[str], list[str], dict[str, tuple[str, str]]]:
    """Split the corpus files into (reuse, load, known bad).

    A file is (re)loaded when it is new, its bytes changed, its manifest entry changed, or
    everything is reprocessed (--rebuild, new chunker). A new file that failed to load
    before with the same bytes is not tried again.
    """
    manifest_changed = state is None or state.fingerprint["manifest"] != corpus.manifest_sha
    reuse: list[str] = []
    load: list[str] = []
    known_bad: dict[str, tuple[str, str]] = {}
    for doc, sha in corpus.shas.items():
        old = old_files.get(doc)
        failed = state.skipped.get(doc) if state else None
        if old is None and failed and failed[0] == sha and not reprocess:
            known_bad[doc] = failed
        elif (
            old is None or reprocess or old.sha256 != sha or (manifest_changed and corpus.manifest.get(doc) != old.meta)
        ):
            load.append(doc)
        else:
            reuse.append(doc)
    return reuse, load, known_bad


def _open_previous(store: Store, rebuild: bool) -> IndexReader | None:
    """The current generation, to reuse from; a damaged one is ignored by --rebuild."""
    try:
        return store.open_current()
    except IndexMissingError:
        return None
    except McofError as exc:
        if not rebuild:
            raise
        log.warning("ignoring the current index: %s", exc)
        return None
