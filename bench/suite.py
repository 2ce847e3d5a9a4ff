"""The benchmarks by name, and one run of several of them sharing a workspace and a model."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import ablation, ask_latency, draft_latency, ingestion, naive, scale, search
from .report import write_report
from .runner import BenchContext, BenchOptions, MeteredEmbedder, environment, write_result

log = logging.getLogger(__name__)

BENCHMARKS: dict[str, Callable[[BenchContext], dict[str, Any]]] = {
    "ingest": ingestion.run,
    "search": search.run,
    "ablation": ablation.run,
    "naive": naive.run,
    "ask": ask_latency.run,
    "draft": draft_latency.run,
    "scale": scale.run,
}
DEFAULT = ("ingest", "search", "ablation", "naive")  # `ask`, `draft` (with an LLM) and `scale` are slow: on request
# results file stem per benchmark, where it differs from the name (`ask.json` was the grader's output)
RESULT_FILES = {"ask": "ask_latency", "draft": "draft_latency"}


def run_benchmarks(names: Sequence[str], options: BenchOptions, embedder: MeteredEmbedder) -> dict[str, Path]:
    """Run the named benchmarks in the order of `BENCHMARKS`, one workspace and one model for all.

    Writes `<results_dir>/<name>.json` for each (`RESULT_FILES` names the exceptions), then
    re-renders `options.docs` (when set) from every results file present. Returns the results
    files written.
    """
    embedder.embed(["warm up"])  # the model loads here, outside every measurement
    written = {}
    with tempfile.TemporaryDirectory(prefix="mcof-bench-", ignore_cleanup_errors=True) as tmp:
        ctx = BenchContext(options, embedder, Path(tmp))
        try:
            for name in (n for n in BENCHMARKS if n in names):
                log.info("benchmark %s", name)
                env = environment(options, embedder)
                data = BENCHMARKS[name](ctx)
                record = {"benchmark": name, "environment": env, **data}
                written[name] = write_result(options, RESULT_FILES.get(name, name), record)
        finally:
            ctx.close()
    if options.docs is not None:
        write_report(options.results_dir, options.docs)
        log.info("wrote %s", options.docs)
    return written
