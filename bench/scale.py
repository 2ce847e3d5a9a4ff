"""Benchmark `scale` (slow: only with `--only scale`): the real corpus and synthetic ones 10× and 100× its size.

At each size: an ingest in this process through the real pipeline (chunking, text index, Chroma,
generations; throughput = texts embedded per second of the whole ingest), then a serving
process (`python -m bench.serve`, the real model) that opens the index and searches the dev
questions: search p50/p95 against one query embedding, and its peak RSS.

Which vectors the ingest uses depends on the budget. A size whose cold ingest, projected from
the throughput of the size before, fits `scale_budget_minutes` is ingested cold with the real
model. A larger one is ingested with `StandInEmbedder`: deterministic unit vectors, per text,
under the real model's name and dimension. Its row measures the store side of the ingest and
records the projected cold ingest with the model; its serving process still embeds each query
with the real model, and accepts the index since name and dimension match. Example on 2 cores:
1× and 10× cold at ~25 texts/s, 100× (~370,000 texts, ~4 h projected) with stand-in vectors.

At `scale_server_factor` the corpus is ingested again with a warm embedding cache, once into
the embedded index (--rebuild) and once into a real `chroma run` server on 127.0.0.1, and
served from each: the two stores compared with the model out of the way.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from assistant.config import Settings
from assistant.textutil import content_hash
from ingest.manifest import corpus_files
from ingest.pipeline import run_ingest

from .runner import REPO, BenchContext, MeteredEmbedder, peak_rss_mb, timed
from .servers import chroma_server
from .synth import synthesize

log = logging.getLogger(__name__)

COLD, STAND_IN = "embedded, cold cache", "embedded, stand-in vectors"


@dataclass(frozen=True)
class StandInEmbedder:
    """Unit vectors seeded by a hash of each text, named like the model they stand in for (an `Embedder`).

    Costs microseconds a text, so a corpus too large to embed on this machine still goes
    through the real ingest and store; a serving process with the real model opens the index.

    >>> vectors = StandInEmbedder("all-MiniLM-L6-v2", 4).embed(["a", "b", "a"])
    >>> vectors.shape, bool(np.allclose(np.linalg.norm(vectors, axis=1), 1)), bool((vectors[0] == vectors[2]).all())
    ((3, 4), True, True)
    """

    name: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = np.random.default_rng(int(content_hash(text, length=16), 16)).standard_normal(self.dimension)
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed(texts)


def run(ctx: BenchContext) -> dict[str, Any]:
    options = ctx.options
    sizes: list[dict[str, Any]] = []
    cold: dict[str, Any] = {}  # the row of the last size ingested cold with the model
    for factor in options.scale_factors:
        corpus = ctx.settings.corpus_dir
        if factor > 1:
            corpus = options.synthetic_dir / f"{factor}x"
            synthesize(ctx.settings.corpus_dir, corpus, factor)
        settings = Settings.from_env(
            index_dir=ctx.workspace / f"scale-{factor}x", corpus_dir=corpus, chroma_host="", collection="mcof"
        )
        per_factor = cold["texts_embedded"] / cold["factor"] if cold.get("texts_per_s") else 0
        if per_factor and _minutes(factor * per_factor, cold) > options.scale_budget_minutes:
            embedder = MeteredEmbedder(StandInEmbedder(ctx.embedder.name, ctx.embedder.dimension))
            row = _ingest(ctx, settings, embedder, factor, STAND_IN, rebuild=False)
            row["projected_cold_ingest_min"] = round(_minutes(row["texts_embedded"], cold), 1)
            row["projected_from_factor"] = cold["factor"]
        else:
            embedder = ctx.embedder
            row = cold = _ingest(ctx, settings, embedder, factor, COLD, rebuild=False)
        sizes.append(row)
        if factor == options.scale_server_factor:
            sizes.append(_ingest(ctx, settings, embedder, factor, "embedded, warm cache", rebuild=True))
            with chroma_server(ctx.workspace / f"chroma-server-{factor}x") as (port, server):
                served = settings.with_overrides(chroma_host="127.0.0.1", chroma_port=port)
                row = _ingest(ctx, served, embedder, factor, "server, warm cache", rebuild=False)
                row["server_rss_peak_mb"] = peak_rss_mb(server.pid)
                sizes.append(row)
    return {"budget_minutes": options.scale_budget_minutes, "sizes": sizes}


def _minutes(texts: float, cold: dict[str, Any]) -> float:
    """Minutes a cold ingest of `texts` would take at the throughput of the `cold` row."""
    return texts / float(cold["texts_per_s"]) / 60


def _ingest(
    ctx: BenchContext, settings: Settings, embedder: MeteredEmbedder, factor: int, mode: str, rebuild: bool
) -> dict[str, Any]:
    log.info("scale %dx (%s): ingesting %s", factor, mode, settings.corpus_dir)
    embedder.reset()
    report, seconds = timed(lambda: run_ingest(settings, embedder, rebuild=rebuild, progress=True))
    files = corpus_files(settings.corpus_dir)
    return {
        "factor": factor,
        "mode": mode,
        "files": len(files),
        "corpus_mb": round(sum(p.stat().st_size for p in files) / 1e6, 2),
        "chunks": report.chunks,
        "texts_embedded": report.embedded,
        "ingest_s": round(seconds, 2),
        "encode_s": round(embedder.seconds, 2),
        "texts_per_s": round(report.embedded / seconds, 1) if report.embedded else 0.0,
        "chunks_per_s": round(report.chunks / seconds, 1),
        "serving": _serve(ctx, settings),
    }


def _serve(ctx: BenchContext, settings: Settings) -> dict[str, Any]:
    """Run `bench.serve` on the index of `settings`; its JSON result."""
    options = ctx.options
    argv = [
        sys.executable, "-m", "bench.serve",
        "--index-dir", str(settings.index_dir),
        "--corpus-dir", str(settings.corpus_dir),
        "--gold", str(options.gold),
        "--repetitions", str(options.repetitions),
        "--k", str(options.k),
    ]  # fmt: skip
    if options.max_questions:
        argv += ["--max-questions", str(options.max_questions)]
    if settings.server_mode:
        argv += ["--chroma-host", settings.chroma_host, "--chroma-port", str(settings.chroma_port)]
    if options.serve_embedder:
        argv += ["--embedder", options.serve_embedder]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench.serve failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


