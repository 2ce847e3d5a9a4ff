"""Per-question refusal evidence, for calibrating `RefusalPolicy` on the dev set.

    python -m bench.refusal_scores [--gold ../shared/eval/qa.dev.jsonl] [--extra FILE] [--min-semantic X] ...

Uses the index and settings `mcof ask` uses (MCOF_INDEX_DIR etc.). Prints one row per
question: whether the gold says it is answerable, the decision, the signals (best
sentence cosine, IDF-weighted term coverage of the top passages, top retrieval score,
what the question expects) and the reasons for a refusal; then the refusal rate on
unanswerable items and the answered rate on answerable ones. `--extra` adds questions
(one per line) that must be refused, e.g. probes about the 2021 Addendum's sector list.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from assistant.answering import RefusalPolicy
from assistant.config import Settings, set_offline_env
from assistant.service import build_assistant

DEFAULT_GOLD = Path(__file__).resolve().parents[2] / "shared" / "eval" / "qa.dev.jsonl"


def main(argv: Sequence[str] | None = None) -> int:
    defaults = RefusalPolicy()
    parser = argparse.ArgumentParser(prog="python -m bench.refusal_scores", description=__doc__.split("\n\n")[0])
    parser.add_argument("--gold", type=Path, default=DEFAULT_GOLD, help="qa gold JSONL")
    parser.add_argument("--extra", type=Path, help="more questions that must be refused, one per line")
    parser.add_argument("--min-semantic", type=float, default=defaults.min_semantic)
    parser.add_argument("--min-coverage", type=float, default=defaults.min_coverage)
    parser.add_argument("--min-top-score", type=float, default=defaults.min_top_score)
    args = parser.parse_args(argv)
    set_offline_env()

    items = [json.loads(line) for line in args.gold.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.extra:
        lines = [q.strip() for q in args.extra.read_text(encoding="utf-8").splitlines() if q.strip()]
        items += [{"id": f"extra-{i}", "question": q, "doc": None} for i, q in enumerate(lines, 1)]
    policy = RefusalPolicy(
        min_semantic=args.min_semantic, min_coverage=args.min_coverage, min_top_score=args.min_top_score
    )
    answerer = build_assistant(Settings.from_env()).answerer()
    answerer.policy = policy  # this script's own answerer: nothing else shares it

    answered = refused = answerable = unanswerable = 0
    print(f"{'id':10} {'gold':6} {'decision':8} {'cosine':>6} {'cover':>6} {'top':>6} {'expects':7} reasons / question")
    for item in items:
        _, _, evidence = answerer.investigate(item["question"])
        gold_answerable = bool(item.get("doc"))
        answerable += gold_answerable
        unanswerable += not gold_answerable
        answered += gold_answerable and not evidence.refused
        refused += (not gold_answerable) and evidence.refused
        gold, decision = "ans" if gold_answerable else "refuse", "REFUSE" if evidence.refused else "answer"
        print(
            f"{item['id']:10} {gold:6} {decision:8} "
            f"{evidence.semantic:6.3f} {evidence.coverage:6.3f} {evidence.top_score:6.3f} {evidence.expects or '-':7} "
            f"{'; '.join(evidence.reasons) or '-'} | {item['question'][:70]}"
        )
    print(f"answered_rate {answered}/{answerable}  refusal_rate {refused}/{unanswerable}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
