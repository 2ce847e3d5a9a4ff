"""Hybrid retrieval: dense (Chroma, chunk and sentence level) + BM25, score-normalised fusion.

Four ranked lists are fused: chunk vectors, sentence vectors (a chunk scores by its best
sentence), BM25 over chunks (indexed with context and acronym expansions) and BM25 over
sentences. Each list is normalised to [0, 1] before a weighted sum, so a passage that one
retriever ranks first is not drowned by another ranking it 50th (as plain RRF does).
A question naming a document ("What did MOPAN say...") boosts that document and is fused
with a variant of itself without the naming words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from .embeddings import Embedder, model_key
from .errors import EmptyInputError, InputError
from .lexical import BM25, mine_acronyms
from .textutil import anchors, blank_controls, terms
from .types import Chunk, Document, DocumentMeta, Hit, Sentence

MAX_QUERY_CHARS = 4000
# How much the two dense lists count in the fusion, per embedding model (others: 1.0, like each BM25 list).
# EmbeddingGemma's vectors are good enough to lead: 3.0 gave the best recall@5 and MRR@10 averaged over
# dev, dev2 and both fresh sets (1.0, 2.0 and 3.0 tried; docs/benchmarks.md, retrieval ablation).
DENSE_WEIGHTS = {"embeddinggemma-300m": 3.0}


class IndexView(Protocol):
    """What retrieval needs of a published index generation (see `assistant.store.IndexReader`)."""

    def chunks(self) -> list[Chunk]: ...

    def sentences(self) -> list[Sentence]: ...

    def documents(self) -> dict[str, Document]: ...

    def query(
        self,
        collection: Literal["chunks", "sentences"],
        vectors: np.ndarray,
        k: int,
        where: Mapping[str, str] | None = None,
    ) -> list[list[tuple[str, float]]]: ...


@dataclass(frozen=True)
class RetrievalConfig:
    """Fusion weights and candidate depths. Set a weight to 0 to switch a retriever off."""

    dense_chunk: float = 1.0
    dense_sentence: float = 1.0
    bm25_chunk: float = 1.0
    bm25_sentence: float = 0.5
    chunk_candidates: int = 300
    sentence_candidates: int = 1000
    doc_boost: float = 3.0  # added to chunks of a document the question names (3.0 ~ they come first)
    dense_rewrites: bool = True  # also embed the query with its acronyms spelled out
    max_query_chars: int = MAX_QUERY_CHARS
    front_matter_penalty: float = 0.5  # share of the score a passage of bare title lines loses
    unnamed_penalty: float = 0.8  # score kept per name of the question a passage never mentions
    open_rank: int = 5  # this rank goes to the best passage of a single chunk-level list not above it (0: off)

    @classmethod
    def for_embedder(cls, name: str, **overrides: Any) -> RetrievalConfig:
        """The defaults, with the dense lists weighted for the embedding model that fills them.

        >>> [RetrievalConfig.for_embedder(name).dense_chunk for name in ("/models/embeddinggemma-300m", "x")]
        [3.0, 1.0]
        """
        weight = DENSE_WEIGHTS.get(model_key(name), 1.0)
        return cls(**{"dense_chunk": weight, "dense_sentence": weight, **overrides})

    @classmethod
    def dense_only(cls) -> RetrievalConfig:
        return cls(bm25_chunk=0.0, bm25_sentence=0.0)

    @classmethod
    def bm25_only(cls) -> RetrievalConfig:
        return cls(dense_chunk=0.0, dense_sentence=0.0)


class Retriever:
    """Searches one index generation. Build once per generation; `search` is thread-safe."""

    def __init__(self, index: IndexView, embedder: Embedder, config: RetrievalConfig | None = None) -> None:
        self.config = config or RetrievalConfig()
        self._index = index
        self._embedder = embedder
        self.chunks = index.chunks()
        self.documents = index.documents()
        self._chunk_pos = {c.id: i for i, c in enumerate(self.chunks)}
        self.sentences = [s for s in index.sentences() if s.chunk_id in self._chunk_pos]
        self._sentence_chunk = np.array([self._chunk_pos[s.chunk_id] for s in self.sentences], dtype=np.int64)
        self._sentence_pos = {s.id: i for i, s in enumerate(self.sentences)}
        self.acronyms = mine_acronyms(d.text for d in self.documents.values())
        self._acronym_terms = {a: terms(e) for a, e in self.acronyms.items()}
        self._chunk_terms = [self.expand_terms(terms(c.index_text)) for c in self.chunks]
        self.chunk_bm25 = BM25(self._chunk_terms)
        sections = {c.id: terms(c.section) for c in self.chunks}
        # sentences are short and alike in length: weaker length normalisation (b=0.5) ranks them better
        sentence_terms = [self.expand_terms(terms(s.text)) + sections[s.chunk_id] for s in self.sentences]
        self.sentence_bm25 = BM25(sentence_terms, b=0.5)
        self._chunk_term_sets = [set(t) for t in self._chunk_terms]
        self._aliases = _alias_patterns({d: doc.meta for d, doc in self.documents.items()})
        penalty = self.config.front_matter_penalty
        # what each passage is known to mention: its text, section and document title, acronyms both ways
        self._chunk_docs = np.array([c.doc for c in self.chunks], dtype=object)
        self._mentioned_in: dict[str, set[int]] = {}  # term → passages that mention it
        for i, c in enumerate(self.chunks):
            context = self.expand_terms(terms(f"{self.documents[c.doc].meta.title} {c.section}"))
            for term in self._chunk_term_sets[i].union(context):
                self._mentioned_in.setdefault(term, set()).add(i)
        self._prior = np.array([1.0 - penalty * (1.0 - prose_share(c.text)) for c in self.chunks], dtype=np.float32)

    @property
    def catalog(self) -> dict[str, DocumentMeta]:
        return {name: doc.meta for name, doc in self.documents.items()}

    def expand_terms(self, tokens: Sequence[str]) -> list[str]:
        """Index-side acronym expansion, both ways: "mcof" adds the stems of "Migration Crisis
        Operational Framework", and that phrase adds "mcof"."""
        out = list(tokens)
        joined = " " + " ".join(tokens) + " "
        for acronym, expansion in self._acronym_terms.items():
            short = acronym.lower()
            if short in tokens:
                out.extend(expansion)
            elif expansion and " " + " ".join(expansion) + " " in joined:
                out.append(short)
        return out

    def idf(self, term: str) -> float:
        return self.chunk_bm25.idf(term)

    def document_frequency(self, term: str) -> int:
        """How many chunks hold a stemmed term (corpus statistics for refusal decisions)."""
        return self.chunk_bm25.document_frequency(term)

    @property
    def chunk_count(self) -> int:
        return len(self.chunks)

    def chunks_of(self, doc: str) -> list[Chunk]:
        """All chunks of one document in reading order."""
        return sorted((c for c in self.chunks if c.doc == doc), key=lambda c: c.start)

    def search(self, query: str, k: int = 10) -> list[Hit]:
        """The k best passages for a query, best first.

        Raises InputError for an empty or oversized query.
        """
        query = check_query(query, self.config.max_query_chars)
        named = [doc for doc, pattern in self._aliases.items() if pattern.search(query)]
        variants = [query]
        if named:
            stripped = query
            for doc in named:
                stripped = self._aliases[doc].sub(" ", stripped)
            if terms(stripped):
                variants.append(re.sub(r"\s+", " ", stripped).strip())
        dense_texts = [[v, *self._dense_rewrites(v)] for v in variants]
        all_vectors = self._embedder.embed_queries([t for texts in dense_texts for t in texts])
        fused = np.zeros(len(self.chunks), dtype=np.float32)
        singles = np.zeros((2, len(self.chunks)), dtype=np.float32)  # chunk-level dense, chunk-level BM25
        best_sentence = np.full(len(self.chunks), -1, dtype=np.int64)
        best_sentence_score = np.full(len(self.chunks), -np.inf, dtype=np.float32)
        dense_raw = np.zeros(len(self.chunks), dtype=np.float32)
        row = 0
        for variant, texts in zip(variants, dense_texts, strict=True):
            vectors = all_vectors[row : row + len(texts)]
            row += len(texts)
            scores, sentence_scores, raw, chunk_lists = self._score(variant, vectors, named)
            fused += scores / len(variants)
            singles += chunk_lists / len(variants)
            dense_raw = np.maximum(dense_raw, raw)
            for pos, (score, sentence_pos) in sentence_scores.items():
                if score > best_sentence_score[pos]:
                    best_sentence_score[pos], best_sentence[pos] = score, sentence_pos
        fused *= self._prior
        singles *= self._prior
        if self.config.unnamed_penalty < 1.0:
            factor = self._naming(query)
            fused *= factor
            singles *= factor
        boosted = np.isin(self._chunk_docs, named)
        fused = np.where(boosted & (fused > 0), fused + self.config.doc_boost, fused)
        singles = np.where(boosted & (singles > 0), singles + self.config.doc_boost, singles)
        order = _open_rank(np.argsort(-fused, kind="stable"), singles, self.config.open_rank)
        query_terms = terms(query)
        hits: list[Hit] = []
        for pos in order[: max(k, 1)]:
            if fused[pos] <= 0:
                break
            chunk = self.chunks[pos]
            best = int(best_sentence[pos])
            sentence = self.sentences[best] if best >= 0 else None
            hits.append(
                Hit(
                    rank=len(hits) + 1,
                    chunk=chunk,
                    score=round(float(fused[pos]) / self._max_score(bool(named)), 4),
                    best_sentence=(sentence.start, sentence.end) if sentence else None,
                    dense_similarity=round(float(dense_raw[pos]), 4),
                    term_coverage=round(self.term_coverage(query_terms, int(pos)), 4),
                )
            )
        return hits

    def _naming(self, query: str) -> np.ndarray:
        """Per passage, `unnamed_penalty` to the power of the question's names it never mentions.

        "Is the MCOF e-learning compulsory?" prefers passages about the MCOF (by name, or
        spelled out, or in their document's title) to another training that is compulsory.
        """
        names = [set(terms(a)) for a in anchors(query) if not a.isdigit()]
        names = [n for n in names if n]
        if not names:
            return np.ones(len(self.chunks), dtype=np.float32)
        missing = np.full(len(self.chunks), len(names), dtype=np.float32)
        for name in names:
            having = set.intersection(*(self._mentioned_in.get(t, set()) for t in name))
            missing[list(having)] -= 1
        return np.power(np.float32(self.config.unnamed_penalty), missing).astype(np.float32)

    def _max_score(self, boosted: bool) -> float:
        c = self.config
        total = c.dense_chunk + c.dense_sentence + c.bm25_chunk + c.bm25_sentence
        return (total + (c.doc_boost if boosted else 0.0)) or 1.0

    def term_coverage(self, query_terms: Sequence[str], chunk_pos: int) -> float:
        """IDF-weighted share of the query terms present in a chunk's indexed text."""
        unique = set(query_terms)
        if not unique:
            return 0.0
        weights = {t: self.idf(t) for t in unique}
        total = sum(weights.values()) or 1.0
        present = self._chunk_term_sets[chunk_pos]
        return sum(w for t, w in weights.items() if t in present) / total

    def _dense_rewrites(self, query: str) -> list[str]:
        """Extra phrasings embedded beside the query: the query with its acronyms spelled out.

        MiniLM knows no "MCOF"; "Migration Crisis Operational Framework (MCOF)" it can read.
        """
        if not self.config.dense_rewrites:
            return []
        expanded = query
        for acronym, expansion in self.acronyms.items():
            expanded = re.sub(rf"\b{re.escape(acronym)}\b", f"{expansion} ({acronym})", expanded)
        return [expanded] if expanded != query else []

    def _dense(
        self, collection: Literal["chunks", "sentences"], vectors: np.ndarray, k: int, named: Sequence[str]
    ) -> dict[str, float]:
        """id → cosine similarity averaged over the query's phrasings (one row each).

        Candidates are the k nearest overall plus the k nearest within each named document;
        a phrasing that did not return an id counts its lowest returned similarity for it.
        """
        per_row: list[dict[str, float]] = []
        for row in range(len(vectors)):
            found = dict(self._index.query(collection, vectors[row : row + 1], k)[0])
            for doc in named:
                found.update(self._index.query(collection, vectors[row : row + 1], k, where={"doc": doc})[0])
            per_row.append(found)
        floors = [min(found.values(), default=0.0) for found in per_row]
        keys = set().union(*per_row)
        return {key: sum(f.get(key, fl) for f, fl in zip(per_row, floors, strict=True)) / len(per_row) for key in keys}

    def _score(
        self, query: str, vector: np.ndarray, named: Sequence[str] = ()
    ) -> tuple[np.ndarray, dict[int, tuple[float, int]], np.ndarray, np.ndarray]:
        """Fused scores for one query variant, best sentence per chunk, raw dense similarity,
        and the two chunk-level lists (dense, BM25) normalised, one row each."""
        c = self.config
        n = len(self.chunks)
        fused = np.zeros(n, dtype=np.float32)
        raw = np.zeros(n, dtype=np.float32)
        sentence_best: dict[int, tuple[float, int]] = {}
        chunk_lists = np.zeros((2, n), dtype=np.float32)
        query_terms = terms(query)
        sentence_lexical = self.sentence_bm25.scores(query_terms) if len(self.sentences) else np.zeros(0)
        if c.dense_chunk:
            dense = np.zeros(n, dtype=np.float32)
            for chunk_id, sim in self._dense("chunks", vector, c.chunk_candidates, named).items():
                pos = self._chunk_pos.get(chunk_id)
                if pos is not None:
                    dense[pos] = max(dense[pos], sim)
            raw = np.maximum(raw, dense)
            chunk_lists[0] = _normalise(dense)
            fused += c.dense_chunk * chunk_lists[0]
        dense_sentence = np.zeros(len(self.sentences), dtype=np.float32)
        if c.dense_sentence and len(self.sentences):
            for sentence_id, sim in self._dense("sentences", vector, c.sentence_candidates, named).items():
                s_pos = self._sentence_pos.get(sentence_id)
                if s_pos is not None:
                    dense_sentence[s_pos] = sim
            per_chunk = _max_per_chunk(dense_sentence, self._sentence_chunk, n)
            raw = np.maximum(raw, per_chunk)
            fused += c.dense_sentence * _normalise(per_chunk)
        if c.bm25_chunk:
            chunk_lists[1] = _normalise(self.chunk_bm25.scores(query_terms))
            fused += c.bm25_chunk * chunk_lists[1]
        if c.bm25_sentence and len(self.sentences):
            fused += c.bm25_sentence * _normalise(_max_per_chunk(sentence_lexical, self._sentence_chunk, n))
        # the best sentence of each chunk: dense and lexical evidence, each normalised
        combined = _normalise(dense_sentence) + _normalise(sentence_lexical)
        for sentence_index in np.nonzero(combined)[0].tolist():
            owner = int(self._sentence_chunk[sentence_index])
            score = float(combined[sentence_index])
            if score > sentence_best.get(owner, (-1.0, -1))[0]:
                sentence_best[owner] = (score, sentence_index)
        return fused, sentence_best, raw, chunk_lists


def _open_rank(order: np.ndarray, singles: np.ndarray, rank: int) -> np.ndarray:
    """`order` with the passage at `rank` replaced by the best one a single list ranks higher
    than fusion does: a passage one retriever is sure of should not sink behind passages
    that are merely good on all of them. Lists take turns, best rank first.

    >>> _open_rank(np.array([0, 1, 2, 3]), np.array([[0.9, 0.8, 0.1, 0.7], [0.5, 0.4, 0.3, 0.9]]), 2).tolist()
    [0, 3, 1, 2]
    """
    if rank < 1 or len(order) <= rank:
        return order
    above = set(order[: rank - 1].tolist())
    by_list = [np.argsort(-row, kind="stable") for row in singles]
    for depth in range(len(order)):
        for ranking, row in zip(by_list, singles, strict=True):
            pos = int(ranking[depth])
            if row[pos] > 0 and pos not in above:
                rest = [p for p in order.tolist() if p != pos]
                return np.array([*rest[: rank - 1], pos, *rest[rank - 1 :]], dtype=order.dtype)
    return order


def prose_share(text: str) -> float:
    """Share of a passage's words in sentences, list items or table rows, not bare title lines.

    >>> prose_share("MOPAN\\n\\n2017-18 ASSESSMENTS\\n\\nIOM works in 100 countries.")
    0.625
    """
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    total = sum(len(line.split()) for line in lines)
    if not total:
        return 0.0
    prose = sum(
        len(line.split())
        for line in lines
        if len(line.split()) >= 12 or line.endswith((".", "!", "?", ";", ":")) or line.startswith("- ") or " | " in line
    )
    return prose / total


_WEAKEST = 0.02  # what the weakest match of a list keeps: above zero, so it is still a match


def _normalise(scores: np.ndarray) -> np.ndarray:
    """Scale positive scores to [0.02, 1] relative to the best; zeros (no match) stay zero."""
    top = float(scores.max()) if scores.size else 0.0
    if top <= 0:
        return np.zeros_like(scores)
    positive = scores[scores > 0]
    floor = float(positive.min()) if positive.size > 1 else 0.0
    floor = min(floor, top * 0.5)
    out = _WEAKEST + (1.0 - _WEAKEST) * (scores - floor) / (top - floor)
    return np.where(scores > 0, np.clip(out, _WEAKEST, 1.0), 0.0).astype(np.float32)


def _max_per_chunk(values: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.float32)
    np.maximum.at(out, owner, values.astype(np.float32))
    return out


def _alias_patterns(metas: Mapping[str, DocumentMeta]) -> dict[str, re.Pattern[str]]:
    patterns = {}
    for doc, meta in metas.items():
        names = sorted({a.strip() for a in meta.aliases if a.strip()}, key=len, reverse=True)
        if names:
            alternatives = "|".join(re.escape(n) for n in names)
            patterns[doc] = re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)
    return patterns


def check_query(query: str, limit: int = MAX_QUERY_CHARS) -> str:
    """The query with control characters blanked; InputError when empty or longer than `limit`."""
    cleaned = blank_controls(query or "")
    if not cleaned:
        raise EmptyInputError("query")
    if len(cleaned) > limit:
        raise InputError(f"the query is {len(cleaned)} characters long: keep it under {limit}")
    return cleaned


