"""The sector model's fit (`bench.alignment`), on made-up rows: a sector the features under-read
gets a bias that lifts it, and the held-out scores say whether the biases help."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bench import alignment
from bench.alignment import fit_weights, rank_scores


def _row(name: str, gold: int, rng: np.random.Generator) -> dict[str, Any]:
    features = rng.normal(0.3, 0.02, size=(4, 6))
    features[gold - 1, :3] += 0.05  # the gold sector is a little closer on the similarities ...
    features[3, :3] += 0.06 if gold != 4 else 0.0  # ... but sector 4 sits close to every description
    return {"set": name, "id": f"{name}-{gold}", "sectors": [gold], "real": True,
            "features": features.tolist(), "best_clause": 0.4}


def _rows() -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    return [_row(name, gold, rng) for name in ("a", "b", "c") for gold in (1, 2, 3, 1, 2, 3, 4)]


def test_a_bias_corrects_a_sector_close_to_every_description() -> None:
    rows = _rows()
    plain, biased = fit_weights(rows, 0.03), fit_weights(rows, 0.03, 0.01)
    assert len(plain) == 6 and len(biased) == 6 + 4
    assert biased[6 + 3] < 0  # the hub sector's bias is negative
    assert rank_scores(rows, biased)["top1"] > rank_scores(rows, plain)["top1"]


def test_cross_validation_reports_the_bias_it_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alignment, "RIDGES", (0.03,))  # a small grid: the choice itself is what is tested
    monkeypatch.setattr(alignment, "BIAS_RIDGES", (None, 0.01))
    result = alignment.cross_validate(_rows())
    assert result["bias_ridge"] is not None and len(result["bias"]) == 4
    assert set(result["held_out"]) == {"a", "b", "c"}
    assert all(h["top1"] >= result["held_out_without_bias"][name]["top1"] for name, h in result["held_out"].items())


def test_a_description_never_sees_the_examples_of_its_own_set_or_the_held_out_one() -> None:
    examples = [{"sector": 1, "set": "a"}, {"sector": 2, "set": "b"}, {"sector": 3, "set": "c"}]
    row = {"set": "a", "id": "a-1", "sectors": [1], "features": np.zeros((4, 6)).tolist(),
           "example_cosines": [0.9, 0.5, 0.4]}
    column = np.asarray(alignment.seen_from([row], examples)[0]["features"])[:, 5]
    assert column.tolist() == [0.4, 0.5, 0.4, 0.4]  # its own set's example (sector 1, 0.9) is not seen
    hidden = np.asarray(alignment.seen_from([row], examples, hidden="c")[0]["features"])[:, 5]
    assert hidden.tolist() == [0.5, 0.5, 0.5, 0.5]  # nor the held-out set's: one example left, the floor for all


def test_cross_validation_with_examples_that_tell_the_sector(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alignment, "RIDGES", (0.03,))
    monkeypatch.setattr(alignment, "BIAS_RIDGES", (None,))
    rows = _rows()
    examples = [{"sector": gold, "set": name} for name in ("a", "b", "c") for gold in (1, 2, 3, 4)]
    for row in rows:  # a description is closest to the examples of its own sector
        row["example_cosines"] = [0.8 if e["sector"] == row["sectors"][0] else 0.2 for e in examples]
    result = alignment.cross_validate(rows, examples)
    assert result["weights"][5] > 0
    assert all(h["top1"] == 1.0 for h in result["held_out"].values())
