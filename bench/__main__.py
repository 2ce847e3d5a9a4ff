"""`python -m bench [--quick] [--only NAME]...`: run the benchmarks and write their results.

Default: ingest, search, ablation and naive, on a copy of corpus/ in a temporary index, the
model loaded once; results in bench/results/<name>.json and docs/benchmarks.md regenerated.
`--only scale` runs the slow scale benchmark. `--quick` (fewer questions, one repetition)
writes to bench/results/tmp/ and leaves docs/benchmarks.md alone unless --docs is given.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from assistant.config import Settings, set_offline_env

from .runner import REPO, BenchOptions, MeteredEmbedder
from .suite import BENCHMARKS, DEFAULT, run_benchmarks


def main(argv: Sequence[str] | None = None) -> int:
    defaults = BenchOptions()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer questions, one repetition (for development)")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), help="run this benchmark (repeatable)")
    parser.add_argument("--corpus", type=Path, default=defaults.corpus_dir, help="corpus folder (default corpus/)")
    parser.add_argument("--gold", type=Path, default=defaults.gold, help="qa gold JSONL (default the shared dev set)")
    parser.add_argument(
        "--results", type=Path, help="results folder (default bench/results; with --quick bench/results/tmp)"
    )
    parser.add_argument("--docs", type=Path, help="Markdown summary to regenerate (default docs/benchmarks.md)")
    parser.add_argument(
        "--scale-factors", default="1,10,100", help="corpus sizes of the scale benchmark (default 1,10,100)"
    )
    parser.add_argument(
        "--scale-budget-min",
        type=float,
        default=defaults.scale_budget_minutes,
        help="skip a scale size whose projected cold ingest takes longer (default 60)",
    )
    args = parser.parse_args(argv)
    set_offline_env()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("httpx", "chromadb", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    options = BenchOptions(
        corpus_dir=args.corpus,
        gold=args.gold,
        results_dir=args.results or REPO / "bench" / "results" / ("tmp" if args.quick else ""),
        docs=args.docs or (None if args.quick else defaults.docs),
        quick=args.quick,
        scale_factors=tuple(int(f) for f in args.scale_factors.split(",") if f.strip()),
        scale_budget_minutes=args.scale_budget_min,
    )
    settings = Settings.from_env()
    from assistant.embeddings import build_embedder

    embedder = MeteredEmbedder(build_embedder(settings.embedding_model, settings.models_dir, settings.embed_batch_size))
    written = run_benchmarks(args.only or DEFAULT, options, embedder)
    for name, path in written.items():
        print(f"{name}: {path}")
    if options.docs is not None:
        print(f"summary: {options.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
