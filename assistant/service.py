"""Wiring: the one place where the real embedder, store, retriever and generators meet.

`build_assistant(settings)` returns an `Assistant` that the CLI and the app share. Heavy
libraries load on first use, so building it is cheap; a published index generation is
picked up by the next search (a running app never needs a restart after `mcof ingest`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from .config import Settings
from .embeddings import Embedder, build_embedder
from .errors import FrameworkError, IndexMissingError, McofError
from .types import (
    Alignment,
    Answer,
    Chunk,
    DocumentMeta,
    Draft,
    FrameworkModel,
    Hit,
    IngestReport,
    SectorExample,
    Turn,
)

if TYPE_CHECKING:
    import numpy as np
    from langchain_core.language_models import BaseChatModel

    from .align import Aligner, ReferenceVectors
    from .answering import Answerer
    from .draft import Drafter
    from .retrieval import RetrievalConfig, Retriever
    from .store import IndexInfo, IndexReader, Store

log = logging.getLogger(__name__)
T = TypeVar("T")
LLM_RETRY_S = 300.0  # after the local LLM failed to start, answers stay extractive this long before a retry


@dataclass(frozen=True)
class _Loaded:
    generation: str
    retriever: Retriever
    framework: FrameworkModel | None
    info: IndexInfo
    reader: IndexReader


class LiveSearcher:
    """The retriever of the currently published index generation, reopened when it changes.

    Implements the `Searcher`, `TermStats`, `ChunkSource`, `TermExpander` and `LabelSpeller` seams the
    generators use.
    """

    def __init__(self, store_factory: Callable[[], Store], embedder: Embedder, config: RetrievalConfig) -> None:
        self._store_factory = store_factory
        self._config = config
        self._store: Store | None = None
        self._embedder = embedder
        self._loaded: _Loaded | None = None
        self._retired: _Loaded | None = None  # the generation before, closed at the next switch
        self._lock = threading.Lock()

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = self._store_factory()
        return self._store

    def current(self) -> _Loaded:
        """The loaded generation, after checking (cheaply) whether a newer one was published."""
        from .retrieval import Retriever
        from .store import check_compatible

        generation = self.store.current_generation()
        if generation is None:
            raise IndexMissingError(self.store.where)
        with self._lock:
            if self._loaded is None or self._loaded.generation != generation:
                reader = self.store.open_current()
                try:
                    check_compatible(reader.info, self._embedder.name, self._embedder.dimension)
                    retriever = Retriever(reader, self._embedder, self._config)
                    loaded = _Loaded(reader.info.generation, retriever, reader.framework(), reader.info, reader)
                except Exception:
                    reader.close()
                    raise
                # searches still running on the generation before keep it open until the next switch
                if self._retired is not None:
                    self._retired.reader.close()
                self._retired, self._loaded = self._loaded, loaded
                log.info("opened index generation %s", loaded.generation)
            return self._loaded

    def search(self, query: str, k: int = 10) -> list[Hit]:
        from .retrieval import check_query

        check_query(query, self._config.max_query_chars)  # before the index (and the model) is loaded
        return self.current().retriever.search(query, k)

    def document_frequency(self, term: str) -> int:
        return self.current().retriever.document_frequency(term)

    @property
    def chunk_count(self) -> int:
        return self.current().retriever.chunk_count

    def chunks_of(self, doc: str) -> Sequence[Chunk]:
        return self.current().retriever.chunks_of(doc)

    def stored_vectors(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return self.current().retriever.stored_vectors(texts)

    def expand_terms(self, tokens: Sequence[str]) -> list[str]:
        return self.current().retriever.expand_terms(tokens)

    def spell_out_labels(self, text: str) -> str:
        return self.current().retriever.spell_out_labels(text)

    @property
    def catalog(self) -> dict[str, DocumentMeta]:
        return self.current().retriever.catalog


class Assistant:
    """Search, answer, align, draft and ingest with one set of settings."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        store_factory: Callable[[], Store] | None = None,
        chat_model: BaseChatModel | None = None,
    ) -> None:
        from .retrieval import RetrievalConfig
        from .store import open_store

        self.settings = settings
        self.embedder = embedder or build_embedder(
            settings.embedding_model, settings.models_dir, settings.embed_batch_size
        )
        config = RetrievalConfig.for_embedder(self.embedder.name, max_query_chars=settings.max_query_chars)
        self.searcher = LiveSearcher(store_factory or (lambda: open_store(settings)), self.embedder, config)
        self._chat_model = chat_model
        self._chat_model_built = chat_model is not None
        self._generators: dict[str, Any] = {}
        self._lock = threading.Lock()
        # the "local" backend: a server this process starts or shares, checked before every use
        self._local_llm = chat_model is None and settings.llm_backend == "local"
        self._local_url = ""
        self._local_failed_at: float | None = None
        self._llm_lock = threading.Lock()
        self.llm_notice = ""  # why answers are extractive although an LLM is configured (one line), or ""

    # --- queries -------------------------------------------------------------------------

    def search(self, query: str, k: int = 10) -> list[Hit]:
        return self.searcher.search(query, k)

    def ask(self, question: str, history: Sequence[Turn] = ()) -> Answer:
        return self.noted(self.answerer().answer(question, history))

    def noted(self, answer: Answer) -> Answer:
        """The answer with `llm_notice` added when an LLM is configured but could not be used."""
        if self.llm_notice and not answer.refused:
            return replace(answer, notice=f"{answer.notice} {self.llm_notice}".strip())
        return answer

    def align(self, description: str) -> Alignment:
        return self.aligner().align(description)

    def draft(self, project: str, length: Literal["short", "standard", "long"] = "standard") -> Draft:
        draft: Draft = self.drafter().draft(project, length)
        return draft

    # --- generators, rebuilt when a new index generation is published ----------------------

    def chat_model(self) -> BaseChatModel | None:
        """The LLM that writes answers, or None (extractive answers).

        The "local" backend's server is checked before every use, and started or restarted when
        it is not running; when that fails (model missing, server not starting) answers are
        extractive and `llm_notice` says why.
        """
        if self._local_llm:
            return self._local_chat_model()
        if not self._chat_model_built:
            if self.settings.llm_backend != "none":
                from .llm import build_chat_model

                self._chat_model = build_chat_model(self.settings)
            self._chat_model_built = True
        return self._chat_model

    def _local_chat_model(self) -> BaseChatModel | None:
        from .llm import build_chat_model
        from .llm_server import ensure_server

        with self._llm_lock:
            if self._local_failed_at is not None and time.monotonic() - self._local_failed_at < LLM_RETRY_S:
                return None
            try:
                url = ensure_server(self.settings)  # cheap when running: a health check
                if self._chat_model is None or url != self._local_url:
                    self._chat_model, self._local_url = build_chat_model(self.settings), url
            except McofError as exc:
                log.warning("local LLM unavailable: %s", exc)
                self.llm_notice = f"The local LLM is unavailable ({exc}); showing extractive answers."
                self._chat_model, self._local_failed_at = None, time.monotonic()
                return None
            self.llm_notice, self._local_failed_at = "", None
            return self._chat_model

    def answerer(self) -> Answerer:
        from .answering import Answerer, RefusalPolicy

        policy = RefusalPolicy.for_embedder(self.embedder.name)
        return self._generator("answerer", lambda loaded, llm: Answerer(
            self.searcher, self.embedder, loaded.retriever.catalog, llm, policy=policy,
            llm_writes=self.settings.llm_writes,
        ))

    def aligner(self) -> Aligner:
        from .align import Aligner

        def build(loaded: _Loaded, llm: BaseChatModel | None) -> Aligner:
            framework = self._framework(loaded)
            examples = self._sector_examples()  # read when the aligner is built, not on every request
            return Aligner(framework, self.searcher, self.embedder, llm, examples=examples,
                           references=self._references(framework, examples))

        return self._generator("aligner", build, writes=True)

    def _references(self, framework: FrameworkModel, examples: Sequence[SectorExample]) -> ReferenceVectors:
        """The framework's wording and the worked examples embedded for the aligner, kept in a file beside the
        index (named by the embedding model and the texts), so that only the first process embeds them
        (about 40 s with EmbeddingGemma); a missing or damaged file is embedded again and rewritten."""
        import io
        import zipfile

        import numpy as np

        from .align import FrameworkTexts, ReferenceVectors, embed_references, reference_key, usable_examples
        from .embeddings import model_key
        from .files import replace_bytes

        texts = FrameworkTexts.of(framework)
        wanted = [e.description for e in usable_examples(examples, len(framework.sectors))]
        key = reference_key(texts, wanted, self.embedder.name)
        path = self.settings.index_dir / f"aligner-{model_key(self.embedder.name)}-{key}.npz"
        try:
            with np.load(path) as kept:
                similar = kept["similar"] if kept["similar"].size else None
                references = ReferenceVectors(key, kept["passages"], similar, kept["examples"])
            if references.matches(texts, wanted, self.embedder.name):
                return references
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # not there yet, or damaged: embed again
        references = embed_references(texts, wanted, self.embedder)
        buffer = io.BytesIO()
        similar = references.similar if references.similar is not None else np.zeros(0)  # empty: no such reading
        np.savez(buffer, passages=references.passages, similar=similar, examples=references.examples)
        try:
            replace_bytes(path, buffer.getvalue())
        except OSError as exc:
            log.info("aligner vectors not kept (%s): %s", path, exc)
        return references

    def _sector_examples(self) -> tuple[SectorExample, ...]:
        """The worked examples the settings name (`Settings.sector_examples`); none when unset or "none",
        or (with a warning: alignment works without them, a little less well) when they cannot be read."""
        from .align import parse_sector_examples

        name = self.settings.sector_examples.strip()
        if not name or name.lower() == "none":
            return ()
        path = Path(name)
        try:
            return parse_sector_examples(path.read_text(encoding="utf-8"), str(path))
        except (OSError, UnicodeDecodeError, FrameworkError) as exc:
            log.warning("sector examples left out (MCOF_SECTOR_EXAMPLES=%s): %s", path, exc)
            return ()

    def drafter(self) -> Drafter:
        from .draft import Drafter, rewrite_support

        return self._generator("drafter", lambda loaded, llm: Drafter(
            self._framework(loaded), self.aligner(), self.searcher, loaded.retriever.catalog, llm,
            rewrite_support(self.embedder.name),
        ), writes=True)

    def _generator(self, name: str, build: Callable[[_Loaded, BaseChatModel | None], T], writes: bool = False) -> T:
        """The generator for the current index generation and chat model (a restarted local LLM is a new one).

        A generator whose only use of the LLM is to write (an alignment's rationale, a draft) gets it
        only with `llm_writes`: measured, the model's drafts mention no more than the composed ones
        and take 35 s instead of 0.2 (docs/benchmarks.md).
        """
        loaded = self.searcher.current()
        llm = self.chat_model() if self.settings.llm_writes or not writes else None
        with self._lock:
            cached = self._generators.get(name)
            if cached is not None and cached[0] == loaded.generation and cached[2] is llm:
                return cast(T, cached[1])
        generator = build(loaded, llm)
        with self._lock:
            self._generators[name] = (loaded.generation, generator, llm)
        return generator

    @staticmethod
    def _framework(loaded: _Loaded) -> FrameworkModel:
        if loaded.framework is None or not loaded.framework.sectors:
            raise FrameworkError(
                "the index holds no MCOF framework model (sectors, phases, objectives): ingest a corpus that "
                "contains the 2012 framework text, e.g. `mcof ingest --rebuild` on the shipped corpus/"
            )
        return loaded.framework

    # --- index ------------------------------------------------------------------------------

    def ingest(self, paths: Sequence[Path] = (), rebuild: bool = False, progress: bool = True) -> IngestReport:
        from ingest.pipeline import run_ingest

        return run_ingest(
            self.settings, self.embedder, paths=paths, rebuild=rebuild, progress=progress, store=self.searcher.store
        )

    def upload(self, paths: Sequence[Path], user: str, replace_own: bool = False) -> IngestReport:
        """Add files as uploads (renamed when their name is taken; never stored when unreadable), then re-index."""
        from ingest.loaders import load_document
        from ingest.manifest import corpus_files
        from ingest.pipeline import check_dropped
        from ingest.uploads import UploadFolder

        max_bytes = self.settings.max_upload_mb * 1024 * 1024
        for path in paths:
            check_dropped(path, max_bytes)

        def add() -> None:
            folder = UploadFolder(self.settings.uploads_dir)
            official = {p.name for p in corpus_files(self.settings.corpus_dir)}
            when = datetime.now(UTC).isoformat(timespec="seconds")
            for path in paths:
                folder.add(path, lambda p: load_document(p, None, max_bytes), user=user, when=when,
                           official=official, replace_own=replace_own)

        return self._reindex(add)

    def edit_upload(self, doc: str, title: str, publisher: str, date: str) -> IngestReport:
        """Change an uploaded document's title, publisher and date, then re-index."""
        from ingest.uploads import UploadFolder

        return self._reindex(lambda: UploadFolder(self.settings.uploads_dir).edit(doc, title, publisher, date))

    def delete_upload(self, doc: str) -> IngestReport:
        """Remove an uploaded document (official sources cannot be), then re-index without it."""
        from ingest.uploads import UploadFolder

        return self._reindex(lambda: UploadFolder(self.settings.uploads_dir).delete(doc))

    def _reindex(self, prepare: Callable[[], None]) -> IngestReport:
        from ingest.pipeline import run_ingest

        return run_ingest(self.settings, self.embedder, progress=False, store=self.searcher.store, prepare=prepare)

    def warm_up(self) -> None:
        """Load the model, the index and the generators before the first request needs them.

        Meant for a background thread at app start; a problem is logged, the request that
        meets it reports it.
        """
        try:
            self.search("warm up", 1)
            self.answerer()
            self.drafter()
        except McofError as exc:
            log.warning("warm-up stopped: %s", exc)

    def has_index(self) -> bool:
        return self.searcher.store.current_generation() is not None

    def status(self) -> dict[str, Any]:
        """Index generation, model, documents and chunk counts (for `mcof status` and the Sources tab)."""
        loaded = self.searcher.current()
        return {
            "generation": loaded.generation,
            "store": self.searcher.store.where,
            "embedding_model": loaded.info.embedding_model,
            "dimension": loaded.info.dimension,
            "created": loaded.info.created,
            "documents": [
                {
                    "doc": f.doc,
                    "title": f.meta.title,
                    "publisher": f.meta.publisher,
                    "date": f.meta.date,
                    "kind": f.meta.kind,
                    "uploaded_by": f.meta.uploaded_by,
                    "uploaded": f.meta.uploaded,
                    "chunks": f.chunks,
                }
                for f in loaded.info.files
            ],
            "chunks": loaded.retriever.chunk_count,
            "framework": bool(loaded.framework and loaded.framework.complete),
            "llm_backend": self.settings.llm_backend,
            "llm_notice": self.llm_notice,
        }


def build_assistant(settings: Settings, **overrides: Any) -> Assistant:
    """The real assistant for these settings (embedder, store, LLM loaded lazily)."""
    return Assistant(settings, **overrides)
