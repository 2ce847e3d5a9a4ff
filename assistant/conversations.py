"""Saved conversations, per user, in a SQLite file beside the feedback database.

One row per conversation: its id, owner, title, times and its exchanges as JSON (the
answers with their citations). A user only ever sees, renames or deletes their own rows.

>>> import tempfile
>>> store = ConversationStore(Path(tempfile.mkdtemp()) / "conversations.sqlite3")
>>> store.save("ana", "c1", (Exchange("How many sectors?", Answer("How many sectors?", "Fifteen [1]."), number=1),))
>>> [(s.id, s.title) for s in store.list("ana")], store.list("bo")
([('c1', 'How many sectors?')], [])
>>> store.load("ana", "c1").exchanges[0].answer.text
'Fifteen [1].'
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import ConversationError, InputError
from .sqlitefile import SqliteFile
from .types import Answer, Citation

TITLE_CHARS = 80  # a new conversation is titled with its first question, cut to this length
LISTED = 50  # conversations the sidebar lists, newest first

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    title TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    exchanges TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_user ON conversations (user, updated);
CREATE TABLE IF NOT EXISTS app_secret (id INTEGER PRIMARY KEY CHECK (id = 1), value TEXT NOT NULL);
"""

_SAVE = """
INSERT INTO conversations (id, user, title, created, updated, exchanges)
VALUES (:id, :user, :title, :now, :now, :exchanges)
ON CONFLICT (id) DO UPDATE SET updated = excluded.updated, exchanges = excluded.exchanges
WHERE conversations.user = excluded.user
"""


@dataclass(frozen=True)
class Exchange:
    """One question of a chat and what was shown for it: an answer, or an error message.

    `number` counts the conversation's questions (1, 2, ...) and stays when older exchanges are
    dropped; `answer_id` is what feedback on this answer is stored against.
    """

    question: str
    answer: Answer | None
    error: str = ""
    number: int = 0
    answer_id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class Summary:
    id: str
    title: str
    updated: str


@dataclass(frozen=True)
class Saved:
    id: str
    title: str
    exchanges: tuple[Exchange, ...]


def new_id() -> str:
    return uuid.uuid4().hex


def title_of(question: str) -> str:
    """A conversation's first title: its first question on one line, cut at a word.

    >>> title_of("What are the   three phases of a migration crisis, and what happens in each of them?")
    'What are the three phases of a migration crisis, and what happens in each of…'
    """
    text = " ".join(question.split())
    return text if len(text) <= TITLE_CHARS else text[:TITLE_CHARS].rsplit(" ", 1)[0] + "…"


class ConversationStore:
    """Conversations in the SQLite file at `path` (created with its folder on the first write)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file = SqliteFile(self.path, _prepare, "conversation", ConversationError)

    def save(self, user: str, conversation_id: str, exchanges: Sequence[Exchange]) -> None:
        """Store the exchanges of conversation `conversation_id`; a new one is titled with its first question."""
        if not exchanges:
            return
        values = {
            "id": conversation_id,
            "user": user,
            "title": title_of(exchanges[0].question),
            "now": _now(),
            "exchanges": json.dumps([_exchange_json(e) for e in exchanges], ensure_ascii=False),
        }
        self._file.run(lambda db: db.execute(_SAVE, values))

    def list(self, user: str) -> list[Summary]:
        """The user's conversations, most recently updated first."""
        if not self.path.exists():
            return []
        return self._file.run(lambda db: [Summary(*row) for row in db.execute(
            "SELECT id, title, updated FROM conversations WHERE user = ? ORDER BY updated DESC, rowid DESC LIMIT ?",
            (user, LISTED),
        )])

    def load(self, user: str, conversation_id: str) -> Saved | None:
        """The user's conversation `conversation_id`, or None when it is not theirs or not there."""
        if not self.path.exists():
            return None
        row = self._file.run(lambda db: db.execute(
            "SELECT title, exchanges FROM conversations WHERE id = ? AND user = ?", (conversation_id, user)
        ).fetchone())
        if row is None:
            return None
        return Saved(conversation_id, row[0], tuple(_exchange_from(e) for e in json.loads(row[1])))

    def rename(self, user: str, conversation_id: str, title: str) -> None:
        title = " ".join(title.split())
        if not title:
            raise InputError("a conversation needs a name")
        self._change(user, conversation_id, "UPDATE conversations SET title = ? WHERE id = ? AND user = ?",
                     (title[:200], conversation_id, user))

    def delete(self, user: str, conversation_id: str) -> None:
        self._change(user, conversation_id, "DELETE FROM conversations WHERE id = ? AND user = ?",
                     (conversation_id, user))

    def secret(self) -> str:
        """A random secret made once per file (it encrypts the conversation id the browser keeps)."""
        def read_or_make(db: sqlite3.Connection) -> str:
            db.execute("INSERT OR IGNORE INTO app_secret VALUES (1, ?)", (secrets.token_hex(32),))
            return str(db.execute("SELECT value FROM app_secret").fetchone()[0])

        return self._file.run(read_or_make)

    def _change(self, user: str, conversation_id: str, statement: str, values: tuple[Any, ...]) -> None:
        changed = self._file.run(lambda db: db.execute(statement, values).rowcount)
        if not changed:
            raise InputError("no such saved conversation (deleted in another window?)")


def _prepare(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _exchange_json(e: Exchange) -> dict[str, Any]:
    answer = None
    if e.answer is not None:
        answer = {k: v for k, v in asdict(e.answer).items() if k != "closest"}  # hits stay in the index
    return {"question": e.question, "answer": answer, "error": e.error, "number": e.number, "answer_id": e.answer_id}


def _exchange_from(data: dict[str, Any]) -> Exchange:
    answer = None
    if data.get("answer") is not None:
        a = dict(data["answer"])
        a["citations"] = tuple(Citation(**c) for c in a.get("citations", ()))
        answer = Answer(**a)
    return Exchange(data["question"], answer, data.get("error", ""), int(data.get("number", 0)), data["answer_id"])
