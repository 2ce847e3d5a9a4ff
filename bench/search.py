"""Benchmark `search`: warm search latency against the latency of embedding one query.

The dev questions (questions only) go through `Assistant.search` (k=10, the serving path:
live generation check, hybrid retrieval) after a warm-up pass over all of them; each search is
followed by one embedding of the same question with the same model, so both see the same
moments of a shared machine. Target: search p95 within 2× of the query-embedding p95.
"""

from __future__ import annotations

import time
from typing import Any

from .runner import BenchContext, ratio, search_latency

TARGET_P95_RATIO = 2.0


def run(ctx: BenchContext) -> dict[str, Any]:
    ctx.ensure_index()
    assistant = ctx.assistant()
    k = ctx.options.k
    spent = {"seconds": 0.0, "searches": 0.0}

    def search(query: str) -> None:
        started = time.perf_counter()
        assistant.search(query, k)
        spent["seconds"] += time.perf_counter() - started
        spent["searches"] += 1

    ctx.embedder.reset()  # from here on the meter counts what searches embed
    result = search_latency(
        search,
        lambda q: ctx.embedder.inner.embed([q]),  # the baseline goes around the meter
        ctx.questions,
        ctx.options.repetitions,
    )
    return {
        "k": k,
        **result,
        "target_p95_ratio": TARGET_P95_RATIO,
        "texts_embedded_per_search": round(ctx.embedder.texts / spent["searches"], 2),
        "embedding_share_of_search": ratio(ctx.embedder.seconds, spent["seconds"]),
    }
