"""Benchmark `ablation`: dense only, BM25 only and hybrid retrieval on the same index.

Each configuration is a `Retriever` over the one published generation, graded on the
answerable dev questions with the shared grader's `grade_search` (k=10).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from assistant.retrieval import RetrievalConfig, Retriever

from .runner import BenchContext, hit_record, latency_summary, timed

CONFIGS: dict[str, Callable[[], RetrievalConfig]] = {
    "dense-only": RetrievalConfig.dense_only,
    "bm25-only": RetrievalConfig.bm25_only,
    "hybrid": RetrievalConfig,
}


def run(ctx: BenchContext) -> dict[str, Any]:
    ctx.ensure_index()
    reader = ctx.assistant().searcher.current().reader
    k = ctx.options.k
    configs: dict[str, Any] = {}
    for name, config in CONFIGS.items():
        retriever = Retriever(reader, ctx.embedder, config())
        hits: dict[str, list[dict[str, Any]]] = {}
        seconds: list[float] = []
        for item in ctx.eval_items:
            found, elapsed = timed(partial(retriever.search, str(item["question"]), k))
            hits[str(item["id"])] = [hit_record(h) for h in found]
            seconds.append(elapsed)
        configs[name] = {**ctx.grade(hits), "search_ms": latency_summary(seconds)}
    return {
        "k": k,
        "configs": configs,
        "hybrid_beats_both_on_recall@5": all(
            configs["hybrid"]["recall@5"] > configs[other]["recall@5"] for other in ("dense-only", "bm25-only")
        ),
    }
