"""Feedback on answers and drafts, kept in one SQLite file (`MCOF_FEEDBACK_DB`) and exported as CSV.

Each row holds the question, the answer, its citations as JSON, the rating and the time.
A rating can be changed and a comment added later, so one answer keeps one row.

>>> import tempfile
>>> store = FeedbackStore(Path(tempfile.mkdtemp()) / "feedback.sqlite3")
>>> row = store.add(Feedback("answer", "How many sectors?", "Fifteen [1].", rating=1))
>>> store.update(row, comment="clear and cited")
>>> [(r["kind"], r["rating"], r["comment"]) for r in store.rows()]
[('answer', 1, 'clear and cited')]
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from .errors import ConfigError, InputError
from .types import Feedback

COLUMNS = ("id", "created", "kind", "question", "answer", "citations", "rating", "comment")
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
    comment TEXT NOT NULL DEFAULT ''
)
"""


class FeedbackStore:
    """Feedback rows in the SQLite file at `path` (created with its folder on the first write).

    Every call opens its own connection, so the app's worker threads can share one store.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def add(self, feedback: Feedback, created: datetime | None = None) -> int:
        """Store `feedback` and return its row id."""
        _check(feedback.rating, feedback.comment)
        when = (created or datetime.now(UTC)).isoformat(timespec="seconds")
        citations = json.dumps([asdict(c) for c in feedback.citations], ensure_ascii=False)
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO feedback (created, kind, question, answer, citations, rating, comment) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (when, feedback.kind, feedback.question, feedback.answer, citations, feedback.rating, feedback.comment),
            )
            return int(cursor.lastrowid or 0)

    def update(self, row_id: int, *, rating: int | None = None, comment: str | None = None) -> None:
        """Change the rating and/or the comment of row `row_id`."""
        _check(0 if rating is None else rating, comment or "")
        with self._connect() as db:
            if rating is not None:
                db.execute("UPDATE feedback SET rating = ? WHERE id = ?", (rating, row_id))
            if comment is not None:
                db.execute("UPDATE feedback SET comment = ? WHERE id = ?", (comment, row_id))

    def rows(self) -> list[dict[str, Any]]:
        """Every row, oldest first, as {column: value}; no rows when nothing was stored yet."""
        if not self.path.exists():
            return []
        with self._connect() as db:
            cursor = db.execute(f"SELECT {', '.join(COLUMNS)} FROM feedback ORDER BY id")
            return [dict(zip(COLUMNS, row, strict=True)) for row in cursor]

    def export_csv(self, out: TextIO) -> int:
        """Write every row as CSV (a header line, then one line per row) and return the row count."""
        rows = self.rows()
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        return len(rows)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # closing() closes the connection; `with db` makes the block one transaction
            with closing(sqlite3.connect(self.path, timeout=10)) as db, db:
                db.execute(_SCHEMA)
                yield db
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                f"cannot use the feedback database {self.path} ({exc}): set MCOF_FEEDBACK_DB to a writable file"
            ) from exc


def _check(rating: int, comment: str) -> None:
    if rating not in _RATINGS:
        raise InputError(f"a rating is -1, 0 or 1, not {rating}")
    if len(comment) > MAX_COMMENT_CHARS:
        raise InputError(f"the comment is longer than {MAX_COMMENT_CHARS} characters: shorten it")
