"""Choose how the worked examples' phases vote in the aligner's phase scores, by held-out agreement.

    python -m bench.phases [--out bench/results/phases.json] [--rows FILE]

Scores the three crisis phases of every labelled description (the alignment and draft sets: dev,
dev2 and the project's own) with the aligner's own scoring but no worked examples (cue words,
similarity to the phase passages, the strong sectors' cue words), keeps each description's cosine
to every worked example (`assistant/sector_examples.jsonl`), then, for each setting of the vote
(neighbours, weight) and of the second-phase margin, scores every description with
the votes of the examples of *other* sets only (a set's align and draft examples both left out, as
`make eval` does) and reports how often the best phase is a gold phase and the mean overlap
(Jaccard) of the likely phases with the gold ones. The constants in `assistant.align`
(`_PHASE_EXAMPLE_*`, `_SECOND_PHASE_MARGIN`) are the setting with the best sum of the two (with
EmbeddingGemma), or one a hair below it that names a second phase when two score close.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.types import PHASES, SectorExample
from bench.alignment import GOLD, ROOT, SHARED_EVAL, _descriptions, example_list

PHASE_SETS = (
    SHARED_EVAL / "align.dev.jsonl", SHARED_EVAL / "align.dev2.jsonl", *sorted(GOLD.glob("align.fresh*.jsonl")),
    SHARED_EVAL / "draft.dev.jsonl", SHARED_EVAL / "draft.dev2.jsonl", *sorted(GOLD.glob("draft.fresh*.jsonl")),
)
NEIGHBOURS = (3, 5, 10, 20)
WEIGHTS = (0.0, 2.0, 3.0, 4.0, 5.0)  # 0: no examples
MARGINS = (0.0, 0.25, 0.5, 1.0)


def collect(sets: Sequence[Path], examples: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per labelled description: set, id, gold phases, phase scores without examples, cosine
    to each example."""
    from assistant.config import Settings, set_offline_env
    from assistant.service import build_assistant

    set_offline_env()
    assistant = build_assistant(Settings.from_env(env={**os.environ, "MCOF_SECTOR_EXAMPLES": "none"}))
    aligner = assistant.aligner()
    example_vectors = assistant.embedder.embed_queries([e["description"] for e in examples])
    labelled = [(path, text, item) for path in sets if path.exists() for text, item in _descriptions(path)]
    queries = assistant.embedder.embed_queries([text for _, text, _ in labelled])  # as the aligner reads them
    rows = []
    for (path, text, item), query in zip(labelled, queries, strict=True):
        alignment = aligner.align(text, explain=False)
        rows.append({
            "set": path.stem, "id": item["id"], "phases": list(item.get("phase", [])),
            "scores": {m.phase.phase: m.score for m in alignment.phases},
            "example_cosines": [round(float(c), 5) for c in example_vectors @ query],
        })
        print(f"{item['id']:8} {rows[-1]['scores']}", file=sys.stderr, flush=True)
    return rows


def _kin(name: str) -> str:
    """align.fresh2 and draft.fresh2 are one writer's set: "fresh2"."""
    return name.split(".", 1)[-1]


def held_out(
    rows: Sequence[dict[str, Any]], examples: Sequence[dict[str, Any]],
    neighbours: int, weight: float, margin: float,
) -> dict[str, dict[str, float]]:
    """Per set: main-phase accuracy and mean Jaccard of the likely phases, each description voted on by
    the examples of other sets only; a description the aligner declined (no phase scores) is left out."""
    from assistant.align import close_to_best, example_votes, phase_shares

    shares = phase_shares([SectorExample(e["sector"], e["description"], phases=tuple(e["phases"])) for e in examples])
    by_set: dict[str, list[tuple[float, float]]] = {}
    for row in (r for r in rows if r["scores"]):
        base = np.asarray([row["scores"][p] for p in PHASES])
        cosines = np.asarray(row["example_cosines"])
        usable = [i for i, e in enumerate(examples) if _kin(e["set"]) != _kin(row["set"])]
        votes = example_votes(cosines[usable], shares[usable], neighbours)
        scores = base + weight * np.asarray([votes.get(p, 0.0) for p in PHASES])
        chosen = set(close_to_best(dict(zip(PHASES, scores.tolist(), strict=True)), margin))
        gold = set(row["phases"])
        main = PHASES[int(scores.argmax())]
        by_set.setdefault(row["set"], []).append((float(main in gold), len(chosen & gold) / len(chosen | gold)))
    return {name: {"main": float(np.mean([m for m, _ in v])), "jaccard": float(np.mean([j for _, j in v])),
                   "n": len(v)} for name, v in by_set.items()}


def overall(per_set: dict[str, dict[str, float]]) -> dict[str, float]:
    n = sum(s["n"] for s in per_set.values())
    return {key: sum(s[key] * s["n"] for s in per_set.values()) / n for key in ("main", "jaccard")}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.phases", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "phases.json")
    parser.add_argument("--rows", type=Path, help="reuse the scores saved by an earlier run (its --out file)")
    args = parser.parse_args(argv)
    if args.rows:
        saved = json.loads(args.rows.read_text())
        rows, examples = saved["rows"], saved["examples"]
    else:
        examples = example_list()
        rows = collect(PHASE_SETS, examples)
    grid = []
    for neighbours, weight, margin in itertools.product(NEIGHBOURS, WEIGHTS, MARGINS):
        per_set = held_out(rows, examples, neighbours, weight, margin)
        grid.append({"neighbours": neighbours, "weight": weight, "margin": margin,
                     **overall(per_set), "sets": per_set})
    from assistant import align

    best = max(grid, key=lambda g: round(g["main"] + g["jaccard"], 6))
    plain = max((g for g in grid if g["weight"] == 0), key=lambda g: round(g["main"] + g["jaccard"], 6))
    setting = (align._PHASE_EXAMPLE_NEIGHBOURS, align._PHASE_EXAMPLE_WEIGHT, align._SECOND_PHASE_MARGIN)
    shipped = next(g for g in grid if (g["neighbours"], g["weight"], g["margin"]) == setting)
    for label, g in (("without examples", plain), ("best", best), ("assistant.align", shipped)):
        print(f"{label:17} neighbours {g['neighbours']} weight {g['weight']} "
              f"margin {g['margin']}: main phase {g['main']:.3f}, overlap {g['jaccard']:.3f}")
        print("  " + "  ".join(f"{name} {s['main']:.2f}/{s['jaccard']:.2f}" for name, s in g["sets"].items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"best": best, "without_examples": plain, "shipped": shipped, "grid": grid,
                                    "examples": examples, "rows": rows}, indent=1) + "\n")
    print(f"written: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
