"""Embedder ablation inside this project's own pipeline: recall@5 and MRR@10 per gold set.

    python -m bench.embedders NAME=INDEX_DIR[=MODEL] ... [--ingested NAME=SECONDS ...] [--keep] [--out FILE]

Each NAME is searched with the index built by that embedding model (`MCOF_INDEX_DIR=INDEX_DIR
mcof ingest` with `MCOF_EMBEDDING_MODEL=MODEL`; MODEL defaults to NAME, found in MCOF_MODELS_DIR),
through the full hybrid `Retriever` with the configuration the assistant would use
(`RetrievalConfig.for_embedder`), plus `dense_only` to show the model on its own. Hits are judged
by the shared grader's own support test, so the numbers match `grade.py search`. `--ingested`
records the wall time of that index's cold ingest, timed by the caller (`time mcof ingest`).
The results go to `bench/results/embedders.json` (with `--keep`, beside the other models already
there), and `docs/benchmarks.md` is rendered again.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

from .answerability import DEFAULT_SETS
from .runner import REPO, BenchOptions, environment, load_grader


def _grader() -> ModuleType:
    try:
        return load_grader(BenchOptions().grader)
    except FileNotFoundError as exc:
        raise SystemExit(str(exc)) from exc


def first_supporting_rank(grade: ModuleType, corpus: Any, item: dict[str, Any], hits: Sequence[Any]) -> int | None:
    """Rank of the first hit the grader counts as supporting the item's evidence."""
    evidence = grade.evidence_of(item, corpus, [])
    for hit in hits:
        text = grade.normalize(hit.chunk.text)
        if any(grade.doc_key(hit.doc) in docs and grade.text_supports(ev, text) for ev, docs in evidence):
            return int(hit.rank)
    return None


def measure(name: str, index_dir: Path, model: str, gold_files: Sequence[Path]) -> dict[str, Any]:
    from assistant.config import Settings
    from assistant.retrieval import RetrievalConfig, Retriever
    from assistant.service import build_assistant

    grade = _grader()
    corpus = grade.Corpus(str(REPO.parent / "shared" / "corpus"))
    assistant = build_assistant(Settings.from_env(index_dir=index_dir, embedding_model=model))
    loaded = assistant.searcher.current()
    configs = {"hybrid": loaded.retriever.config, "dense only": replace(RetrievalConfig.dense_only())}
    out: dict[str, Any] = {"environment": environment(BenchOptions(), assistant.embedder),
                           "dimension": assistant.embedder.dimension, "configs": {}}
    for label, config in configs.items():
        retriever = Retriever(loaded.reader, assistant.embedder, config)
        per_set = {}
        for path in gold_files:
            items = [i for i in grade.load_jsonl(str(path)) if grade.is_answerable(i)]
            if not items:  # the off-topic set: nothing to find
                continue
            ranks = [first_supporting_rank(grade, corpus, i, retriever.search(i["question"], k=10)) for i in items]
            per_set[path.stem.removeprefix("qa.")] = {
                "recall@5": round(sum(r is not None and r <= 5 for r in ranks) / len(items), 3),
                "mrr@10": round(sum(1 / r for r in ranks if r) / len(items), 3),
                "n": len(items),
            }
        out["configs"][label] = per_set
        print(f"{name:24} {label:10} " + "  ".join(
            f"{s} {m['recall@5']:.3f}/{m['mrr@10']:.3f}" for s, m in per_set.items()), file=sys.stderr, flush=True)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.embedders", description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="NAME=INDEX_DIR[=MODEL]")
    parser.add_argument("--ingested", action="append", default=[], metavar="NAME=SECONDS",
                        help="the wall time of NAME's cold ingest, timed by the caller")
    parser.add_argument("--keep", action="store_true", help="keep the rows of other models already in --out")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "embedders.json")
    parser.add_argument("--docs", type=Path, default=REPO / "docs" / "benchmarks.md", help="page to re-render")
    args = parser.parse_args(argv)
    ingested = {name: float(seconds) for name, seconds in (item.split("=") for item in args.ingested)}
    from assistant.config import set_offline_env

    set_offline_env()
    gold = [g for g in DEFAULT_SETS if g.exists()]
    results: dict[str, Any] = {"models": {}}
    if args.keep and args.out.exists():
        results["models"] = json.loads(args.out.read_text(encoding="utf-8"))["models"]
    for spec in args.models:
        name, index_dir, *model = spec.split("=")
        results["models"][name] = measure(name, Path(index_dir), model[0] if model else name, gold)
        if name in ingested:
            results["models"][name]["ingest_s"] = ingested[name]
    results["environment"] = next(iter(results["models"].values()))["environment"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"written: {args.out}", file=sys.stderr)
    from .report import write_report

    write_report(args.out.parent, args.docs)
    print(f"summary: {args.docs}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
