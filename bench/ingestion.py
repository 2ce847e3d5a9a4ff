"""Benchmark `ingest`: a full ingest against the pure encode time of the same texts, and re-ingests.

Measured in one run, on a copy of the corpus in a fresh index folder:
1. full ingest (cold: empty embedding cache), the model already loaded;
2. pure encode of the same texts (chunks' `index_text` + sentences, unique, length-sorted
   batches of `embed_batch_size`, as the pipeline sends them) → ingest / encode ratio;
3. re-ingest with nothing changed → share of the full ingest (target < 5 %);
4. re-ingest after appending a paragraph to the smallest file → share of the full ingest;
   the file is then restored (and re-ingested) so later benchmarks search the real corpus.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from assistant.embeddings import Embedder
from assistant.store import open_store
from ingest.manifest import corpus_files
from ingest.pipeline import run_ingest

from .runner import BenchContext, ratio, timed

log = logging.getLogger(__name__)

EDIT = "\n\nA paragraph appended by the benchmark, to measure the re-ingest of one edited file.\n"


def run(ctx: BenchContext) -> dict[str, Any]:
    cold = ctx.ensure_index()
    texts = _indexed_texts(ctx)
    encode_seconds = pure_encode_seconds(ctx.embedder.inner, texts, ctx.settings.embed_batch_size)

    unchanged, unchanged_seconds = timed(lambda: run_ingest(ctx.settings, ctx.embedder, progress=False))
    if unchanged.changed_anything:
        raise RuntimeError("a re-ingest of the unchanged corpus changed the index")

    target = min(corpus_files(ctx.settings.corpus_dir), key=lambda p: p.stat().st_size)
    original = target.read_bytes()
    target.write_bytes(original + EDIT.encode())
    try:
        edited, edit_seconds = timed(lambda: run_ingest(ctx.settings, ctx.embedder, progress=False))
    finally:
        target.write_bytes(original)
    run_ingest(ctx.settings, ctx.embedder, progress=False)

    full = cold.seconds
    return {
        "corpus_files": len(corpus_files(ctx.settings.corpus_dir)),
        "chunks": cold.chunks,
        "sentences": cold.sentences,
        "texts_embedded": cold.report.embedded,
        "batch_size": ctx.settings.embed_batch_size,
        "full_ingest_s": round(full, 3),
        "full_ingest_encode_s": round(cold.encode_seconds, 3),
        "pure_encode_s": round(encode_seconds, 3),
        "ingest_to_encode": ratio(full, encode_seconds),
        "no_change_s": round(unchanged_seconds, 3),
        "no_change_share": ratio(unchanged_seconds, full),
        "no_change_target_share": 0.05,
        "edit_file": target.name,
        "edit_s": round(edit_seconds, 3),
        "edit_share": ratio(edit_seconds, full),
        "edit_texts_embedded": edited.embedded,
        "edit_changed": list(edited.changed),
    }


def pure_encode_seconds(embedder: Embedder, texts: Sequence[str], batch_size: int) -> float:
    """Seconds to embed the unique texts in length-sorted batches, the way ingestion does."""
    todo = sorted(dict.fromkeys(texts), key=len)
    size = max(1, batch_size)

    def encode() -> None:
        for i in range(0, len(todo), size):
            embedder.embed(todo[i : i + size])

    return timed(encode)[1]


def _indexed_texts(ctx: BenchContext) -> list[str]:
    reader = open_store(ctx.settings).open_current()
    try:
        return [c.index_text for c in reader.chunks()] + [s.text for s in reader.sentences()]
    finally:
        reader.close()
