"""Feedback store: one SQLite row per rated answer or draft, updated in place, exported as CSV."""

from __future__ import annotations

import csv
import doctest
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.errors import ConfigError, InputError
from assistant.feedback import COLUMNS, FeedbackStore
from assistant.types import Citation, Feedback

CITATION = Citation(1, "mcof-2012-key-elements.txt", "MCOF Key Elements", "Annex", "Before. During.", 100, 115,
                    quote_start=8, quote_end=15, date="2012-09-20")


def test_a_rating_is_stored_with_question_answer_citations_and_time(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    when = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    row_id = store.add(Feedback("answer", "What are the phases?", "Before and during [1].", (CITATION,), 1), when)

    [row] = store.rows()
    assert row["id"] == row_id
    assert (row["kind"], row["question"], row["answer"], row["rating"], row["comment"]) == (
        "answer", "What are the phases?", "Before and during [1].", 1, "")
    assert row["created"] == "2026-03-01T09:30:00+00:00"
    [cited] = json.loads(row["citations"])
    assert (cited["n"], cited["doc"], cited["start"], cited["end"]) == (1, "mcof-2012-key-elements.txt", 100, 115)
    assert cited["text"][cited["quote_start"] : cited["quote_end"]] == "During."


def test_changing_the_rating_and_adding_a_comment_keep_one_row(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    row_id = store.add(Feedback("draft", "Shelter project", "The project fits [1].", (CITATION,), 1))
    store.update(row_id, rating=-1)
    store.update(row_id, comment="Sector 2 is missing.")
    assert [(r["kind"], r["rating"], r["comment"]) for r in store.rows()] == [("draft", -1, "Sector 2 is missing.")]


def test_a_bad_rating_or_an_overlong_comment_is_refused(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    with pytest.raises(InputError, match="rating is -1, 0 or 1"):
        store.add(Feedback("answer", "q", "a", rating=5))
    row_id = store.add(Feedback("answer", "q", "a", rating=1))
    with pytest.raises(InputError, match="comment is longer than 2000"):
        store.update(row_id, comment="x" * 2001)
    assert [r["comment"] for r in store.rows()] == [""]


def test_reading_an_absent_store_finds_nothing_and_creates_no_file(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "none" / "feedback.sqlite3")
    assert store.rows() == []
    assert not store.path.exists()


def test_an_unwritable_location_names_the_setting_to_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="set MCOF_FEEDBACK_DB to a writable file"):
        FeedbackStore(blocker / "feedback.sqlite3").add(Feedback("answer", "q", "a", rating=1))


def test_csv_export_round_trips_commas_quotes_and_newlines(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    store.add(Feedback("answer", 'Is "camp management" a sector?', "Yes, Sector 1 [1].", (CITATION,), 1,
                       "Good,\nbut cite the 2023 page too."))
    store.add(Feedback("draft", "Flood shelter", "It fits [1].", (), -1))
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
    FeedbackStore(db).add(Feedback("answer", "How many sectors?", "Fifteen [1].", (CITATION,), 1, "right"))

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
