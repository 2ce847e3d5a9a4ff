"""The sector model's fit (`bench.alignment`), on made-up rows: a sector the features under-read
gets a bias that lifts it, and the held-out scores say whether the biases help."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bench import alignment
from bench.alignment import fit_weights, rank_scores


def _row(name: str, gold: int, rng: np.random.Generator) -> dict[str, Any]:
    features = rng.normal(0.3, 0.02, size=(4, 5))
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
    assert len(plain) == 5 and len(biased) == 5 + 4
    assert biased[5 + 3] < 0  # the hub sector's bias is negative
    assert rank_scores(rows, biased)["top1"] > rank_scores(rows, plain)["top1"]


def test_cross_validation_reports_the_bias_it_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alignment, "RIDGES", (0.03,))  # a small grid: the choice itself is what is tested
    monkeypatch.setattr(alignment, "BIAS_RIDGES", (None, 0.01))
    result = alignment.cross_validate(_rows())
    assert result["bias_ridge"] is not None and len(result["bias"]) == 4
    assert set(result["held_out"]) == {"a", "b", "c"}
    assert all(h["top1"] >= result["held_out_without_bias"][name]["top1"] for name, h in result["held_out"].items())
