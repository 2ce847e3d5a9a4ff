"""The answer-or-refuse model's fit with the LLM judge (`bench.answerability`), on made-up rows."""

from __future__ import annotations

from typing import Any

from bench.answerability import cross_validate_judge


def _row(name: str, answerable: bool, evidence: float, yes: float, shape: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"set": name, "answerable": answerable, "features": [0.6, 1, 1, 1, 0, 1], "probability": evidence,
            "llm_yes": yes, "shape": list(shape)}


def _rows() -> list[dict[str, Any]]:
    rows = []
    for name in ("a", "b", "c"):
        rows += [_row(name, True, 0.6, 0.9) for _ in range(6)]
        rows += [_row(name, False, 0.6, 0.1) for _ in range(2)]  # near misses: the judge says no
        rows += [_row(name, False, 0.05, 0.8) for _ in range(2)]  # off-topic the judge wrongly accepts
    return rows


def test_the_floor_refuses_what_the_judge_wrongly_accepts_and_the_judge_the_rest() -> None:
    result = cross_validate_judge(_rows())
    assert result["floor"] >= 0.1
    assert all(r == {"answered_rate": 1.0, "refusal_rate": 1.0} for r in result["held_out"].values())
    weights = result["weights"]
    assert len(weights) == 7 and weights[5] > 0 and weights[1:5] == [0.0] * 4  # RefusalPolicy.llm_weights layout


def test_a_shape_veto_counts_as_a_refusal() -> None:
    rows = [{**r, "shape": ["no figure"]} if not r["answerable"] else r for r in _rows()]
    rows = [{**r, "llm_yes": 0.9} for r in rows]  # the judge now accepts every near miss ...
    result = cross_validate_judge(rows)
    assert all(r["refusal_rate"] == 1.0 for r in result["held_out"].values())  # ... the shape checks veto them
