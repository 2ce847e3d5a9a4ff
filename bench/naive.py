"""Benchmark `naive`: this project side by side with a ten-line LangChain tutorial pipeline.

The tutorial: each raw corpus file through `RecursiveCharacterTextSplitter(chunk_size=1000,
chunk_overlap=200)`, the same MiniLM model (ours, behind a LangChain `Embeddings` adapter),
one Chroma collection, similarity search for the k nearest chunks. Both pipelines are graded
on the same answerable dev questions by the shared grader; both ingest times are cold (no
embedding cache); search latencies are measured turn about, warm.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_text_splitters import RecursiveCharacterTextSplitter

from assistant.embeddings import Embedder
from assistant.store import NaiveCollection
from ingest.manifest import corpus_files

from .runner import BenchContext, hit_record, interleaved_latency, latency_summary, timed

CHUNK_SIZE = 1000
CHUNK_OVERLAP = 200


class LangChainEmbeddings(Embeddings):
    """Our embedder seen through LangChain's `Embeddings` interface."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [list(map(float, row)) for row in self._embedder.embed(texts)]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


class NaivePipeline:
    """Split raw files 1000/200, embed every chunk, return the nearest chunks of a query."""

    def __init__(self, embeddings: Embeddings, collection: NaiveCollection) -> None:
        self._embeddings = embeddings
        self._collection = collection
        self._splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)

    def ingest(self, files: Sequence[Path]) -> int:
        """Index the files; returns the number of chunks."""
        documents = self._splitter.create_documents(
            [path.read_text(encoding="utf-8", errors="replace") for path in files],
            metadatas=[{"source": path.name} for path in files],
        )
        texts = [d.page_content for d in documents]
        vectors = self._embeddings.embed_documents(texts)
        ids = [f"naive-{i}" for i in range(len(texts))]
        self._collection.add(ids, np.asarray(vectors, dtype=np.float32), texts, [d.metadata for d in documents])
        return len(texts)

    def search(self, query: str, k: int) -> list[dict[str, Any]]:
        """The k nearest chunks, as `mcof search --json` hits."""
        vector = self._embeddings.embed_query(query)
        found = self._collection.query(np.asarray([vector], dtype=np.float32), k)
        return [
            {"rank": rank, "doc": md.get("source", ""), "section": "", "text": text, "score": round(-distance, 4)}
            for rank, (text, md, distance) in enumerate(found, 1)
        ]


def run(ctx: BenchContext) -> dict[str, Any]:
    cold = ctx.ensure_index()
    assistant = ctx.assistant()
    k = ctx.options.k
    collection = NaiveCollection(ctx.workspace / "naive", "naive-tutorial")
    try:
        pipeline = NaivePipeline(LangChainEmbeddings(ctx.embedder.inner), collection)
        files = corpus_files(ctx.settings.corpus_dir)
        chunks, ingest_seconds = timed(lambda: pipeline.ingest(files))

        # the quality pass doubles as the warm-up of both pipelines
        ours: dict[str, list[dict[str, Any]]] = {}
        naive: dict[str, list[dict[str, Any]]] = {}
        for item in ctx.eval_items:
            question = str(item["question"])
            ours[str(item["id"])] = [hit_record(h) for h in assistant.search(question, k)]
            naive[str(item["id"])] = pipeline.search(question, k)
        samples = interleaved_latency(
            {"ours": lambda q: assistant.search(q, k), "naive": lambda q: pipeline.search(q, k)},
            ctx.questions,
            ctx.options.repetitions,
        )
    finally:
        collection.close()
    return {
        "k": k,
        "questions": len(ctx.questions),
        "repetitions": ctx.options.repetitions,
        "ours": {
            **ctx.grade(ours),
            "ingest_s": round(cold.seconds, 3),
            "texts_embedded": cold.report.embedded,
            "chunks": cold.chunks,
            "search_ms": latency_summary(samples["ours"]),
        },
        "naive": {
            **ctx.grade(naive),
            "ingest_s": round(ingest_seconds, 3),
            "texts_embedded": chunks,
            "chunks": chunks,
            "search_ms": latency_summary(samples["naive"]),
            "splitter": f"RecursiveCharacterTextSplitter({CHUNK_SIZE}/{CHUNK_OVERLAP})",
        },
    }
