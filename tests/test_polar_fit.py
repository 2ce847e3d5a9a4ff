"""The yes/no lead's scoring (`bench.polar`), on made-up rows: a lead on an answered question counts
right or wrong, a refused question counts only when answered "No", and leave-one-out never scores a
question with thresholds chosen on it."""

from __future__ import annotations

from typing import Any

from bench.polar import leave_one_out, said, tally


def _row(polarity: str, p_yes: float, refused: bool = False) -> dict[str, Any]:
    return {"id": f"{polarity}-{p_yes}", "polarity": polarity, "refused": refused, "polar_yes": p_yes}


ROWS = [
    _row("yes", 0.95), _row("yes", 0.75), _row("no", 0.8),  # the model says yes to an answered "no" question
    _row("no", 0.05, refused=True), _row("unanswerable", 0.3, refused=True), _row("yes", 0.05, refused=True),
]


def test_a_refused_question_gets_only_a_no_and_an_answered_one_either() -> None:
    assert [said(r, 0.9, 0.1) for r in ROWS] == ["yes", "", "", "no", "", "no"]
    assert said(_row("yes", 0.95, refused=True), 0.9, 0.1) == ""


def test_leads_on_the_wrong_side_or_on_unanswerable_questions_count_as_wrong() -> None:
    assert tally(ROWS, 0.9, 0.1) == {"answered": 3, "leads": 3, "right": 2, "wrong": 1, "refused_answered_no": 2}
    assert tally(ROWS, 0.7, 0.0)["wrong"] == 1  # "no" answered at 0.8 gets a wrong "yes"


def test_leave_one_out_scores_every_question_once() -> None:
    result = leave_one_out(ROWS)
    assert result["leads"] == result["right"] + result["wrong"] and result["leads"] <= len(ROWS)
