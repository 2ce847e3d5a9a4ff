"""The phase vote's held-out scoring (`bench.phases`), on made-up rows: a description is voted on by
the examples of other sets only, one writer's align and draft sets count as one, and the margin
decides when a second phase is named."""

from __future__ import annotations

from typing import Any

from bench.phases import held_out, overall

EXAMPLES = [
    {"set": "align.a", "sector": 6, "phases": ["after"], "description": "rebuild the houses"},
    {"set": "draft.b", "sector": 8, "phases": ["before"], "description": "plan for the floods"},
    {"set": "align.d", "sector": 1, "phases": [], "description": "no phase given: never votes"},
]


def _row(name: str, gold: str) -> dict[str, Any]:
    """A description close to the "after" example; without examples its scores lean to "during"."""
    return {"set": name, "id": f"{name}-1", "phases": [gold],
            "scores": {"before": 0.0, "during": 1.0, "after": 0.0}, "example_cosines": [0.9, 0.1, 0.95]}


def test_the_closest_example_of_another_set_decides() -> None:
    assert overall(held_out([_row("align.c", "after")], EXAMPLES, 1, 4.0, 0.0))["main"] == 1.0
    assert overall(held_out([_row("align.c", "after")], EXAMPLES, 5, 0.0, 0.0))["main"] == 0.0  # no vote


def test_a_description_never_sees_its_own_writers_examples() -> None:
    for name in ("align.a", "draft.a"):  # "after" is its own set's example: only "before" votes
        assert overall(held_out([_row(name, "after")], EXAMPLES, 5, 4.0, 0.0))["main"] == 0.0


def test_a_wide_margin_names_a_second_phase() -> None:
    rows = [_row("align.c", "during")]  # the closest example's vote (weight 1.2) lifts "after" 0.2 above "during"
    assert held_out(rows, EXAMPLES, 1, 1.2, 0.0)["align.c"]["jaccard"] == 0.0
    assert held_out(rows, EXAMPLES, 1, 1.2, 0.5)["align.c"]["jaccard"] == 0.5
