"""The serving side of the scale benchmark, in a process of its own (so its peak RSS is a server's).

Loads the model, opens the published index (embedded, or a Chroma server), searches the dev
questions once to warm up, then times each search and one query embedding turn about. Prints
one JSON object on stdout:

    python -m bench.serve --index-dir /tmp/x/index --corpus-dir /tmp/x/corpus --gold qa.dev.jsonl
    {"first_search_s": 2.1, "search": {"p50_ms": ...}, "query_embedding": {...}, "rss_peak_mb": 610.2, ...}
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant.config import Settings, set_offline_env
from assistant.embeddings import Embedder, build_embedder
from assistant.service import build_assistant

from .runner import peak_rss_mb, search_latency


def load_embedder(spec: str, settings: Settings) -> Embedder:
    """`module:callable` → the embedder it builds; "" → the configured sentence-transformers model."""
    if not spec:
        return build_embedder(settings.embedding_model, settings.models_dir, settings.embed_batch_size)
    module, _, name = spec.partition(":")
    factory = getattr(importlib.import_module(module), name)
    embedder: Embedder = factory()
    return embedder


def measure(
    settings: Settings, embedder: Embedder, questions: Sequence[str], repetitions: int, k: int
) -> dict[str, Any]:
    """Search latency over the published index and this process's peak RSS, after the model and after serving."""
    embedder.embed(["warm up"])
    rss_model = peak_rss_mb()
    assistant = build_assistant(settings, embedder=embedder)
    result = search_latency(lambda q: assistant.search(q, k), lambda q: embedder.embed([q]), questions, repetitions)
    return {**result, "rss_model_mb": rss_model, "rss_peak_mb": peak_rss_mb()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--corpus-dir", type=Path, required=True)
    parser.add_argument("--gold", type=Path, required=True, help="JSONL with a `question` per line")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--max-questions", type=int)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--chroma-host", default="", help="search a Chroma server instead of the index folder")
    parser.add_argument("--chroma-port", type=int, default=8000)
    parser.add_argument("--embedder", default="", help="module:callable building the embedder (tests)")
    args = parser.parse_args(argv)
    set_offline_env()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    settings = Settings.from_env(
        index_dir=args.index_dir, corpus_dir=args.corpus_dir, chroma_host=args.chroma_host, chroma_port=args.chroma_port
    )
    lines = args.gold.read_text(encoding="utf-8").splitlines()
    questions = [str(json.loads(line)["question"]) for line in lines if line.strip()][: args.max_questions]
    result = measure(settings, load_embedder(args.embedder, settings), questions, args.repetitions, args.k)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
