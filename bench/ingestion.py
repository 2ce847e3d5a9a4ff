"""Benchmark `ingest`: a full ingest against the pure encode time of the same texts, and re-ingests.

Measured in one run, on a copy of the corpus in a fresh index folder:
1. full ingest (cold: empty embedding cache), the model already loaded;
2. pure encode of the same texts (chunks' `index_text` + sentences, unique, length-sorted
   batches of `embed_batch_size`, as the pipeline sends them) → ingest / encode ratio. The
   even batches are encoded just before the ingest and the odd ones just after, so a change
   in the machine's load during the run weighs on both sides alike;
3. re-ingest with nothing changed → share of the full ingest (target < 5 %);
4. re-ingest after appending a paragraph to the smallest file → share of the full ingest;
   the file is then restored (and re-ingested) so later benchmarks search the real corpus.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from assistant.config import Settings
from assistant.embeddings import Embedder
from assistant.extractive import reading_texts
from ingest.manifest import corpus_files, read_manifest
from ingest.pipeline import default_steps, run_ingest

from .runner import BenchContext, ratio, timed

log = logging.getLogger(__name__)

EDIT = "\n\nA paragraph appended by the benchmark, to measure the re-ingest of one edited file.\n"


def run(ctx: BenchContext) -> dict[str, Any]:
    texts = planned_texts(ctx.settings)
    batches = length_sorted_batches(texts, ctx.settings.embed_batch_size)
    encode_seconds = encode(ctx.embedder.inner, batches[0::2])
    cold = ctx.ensure_index()
    encode_seconds += encode(ctx.embedder.inner, batches[1::2])

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
        "texts_encoded": len(texts),
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


def planned_texts(settings: Settings) -> list[str]:
    """The texts a cold ingest of the corpus embeds: each chunk's `index_text`, sentences and the
    answer step's sentence texts (`reading_texts`), once."""
    steps = default_steps()
    manifest = read_manifest(settings.corpus_dir)
    texts: list[str] = []
    reading: list[str] = []  # after the passages, as ingest orders them
    for path in corpus_files(settings.corpus_dir):
        document = steps.load(path, manifest.get(path.name), settings.max_upload_mb * 1024 * 1024)
        for chunk in steps.chunk(document):
            texts.append(chunk.index_text)
            texts.extend(sentence.text for sentence in steps.sentences(chunk))
            reading.extend(reading_texts(chunk.text))
    return list(dict.fromkeys(texts + reading))


def length_sorted_batches(texts: Sequence[str], size: int) -> list[list[str]]:
    """Batches of similar lengths, the way ingestion sends texts to the model.

    >>> length_sorted_batches(["ccc", "a", "bb"], 2)
    [['a', 'bb'], ['ccc']]
    """
    ordered = sorted(texts, key=len)
    size = max(1, size)
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def encode(embedder: Embedder, batches: Sequence[Sequence[str]]) -> float:
    """Seconds to embed the batches one after the other."""

    def run_all() -> None:
        for batch in batches:
            embedder.embed(batch)

    return timed(run_all)[1]
