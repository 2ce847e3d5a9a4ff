"""Fit and cross-validate the answer-or-refuse model (`assistant.answering.RefusalPolicy`).

    python -m bench.answerability [--gold FILE ...] [--out bench/results/answerability.json]

Runs the answerer's evidence step (`Answerer.investigate`, the index and settings `mcof ask`
uses) on every question of the labelled sets (dev, dev2 and the fresh sets by default), then
fits a logistic model of "the corpus answers it" on the evidence features. The threshold is
the highest that still answers 95 % of the answerable questions; it is chosen inside each fold, so
the per-set figures printed are honest: leave-one-set-out, each set scored by a model that never
saw it. The off-topic set (cooking, geography, software...) teaches the model what a question
on another subject looks like; the labelled sets hold almost none. The final weights are fitted
on all sets: paste them into `RefusalPolicy` (or `FITTED_POLICIES`, for another embedding model).

With `--llm` (an LLM backend set, e.g. MCOF_LLM_BACKEND=local) the judge is asked about every question
with an extractive answer, and `cross_validate_judge` fits the decision `Answerer.stream` takes with it,
its evidence floor included: paste its weights, threshold and floor into `RefusalPolicy.llm_*`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED_EVAL = ROOT.parent / "shared" / "eval"
DEFAULT_SETS = (
    SHARED_EVAL / "qa.dev.jsonl",
    SHARED_EVAL / "qa.dev2.jsonl",
    ROOT / "bench" / "gold" / "qa.fresh.jsonl",
    ROOT / "bench" / "gold" / "qa.fresh2.jsonl",
    ROOT / "bench" / "gold" / "qa.offtopic.jsonl",  # questions on other subjects, all to be refused
)
ANSWERED_TARGET = 0.95  # share of answerable questions the cut must keep answering (the shape checks veto a few more)
LLM_FLOORS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)  # evidence probabilities below which the judge may go unasked
L2 = 0.001  # ridge on the weights (not the constant): a few dozen negatives must not be memorised


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2, steps: int = 4000, rate: float = 0.5) -> np.ndarray:
    """Weights of a logistic regression by gradient descent; the last column of `x` is the constant.

    >>> x = np.array([[0.1, 1], [0.2, 1], [0.8, 1], [0.9, 1]]); y = np.array([0, 0, 1, 1])
    >>> w = fit_logistic(x, y); bool(w[0] > 0 and _sigmoid(x @ w)[2] > 0.5 > _sigmoid(x @ w)[1])
    True
    """
    w = np.zeros(x.shape[1])
    balance = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))  # both classes count equally
    penalty = np.full(x.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(steps):
        p = _sigmoid(x @ w)
        grad = x.T @ ((p - y) * balance) / len(y) + penalty * w
        w -= rate * grad
    return w


def best_threshold(p: np.ndarray, y: np.ndarray, answered: float = ANSWERED_TARGET) -> float:
    """The highest probability cut that still answers `answered` of the answerable questions.

    Refusing an answerable question costs the user the answer; the cut refuses as many
    unanswerable ones as it can without dropping below that share.

    >>> best_threshold(np.array([0.1, 0.4, 0.6, 0.9]), np.array([0, 1, 1, 1]), answered=0.9)
    0.25
    """
    positives = np.sort(p[y == 1])
    keep = int(np.ceil(answered * len(positives)))
    if keep == 0:
        return 1.0
    lowest_kept = positives[len(positives) - keep]
    below = p[p < lowest_kept]
    return float((lowest_kept + below.max()) / 2) if below.size else float(lowest_kept / 2)


def _rates(p: np.ndarray, y: np.ndarray, cut: float) -> tuple[float, float]:
    answered = float((p[y == 1] >= cut).mean()) if (y == 1).any() else 1.0
    refused = float((p[y == 0] < cut).mean()) if (y == 0).any() else 1.0
    return answered, refused


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def collect(gold_files: Sequence[Path], with_llm: bool = False) -> list[dict[str, Any]]:
    """One row per question: set, id, label, the evidence features and probability and, `with_llm`,
    the LLM judge's P(yes) (`Answerer.judge`), asked of every question with an extractive answer so
    that the cross-validation can choose below which evidence probability it is not worth asking."""
    from assistant.config import Settings, set_offline_env
    from assistant.service import build_assistant

    set_offline_env()
    answerer = build_assistant(Settings.from_env()).answerer()
    if with_llm and answerer.chat_model is None:
        raise SystemExit("--llm needs an LLM backend: set MCOF_LLM_BACKEND (e.g. local)")
    rows = []
    for path in gold_files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            _, draft, evidence = answerer.investigate(item["question"])
            yes = answerer.judge(item["question"], draft) if with_llm and draft.text else None
            rows.append(
                {
                    "set": path.stem,
                    "id": item["id"],
                    "answerable": bool(item.get("doc")),
                    "features": list(evidence.features),
                    "probability": evidence.probability,
                    "llm_yes": yes,
                    "shape": list(evidence.shape),
                    "question": item["question"],
                }
            )
            print(f"{item['id']:10} {rows[-1]['answerable']!s:5} p={evidence.probability:.2f} llm={yes}",
                  file=sys.stderr, flush=True)
    return rows


def cross_validate(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Leave-one-set-out rates of the evidence-only model, and the model fitted on every set."""
    sets = sorted({r["set"] for r in rows})
    x = np.array([r["features"] for r in rows], dtype=np.float64)
    y = np.array([r["answerable"] for r in rows], dtype=np.float64)
    names = np.array([r["set"] for r in rows])
    per_set = {}
    for held in sets:
        train, test = names != held, names == held
        w = fit_logistic(x[train], y[train])
        cut = best_threshold(_sigmoid(x[train] @ w), y[train])
        answered, refused = _rates(_sigmoid(x[test] @ w), y[test], cut)
        per_set[held] = {"answered_rate": round(answered, 3), "refusal_rate": round(refused, 3), "threshold": cut}
    w = fit_logistic(x, y)
    cut = best_threshold(_sigmoid(x @ w), y)
    answered, refused = _rates(_sigmoid(x @ w), y, cut)
    return {
        "held_out": per_set,
        "weights": [round(float(v), 2) for v in w],
        "threshold": round(cut, 3),
        "fitted_on_all": {"answered_rate": round(answered, 3), "refusal_rate": round(refused, 3)},
    }


def cross_validate_judge(rows: Sequence[dict[str, Any]], floors: Sequence[float] = LLM_FLOORS) -> dict[str, Any]:
    """The decision with the LLM judge, as `Answerer.stream` takes it, leave-one-set-out.

    A question whose evidence probability (the shipped `RefusalPolicy`) is below the floor is refused
    without asking; above it, a logistic model of the best question-to-sentence cosine and the judge's
    P(yes) decides, and the answer-shape checks can still veto. The floor is the one of `floors` with
    the best held-out balanced accuracy (mean of the answered and refused shares over every held-out
    question); the threshold, inside each fold, keeps `ANSWERED_TARGET` of the training folds'
    answerable questions answered. Weights are reported over every feature
    (`RefusalPolicy.llm_weights`), zero for the unused.
    """
    usable = [r for r in rows if "probability" in r]
    sets = sorted({r["set"] for r in usable})
    x = np.array([[r["features"][0], r["llm_yes"] or 0.0, 1.0] for r in usable], dtype=np.float64)
    y = np.array([r["answerable"] for r in usable], dtype=bool)
    names = np.array([r["set"] for r in usable])
    evidence = np.array([r["probability"] for r in usable])
    # refused whatever the judge says: a shape check vetoes, or there was no judgement (no extractive answer)
    vetoed = np.array([bool(r["shape"]) or r["llm_yes"] is None for r in usable])

    def fit(train: np.ndarray, floor: float) -> tuple[np.ndarray, float]:
        asked = train & (evidence >= floor)
        w = fit_logistic(x[asked], y[asked].astype(np.float64))
        p = np.where(evidence >= floor, _sigmoid(x @ w), 0.0)
        return w, best_threshold(p[train], y[train].astype(np.float64))

    def answered(w: np.ndarray, cut: float, floor: float, among: np.ndarray) -> np.ndarray:
        return (evidence[among] >= floor) & (_sigmoid(x[among] @ w) >= cut) & ~vetoed[among]

    def held_out(floor: float) -> tuple[dict[str, dict[str, float]], float]:
        per_set, hits = {}, np.zeros(len(usable), dtype=bool)
        for held in sets:
            test = names == held
            w, cut = fit(~test, floor)
            said = answered(w, cut, floor, test)
            hits[test] = said == y[test]
            per_set[held] = {
                "answered_rate": round(float(said[y[test]].mean()), 3) if y[test].any() else 1.0,
                "refusal_rate": round(float((~said)[~y[test]].mean()), 3) if (~y[test]).any() else 1.0,
            }
        balanced = (hits[y].mean() + hits[~y].mean()) / 2
        return per_set, float(balanced)

    trials = {floor: held_out(floor) for floor in floors}
    floor = max(floors, key=lambda f: (round(trials[f][1], 3), f))
    w, cut = fit(np.ones(len(usable), dtype=bool), floor)
    weights = [round(float(v), 2) for v in w]
    return {
        "held_out": trials[floor][0],
        "balanced_accuracy": {str(f): round(trials[f][1], 3) for f in floors},
        "floor": floor,
        "weights": [weights[0], 0.0, 0.0, 0.0, 0.0, weights[1], weights[2]],
        "threshold": round(cut, 3),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.answerability", description=__doc__.split("\n\n")[0])
    parser.add_argument("--gold", type=Path, nargs="*", default=list(DEFAULT_SETS), help="labelled qa JSONL files")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "answerability.json")
    parser.add_argument("--rows", type=Path, help="reuse the features saved by an earlier run (its --out file)")
    parser.add_argument("--llm", action="store_true", help="also ask the configured LLM's judge; fit a model with it")
    args = parser.parse_args(argv)
    from assistant.answering import ANSWERABILITY_FEATURES

    if args.rows:
        rows = json.loads(args.rows.read_text())["rows"]
    else:
        rows = collect([g for g in args.gold if g.exists()], with_llm=args.llm)
    with_llm = args.llm or any(r.get("llm_yes") is not None for r in rows)
    result = cross_validate(rows)
    if with_llm:
        result["llm"] = cross_validate_judge(rows)
    print(f"features: {', '.join(ANSWERABILITY_FEATURES)}")
    for name, rates in result["held_out"].items():
        print(f"held out {name:14} answered {rates['answered_rate']:.3f}  refused-when-unanswerable "
              f"{rates['refusal_rate']:.3f}  (cut {rates['threshold']:.3f})")
    fitted = result["fitted_on_all"]
    print(f"fitted on all: weights {tuple(result['weights'])} threshold {result['threshold']}  "
          f"answered {fitted['answered_rate']:.3f} refused {fitted['refusal_rate']:.3f}")
    if "llm" in result:
        llm = result["llm"]
        for name, rates in llm["held_out"].items():
            print(f"with LLM, held out {name:14} answered {rates['answered_rate']:.3f}  refused "
                  f"{rates['refusal_rate']:.3f}")
        print(f"with LLM, fitted on all: weights {tuple(llm['weights'])} threshold {llm['threshold']} "
              f"floor {llm['floor']} (held-out balanced accuracy by floor: {llm['balanced_accuracy']})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**result, "features": ANSWERABILITY_FEATURES, "rows": rows}, indent=1) + "\n")
    print(f"written: {args.out}", file=sys.stderr)
    return 0 if all(math.isfinite(w) for w in result["weights"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
