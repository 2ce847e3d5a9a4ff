"""Feedback on answers and drafts, kept in one SQLite file (`MCOF_FEEDBACK_DB`) and exported as CSV.

Each row holds the id of the answer (or draft) it is about, the question, the answer, its
citations as JSON, the rating, a comment and the time. Feedback is stored against its answer
id: rating an answer again or commenting on it changes that answer's row, never another's.

>>> import tempfile
>>> store = FeedbackStore(Path(tempfile.mkdtemp()) / "feedback.sqlite3")
>>> about = Feedback("answer", "How many sectors?", "Fifteen [1].")
>>> store.save("a1", about, rating=1) == store.save("a1", about, comment="clear and cited")
True
>>> [(r["answer_id"], r["rating"], r["comment"]) for r in store.rows()]
[('a1', 1, 'clear and cited')]
"""

from __future__ import annotations

import csv
import json
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO, TypeVar

from .errors import ConfigError, FeedbackError, InputError
from .types import Feedback

log = logging.getLogger(__name__)
T = TypeVar("T")

COLUMNS = ("id", "answer_id", "created", "kind", "question", "answer", "citations", "rating", "comment")
MAX_COMMENT_CHARS = 2000
BUSY_TIMEOUT_S = 2.0  # one attempt waits this long for another writer's lock...
ATTEMPTS = 5  # ...and is retried this often, with a short random pause, before giving up
_RATINGS = (-1, 0, 1)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    kind TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL,
    rating INTEGER NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    answer_id TEXT
)
"""
# Files written before answer ids existed get the column; their old rows keep NULL.
_MIGRATIONS = ("ALTER TABLE feedback ADD COLUMN answer_id TEXT",)
_INDEX = "CREATE UNIQUE INDEX IF NOT EXISTS feedback_answer ON feedback (answer_id)"

_UPSERT = """
INSERT INTO feedback (answer_id, created, kind, question, answer, citations, rating, comment)
VALUES (:answer_id, :created, :kind, :question, :answer, :citations, :rating, :comment)
ON CONFLICT (answer_id) DO UPDATE SET
    rating = CASE WHEN :set_rating THEN excluded.rating ELSE feedback.rating END,
    comment = CASE WHEN :set_comment THEN excluded.comment ELSE feedback.comment END
RETURNING id
"""


class FeedbackStore:
    """Feedback rows in the SQLite file at `path` (created with its folder on the first write).

    Every call opens its own connection, so the app's worker threads can share one store. The
    file is in WAL mode (readers never wait for a writer); a writer that finds the file locked
    waits briefly and tries again, so concurrent sessions lose nothing.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._ready = False  # schema checked by this store
        # One thread prepares the schema while the others wait: a connection that saw the table but not
        # yet the unique index (made by another thread a moment later) fails to compile the upsert.
        self._preparing = threading.Lock()

    def save(
        self,
        answer_id: str,
        feedback: Feedback,
        *,
        rating: int | None = None,
        comment: str | None = None,
        created: datetime | None = None,
    ) -> int:
        """Store feedback on answer `answer_id` and return its row id.

        The first call adds the row (`feedback`, with `rating` and `comment` when given); later
        calls for the same answer change only the rating and/or comment they are given.
        """
        if not answer_id:
            raise InputError("feedback needs the id of the answer it is about")
        row_rating = feedback.rating if rating is None else rating
        row_comment = feedback.comment if comment is None else comment
        _check(row_rating, row_comment)
        values = {
            "answer_id": answer_id,
            "created": (created or datetime.now(UTC)).isoformat(timespec="seconds"),
            "kind": feedback.kind,
            "question": feedback.question,
            "answer": feedback.answer,
            "citations": json.dumps([asdict(c) for c in feedback.citations], ensure_ascii=False),
            "rating": row_rating,
            "comment": row_comment,
            "set_rating": rating is not None,
            "set_comment": comment is not None,
        }
        return self._retrying(lambda db: int(db.execute(_UPSERT, values).fetchone()[0]))

    def rows(self) -> list[dict[str, Any]]:
        """Every row, oldest first, as {column: value}; no rows when nothing was stored yet."""
        if not self.path.exists():
            return []

        def read(db: sqlite3.Connection) -> list[dict[str, Any]]:
            cursor = db.execute(f"SELECT {', '.join(COLUMNS)} FROM feedback ORDER BY id")
            return [dict(zip(COLUMNS, row, strict=True)) for row in cursor]

        return self._retrying(read)

    def export_csv(self, out: TextIO) -> int:
        """Write every row as CSV (a header line, then one line per row) and return the row count."""
        rows = self.rows()
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        return len(rows)

    def _retrying(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run `operation` in one transaction; retried while another writer holds the lock."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return self._once(operation)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or attempt == ATTEMPTS:
                    raise _explained(self.path, exc) from exc
                log.info("feedback database busy (attempt %d of %d): %s", attempt, ATTEMPTS, exc)
                time.sleep(random.uniform(0.01, 0.05) * attempt)
            except (OSError, sqlite3.Error) as exc:
                raise _explained(self.path, exc) from exc
        raise AssertionError("unreachable")

    def _once(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self._ready:
            with self._preparing:
                if not self._ready:
                    setup = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)
                    try:
                        _prepare(setup)
                    finally:
                        setup.close()
                    self._ready = True
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)  # opened after the schema is complete
        try:
            db.execute("PRAGMA synchronous=NORMAL")  # with WAL: safe against a crashed app, no fsync per row
            with db:  # one transaction: committed on success, rolled back on error
                return operation(db)
        finally:
            db.close()


def _prepare(db: sqlite3.Connection) -> None:
    """WAL mode (kept by the file), the table, the answer-id column and its unique index."""
    db.execute("PRAGMA journal_mode=WAL")
    with db:
        db.execute(_SCHEMA)
        columns = {row[1] for row in db.execute("PRAGMA table_info(feedback)")}
        if "answer_id" not in columns:
            for statement in _MIGRATIONS:
                db.execute(statement)
        db.execute(_INDEX)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    message = str(exc).lower()
    return "locked" in message or "busy" in message


def _explained(path: Path, exc: Exception) -> Exception:
    """The error a user sees: what really happened to the feedback database, and what to do."""
    message = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
        waited = ATTEMPTS * BUSY_TIMEOUT_S
        return FeedbackError(
            f"the feedback database {path} stayed locked by other writers for about {waited:g} s "
            "and your feedback was not saved: try again in a moment"
        )
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in message:
        return ConfigError(
            f"the feedback database {path} is not a SQLite file ({message}): move it aside or set MCOF_FEEDBACK_DB"
        )
    if isinstance(exc, OSError) or "unable to open" in message or "readonly" in message:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else message
        return ConfigError(
            f"cannot write the feedback database {path} ({reason}): set MCOF_FEEDBACK_DB to a writable file"
        )
    return FeedbackError(f"the feedback database {path} failed ({message}): your feedback was not saved")


def _check(rating: int, comment: str) -> None:
    if rating not in _RATINGS:
        raise InputError(f"a rating is -1, 0 or 1, not {rating}")
    if len(comment) > MAX_COMMENT_CHARS:
        raise InputError(f"the comment is longer than {MAX_COMMENT_CHARS} characters: shorten it")
