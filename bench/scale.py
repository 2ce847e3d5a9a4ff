"""Benchmark `scale` (slow: only with `--only scale`): the real corpus and synthetic ones 10× and 100× its size.

At each size: a cold ingest in this process (throughput = texts embedded per second), then a
serving process (`python -m bench.serve`) that opens the index and searches the dev
questions: search p50/p95 against one query embedding, and its peak RSS.
At `scale_server_factor` the corpus is ingested again with a warm embedding cache, once into
the embedded index (--rebuild) and once into a real `chroma run` server on 127.0.0.1, and
served from each: the two stores compared with the model out of the way.
A size whose cold ingest, projected from the throughput of the size before, would exceed the
budget is skipped and reported with its projection.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from assistant.config import Settings
from ingest.manifest import corpus_files
from ingest.pipeline import run_ingest

from .runner import REPO, BenchContext, peak_rss_mb, timed
from .synth import synthesize

log = logging.getLogger(__name__)


def run(ctx: BenchContext) -> dict[str, Any]:
    options = ctx.options
    sizes: list[dict[str, Any]] = []
    per_factor_texts = throughput = 0.0
    for factor in options.scale_factors:
        if throughput:
            projected = factor * per_factor_texts / throughput / 60
            if projected > options.scale_budget_minutes:
                sizes.append(
                    {
                        "factor": factor,
                        "mode": "embedded, cold cache",
                        "skipped": f"projected cold ingest {projected:.0f} min at {throughput:.0f} texts/s, "
                        f"over the {options.scale_budget_minutes:.0f} min budget",
                    }
                )
                continue
        corpus = ctx.settings.corpus_dir
        if factor > 1:
            corpus = options.synthetic_dir / f"{factor}x"
            synthesize(ctx.settings.corpus_dir, corpus, factor)
        settings = Settings.from_env(
            index_dir=ctx.workspace / f"scale-{factor}x", corpus_dir=corpus, chroma_host="", collection="mcof"
        )
        row = _ingest(ctx, settings, factor, "embedded, cold cache", rebuild=False)
        sizes.append(row)
        throughput = row["texts_per_s"]
        per_factor_texts = row["texts_embedded"] / factor
        if factor == options.scale_server_factor:
            sizes.append(_ingest(ctx, settings, factor, "embedded, warm cache", rebuild=True))
            with chroma_server(ctx.workspace / f"chroma-server-{factor}x") as (port, server):
                served = settings.with_overrides(chroma_host="127.0.0.1", chroma_port=port)
                row = _ingest(ctx, served, factor, "server, warm cache", rebuild=False)
                row["server_rss_peak_mb"] = peak_rss_mb(server.pid)
                sizes.append(row)
    return {"budget_minutes": options.scale_budget_minutes, "sizes": sizes}


def _ingest(ctx: BenchContext, settings: Settings, factor: int, mode: str, rebuild: bool) -> dict[str, Any]:
    log.info("scale %dx (%s): ingesting %s", factor, mode, settings.corpus_dir)
    ctx.embedder.reset()
    report, seconds = timed(lambda: run_ingest(settings, ctx.embedder, rebuild=rebuild, progress=True))
    files = corpus_files(settings.corpus_dir)
    return {
        "factor": factor,
        "mode": mode,
        "files": len(files),
        "corpus_mb": round(sum(p.stat().st_size for p in files) / 1e6, 2),
        "chunks": report.chunks,
        "texts_embedded": report.embedded,
        "ingest_s": round(seconds, 2),
        "encode_s": round(ctx.embedder.seconds, 2),
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def chroma_server(data: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """A `chroma run` server on a free port of 127.0.0.1, stopped on exit."""
    binary = Path(sys.executable).with_name("chroma")
    port = free_port()
    server = subprocess.Popen(
        [str(binary), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"`chroma run` did not answer on port {port} (exit {server.poll()})") from None
                time.sleep(0.1)
        log.info("chroma server pid %d on port %d", server.pid, port)
        yield port, server
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
