"""The index store: immutable index *generations*, published atomically.

Each ingest writes a whole new generation and only then points the store at it: the chunk
vectors in Chroma (searched for the nearest chunks), and the generation's text index
(`assistant.textindex`: the passages with their chunk and sentence vectors, the cleaned
documents, the BM25 postings and statistics) in the file
`index_dir/generations/<gen>/text.sqlite3`. Readers open published generations only, so a
crash mid-ingest never touches the index being searched.

- Embedded mode: every generation is its own PersistentClient under
  `index_dir/generations/<gen>/`; the pointer is the file `index_dir/CURRENT`, replaced
  atomically. No Chroma path is ever written by one process while another reads it.
- Server mode (`MCOF_CHROMA_HOST`): one Chroma server holds the vectors; a generation is the
  collections `<collection>-<gen>-chunks` and `-meta` plus its text index file
  in `index_dir`; the pointer is one record of the collection `<collection>-current`, upserted
  last. Every app process opens the text index file of the current generation read-only.

The current generation and the previous two are kept (a running app may still read one).
This is the only module that imports chromadb, and only when a store is first used.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from .config import Settings
from .errors import ConfigError, IndexMismatchError, IndexMissingError, McofError, StoreError
from .files import replace_text
from .textindex import TEXT_INDEX_NAME, LexicalTables, TextIndex, TextIndexWriter
from .types import Chunk, Document, DocumentMeta, FrameworkModel, Sentence

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

log = logging.getLogger(__name__)

Kind = Literal["chunks", "meta"]
_KINDS: tuple[Kind, ...] = ("chunks", "meta")
_OLD_KINDS = ("sentences",)  # collections of generations of format 2, dropped with them
KEEP_PREVIOUS = 2  # published generations kept besides the current one
_HNSW = {"hnsw": {"space": "cosine", "ef_construction": 200, "ef_search": 200}}
_PAGE = 5000  # records per get() call
_META_VECTOR = np.ones((1, 1), dtype=np.float32)  # meta records are not searched, but Chroma needs a vector
# 2: passages, documents and the lexical index in the generation's text index, Chroma holds vectors only
# 3: sentence vectors (and a copy of the chunk vectors) in the text index, Chroma holds chunk vectors only
INDEX_FORMAT = 3


@dataclass(frozen=True)
class FileRecord:
    """One ingested source file of a generation."""

    doc: str
    sha256: str  # of the file's bytes
    chunks: int
    meta: DocumentMeta


@dataclass(frozen=True)
class IndexInfo:
    """What a generation was built from and with."""

    generation: str
    embedding_model: str
    dimension: int
    chunker_version: str
    created: str  # ISO 8601 UTC
    files: tuple[FileRecord, ...] = ()
    format: int = INDEX_FORMAT  # generations written before the text index read back as 1


class IndexReader(Protocol):
    """One published, immutable generation."""

    @property
    def info(self) -> IndexInfo: ...

    def chunks(self) -> list[Chunk]: ...

    def sentences(self) -> list[Sentence]: ...

    def documents(self) -> dict[str, Document]: ...

    def framework(self) -> FrameworkModel | None: ...

    def text_index(self) -> TextIndex: ...

    def query(self, vectors: np.ndarray, k: int) -> list[list[tuple[str, float]]]: ...

    def close(self) -> None: ...


class GenerationWriter(Protocol):
    """A generation being built. Nothing is visible to readers before `publish`."""

    @property
    def generation(self) -> str: ...

    def add_chunks(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None: ...

    def add_sentences(self, sentences: Sequence[Sentence], vectors: np.ndarray) -> None: ...

    def add_lexical(self, tables: LexicalTables) -> None: ...

    def publish(self, info: IndexInfo, documents: Sequence[Document], framework: FrameworkModel | None) -> None: ...

    def abort(self) -> None: ...


class Store(Protocol):
    """Where generations live. The write side assumes the caller holds the ingest lock."""

    @property
    def where(self) -> str: ...

    def current_generation(self) -> str | None: ...

    def open_current(self) -> IndexReader: ...

    def begin(self) -> GenerationWriter: ...

    def prune(self) -> tuple[str, ...]: ...


def open_store(settings: Settings) -> Store:
    """The store the settings name: a Chroma server when `chroma_host` is set, else `index_dir`."""
    backend: _Backend
    if settings.server_mode:
        backend = _ServerBackend(settings.chroma_host, settings.chroma_port, settings.collection, settings.index_dir)
    else:
        backend = _EmbeddedBackend(settings.index_dir)
    return ChromaStore(backend, settings.collection)


def check_compatible(info: IndexInfo, embedder_name: str, dimension: int) -> None:
    """Raise `IndexMismatchError` unless the index was built with this embedder.

    >>> info = IndexInfo("g1", "all-MiniLM-L6-v2", 384, "v1", "2025-01-01T00:00:00Z")
    >>> check_compatible(info, "all-MiniLM-L6-v2", 384)
    """
    if info.embedding_model != embedder_name or info.dimension != dimension:
        raise IndexMismatchError(
            f"the index was built with {info.embedding_model!r} ({info.dimension} dimensions) but the "
            f"configured embedding model is {embedder_name!r} ({dimension} dimensions): "
            "run `mcof ingest --rebuild`"
        )


def new_generation_name() -> str:
    """A unique, time-ordered generation name that is valid in a Chroma collection name.

    Microseconds keep names made within one second in creation order.
    """
    now = time.time()
    micros = int((now % 1) * 1_000_000)
    return time.strftime("g%Y%m%d%H%M%S", time.gmtime(now)) + f"{micros:06d}-" + secrets.token_hex(3)


# --- the store, the same for both modes -------------------------------------------------


class ChromaStore:
    """Generations of Chroma collections behind an atomically replaced pointer."""

    def __init__(self, backend: _Backend, collection: str) -> None:
        self._backend = backend
        self._prefix = collection

    @property
    def where(self) -> str:
        return self._backend.where

    def current_generation(self) -> str | None:
        pointer = self._backend.read_pointer()
        if pointer is None or not self._backend.exists(pointer.current):
            return None
        return pointer.current

    def open_current(self) -> ChromaIndex:
        generation = self.current_generation()
        if generation is None:
            raise IndexMissingError(self.where)
        return ChromaIndex(self._backend, self._prefix, generation)

    def begin(self) -> ChromaWriter:
        return ChromaWriter(self._backend, self._prefix, new_generation_name())

    def prune(self) -> tuple[str, ...]:
        """Drop every generation that is neither current nor one of the kept previous ones.

        That includes the partial generation of a crashed ingest. Returns the names dropped.
        """
        pointer = self._backend.read_pointer()
        keep = {pointer.current, *pointer.previous} if pointer else set()
        dropped = tuple(sorted(self._backend.generations() - keep))
        for generation in dropped:
            self._backend.drop(generation)
            log.info("dropped index generation %s", generation)
        return dropped


class ChromaIndex:
    """A reader of one published generation: vectors in Chroma, the rest in its text index."""

    def __init__(self, backend: _Backend, prefix: str, generation: str) -> None:
        self._backend = backend
        self._client = backend.client(generation, create=False)
        self._framework: FrameworkModel | None = None
        try:
            with backend.guard(f"opening index generation {generation}"):
                self._collections = {
                    kind: self._client.get_collection(
                        _collection_name(prefix, generation, kind), embedding_function=None
                    )
                    for kind in _KINDS
                }
                self._counts = {kind: col.count() for kind, col in self._collections.items()}
                got = self._collections["meta"].get(ids=["info", "framework"], include=["documents"])
            records = dict(zip(got["ids"], got["documents"] or (), strict=True))
            if "info" not in records:
                raise StoreError(
                    f"index generation {generation} at {backend.where} is incomplete: run `mcof ingest --rebuild`"
                )
        except BaseException:
            backend.release(self._client)
            raise
        self._info = _info_from_dict(json.loads(records["info"]))
        self._framework_json = records.get("framework")
        self._text = TextIndex(backend.text_path(generation))

    @property
    def info(self) -> IndexInfo:
        return self._info

    def text_index(self) -> TextIndex:
        """The generation's passages, documents and lexical index (opened on first use)."""
        if self._info.format != INDEX_FORMAT:
            raise IndexMismatchError(
                f"index generation {self._info.generation} at {self._backend.where} was written by an older "
                "version of the assistant: run `mcof ingest`"
            )
        return self._text

    def chunks(self) -> list[Chunk]:
        return self.text_index().chunks()

    def sentences(self) -> list[Sentence]:
        return self.text_index().sentences()

    def documents(self) -> dict[str, Document]:
        return dict(self.text_index().documents())

    def framework(self) -> FrameworkModel | None:
        if self._framework is None and self._framework_json is not None:
            from .framework import framework_from_dict

            self._framework = framework_from_dict(json.loads(self._framework_json))
        return self._framework

    def query(self, vectors: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """The nearest chunk ids per query row (all rows in one Chroma query), best first, with
        cosine similarity (1 - cosine distance)."""
        queries = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        n = min(k, self._counts["chunks"])
        if n <= 0 or len(queries) == 0:
            return [[] for _ in range(len(queries))]
        with self._backend.guard("searching chunks"):
            result = self._collections["chunks"].query(query_embeddings=queries, n_results=n, include=["distances"])
        distances = result["distances"] or []
        return [
            [(i, 1.0 - float(d)) for i, d in zip(ids, dists, strict=True)]
            for ids, dists in zip(result["ids"], distances, strict=True)
        ]

    def close(self) -> None:
        self._text.close()
        self._backend.release(self._client)


class ChromaWriter:
    """Builds one generation; `publish` makes it current, `abort` deletes it."""

    def __init__(self, backend: _Backend, prefix: str, generation: str) -> None:
        self._backend = backend
        self._prefix = prefix
        self._generation = generation
        self._published = False
        self._client: ClientAPI | None = backend.client(generation, create=True)
        self._text: TextIndexWriter | None = None
        try:
            self._text = TextIndexWriter(backend.text_path(generation))
            with backend.guard(f"creating index generation {generation}"):
                self._collections = {
                    kind: self._client.create_collection(
                        _collection_name(prefix, generation, kind),
                        configuration=_HNSW,  # type: ignore[arg-type]
                        embedding_function=None,
                    )
                    for kind in _KINDS
                }
                self._batch = max(1, min(self._client.get_max_batch_size(), _PAGE))
        except BaseException:
            self.abort()
            raise

    @property
    def generation(self) -> str:
        return self._generation

    def add_chunks(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Vectors to Chroma, the chunks and their vectors to the text index."""
        self._add("chunks", [c.id for c in chunks], vectors)
        self._text_writer().add_chunks(chunks, vectors)

    def add_sentences(self, sentences: Sequence[Sentence], vectors: np.ndarray) -> None:
        """Sentences and their vectors to the text index only: search scores them for candidate chunks."""
        self._text_writer().add_sentences(sentences, vectors)

    def add_lexical(self, tables: LexicalTables) -> None:
        """The lexical index and statistics of the passages added (`assistant.retrieval.lexical_tables`)."""
        self._text_writer().add_lexical(tables)

    def publish(self, info: IndexInfo, documents: Sequence[Document], framework: FrameworkModel | None) -> None:
        """Store the documents, framework and info, then point the store at this generation."""
        if info.generation != self._generation:
            raise ValueError(f"info names generation {info.generation}, not {self._generation}")
        text = self._text_writer()
        text.add_documents(documents)
        text.close()
        self._text = None
        meta = self._collections["meta"]
        with self._backend.guard("writing index metadata"):
            if framework is not None:
                from .framework import framework_to_dict

                meta.add(
                    ids=["framework"],
                    embeddings=_META_VECTOR,
                    documents=[json.dumps(framework_to_dict(framework))],
                    metadatas=[{"kind": "framework"}],
                )
            meta.add(
                ids=["info"],
                embeddings=_META_VECTOR,
                documents=[json.dumps(asdict(info))],
                metadatas=[{"kind": "info"}],
            )
        self._release()  # flushes an embedded store before the pointer names it
        previous = self._backend.read_pointer()
        pointer = previous.advance(self._generation) if previous else _Pointer(self._generation)
        self._backend.write_pointer(pointer)
        self._published = True
        log.info("published index generation %s", self._generation)

    def abort(self) -> None:
        """Delete the unpublished generation (no-op after `publish`)."""
        if self._published:
            return
        if self._text is not None:
            self._text.close(commit=False)
            self._text = None
        self._release()
        try:
            self._backend.drop(self._generation)
        except McofError as exc:  # the next ingest's prune retries
            log.warning("could not delete partial index generation %s: %s", self._generation, exc)

    def _release(self) -> None:
        if self._client is not None:
            self._backend.release(self._client)
            self._client = None

    def _text_writer(self) -> TextIndexWriter:
        if self._text is None:
            raise StoreError(f"index generation {self._generation} is already published or aborted")
        return self._text

    def _add(self, kind: Kind, ids: list[str], vectors: np.ndarray) -> None:
        if len(ids) != len(vectors):
            raise ValueError(f"{len(ids)} {kind} but {len(vectors)} vectors")
        with self._backend.guard(f"adding {kind}"):
            for i in range(0, len(ids), self._batch):
                j = i + self._batch
                self._collections[kind].add(
                    ids=ids[i:j],
                    embeddings=np.asarray(vectors[i:j], dtype=np.float32),
                )


# --- a bare collection, for the naive baseline of the benchmarks -------------------------


class NaiveCollection:
    """One plain Chroma collection at `path`, written and searched by this process only.

    The vector store of the LangChain-tutorial baseline in `bench/naive.py`: no generations,
    no pointer, Chroma's default distance. The assistant itself never uses it.
    """

    def __init__(self, path: Path, name: str) -> None:
        self._where = str(path)
        with self._guard("opening"):
            import chromadb

            path.mkdir(parents=True, exist_ok=True)
            self._client = chromadb.PersistentClient(path=str(path), settings=_chroma_settings())
            self._collection = self._client.get_or_create_collection(name, embedding_function=None)

    def add(
        self, ids: Sequence[str], vectors: np.ndarray, texts: Sequence[str], metadatas: Sequence[Mapping[str, str]]
    ) -> None:
        with self._guard("adding"):
            step = self._client.get_max_batch_size()
            for i in range(0, len(ids), step):
                j = i + step
                self._collection.add(
                    ids=list(ids[i:j]),
                    embeddings=np.asarray(vectors[i:j], dtype=np.float32),
                    documents=list(texts[i:j]),
                    metadatas=[dict(md) for md in metadatas[i:j]],
                )

    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, dict[str, Any], float]]:
        """The k nearest records to one vector, nearest first: (text, metadata, distance)."""
        with self._guard("searching"):
            got = self._collection.query(
                query_embeddings=np.atleast_2d(np.asarray(vector, dtype=np.float32)),
                n_results=k,
                include=["documents", "metadatas", "distances"],
            )
        texts = (got["documents"] or [[]])[0]
        metadatas = (got["metadatas"] or [[]])[0]
        distances = (got["distances"] or [[]])[0]
        return [(t, dict(md or {}), float(d)) for t, md, d in zip(texts, metadatas, distances, strict=True)]

    def close(self) -> None:
        with suppress(Exception):
            self._client.close()  # type: ignore[attr-defined]

    def _guard(self, action: str) -> AbstractContextManager[None]:
        return _guarded(f"{action} the collection", self._where, "delete the folder and run the benchmark again")


# --- where generations and the pointer live ---------------------------------------------


@dataclass(frozen=True)
class _Pointer:
    current: str
    previous: tuple[str, ...] = field(default=())

    def advance(self, generation: str) -> _Pointer:
        """`g2` published over current `g1` (previous `g0`) → current `g2`, previous `g1, g0`."""
        return _Pointer(generation, (self.current, *self.previous)[:KEEP_PREVIOUS])


class _Backend(Protocol):
    where: str

    def client(self, generation: str, *, create: bool) -> ClientAPI: ...

    def release(self, client: ClientAPI) -> None: ...

    def exists(self, generation: str) -> bool: ...

    def generations(self) -> set[str]: ...

    def drop(self, generation: str) -> None: ...

    def text_path(self, generation: str) -> Path: ...

    def read_pointer(self) -> _Pointer | None: ...

    def write_pointer(self, pointer: _Pointer) -> None: ...

    def guard(self, action: str) -> AbstractContextManager[None]: ...


def _chroma_settings() -> Any:
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


@contextmanager
def _guarded(action: str, where: str, hint: str) -> Iterator[None]:
    """Turn any Chroma failure into a one-line `StoreError` that says what to do."""
    try:
        yield
    except McofError:
        raise
    except Exception as exc:
        detail = " ".join(str(exc).split())[:200] or exc.__class__.__name__
        raise StoreError(f"vector store at {where}: {action} failed ({detail}): {hint}") from exc


class _EmbeddedBackend:
    """One PersistentClient per generation directory; the pointer is a JSON file."""

    def __init__(self, index_dir: Path) -> None:
        blocking = next((p for p in (index_dir, *index_dir.parents) if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            raise ConfigError(
                f"the index folder {index_dir} cannot be created: {blocking} is a file, not a folder "
                "(set MCOF_INDEX_DIR to a folder)"
            )
        self._root = index_dir
        self._generations = index_dir / "generations"
        self._pointer = index_dir / "CURRENT"
        self.where = str(index_dir)

    def guard(self, action: str) -> AbstractContextManager[None]:
        return _guarded(action, self.where, "run `mcof ingest --rebuild` if the index is damaged")

    def client(self, generation: str, *, create: bool) -> ClientAPI:
        path = self._generations / generation
        if not create and not path.is_dir():
            raise IndexMissingError(str(path))
        with self.guard(f"opening {path}"):
            import chromadb

            path.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(path / "chroma"), settings=_chroma_settings())

    def release(self, client: ClientAPI) -> None:
        with suppress(Exception):
            client.close()  # type: ignore[attr-defined]

    def exists(self, generation: str) -> bool:
        return (self._generations / generation).is_dir()

    def generations(self) -> set[str]:
        if not self._generations.is_dir():
            return set()
        return {p.name for p in self._generations.iterdir() if p.is_dir()}

    def drop(self, generation: str) -> None:
        shutil.rmtree(self._generations / generation, ignore_errors=True)

    def text_path(self, generation: str) -> Path:
        return self._generations / generation / TEXT_INDEX_NAME

    def read_pointer(self) -> _Pointer | None:
        try:
            data = json.loads(self._pointer.read_text(encoding="utf-8"))
            return _Pointer(str(data["current"]), tuple(str(g) for g in data.get("previous", ())))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"{self._pointer} is damaged ({exc}): delete it and run `mcof ingest --rebuild`") from exc

    def write_pointer(self, pointer: _Pointer) -> None:
        """Write-temp, fsync, rename: a reader sees the old pointer or the new one, never half."""
        replace_text(self._pointer, json.dumps({"current": pointer.current, "previous": list(pointer.previous)}),
                     durable=True)


class _ServerBackend:
    """Collections on one Chroma server; the pointer is a record of `<collection>-current`."""

    def __init__(self, host: str, port: int, prefix: str, index_dir: Path) -> None:
        self.where = f"{host}:{port}"
        self._generations = index_dir / "generations"  # the text index of each generation
        self._host = host
        self._port = port
        self._prefix = prefix
        kinds = "|".join((*_KINDS, *_OLD_KINDS))
        self._pattern = re.compile(re.escape(prefix) + rf"-(g\d{{14,20}}-[0-9a-f]{{6}})-(?:{kinds})")
        self._client: ClientAPI | None = None
        self._pointer_collection: Collection | None = None

    def guard(self, action: str) -> AbstractContextManager[None]:
        return _guarded(
            action,
            self.where,
            f"is the Chroma server running? start it with `chroma run --path <dir> --host {self._host} "
            f"--port {self._port}`, or unset MCOF_CHROMA_HOST to use the embedded index",
        )

    def client(self, generation: str = "", *, create: bool = False) -> ClientAPI:
        if self._client is None:
            with self.guard("connecting"):
                import chromadb

                self._client = chromadb.HttpClient(host=self._host, port=self._port, settings=_chroma_settings())
        return self._client

    def release(self, client: ClientAPI) -> None:
        """The HTTP client is shared by every generation; nothing to release."""

    def exists(self, generation: str) -> bool:
        return True  # the pointer is upserted only after the generation is complete

    def generations(self) -> set[str]:
        client = self.client()
        names: list[str] = []
        with self.guard("listing collections"):
            while True:
                page = client.list_collections(limit=100, offset=len(names))
                names.extend(c.name for c in page)
                if len(page) < 100:
                    break
        local = {p.name for p in self._generations.iterdir()} if self._generations.is_dir() else set()
        return {m.group(1) for name in names if (m := self._pattern.fullmatch(name))} | local

    def drop(self, generation: str) -> None:
        client = self.client()
        for kind in (*_KINDS, *_OLD_KINDS):
            with suppress(Exception):  # absent when a crash stopped the generation early, or of another format
                client.delete_collection(_collection_name(self._prefix, generation, kind))
        shutil.rmtree(self._generations / generation, ignore_errors=True)

    def text_path(self, generation: str) -> Path:
        return self._generations / generation / TEXT_INDEX_NAME

    def read_pointer(self) -> _Pointer | None:
        with self.guard("reading the current generation"):
            if self._pointer_collection is None:
                from chromadb.errors import NotFoundError

                try:
                    self._pointer_collection = self.client().get_collection(
                        f"{self._prefix}-current", embedding_function=None
                    )
                except (NotFoundError, ValueError):
                    return None
            got = self._pointer_collection.get(ids=["pointer"], include=["metadatas"])
        if not got["ids"] or not got["metadatas"]:
            return None
        md = got["metadatas"][0]
        previous = tuple(g for g in str(md.get("previous", "")).split(",") if g)
        return _Pointer(str(md["current"]), previous)

    def write_pointer(self, pointer: _Pointer) -> None:
        with self.guard("publishing the new generation"):
            col = self.client().get_or_create_collection(f"{self._prefix}-current", embedding_function=None)
            col.upsert(
                ids=["pointer"],
                embeddings=_META_VECTOR,
                metadatas=[{"current": pointer.current, "previous": ",".join(pointer.previous)}],
            )
            self._pointer_collection = col


def _collection_name(prefix: str, generation: str, kind: str) -> str:
    return f"{prefix}-{generation}-{kind}"


# --- records <-> domain types -----------------------------------------------------------


def _info_from_dict(data: Mapping[str, Any]) -> IndexInfo:
    files = tuple(
        FileRecord(
            doc=f["doc"],
            sha256=f["sha256"],
            chunks=int(f["chunks"]),
            meta=DocumentMeta(**{**f["meta"], "aliases": tuple(f["meta"].get("aliases", ()))}),
        )
        for f in data["files"]
    )
    return IndexInfo(
        generation=data["generation"],
        embedding_model=data["embedding_model"],
        dimension=int(data["dimension"]),
        chunker_version=data["chunker_version"],
        created=data["created"],
        files=files,
        format=int(data.get("format", 1)),
    )
