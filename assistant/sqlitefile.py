"""One SQLite file shared by the app's worker threads (feedback, saved conversations).

Every call opens its own connection, so threads can share one `SqliteFile`. The file is in
WAL mode (readers never wait for a writer); one thread prepares a new file's schema while
the others wait; a writer that finds the file locked waits briefly and tries again, so
concurrent sessions lose nothing. Failures become errors a user can act on.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .errors import ConfigError, McofError

log = logging.getLogger(__name__)
T = TypeVar("T")

BUSY_TIMEOUT_S = 2.0  # one attempt waits this long for another writer's lock...
ATTEMPTS = 5  # ...and is retried this often, with a short random pause, before giving up


class SqliteFile:
    """The SQLite file at `path` (created with its folder on first use); `prepare` makes its schema.

    `what` names the contents in error messages ("feedback" → "your feedback was not saved"); a locked
    or failing database raises `error`.
    """

    def __init__(
        self, path: Path, prepare: Callable[[sqlite3.Connection], None], what: str, error: type[McofError]
    ) -> None:
        self.path = Path(path)
        self.what = what
        self.error = error
        self._prepare = prepare
        self._ready = False  # schema checked by this object
        # One thread prepares the schema while the others wait: a connection that saw the table but not
        # yet a unique index (made by another thread a moment later) fails to compile an upsert.
        self._preparing = threading.Lock()

    def run(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run `operation` in one transaction; retried while another writer holds the lock."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return self._once(operation)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or attempt == ATTEMPTS:
                    raise self._explained(exc) from exc
                log.info("%s database busy (attempt %d of %d): %s", self.what, attempt, ATTEMPTS, exc)
                time.sleep(random.uniform(0.01, 0.05) * attempt)
            except (OSError, sqlite3.Error) as exc:
                raise self._explained(exc) from exc
        raise AssertionError("unreachable")

    def _once(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self._ready:
            with self._preparing:
                if not self._ready:
                    setup = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)
                    try:
                        setup.execute("PRAGMA journal_mode=WAL")  # kept by the file
                        with setup:
                            self._prepare(setup)
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

    def _explained(self, exc: Exception) -> Exception:
        """The error a user sees: what really happened to the database, and what to do."""
        path, what, message = self.path, self.what, str(exc)
        if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
            waited = ATTEMPTS * BUSY_TIMEOUT_S
            return self.error(
                f"the {what} database {path} stayed locked by other writers for about {waited:g} s "
                f"and your {what} was not saved: try again in a moment"
            )
        if isinstance(exc, sqlite3.DatabaseError) and "not a database" in message:
            return ConfigError(
                f"the {what} database {path} is not a SQLite file ({message}): move it aside or set MCOF_FEEDBACK_DB"
            )
        if isinstance(exc, OSError) or "unable to open" in message or "readonly" in message:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else message
            return ConfigError(
                f"cannot write the {what} database {path} ({reason}): set MCOF_FEEDBACK_DB to a writable file"
            )
        return self.error(f"the {what} database {path} failed ({message}): your {what} was not saved")


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    message = str(exc).lower()
    return "locked" in message or "busy" in message
