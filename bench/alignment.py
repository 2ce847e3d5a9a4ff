"""Fit and cross-validate the sector model (`assistant.align.SectorModel`).

    python -m bench.alignment [--out bench/results/alignment.json] [--rows FILE]

Runs the aligner's measuring step (`Aligner.measure`, the index and settings `mcof align`
uses) on every description of the labelled alignment sets (dev, dev2, fresh), on the draft
sets' project descriptions and on a set of nonsense and off-topic descriptions, then:

- measures each description's cosine to every worked example (`--write-examples` writes them to
  `assistant/sector_examples.jsonl` from the project's own labelled sets, `EXAMPLE_SETS`; never
  from the shared dev sets): in every fit and every held-out score a description sees only the
  examples of other sets than its own (and than the held-out one), as a new description would;
- fits the sector weights as a conditional logit (softmax over the 15 sectors; the gold
  primary sector is the target, sharing 30 % with the other gold sectors) with one bias per
  sector (how likely the sector is before the description is read: it corrects a definition that
  sits close to every description, or to none), both ridges chosen by leave-one-set-out
  cross-validation, so each set's printed top-1 and top-3 come from weights that never saw it;
- sets the decline threshold on the best clause cosine midway between the highest off-topic
  description and the lowest real one (and at least 0.01 below every real one), checked by
  leave-one-out: each description is judged by a threshold set without it.

Paste the printed weights, biases and threshold into `SectorModel` (or `FITTED_SECTOR_MODELS`,
for another embedding model).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.types import PHASES

ROOT = Path(__file__).resolve().parents[1]
SECTOR_EXAMPLES_FILE = ROOT / "assistant" / "sector_examples.jsonl"
SHARED_EVAL = ROOT.parent / "shared" / "eval"
GOLD = ROOT / "bench" / "gold"
ALIGN_SETS = (
    SHARED_EVAL / "align.dev.jsonl", SHARED_EVAL / "align.dev2.jsonl", GOLD / "align.fresh.jsonl",
    GOLD / "align.fresh2.jsonl", GOLD / "align.fresh3.jsonl",
)
DRAFT_SETS = (
    SHARED_EVAL / "draft.dev.jsonl", SHARED_EVAL / "draft.dev2.jsonl", GOLD / "draft.fresh.jsonl",
    GOLD / "draft.fresh2.jsonl",
)
OFF_TOPIC = GOLD / "align.offtopic.jsonl"
EXAMPLE_SETS = (  # worked examples of the sectors: the project's own labelled sets, none of the shared dev sets
    GOLD / "align.fresh.jsonl", GOLD / "align.fresh2.jsonl", GOLD / "align.fresh3.jsonl", GOLD / "draft.fresh.jsonl",
    GOLD / "draft.fresh2.jsonl",
)
RIDGES = (0.01, 0.03, 0.1, 0.3)
BIAS_RIDGES = (None, 0.1, 0.03, 0.01, 0.003)  # None: no sector biases
SHARE_OF_PRIMARY = 0.7  # target probability of the gold primary sector when the item names others too


def _descriptions(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(description, item) for each line of a labelled set (drafts name it "project")."""
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(str(item.get("description") or item.get("project") or "").strip(), item) for item in items]


def example_list(sets: Sequence[Path] = EXAMPLE_SETS) -> list[dict[str, Any]]:
    """The worked examples: every description of `sets` with its primary sector and its crisis phases."""
    return [
        {"sector": int(item["sectors"][0]), "phases": [p for p in PHASES if p in item.get("phase", ())],
         "description": text, "source": f"{path.relative_to(ROOT)}#{item['id']}", "set": path.stem}
        for path in sets if path.exists() for text, item in _descriptions(path) if item.get("sectors")
    ]


def write_examples(examples: Sequence[dict[str, Any]], out: Path) -> None:
    keys = ("sector", "phases", "description", "source")
    out.write_text("".join(json.dumps({k: e[k] for k in keys}, ensure_ascii=False) + "\n" for e in examples))


def collect(
    align_sets: Sequence[Path], draft_sets: Sequence[Path], off_topic: Path, examples: Sequence[dict[str, Any]] = ()
) -> list[dict[str, Any]]:
    """One row per description: set, id, gold sectors (empty: not labelled), whether it is a real
    project, the raw features (the examples column as the shipped examples give it), the best
    clause cosine and the cosine to each of `examples` (to recompute that column without some sets)."""
    from assistant.config import Settings, set_offline_env
    from assistant.service import build_assistant

    set_offline_env()
    assistant = build_assistant(Settings.from_env())
    aligner = assistant.aligner()
    example_vectors = assistant.embedder.embed_queries([e["description"] for e in examples]) if examples else None
    rows = []
    for path, real in [*((p, True) for p in (*align_sets, *draft_sets)), (off_topic, False)]:
        if not path.exists():
            continue
        for text, item in _descriptions(path):
            measured = aligner.measure(text)
            cosines = example_vectors @ measured.query if example_vectors is not None else np.zeros(0)
            rows.append({
                "set": path.stem, "id": item["id"], "sectors": [int(s) for s in item.get("sectors", [])],
                "real": real, "features": measured.features.tolist(), "best_clause": measured.best_clause,
                "example_cosines": [round(float(c), 5) for c in cosines],
            })
            print(f"{item['id']:8} best clause {measured.best_clause:.3f}", file=sys.stderr, flush=True)
    return rows


def seen_from(
    rows: Sequence[dict[str, Any]], examples: Sequence[dict[str, Any]], hidden: str = ""
) -> list[dict[str, Any]]:
    """The rows with their examples column recomputed from the examples of other sets than their own
    and than `hidden` (the held-out set): what a description nobody labelled would see."""
    from assistant.align import SECTOR_FEATURES, closest_example

    column = SECTOR_FEATURES.index("examples")
    sectors = np.asarray([e["sector"] for e in examples], dtype=int)
    out = []
    for row in rows:
        features = np.asarray(row["features"], dtype=float)
        cosines = np.asarray(row.get("example_cosines") or [], dtype=float)
        if len(cosines) == len(examples) and features.shape[1] > column:
            keep = np.asarray([e["set"] not in (row["set"], hidden) for e in examples], dtype=bool)
            features = features.copy()
            features[:, column] = closest_example(cosines[keep], sectors[keep], len(features))
        out.append({**row, "features": features.tolist()})
    return out


def _design(features: np.ndarray, biased: bool = False) -> np.ndarray:
    """One column per feature, as `SectorModel.scores` normalises it, then (`biased`) one indicator
    column per sector for its bias."""
    from assistant.align import SECTOR_FEATURES, SectorModel

    eye = np.eye(len(SECTOR_FEATURES))
    columns = np.stack([SectorModel(weights=tuple(row), bias=()).scores(features) for row in eye], axis=1)
    return np.hstack([columns, np.eye(len(features))]) if biased else columns


def _target(gold: Sequence[int], n: int) -> np.ndarray:
    target = np.zeros(n)
    if len(gold) == 1:
        target[gold[0] - 1] = 1.0
        return target
    target[gold[0] - 1] = SHARE_OF_PRIMARY
    for other in gold[1:]:
        target[other - 1] += (1 - SHARE_OF_PRIMARY) / (len(gold) - 1)
    return target


def fit_weights(
    rows: Sequence[dict[str, Any]], ridge: float, bias_ridge: float | None = None, steps: int = 600, rate: float = 0.5
) -> np.ndarray:
    """Conditional-logit weights by gradient descent on the cross-entropy to the gold targets: the
    feature weights, then (`bias_ridge` not None) one bias per sector."""
    biased = bias_ridge is not None
    designs = [_design(np.asarray(r["features"]), biased) for r in rows]
    targets = [_target(r["sectors"], len(d)) for r, d in zip(rows, designs, strict=True)]
    n_features = designs[0].shape[1] - (len(designs[0]) if biased else 0)
    penalty = np.full(designs[0].shape[1], ridge)
    penalty[n_features:] = bias_ridge or 0.0
    w = np.zeros(designs[0].shape[1])
    for _ in range(steps):
        grad = np.zeros_like(w)
        for x, t in zip(designs, targets, strict=True):
            s = x @ w
            p = np.exp(s - s.max())
            grad += x.T @ (p / p.sum() - t)
        w -= rate * (grad / len(designs) + penalty * w)
    return w


def _logits(row: dict[str, Any], weights: np.ndarray) -> np.ndarray:
    """A description's sector logits under feature weights, with or without the sector biases."""
    features = np.asarray(row["features"])
    return _design(features, biased=len(weights) > features.shape[1]) @ weights


def rank_scores(rows: Sequence[dict[str, Any]], weights: np.ndarray) -> dict[str, float]:
    """top1 (lenient: any gold sector), top3 (gold primary within three), mean probability of the top sector."""
    top1 = top3 = 0
    confidence = []
    for r in rows:
        s = _logits(r, weights)
        order = list(np.argsort(-s, kind="stable") + 1)
        top1 += order[0] in r["sectors"]
        top3 += r["sectors"][0] in order[:3]
        p = np.exp(s - s.max())
        confidence.append(float(p.max() / p.sum()))
    n = len(rows) or 1
    return {"n": len(rows), "top1": top1 / n, "top3": top3 / n, "mean_top_probability": float(np.mean(confidence))}


def cross_validate(rows: Sequence[dict[str, Any]], examples: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    labelled = [r for r in rows if r["sectors"]]
    sets = sorted({r["set"] for r in labelled})
    by_ridges = {}
    folds = {name: (seen_from([r for r in labelled if r["set"] != name], examples, hidden=name),
                    seen_from([r for r in labelled if r["set"] == name], examples)) for name in sets}
    for ridges in [(ridge, bias) for ridge in RIDGES for bias in BIAS_RIDGES]:
        by_ridges[ridges] = {
            name: rank_scores(test, fit_weights(train, *ridges)) for name, (train, test) in folds.items()
        }

    def held_out_score(ridges: tuple[float, float | None]) -> float:
        return sum(h["top1"] + h["top3"] for h in by_ridges[ridges].values())

    ridge, bias_ridge = max(by_ridges, key=held_out_score)
    unbiased = max((k for k in by_ridges if k[1] is None), key=held_out_score)  # the best model without biases
    primary = [r["sectors"][0] for _, test in folds.values() for r in test]
    calibration = calibrate(held_out_logits(folds, ridge, bias_ridge), primary)
    everything = seen_from(labelled, examples)
    fitted = fit_weights(everything, ridge, bias_ridge) * calibration["temperature"]
    n_features = np.asarray(labelled[0]["features"]).shape[1]
    return {
        "ridge": ridge, "bias_ridge": bias_ridge, "held_out": by_ridges[(ridge, bias_ridge)],
        "held_out_without_bias": by_ridges[unbiased], "ridge_without_bias": unbiased[0],
        "held_out_by_ridge": {f"{k[0]}/{k[1]}": v for k, v in by_ridges.items()},
        "weights": [round(float(w), 2) for w in fitted[:n_features]],
        "bias": [round(float(b), 2) for b in fitted[n_features:]],
        "fitted_on_all": rank_scores(everything, fitted), "calibration": calibration, **decline_threshold(rows),
    }


TEMPERATURES = tuple(round(0.6 + 0.1 * i, 1) for i in range(25))  # 0.6 … 3.0
CALIBRATION_BINS = 10


def held_out_logits(
    folds: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]], ridge: float, bias_ridge: float | None = None
) -> list[np.ndarray]:
    """Each held-out description's sector logits from weights fitted without its set (leave-one-set-out),
    fold by fold in `folds` order (set → (training rows, held-out rows))."""
    logits = []
    for train, test in folds.values():
        w = fit_weights(train, ridge, bias_ridge)
        logits += [_logits(r, w) for r in test]
    return logits


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return np.asarray(e / e.sum())


def calibration_error(logits: Sequence[np.ndarray], primary: Sequence[int], scale: float = 1.0) -> dict[str, float]:
    """How far the top sector's probability is from how often it is the gold primary sector:
    expected calibration error over ten probability bins, mean top probability, top-1 accuracy
    (strict) and the negative log-likelihood of the gold primary sector.

    >>> z = [np.array([2.0, 0.0]), np.array([2.0, 0.0])]
    >>> calibration_error(z, [1, 2])["accuracy"]
    0.5
    """
    probabilities = [_softmax(scale * z) for z in logits]
    top = np.array([p.max() for p in probabilities])
    hit = np.array([int(np.argmax(p)) + 1 == g for p, g in zip(probabilities, primary, strict=True)], dtype=float)
    bins = np.minimum((top * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    ece = sum(abs(top[bins == b].mean() - hit[bins == b].mean()) * (bins == b).sum() for b in set(bins.tolist()))
    nll = -np.mean([np.log(p[g - 1]) for p, g in zip(probabilities, primary, strict=True)])
    return {"ece": round(float(ece) / len(top), 3), "mean_top_probability": round(float(top.mean()), 3),
            "accuracy": round(float(hit.mean()), 3), "nll": round(float(nll), 3)}


def calibrate(logits: Sequence[np.ndarray], primary: Sequence[int]) -> dict[str, Any]:
    """The temperature that makes held-out probabilities honest: the scale of the logits minimising
    the negative log-likelihood of the gold primary sector over leave-one-set-out logits. Scaling
    every weight by it leaves the ranking unchanged; only the shown percentages move."""
    temperature = min(TEMPERATURES, key=lambda t: calibration_error(logits, primary, t)["nll"])
    return {"temperature": temperature, "before": calibration_error(logits, primary),
            "after": calibration_error(logits, primary, temperature)}


REAL_MARGIN = 0.01  # when off-topic and real descriptions overlap, the cut stays this far below every real one


def _midway(real: Sequence[float], other: Sequence[float]) -> float:
    """Midway between the closest off-topic and the farthest real description; when they overlap,
    just below every real one: declining a real project costs more than ranking nonsense."""
    if not (other and real):
        return float("nan")
    return min((max(other) + min(real)) / 2, min(real) - REAL_MARGIN)


def decline_threshold(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The cut midway between the closest off-topic description and the farthest real one, and
    its leave-one-out errors (each description judged by the cut set without it)."""
    real = [r["best_clause"] for r in rows if r["real"]]
    other = [r["best_clause"] for r in rows if not r["real"]]
    wrongly_declined = wrongly_ranked = 0
    for i, r in enumerate(rows):
        rest = [x for j, x in enumerate(rows) if j != i]
        cut = _midway([x["best_clause"] for x in rest if x["real"]], [x["best_clause"] for x in rest if not x["real"]])
        if r["real"] and r["best_clause"] < cut:
            wrongly_declined += 1
        if not r["real"] and r["best_clause"] >= cut:
            wrongly_ranked += 1
    return {
        "min_similarity": round(_midway(real, other), 3),
        "real_descriptions": len(real), "off_topic_descriptions": len(other),
        "lowest_real": round(min(real), 3) if real else None,
        "highest_off_topic": round(max(other), 3) if other else None,
        "leave_one_out_wrongly_declined": wrongly_declined, "leave_one_out_wrongly_ranked": wrongly_ranked,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alignment", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "alignment.json")
    parser.add_argument("--rows", type=Path, help="reuse the features saved by an earlier run (its --out file)")
    parser.add_argument("--write-examples", action="store_true",
                        help="first write the worked examples of EXAMPLE_SETS to assistant/sector_examples.jsonl")
    args = parser.parse_args(argv)
    from assistant.align import SECTOR_FEATURES

    examples = example_list()
    if args.write_examples:
        write_examples(examples, SECTOR_EXAMPLES_FILE)
        print(f"written: {SECTOR_EXAMPLES_FILE} ({len(examples)} examples)", file=sys.stderr)
    if args.rows:
        saved = json.loads(args.rows.read_text())
        rows, examples = saved["rows"], saved.get("examples", [])
    else:
        rows = collect(ALIGN_SETS, DRAFT_SETS, OFF_TOPIC, examples)
    result = cross_validate(rows, examples)
    print(f"features: {', '.join(SECTOR_FEATURES)}; ridge {result['ridge']}, sector bias ridge "
          f"{result['bias_ridge']} (chosen by leave-one-set-out)")
    for name, scores in result["held_out"].items():
        print(f"held out {name:18} top-1 {scores['top1']:.3f}  top-3 {scores['top3']:.3f}  (n={scores['n']})")
    calibration = result["calibration"]
    print(f"calibration (held out): logits scaled by {calibration['temperature']}; expected calibration error "
          f"{calibration['before']['ece']} -> {calibration['after']['ece']}, mean top probability "
          f"{calibration['before']['mean_top_probability']} -> {calibration['after']['mean_top_probability']} "
          f"against top-1 (strict) {calibration['after']['accuracy']}")
    print(f"fitted on all: weights {tuple(result['weights'])}  sector biases {tuple(result['bias'])}  "
          f"top-1 {result['fitted_on_all']['top1']:.3f}")
    print(f"decline below best clause cosine {result['min_similarity']} (lowest real {result['lowest_real']}, "
          f"highest off-topic {result['highest_off_topic']}); leave-one-out: "
          f"{result['leave_one_out_wrongly_declined']} real declined, "
          f"{result['leave_one_out_wrongly_ranked']} off-topic ranked")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({**result, "features": SECTOR_FEATURES, "examples": examples, "rows": rows}, indent=1) + "\n"
    )
    print(f"written: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
