"""Test-only: run one ingest in this process and stop at a named stage until killed.

    python -m tests.ingest_child CORPUS INDEX STAGE

Stages: "embedding" (after the first embedded batch), "adding" (chunks written, sentences
not), "publishing" (everything written, pointer not flipped), "published" (pointer flipped,
old generations not pruned), "none" (run to the end). At the stage the process prints
`PAUSED <stage>` and sleeps, so the test can SIGKILL it at a known point.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assistant.config import Settings, set_offline_env
from assistant.store import IndexInfo, IndexReader, Store, open_store
from assistant.textindex import LexicalTables
from assistant.types import Chunk, Document, FrameworkModel, Sentence
from ingest.pipeline import run_ingest
from tests.fakes import HashingEmbedder
from tests.ingest_fakes import fake_steps


def pause(stage: str, at: str) -> None:
    if stage == at:
        print(f"PAUSED {stage}", flush=True)
        while True:
            time.sleep(60)


class PausingEmbedder(HashingEmbedder):
    def __init__(self, at: str) -> None:
        super().__init__()
        self.at = at

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = super().embed(texts)
        pause("embedding", self.at)
        return vectors


class PausingWriter:
    def __init__(self, writer, at: str) -> None:  # a GenerationWriter
        self.writer = writer
        self.at = at

    @property
    def generation(self) -> str:
        return self.writer.generation

    def add_chunks(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        self.writer.add_chunks(chunks, vectors)
        pause("adding", self.at)

    def add_sentences(self, sentences: Sequence[Sentence], vectors: np.ndarray) -> None:
        self.writer.add_sentences(sentences, vectors)

    def add_lexical(self, tables: LexicalTables) -> None:
        self.writer.add_lexical(tables)

    def publish(self, info: IndexInfo, documents: Sequence[Document], framework: FrameworkModel | None) -> None:
        pause("publishing", self.at)
        self.writer.publish(info, documents, framework)
        pause("published", self.at)

    def abort(self) -> None:
        self.writer.abort()


class PausingStore:
    def __init__(self, store: Store, at: str) -> None:
        self.store = store
        self.at = at
        self.where = store.where

    def current_generation(self) -> str | None:
        return self.store.current_generation()

    def open_current(self) -> IndexReader:
        return self.store.open_current()

    def begin(self) -> PausingWriter:
        return PausingWriter(self.store.begin(), self.at)

    def prune(self) -> tuple[str, ...]:
        return self.store.prune()


def main(argv: list[str]) -> None:
    corpus, index, at = Path(argv[0]), Path(argv[1]), argv[2]
    set_offline_env()
    settings = Settings(corpus_dir=corpus, index_dir=index, embed_batch_size=2)
    store = PausingStore(open_store(settings), at)
    report = run_ingest(settings, PausingEmbedder(at), progress=False, store=store, steps=fake_steps())
    print(f"DONE {report.generation}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
