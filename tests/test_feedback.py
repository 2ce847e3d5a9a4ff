"""Feedback store: one SQLite row per rated answer or draft (keyed by its id), updated in place, exported as CSV;
nothing lost or misfiled under concurrent writers, and errors that say what really happened."""

from __future__ import annotations

import csv
import doctest
import io
import json
import sqlite3
import threading
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.errors import ConfigError, FeedbackError, InputError
from assistant.feedback import COLUMNS, FeedbackStore
from assistant.types import Citation, Feedback

CITATION = Citation(1, "mcof-2012-key-elements.txt", "MCOF Key Elements", "Annex", "Before. During.", 100, 115,
                    quote_start=8, quote_end=15, date="2012-09-20")


def test_a_rating_is_stored_with_question_answer_citations_and_time(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    when = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    row_id = store.save("a1", Feedback("answer", "What are the phases?", "Before and during [1].", (CITATION,), 1),
                        created=when)

    [row] = store.rows()
    assert (row["id"], row["answer_id"]) == (row_id, "a1")
    assert (row["kind"], row["question"], row["answer"], row["rating"], row["comment"]) == (
        "answer", "What are the phases?", "Before and during [1].", 1, "")
    assert row["created"] == "2026-03-01T09:30:00+00:00"
    [cited] = json.loads(row["citations"])
    assert (cited["n"], cited["doc"], cited["start"], cited["end"]) == (1, "mcof-2012-key-elements.txt", 100, 115)
    assert cited["text"][cited["quote_start"] : cited["quote_end"]] == "During."


def test_changing_the_rating_and_adding_a_comment_keep_one_row(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    about = Feedback("draft", "Shelter project", "The project fits [1].", (CITATION,))
    row_id = store.save("d1", about, rating=1)
    assert store.save("d1", about, rating=-1) == row_id
    assert store.save("d1", about, comment="Sector 2 is missing.") == row_id
    assert [(r["kind"], r["rating"], r["comment"]) for r in store.rows()] == [("draft", -1, "Sector 2 is missing.")]


def test_each_answer_keeps_its_own_rating_and_comment(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    for n in (1, 2, 3):
        store.save(f"a{n}", Feedback("answer", f"question {n}", f"answer {n}"), rating=1)
    for n in (1, 2, 3):
        store.save(f"a{n}", Feedback("answer", f"question {n}", f"answer {n}"), comment=f"comment {n}")
    assert [(r["answer_id"], r["question"], r["comment"]) for r in store.rows()] == [
        ("a1", "question 1", "comment 1"), ("a2", "question 2", "comment 2"), ("a3", "question 3", "comment 3")]


def test_a_bad_rating_or_an_overlong_comment_is_refused(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    with pytest.raises(InputError, match="rating is -1, 0 or 1"):
        store.save("a1", Feedback("answer", "q", "a"), rating=5)
    store.save("a1", Feedback("answer", "q", "a"), rating=1)
    with pytest.raises(InputError, match="comment is longer than 2000"):
        store.save("a1", Feedback("answer", "q", "a"), comment="x" * 2001)
    with pytest.raises(InputError, match="the id of the answer"):
        store.save("", Feedback("answer", "q", "a"), rating=1)
    assert [r["comment"] for r in store.rows()] == [""]


def test_reading_an_absent_store_finds_nothing_and_creates_no_file(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "none" / "feedback.sqlite3")
    assert store.rows() == []
    assert not store.path.exists()


def test_an_unwritable_location_names_the_setting_to_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="set MCOF_FEEDBACK_DB to a writable file"):
        FeedbackStore(blocker / "feedback.sqlite3").save("a1", Feedback("answer", "q", "a", rating=1))


def test_csv_export_round_trips_commas_quotes_and_newlines(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    store.save("a1", Feedback("answer", 'Is "camp management" a sector?', "Yes, Sector 1 [1].", (CITATION,), 1,
                              "Good,\nbut cite the 2023 page too."))
    store.save("d1", Feedback("draft", "Flood shelter", "It fits [1].", (), -1))
    out = io.StringIO()

    assert store.export_csv(out) == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == COLUMNS
    assert rows[0]["question"] == 'Is "camp management" a sector?'
    assert rows[0]["comment"] == "Good,\nbut cite the 2023 page too."
    assert json.loads(rows[0]["citations"])[0]["doc"] == "mcof-2012-key-elements.txt"
    assert (rows[1]["kind"], rows[1]["rating"], rows[1]["citations"]) == ("draft", "-1", "[]")


def test_mcof_feedback_export_writes_the_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    db = tmp_path / "feedback.sqlite3"
    monkeypatch.setenv("MCOF_FEEDBACK_DB", str(db))
    FeedbackStore(db).save("a1", Feedback("answer", "How many sectors?", "Fifteen [1].", (CITATION,), 1, "right"))

    out = tmp_path / "feedback.csv"
    assert main(["feedback", "export", "--out", str(out)]) == 0
    assert "1 feedback rows written to" in capsys.readouterr().err
    [row] = list(csv.DictReader(out.open(encoding="utf-8")))
    assert (row["question"], row["rating"], row["comment"]) == ("How many sectors?", "1", "right")

    assert main(["feedback", "export"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == ",".join(COLUMNS)


def test_mcof_feedback_export_says_when_there_is_no_feedback(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MCOF_FEEDBACK_DB", str(tmp_path / "none.sqlite3"))
    assert main(["feedback", "export"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == ",".join(COLUMNS)
    assert "no feedback recorded yet" in captured.err
    assert main(["feedback", "export", "--out", str(tmp_path / "missing" / "f.csv")]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_docstring_example() -> None:
    from assistant import feedback

    result = doctest.testmod(feedback)
    assert result.attempted > 0 and result.failed == 0


# --- concurrency, old files and honest errors -------------------------------------------------------


def test_20_threads_writing_100_times_each_lose_and_misfile_nothing(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    failures: list[BaseException] = []

    def writer(t: int) -> None:
        try:
            for i in range(100):
                about = Feedback("answer", f"question {t}-{i}", f"answer {t}-{i}")
                store.save(f"{t}-{i}", about, rating=1 if i % 2 else -1)
                store.save(f"{t}-{i}", about, comment=f"comment on {t}-{i}")
        except BaseException as exc:  # reported below: a thread's exception is otherwise lost
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    rows = store.rows()
    assert len(rows) == 2000 and len({r["answer_id"] for r in rows}) == 2000
    for r in rows:
        t, i = r["answer_id"].split("-")
        assert r["question"] == f"question {t}-{i}" and r["comment"] == f"comment on {t}-{i}"
        assert r["rating"] == (1 if int(i) % 2 else -1)
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_lock_held_past_the_retries_says_locked_not_permissions(tmp_path: Path, monkeypatch) -> None:
    from assistant import sqlitefile

    monkeypatch.setattr(sqlitefile, "BUSY_TIMEOUT_S", 0.05)
    monkeypatch.setattr(sqlitefile, "ATTEMPTS", 2)
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    store.save("a1", Feedback("answer", "q", "a"), rating=1)
    holder = sqlite3.connect(store.path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(FeedbackError) as caught:
            store.save("a2", Feedback("answer", "q2", "a2"), rating=1)
    finally:
        holder.rollback()
        holder.close()
    message = str(caught.value)
    assert "stayed locked by other writers" in message and "not saved: try again" in message
    assert "writable" not in message and "permission" not in message.lower()
    assert store.save("a2", Feedback("answer", "q2", "a2"), rating=1) > 0  # once the lock is gone


def test_a_file_that_is_not_a_database_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    path.write_bytes(b"not sqlite at all " * 200)
    with pytest.raises(ConfigError, match=r"is not a SQLite file .*: move it aside or set MCOF_FEEDBACK_DB"):
        FeedbackStore(path).save("a1", Feedback("answer", "q", "a"), rating=1)


def test_a_file_from_before_answer_ids_gets_the_column_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, "
                   "kind TEXT NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL, citations TEXT NOT NULL, "
                   "rating INTEGER NOT NULL, comment TEXT NOT NULL DEFAULT '')")
        db.execute("INSERT INTO feedback (created, kind, question, answer, citations, rating) "
                   "VALUES ('2025-01-01', 'answer', 'old q', 'old a', '[]', 1)")
    store = FeedbackStore(path)
    store.save("a1", Feedback("answer", "new q", "new a"), comment="new")
    assert [(r["answer_id"], r["question"], r["comment"]) for r in store.rows()] == [
        (None, "old q", ""), ("a1", "new q", "new")]
