"""The text side of one index generation: a SQLite file, written once at ingest, read-only after.

It holds the passages by position (chunks and sentences), their vectors (float16, one row per
chunk: the chunk's vector and its sentences'), the cleaned documents, the BM25 postings (term →
passage positions and term counts, as packed arrays) and the per-passage statistics retrieval
needs (lengths, priors, which chunk owns each sentence, id → position).
A serving process opens it read-only on first use and reads only what a search touches:
nothing is rebuilt and no passage is held in memory beyond the ones asked for.

>>> import tempfile
>>> path = Path(tempfile.mkdtemp()) / TEXT_INDEX_NAME
>>> with TextIndexWriter(path) as w:
...     w.add_lexical(LexicalTables({"chunks": {"camp": (np.array([0, 2]), np.array([1, 3]))}}))
>>> TextIndex(path).postings("chunks", "camp")[1].tolist()
[1, 3]
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from .errors import IndexMismatchError, StoreError
from .lexical import Postings
from .textutil import content_hash
from .types import Chunk, Document, DocumentMeta, Sentence

TEXT_INDEX_NAME = "text.sqlite3"

_SCHEMA = """
CREATE TABLE chunks (
    pos INTEGER PRIMARY KEY, id TEXT NOT NULL, doc TEXT NOT NULL, title TEXT NOT NULL, section TEXT NOT NULL,
    text TEXT NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, index_text TEXT NOT NULL,
    paragraph TEXT NOT NULL, sector INTEGER, kind TEXT NOT NULL
);
CREATE TABLE sentences (
    pos INTEGER PRIMARY KEY, id TEXT NOT NULL, chunk_id TEXT NOT NULL, text TEXT NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, doc TEXT NOT NULL
);
CREATE TABLE documents (
    doc TEXT PRIMARY KEY, meta TEXT NOT NULL, text TEXT NOT NULL, source_kind TEXT NOT NULL, sha256 TEXT NOT NULL
);
CREATE TABLE postings (
    list TEXT NOT NULL, term TEXT NOT NULL, df INTEGER NOT NULL, positions BLOB NOT NULL, counts BLOB NOT NULL,
    PRIMARY KEY (list, term)
) WITHOUT ROWID;
CREATE TABLE vectors (pos INTEGER PRIMARY KEY, chunk BLOB NOT NULL, sentences BLOB NOT NULL);
CREATE TABLE arrays (name TEXT PRIMARY KEY, dtype TEXT NOT NULL, data BLOB NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_INDEXES = """
CREATE INDEX chunks_by_doc ON chunks (doc, start, "end");
CREATE INDEX sentences_by_doc ON sentences (doc, start);
"""


READING_KEYS = "reading_keys"  # meta: content hashes of the texts the answer step embeds (`reading_tables`)
READING_VECTORS = "reading_vectors"  # array: their unit vectors, float16, one row per key


def reading_tables(texts: Sequence[str], vectors: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and meta entries that store passage-side vectors of `texts`, keyed by content hash
    (`reading_key`), for `TextIndex.reading_vectors`.

    >>> arrays, meta = reading_tables(["a"], np.array([[3.0, 4.0]]))
    >>> arrays[READING_VECTORS].tolist(), meta[READING_KEYS] == [reading_key("a")]
    ([0.60009765625, 0.7998046875], True)
    """
    unique = dict(zip((reading_key(t) for t in texts), range(len(texts)), strict=True))
    packed = unit_rows(np.asarray(vectors, dtype=np.float32)[list(unique.values())]).astype(np.float16)
    return {READING_VECTORS: packed.ravel()}, {READING_KEYS: list(unique)}


def reading_key(text: str) -> str:
    return content_hash("reading", text, length=24)


@dataclass(frozen=True)
class LexicalTables:
    """What retrieval precomputes at ingest (see `assistant.retrieval.lexical_tables`).

    `postings`: list name → term → postings; `arrays`: named per-passage statistics;
    `meta`: small JSON-able values (acronyms, document order...).
    """

    postings: Mapping[str, Mapping[str, Postings]]
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)


class TextIndexWriter:
    """Writes a new text index file; passages get positions in the order they are added.

    A chunk is added before its sentences, and all sentences of one chunk in one call.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        self._db = sqlite3.connect(path)
        self._db.execute("PRAGMA journal_mode=OFF")  # a new file: a crash leaves an unpublished generation
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.executescript(_SCHEMA)
        self._chunks = 0
        self._sentences = 0
        self._chunk_pos: dict[str, int] = {}

    def __enter__(self) -> TextIndexWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close(commit=kind is None)

    def add_chunks(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        _check_rows(chunks, vectors)
        rows = (
            (self._chunks + i, c.id, c.doc, c.title, c.section, c.text, c.start, c.end, c.index_text, c.paragraph,
             c.sector, c.kind)
            for i, c in enumerate(chunks)
        )  # fmt: skip
        self._db.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        packed = unit_rows(vectors).astype(np.float16)
        rows_of_vectors = ((self._chunks + i, row.tobytes()) for i, row in enumerate(packed))
        self._db.executemany("INSERT INTO vectors VALUES (?, ?, x'')", rows_of_vectors)
        self._chunk_pos.update((c.id, self._chunks + i) for i, c in enumerate(chunks))
        self._chunks += len(chunks)

    def add_sentences(self, sentences: Sequence[Sentence], vectors: np.ndarray) -> None:
        """The sentences, and their vectors beside their chunk's, in the order added (a sentence
        of no chunk added before keeps no vector: search never scores it)."""
        _check_rows(sentences, vectors)
        rows = ((self._sentences + i, s.id, s.chunk_id, s.text, s.start, s.end, s.doc) for i, s in enumerate(sentences))
        self._db.executemany("INSERT INTO sentences VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        self._sentences += len(sentences)
        owner = np.array([self._chunk_pos.get(s.chunk_id, -1) for s in sentences], dtype=np.int64)
        order = np.argsort(owner, kind="stable")
        packed = unit_rows(vectors).astype(np.float16)[order]
        owner = owner[order]
        cuts = np.flatnonzero(np.diff(owner)) + 1
        groups = zip(np.split(owner, cuts), np.split(packed, cuts), strict=True)
        self._db.executemany(
            "UPDATE vectors SET sentences = ? WHERE pos = ?",
            ((rows.tobytes(), int(pos[0])) for pos, rows in groups if len(pos) and pos[0] >= 0),
        )

    def add_documents(self, documents: Iterable[Document]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?)",
            ((d.meta.doc, json.dumps(asdict(d.meta)), d.text, d.source_kind, d.sha256) for d in documents),
        )

    def add_lexical(self, tables: LexicalTables) -> None:
        self._db.executemany(
            "INSERT INTO postings VALUES (?, ?, ?, ?, ?)",
            (
                (name, term, len(positions), _pack(positions, np.int32), _pack(counts, np.uint16))
                for name, lists in tables.postings.items()
                for term, (positions, counts) in lists.items()
            ),
        )
        self._db.executemany(
            "INSERT INTO arrays VALUES (?, ?, ?)",
            ((name, a.dtype.str, np.ascontiguousarray(a).tobytes()) for name, a in tables.arrays.items()),
        )
        self._db.executemany(
            "INSERT INTO meta VALUES (?, ?)", ((key, json.dumps(value)) for key, value in tables.meta.items())
        )

    def close(self, commit: bool = True) -> None:
        if commit:
            self._db.executescript(_INDEXES)
            self._db.commit()
        self._db.close()


class TextIndex:
    """Read-only access to a text index file, opened on first use; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._arrays: dict[str, np.ndarray] = {}
        self._meta: dict[str, Any] = {}
        self._catalog: dict[str, DocumentMeta] | None = None

    # --- passages ---------------------------------------------------------------------------

    @property
    def chunk_count(self) -> int:
        return int(self._one("SELECT count(*) FROM chunks")[0])

    @property
    def sentence_count(self) -> int:
        return int(self._one("SELECT count(*) FROM sentences")[0])

    def chunks_at(self, positions: Sequence[int]) -> list[Chunk]:
        """The chunks at these positions, in the order asked."""
        found = {row[0]: _chunk(row[1:]) for row in self._in("SELECT pos, * FROM chunks WHERE pos IN", positions)}
        return [found[int(p)] for p in positions]

    def vectors_at(self, positions: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The unit vectors of the chunks at these positions (one row each, in the order asked) and
        of their sentences (each chunk's in position order, chunk after chunk), as float32."""
        sql = "SELECT pos, chunk, sentences FROM vectors WHERE pos IN"
        found = {row[0]: row[1:] for row in self._in(sql, positions)}
        rows = [found[int(p)] for p in positions]
        chunks = np.frombuffer(b"".join(r[0] for r in rows), dtype=np.float16)
        sentences = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float16)
        dimension = len(rows[0][0]) // 2 if rows else 1
        return chunks.reshape(-1, dimension).astype(np.float32), sentences.reshape(-1, dimension).astype(np.float32)

    def sentences_at(self, positions: Sequence[int]) -> list[Sentence]:
        """The sentences at these positions, in the order asked."""
        found = {row[0]: _sentence(row[1:]) for row in self._in("SELECT pos, * FROM sentences WHERE pos IN", positions)}
        return [found[int(p)] for p in positions]

    def chunks_of(self, doc: str) -> list[Chunk]:
        """All chunks of one document in reading order."""
        return [_chunk(r) for r in self._all('SELECT * FROM chunks WHERE doc = ? ORDER BY start, "end"', (doc,))]

    def chunks(self) -> list[Chunk]:
        """Every chunk, by document and place (for ingest, tests and tools; a search never needs them all)."""
        return [_chunk(r) for r in self._all('SELECT * FROM chunks ORDER BY doc, start, "end"')]

    def sentences(self) -> list[Sentence]:
        """Every sentence, by document and place."""
        return [_sentence(r) for r in self._all("SELECT * FROM sentences ORDER BY doc, start")]

    # --- documents --------------------------------------------------------------------------

    def catalog(self) -> dict[str, DocumentMeta]:
        """Document name → metadata, in the order the documents were added."""
        if self._catalog is None:
            rows = self._all("SELECT doc, meta FROM documents ORDER BY rowid")
            self._catalog = {doc: _meta(json.loads(meta)) for doc, meta in rows}
        return dict(self._catalog)

    def documents(self) -> DocumentTexts:
        """The cleaned documents, each read from disk when asked for."""
        return DocumentTexts(self)

    def document(self, doc: str) -> Document | None:
        row = self._one("SELECT meta, text, source_kind, sha256 FROM documents WHERE doc = ?", (doc,), required=False)
        if row is None:
            return None
        return Document(_meta(json.loads(row[0])), row[1], row[2], row[3])

    # --- lexical tables -----------------------------------------------------------------------

    def postings(self, name: str, term: str) -> Postings | None:
        row = self._one(
            "SELECT positions, counts FROM postings WHERE list = ? AND term = ?", (name, term), required=False
        )
        if row is None:
            return None
        return np.frombuffer(row[0], dtype=np.int32), np.frombuffer(row[1], dtype=np.uint16)

    def document_frequency(self, name: str, term: str) -> int:
        row = self._one("SELECT df FROM postings WHERE list = ? AND term = ?", (name, term), required=False)
        return int(row[0]) if row else 0

    def array(self, name: str) -> np.ndarray:
        """A per-passage statistic written at ingest (read once, then kept: a few bytes a passage)."""
        if name not in self._arrays:
            dtype, data = self._one("SELECT dtype, data FROM arrays WHERE name = ?", (name,))
            self._arrays[name] = np.frombuffer(data, dtype=np.dtype(dtype))
        return self._arrays[name]

    def reading_vectors(self) -> dict[str, np.ndarray]:
        """Passage-side vectors of the texts the answer step embeds (`READING_KEYS`: their content
        hashes), written at ingest; empty for an index written before they were."""
        row = self._one("SELECT value FROM meta WHERE key = ?", (READING_KEYS,), required=False)
        if row is None:
            return {}
        keys = json.loads(row[0])
        vectors = self.array(READING_VECTORS).reshape(len(keys), -1) if keys else np.zeros((0, 1), np.float16)
        return dict(zip(keys, vectors, strict=True))

    def meta(self, key: str, default: Any = None) -> Any:
        """A value stored at ingest; `default` when given and the index was written before that key existed."""
        if key not in self._meta:
            row = self._one("SELECT value FROM meta WHERE key = ?", (key,), required=default is None)
            self._meta[key] = json.loads(row[0]) if row is not None else default
        return self._meta[key]

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # --- SQLite -------------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            if not self.path.is_file():
                raise IndexMismatchError(
                    f"the text index {self.path} is missing: the index was written by an older version, or this "
                    "process does not see the ingest's index folder; run `mcof ingest --rebuild`"
                )
            # immutable: a published generation never changes, so no locks and no change checks
            self._db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro&immutable=1", uri=True,
                                       check_same_thread=False)  # fmt: skip
        return self._db

    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._connection().execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"text index {self.path}: {exc}: run `mcof ingest --rebuild`") from exc

    def _one(self, sql: str, args: Sequence[Any] = (), required: bool = True) -> Any:
        rows = self._all(sql, args)
        if not rows and required:
            raise StoreError(f"text index {self.path} is incomplete ({sql.split('WHERE')[0].strip()})")
        return rows[0] if rows else None

    def _in(self, sql: str, positions: Sequence[int]) -> list[tuple[Any, ...]]:
        wanted = sorted({int(p) for p in positions})
        rows: list[tuple[Any, ...]] = []
        for i in range(0, len(wanted), 500):
            batch = wanted[i : i + 500]
            rows += self._all(f"{sql} ({','.join('?' * len(batch))})", batch)
        return rows


class DocumentTexts(Mapping[str, Document]):
    """Document name → cleaned document, read from the text index on each lookup."""

    def __init__(self, index: TextIndex) -> None:
        self._index = index

    def __getitem__(self, doc: str) -> Document:
        document = self._index.document(doc)
        if document is None:
            raise KeyError(doc)
        return document

    def __iter__(self) -> Iterator[str]:
        return iter(self._index.catalog())

    def __len__(self) -> int:
        return len(self._index.catalog())


def _check_rows(passages: Sequence[Any], vectors: np.ndarray) -> None:
    if len(passages) != len(vectors):
        raise ValueError(f"{len(passages)} passages but {len(vectors)} vectors")


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (a zero row stays zero), as float32: cosine becomes a dot product.

    >>> unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
    [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
    """
    matrix = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.asarray(matrix / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def _pack(values: np.ndarray, dtype: type[np.generic]) -> bytes:
    return np.asarray(values, dtype=dtype).tobytes()


def _chunk(row: Sequence[Any]) -> Chunk:
    _, chunk_id, doc, title, section, text, start, end, index_text, paragraph, sector, kind = row
    return Chunk(chunk_id, doc, title, section, text, start, end, index_text, paragraph, sector, kind)


def _sentence(row: Sequence[Any]) -> Sentence:
    _, sentence_id, chunk_id, text, start, end, doc = row
    return Sentence(sentence_id, chunk_id, text, start, end, doc)


def _meta(data: Mapping[str, Any]) -> DocumentMeta:
    return DocumentMeta(**{**data, "aliases": tuple(data.get("aliases", ()))})
