"""Measure the yes/no lead (`prompts/polar.md`) on yes/no questions with known answers.

    python -m bench.polar [--gold bench/gold/qa.yesno.jsonl] [--out bench/results/polar.json] [--rows FILE]

Runs each question as `mcof ask` does with the local LLM (retrieval, the extractive answer, the
answerability decision with the LLM judge) and asks the model the yes/no prompt over the sentences the
extractive answer quotes, keeping its P(yes). For each pair of thresholds (a "Yes" lead from
P(yes) >= high, a "No" lead at or below low) it counts the leads given and how many are right: on
the questions answered, and on those the judge refused, which a "No" lead answers instead (the
passages contradict the question rather than miss its answer). A lead on an unanswerable question,
or a refused one answered "No" whose answer is yes, is wrong; a wrong lead costs `WRONG_COST` right
ones. The pair is chosen by leave-one-out: each question is led by the pair that did best without it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GOLD = ROOT / "bench" / "gold" / "qa.yesno.jsonl"
HIGHS = (0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
LOWS = (0.05, 0.1, 0.2, 0.3, 0.4)
WRONG_COST = 3.0  # a wrong lead costs as much as three right ones gain: it misleads, no lead only omits


def collect(gold: Path) -> list[dict[str, Any]]:
    from assistant.config import Settings, set_offline_env
    from assistant.service import build_assistant

    set_offline_env()
    assistant = build_assistant(Settings.from_env())
    answerer = assistant.answerer()
    if answerer.chat_model is None:
        raise SystemExit("the yes/no lead needs the LLM: run `mcof llm start` (MCOF_LLM_BACKEND=local)")
    rows = []
    for line in gold.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        _, draft, evidence = answerer.investigate(item["question"])
        yes = answerer.judge(item["question"], draft) if draft.text else None
        judged = answerer.policy.with_judgement(evidence, yes)
        polar = answerer.polarity(item["question"], draft) if draft.text else None
        rows.append({"id": item["id"], "polarity": item["polarity"], "refused": judged.refused,
                     "polar_yes": polar, "question": item["question"]})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def said(row: dict[str, Any], high: float, low: float) -> str:
    """The lead the question gets ("yes", "no" or "": `answering.polar_lead`): any on an answered question,
    only "no" (answering it) on a refused one."""
    from assistant.answering import polar_lead

    word = polar_lead(row["polar_yes"], (high, low)).lower()
    return word if not row["refused"] or word == "no" else ""


def tally(rows: Sequence[dict[str, Any]], high: float, low: float) -> dict[str, float]:
    """Leads given, right and wrong, and how many of them answer a question the judge refused."""
    given = right = rescued = 0
    for r in rows:
        word = said(r, high, low)
        given += bool(word)
        right += bool(word) and word == r["polarity"]
        rescued += bool(word) and r["refused"]
    return {"answered": sum(not r["refused"] for r in rows), "leads": given, "right": right, "wrong": given - right,
            "refused_answered_no": rescued}


def _value(t: dict[str, float]) -> float:
    return t["right"] - WRONG_COST * t["wrong"]


def leave_one_out(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Each question led by the thresholds chosen without it."""
    pairs = list(itertools.product(HIGHS, LOWS))
    out = {"leads": 0, "right": 0, "wrong": 0}
    for i, row in enumerate(rows):
        others = [r for j, r in enumerate(rows) if j != i]
        high, low = max(pairs, key=lambda p: (_value(tally(others, *p)), p[0] - p[1]))
        word = said(row, high, low)
        out["leads"] += bool(word)
        out["right"] += bool(word) and word == row["polarity"]
        out["wrong"] += bool(word) and word != row["polarity"]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.polar", description=__doc__.split("\n\n")[0])
    parser.add_argument("--gold", type=Path, default=GOLD)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "polar.json")
    parser.add_argument("--rows", type=Path, help="reuse the rows saved by an earlier run (its --out file)")
    args = parser.parse_args(argv)
    rows = json.loads(args.rows.read_text())["rows"] if args.rows else collect(args.gold)
    grid = [{"high": h, "low": lo, **tally(rows, h, lo)} for h, lo in itertools.product(HIGHS, LOWS)]
    best = max(grid, key=lambda g: (_value(g), g["high"] - g["low"]))
    held_out = leave_one_out(rows)
    from assistant.answering import POLAR_LEAD

    shipped = {"high": POLAR_LEAD[0], "low": POLAR_LEAD[1], **tally(rows, *POLAR_LEAD)}
    for g in grid:
        print(f"yes from {g['high']:.2f}, no up to {g['low']:.2f}: {g['leads']} leads ({g['refused_answered_no']} "
              f"answering a refused question; {g['answered']} answered), {g['right']} right, {g['wrong']} wrong")
    print(f"best: yes from {best['high']}, no up to {best['low']}; leave-one-out: {held_out}; shipped: {shipped}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"gold": args.gold.name, "questions": len(rows), "best": best, "leave_one_out": held_out,
              "shipped": shipped, "grid": grid, "rows": rows}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
