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
import sqlite3
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from .errors import FeedbackError, InputError
from .sqlitefile import SqliteFile
from .types import Feedback

COLUMNS = ("id", "answer_id", "created", "kind", "question", "answer", "citations", "rating", "comment")
MAX_COMMENT_CHARS = 2000
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

    The app's worker threads share one store (`SqliteFile`: WAL, retried writes).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file = SqliteFile(self.path, _prepare, "feedback", FeedbackError)

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
        return self._file.run(lambda db: int(db.execute(_UPSERT, values).fetchone()[0]))

    def rows(self) -> list[dict[str, Any]]:
        """Every row, oldest first, as {column: value}; no rows when nothing was stored yet."""
        if not self.path.exists():
            return []

        def read(db: sqlite3.Connection) -> list[dict[str, Any]]:
            cursor = db.execute(f"SELECT {', '.join(COLUMNS)} FROM feedback ORDER BY id")
            return [dict(zip(COLUMNS, row, strict=True)) for row in cursor]

        return self._file.run(read)

    def export_csv(self, out: TextIO) -> int:
        """Write every row as CSV (a header line, then one line per row) and return the row count."""
        rows = self.rows()
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        return len(rows)


def _prepare(db: sqlite3.Connection) -> None:
    """The table, the answer-id column and its unique index."""
    db.execute(_SCHEMA)
    columns = {row[1] for row in db.execute("PRAGMA table_info(feedback)")}
    if "answer_id" not in columns:
        for statement in _MIGRATIONS:
            db.execute(statement)
    db.execute(_INDEX)


def _check(rating: int, comment: str) -> None:
    if rating not in _RATINGS:
        raise InputError(f"a rating is -1, 0 or 1, not {rating}")
    if len(comment) > MAX_COMMENT_CHARS:
        raise InputError(f"the comment is longer than {MAX_COMMENT_CHARS} characters: shorten it")
