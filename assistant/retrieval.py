"""Hybrid retrieval: dense (chunk and sentence level) + BM25, score-normalised fusion.

Four ranked lists are fused: chunk vectors (the nearest from Chroma), sentence vectors (a chunk
scores by its best sentence; only the sentences of candidate chunks are scored, from the vectors
stored beside them in the text index), BM25 over chunks (indexed with context and acronym expansions) and BM25 over
sentences. Each list is normalised to [0, 1] before a weighted sum, so a passage that one
retriever ranks first is not drowned by another ranking it 50th (as plain RRF does).
A question naming a document ("What did MOPAN say...") boosts that document and is fused
with a variant of itself without the naming words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from typing import Any, Protocol

import numpy as np

from .embeddings import Embedder, model_key
from .errors import EmptyInputError, InputError, StoreError
from .lexical import BM25, mine_acronyms, mine_labels, postings, spell_out_labels
from .textindex import DocumentTexts, LexicalTables, TextIndex, reading_key, unit_rows
from .textutil import anchors, blank_controls, is_field_line, terms
from .types import Chunk, Document, DocumentMeta, Hit, Sentence

MAX_QUERY_CHARS = 4000
# How much the two dense lists count in the fusion, per embedding model (others: 1.0, like each BM25 list).
# EmbeddingGemma's vectors are good enough to lead: 3.0 gave the best recall@5 and MRR@10 averaged over
# dev, dev2 and both fresh sets (1.0, 2.0 and 3.0 tried; docs/benchmarks.md, retrieval ablation).
DENSE_WEIGHTS = {"embeddinggemma-300m": 3.0}
SENTENCE_B = 0.5  # sentences are short and alike in length: weaker length normalisation ranks them better


class IndexView(Protocol):
    """What retrieval needs of a published index generation (see `assistant.store.IndexReader`)."""

    def text_index(self) -> TextIndex: ...

    def query(self, vectors: np.ndarray, k: int) -> list[list[tuple[str, float]]]: ...


@dataclass(frozen=True)
class RetrievalConfig:
    """Fusion weights and candidate depths. Set a weight to 0 to switch a retriever off."""

    dense_chunk: float = 1.0
    dense_sentence: float = 1.0
    bm25_chunk: float = 1.0
    bm25_sentence: float = 0.5
    chunk_candidates: int = 300  # nearest chunks per phrasing, from the vector store
    sentence_candidates: int = 1000  # nearest sentences per phrasing, of those scored
    lexical_candidates: int = 300  # best chunks per lexical list whose sentences are scored by vector
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
    """Searches one index generation. Build once per generation; `search` is thread-safe.

    Opening reads only small per-passage statistics from the generation's text index;
    passages, postings and documents are read from disk when a search needs them.
    """

    def __init__(self, index: IndexView, embedder: Embedder, config: RetrievalConfig | None = None) -> None:
        self.config = config or RetrievalConfig()
        self._index = index
        self._embedder = embedder
        text = index.text_index()
        self._text = text
        self._catalog = text.catalog()
        self.acronyms: dict[str, str] = dict(text.meta("acronyms"))
        self._acronym_terms = {a: terms(e) for a, e in self.acronyms.items()}
        self.labels: dict[str, str] = dict(text.meta("labels", default={}))
        self.chunk_bm25 = BM25(
            text.array("chunk_lengths"),
            partial(text.postings, "chunks"),
            frequency=partial(text.document_frequency, "chunks"),
        )
        self.sentence_bm25 = BM25(text.array("sentence_lengths"), partial(text.postings, "sentences"), b=SENTENCE_B)
        self._n = self.chunk_bm25.n
        self._sentence_chunk = text.array("sentence_chunk")
        self._chunk_sentences = (text.array("sentences_by_chunk"), text.array("chunk_first_sentence"))
        self._chunk_ids = (text.array("chunks_ids"), text.array("chunks_id_positions"))
        self._doc_codes = {doc: i for i, doc in enumerate(text.meta("docs"))}
        self._chunk_doc = text.array("chunk_doc")
        self._aliases = _alias_patterns(self._catalog)
        penalty = self.config.front_matter_penalty
        self._prior = (1.0 - penalty * (1.0 - text.array("chunk_prose"))).astype(np.float32)
        self._reading: dict[str, np.ndarray] | None = None

    @property
    def catalog(self) -> dict[str, DocumentMeta]:
        return dict(self._catalog)

    @property
    def documents(self) -> DocumentTexts:
        """Document name → cleaned document, read from disk when looked up."""
        return self._text.documents()

    def expand_terms(self, tokens: Sequence[str]) -> list[str]:
        """Index-side acronym expansion, both ways: "mcof" adds the stems of "Migration Crisis
        Operational Framework", and that phrase adds "mcof"."""
        return _expand(tokens, self._acronym_terms)

    def spell_out_labels(self, text: str) -> str:
        """`text` with the numbered labels the documents head ("Sector 12", "MI 4.2") followed by their
        names: "What is Sector 12?" reads "What is Sector 12 (Emergency Consular Assistance)?". A text the
        names would take over the query limit stays as it is."""
        spelled = spell_out_labels(text, self.labels)
        return spelled if len(spelled) <= self.config.max_query_chars else text

    def idf(self, term: str) -> float:
        return self.chunk_bm25.idf(term)

    def document_frequency(self, term: str) -> int:
        """How many chunks hold a stemmed term (corpus statistics for refusal decisions)."""
        return self.chunk_bm25.document_frequency(term)

    @property
    def chunk_count(self) -> int:
        return self._n

    def chunks_of(self, doc: str) -> list[Chunk]:
        """All chunks of one document in reading order."""
        return self._text.chunks_of(doc)

    def stored_vectors(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Passage-side vectors of those `texts` that ingest embedded already (the answer step's
        sentence texts, `extractive.reading_texts`), as float32; the others are left out."""
        if self._reading is None:
            self._reading = self._text.reading_vectors()  # one read per generation, a few MB
        found = ((t, self._reading.get(reading_key(t))) for t in texts)
        return {t: v.astype(np.float32) for t, v in found if v is not None}

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
        lexical = [self._lexical(terms(v)) for v in variants]
        dense = self._dense([[v, *self._dense_rewrites(v)] for v in variants], named, lexical)
        n = self._n
        fused = np.zeros(n, dtype=np.float32)
        singles = np.zeros((2, n), dtype=np.float32)  # chunk-level dense, chunk-level BM25
        dense_raw = np.zeros(n, dtype=np.float32)
        evidence: list[_SentenceEvidence] = []
        for variant_lexical, variant_dense in zip(lexical, dense, strict=True):
            scores, found, raw, chunk_lists = self._score(variant_lexical, variant_dense)
            fused += scores / len(variants)
            singles += chunk_lists / len(variants)
            dense_raw = np.maximum(dense_raw, raw)
            evidence.append(found)
        fused *= self._prior
        singles *= self._prior
        if self.config.unnamed_penalty < 1.0:
            factor = self._naming(query)
            fused *= factor
            singles *= factor
        boosted = np.isin(self._chunk_doc, [self._doc_codes[doc] for doc in named])
        fused = np.where(boosted & (fused > 0), fused + self.config.doc_boost, fused)
        singles = np.where(boosted & (singles > 0), singles + self.config.doc_boost, singles)
        depth = max(k, 1)
        order = _open_rank(_ranked(fused, max(depth, self.config.open_rank) + 1), singles, self.config.open_rank, n)
        shown = [int(pos) for pos in order[:depth]]
        chunks = self._text.chunks_at(shown)
        best = self._best_sentences(shown, evidence)
        sentences = dict(zip(best.values(), self._text.sentences_at(list(best.values())), strict=True))
        weights = {t: self.idf(t) for t in set(terms(query))}
        coverage = self._coverage(weights, shown)
        hits: list[Hit] = []
        for pos, chunk in zip(shown, chunks, strict=True):
            sentence = sentences.get(best.get(pos, -1))
            hits.append(
                Hit(
                    rank=len(hits) + 1,
                    chunk=chunk,
                    score=round(float(fused[pos]) / self._max_score(bool(named)), 4),
                    best_sentence=(sentence.start, sentence.end) if sentence else None,
                    dense_similarity=round(float(dense_raw[pos]), 4),
                    term_coverage=round(coverage.get(pos, 0.0), 4),
                )
            )
        return hits

    def _coverage(self, weights: Mapping[str, float], positions: Sequence[int]) -> dict[int, float]:
        """Per chunk position, the idf-weighted share of the query terms among its indexed terms
        (its text with context and acronym expansions), read from the chunk postings.

        A chunk's indexed terms are exactly those its postings were built from, so no chunk is re-tokenised.
        """
        held = {pos: 0.0 for pos in positions}
        total = sum(weights.values()) or 1.0
        for term, weight in weights.items():
            found = self._text.postings("chunks", term)
            if found is not None:
                for pos in np.asarray(positions)[np.isin(positions, found[0])].tolist():
                    held[pos] += weight
        return {pos: value / total for pos, value in held.items()} if weights else held

    def _naming(self, query: str) -> np.ndarray:
        """Per passage, `unnamed_penalty` to the power of the question's names it never mentions.

        "Is the MCOF e-learning compulsory?" prefers passages about the MCOF (by name, or
        spelled out, or in their document's title) to another training that is compulsory.
        """
        names = [set(terms(a)) for a in anchors(query) if not a.isdigit()]
        names = [n for n in names if n]
        if not names:
            return np.ones(self._n, dtype=np.float32)
        missing = np.full(self._n, len(names), dtype=np.float32)
        for name in names:
            having: np.ndarray | None = None
            for term in sorted(name):
                found = self._text.postings("mentions", term)
                positions = found[0] if found is not None else np.zeros(0, dtype=np.int32)
                having = positions if having is None else np.intersect1d(having, positions, assume_unique=True)
            if having is not None:
                missing[having] -= 1
        return np.power(np.float32(self.config.unnamed_penalty), missing).astype(np.float32)

    def _max_score(self, boosted: bool) -> float:
        c = self.config
        total = c.dense_chunk + c.dense_sentence + c.bm25_chunk + c.bm25_sentence
        return (total + (c.doc_boost if boosted else 0.0)) or 1.0

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

    def _lexical(self, query_terms: Sequence[str]) -> _Lexical:
        sentences = self.sentence_bm25.scores(query_terms)
        matched = np.flatnonzero(sentences)
        per_chunk = _max_per_chunk(sentences[matched], self._sentence_chunk[matched], self._n)
        return _Lexical(self.chunk_bm25.scores(query_terms), sentences, per_chunk)

    def _dense(
        self, phrasings: Sequence[Sequence[str]], named: Sequence[str], lexical: Sequence[_Lexical]
    ) -> list[_Dense]:
        """Per variant of the question (its phrasings), cosine similarities averaged over its phrasings.

        Chunks: the `chunk_candidates` nearest of each phrasing (one vector-store query for all
        phrasings) and every chunk of a named document. Sentences: scored only within candidate
        chunks (those, and the `lexical_candidates` best of each lexical list) from the vectors
        stored beside them; kept are the `sentence_candidates` nearest of each phrasing, overall
        and within the named documents. A phrasing that did not find a kept passage counts its
        weakest find for it.
        """
        c = self.config
        none = np.zeros(0, dtype=np.int64)
        nothing = [_Dense(none, none.astype(np.float32), none, none.astype(np.float32)) for _ in phrasings]
        if not (c.dense_chunk or c.dense_sentence) or not self._n:
            return nothing
        vectors = unit_rows(self._embedder.embed_queries([t for texts in phrasings for t in texts]))
        nearest = self._index.query(vectors, c.chunk_candidates)
        returned = [self._chunk_positions([i for i, _ in found]) for found in nearest]
        in_named = np.flatnonzero(np.isin(self._chunk_doc, [self._doc_codes[doc] for doc in named]))
        lexical_best = [_ranked(s, c.lexical_candidates) for found in lexical for s in (found.chunks, found.per_chunk)]
        candidates = np.unique(np.concatenate([in_named, *returned, *lexical_best]).astype(np.int64))
        if not len(candidates):
            return nothing
        chunk_vectors, sentence_vectors = self._text.vectors_at(candidates.tolist())
        sentences = self._sentences_of(candidates)
        if len(sentence_vectors) != len(sentences):
            raise StoreError(f"text index {self._text.path}: sentence vectors missing: run `mcof ingest --rebuild`")
        chunk_sims = chunk_vectors @ vectors.T
        chunk_found = np.zeros(chunk_sims.shape, dtype=bool)
        for column, positions in enumerate(returned):
            chunk_found[np.searchsorted(candidates, positions), column] = True
        chunk_found[np.searchsorted(candidates, in_named)] = True
        sentence_sims = sentence_vectors @ vectors.T
        sentence_found = _nearest(sentence_sims, c.sentence_candidates)
        if len(in_named):
            of_named = np.isin(self._sentence_chunk[sentences], in_named)
            sentence_found |= _nearest(sentence_sims, c.sentence_candidates, of_named)
        rows = np.cumsum([0, *(len(texts) for texts in phrasings)]).tolist()
        out = []
        for a, b in pairwise(rows):
            chunks = chunk_found[:, a:b].any(axis=1)
            kept = sentence_found[:, a:b].any(axis=1)
            out.append(
                _Dense(
                    candidates[chunks],
                    _mean_over_phrasings(chunk_sims[chunks, a:b], chunk_found[chunks, a:b]),
                    sentences[kept],
                    _mean_over_phrasings(sentence_sims[kept, a:b], sentence_found[kept, a:b]),
                )
            )
        return out

    def _chunk_positions(self, ids: Sequence[str]) -> np.ndarray:
        """The text-index positions of chunk `ids`; ids the index lacks are dropped."""
        keys, positions = self._chunk_ids
        if not len(ids) or not len(keys):
            return np.zeros(0, dtype=np.int64)
        wanted = np.array(ids, dtype=keys.dtype)
        at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        return np.asarray(positions[at[keys[at] == wanted]], dtype=np.int64)

    def _sentences_of(self, chunks: np.ndarray) -> np.ndarray:
        """Positions of the sentences of these chunks, chunk after chunk, each chunk's in position order.

        The order of `TextIndex.vectors_at`'s sentence rows.
        """
        by_chunk, first = self._chunk_sentences
        starts = first[chunks].astype(np.int64)
        counts = first[chunks + 1].astype(np.int64) - starts
        shift = np.repeat(starts - (np.cumsum(counts) - counts), counts)
        return np.asarray(by_chunk[np.arange(int(counts.sum())) + shift], dtype=np.int64)

    def _score(
        self, lexical: _Lexical, dense: _Dense
    ) -> tuple[np.ndarray, _SentenceEvidence, np.ndarray, np.ndarray]:
        """Fused scores for one query variant, the sentence evidence, raw dense similarity,
        and the two chunk-level lists (dense, BM25) normalised, one row each."""
        c = self.config
        n = self._n
        fused = np.zeros(n, dtype=np.float32)
        raw = np.zeros(n, dtype=np.float32)
        chunk_lists = np.zeros((2, n), dtype=np.float32)
        if c.dense_chunk:
            values = np.zeros(n, dtype=np.float32)
            values[dense.chunks] = np.maximum(dense.chunk_similarities, 0.0)
            raw = np.maximum(raw, values)
            chunk_lists[0] = _normalise(values)
            fused += c.dense_chunk * chunk_lists[0]
        sentence_positions, sentence_sims = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if c.dense_sentence:
            sentence_positions, sentence_sims = dense.sentences, dense.sentence_similarities
            per_chunk = _max_per_chunk(sentence_sims, self._sentence_chunk[sentence_positions], n)
            raw = np.maximum(raw, per_chunk)
            fused += c.dense_sentence * _normalise(per_chunk)
        if c.bm25_chunk:
            chunk_lists[1] = _normalise(lexical.chunks)
            fused += c.bm25_chunk * chunk_lists[1]
        if c.bm25_sentence:
            fused += c.bm25_sentence * _normalise(lexical.per_chunk)
        evidence = _SentenceEvidence(sentence_positions, sentence_sims, lexical.sentences)
        return fused, evidence, raw, chunk_lists

    def _best_sentences(self, chunk_positions: Sequence[int], evidence: Sequence[_SentenceEvidence]) -> dict[int, int]:
        """Chunk position → position of its best sentence: dense and lexical evidence, each
        normalised over the whole list; the first phrasing wins a tie."""
        by_chunk, first = self._chunk_sentences
        best: dict[int, tuple[float, int]] = {}
        for found in evidence:
            dense = dict(zip(found.positions.tolist(), _normalise(found.similarities).tolist(), strict=True))
            lexical_scale = _scale(found.lexical)
            for pos in chunk_positions:
                own = by_chunk[first[pos] : first[pos + 1]]
                if not len(own):
                    continue
                combined = _normalise(found.lexical[own], lexical_scale)
                combined += np.array([dense.get(int(s), 0.0) for s in own], dtype=np.float32)
                top = int(np.argmax(combined))
                if combined[top] > 0 and combined[top] > best.get(pos, (-1.0, -1))[0]:
                    best[pos] = (float(combined[top]), int(own[top]))
        return {pos: sentence for pos, (_, sentence) in best.items()}


@dataclass(frozen=True)
class _Lexical:
    """BM25 of one query variant: over chunks, over sentences, and each chunk's best sentence."""

    chunks: np.ndarray
    sentences: np.ndarray
    per_chunk: np.ndarray


@dataclass(frozen=True)
class _Dense:
    """Dense candidates of one query variant: chunk positions and sentence positions with their similarities."""

    chunks: np.ndarray
    chunk_similarities: np.ndarray
    sentences: np.ndarray
    sentence_similarities: np.ndarray


@dataclass(frozen=True)
class _SentenceEvidence:
    """What one query phrasing found at sentence level: dense candidates and BM25 over all sentences."""

    positions: np.ndarray
    similarities: np.ndarray
    lexical: np.ndarray


def lexical_tables(
    documents: Sequence[Document], chunks: Sequence[Chunk], sentences: Sequence[Sentence]
) -> LexicalTables:
    """Everything search needs besides the vectors, computed once at ingest for the passages
    at these positions (the order they are written to the text index).

    Chunks are indexed with their context and acronym expansions, sentences with their
    chunk's section; "mentions" lists what each chunk is known to mention (its terms, its
    document's title and section), for the penalty on passages that never name what a question names.
    The numbered labels the documents head ("Sector 12 Emergency Consular Assistance:") are kept
    with their names, to spell out a question that uses a label alone.
    """
    acronyms = mine_acronyms(d.text for d in documents)
    acronym_terms = {a: terms(e) for a, e in acronyms.items()}
    titles = {d.meta.doc: d.meta.title for d in documents}
    docs = list(titles)
    chunk_pos = {c.id: i for i, c in enumerate(chunks)}
    chunk_terms = [_expand(terms(c.index_text), acronym_terms) for c in chunks]
    owner = np.array([chunk_pos.get(s.chunk_id, -1) for s in sentences], dtype=np.int32)
    sections = [terms(c.section) for c in chunks]
    sentence_terms = [
        _expand(terms(s.text), acronym_terms) + sections[o] if o >= 0 else []
        for s, o in zip(sentences, owner, strict=True)
    ]
    mentions = [
        sorted(set(own).union(_expand(terms(f"{titles.get(c.doc, '')} {c.section}"), acronym_terms)))
        for c, own in zip(chunks, chunk_terms, strict=True)
    ]
    by_chunk = np.argsort(owner, kind="stable").astype(np.int32)
    first = np.searchsorted(owner[by_chunk], np.arange(len(chunks) + 1)).astype(np.int32)
    arrays = {
        "chunk_lengths": np.array([len(t) for t in chunk_terms], dtype=np.float32),
        "sentence_lengths": np.array([len(t) for t in sentence_terms], dtype=np.float32),
        "sentence_chunk": owner,
        "sentences_by_chunk": by_chunk,
        "chunk_first_sentence": first,
        "chunk_prose": np.array([prose_share(c.text) for c in chunks], dtype=np.float32),
        "chunk_doc": np.array([docs.index(c.doc) if c.doc in titles else -1 for c in chunks], dtype=np.int32),
    }
    keys = np.array([c.id for c in chunks], dtype=f"S{max((len(c.id) for c in chunks), default=1)}")
    order = np.argsort(keys, kind="stable")
    arrays["chunks_ids"], arrays["chunks_id_positions"] = keys[order], order.astype(np.int32)
    lists = {"chunks": postings(chunk_terms), "sentences": postings(sentence_terms), "mentions": postings(mentions)}
    labels = mine_labels(d.text for d in documents)
    return LexicalTables(lists, arrays, {"acronyms": acronyms, "labels": labels, "docs": docs})


def _expand(tokens: Sequence[str], acronym_terms: Mapping[str, list[str]]) -> list[str]:
    """`tokens` with acronyms spelled out and spelled-out acronyms added ("mcof" ↔ its expansion's stems).

    >>> _expand(["mcof", "phase"], {"MCOF": ["migrat", "crisi"]})
    ['mcof', 'phase', 'migrat', 'crisi']
    """
    out = list(tokens)
    joined = " " + " ".join(tokens) + " "
    for acronym, expansion in acronym_terms.items():
        short = acronym.lower()
        if short in tokens:
            out.extend(expansion)
        elif expansion and " " + " ".join(expansion) + " " in joined:
            out.append(short)
    return out


def _ranked(scores: np.ndarray, m: int) -> np.ndarray:
    """Positions of the m best positive scores, best first, ties by position (a stable sort, cut short).

    >>> _ranked(np.array([0.5, 0.0, 0.9, 0.5, 0.1]), 3).tolist()
    [2, 0, 3]
    """
    positive = np.flatnonzero(scores > 0)
    if len(positive) > m:
        values = scores[positive]
        kth = np.partition(values, len(values) - m)[len(values) - m]
        positive = positive[values >= kth]
    return positive[np.argsort(-scores[positive], kind="stable")][:m]


def _open_rank(order: np.ndarray, singles: np.ndarray, rank: int, total: int) -> np.ndarray:
    """`order` with the passage at `rank` replaced by the best one a single list ranks higher
    than fusion does: a passage one retriever is sure of should not sink behind passages
    that are merely good on all of them. Lists take turns, best rank first.

    `order` may be cut short (the best first); `total` is the number of passages. Only the
    first `rank` matches of each list can hold one not above `rank`, so only those are ranked.

    >>> _open_rank(np.array([0, 1, 2, 3]), np.array([[0.9, 0.8, 0.1, 0.7], [0.5, 0.4, 0.3, 0.9]]), 2, 4).tolist()
    [0, 3, 1, 2]
    """
    if rank < 1 or total <= rank:
        return order
    above = set(order[: rank - 1].tolist())
    by_list = [_ranked(row, rank) for row in singles]
    for depth in range(rank):
        for ranking in by_list:
            if depth < len(ranking) and int(ranking[depth]) not in above:
                pos = int(ranking[depth])
                rest = [p for p in order.tolist() if p != pos]
                return np.array([*rest[: rank - 1], pos, *rest[rank - 1 :]], dtype=order.dtype)
    return order


def prose_share(text: str) -> float:
    """Share of a passage's words in sentences, list items, table rows or "Label: value" lines, not
    bare title lines.

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
        if len(line.split()) >= 12
        or line.endswith((".", "!", "?", ";", ":"))
        or line.startswith("- ")
        or " | " in line
        or is_field_line(line)
    )
    return prose / total


_WEAKEST = 0.02  # what the weakest match of a list keeps: above zero, so it is still a match


def _scale(scores: np.ndarray) -> tuple[float, float]:
    """(floor, top) of `_normalise`: the best score, and the weakest match unless above half the best."""
    positive = scores[scores > 0]
    if not positive.size:
        return 0.0, 0.0
    top = float(positive.max())
    floor = float(positive.min()) if positive.size > 1 else 0.0
    return min(floor, top * 0.5), top


def _normalise(scores: np.ndarray, scale: tuple[float, float] | None = None) -> np.ndarray:
    """Scale positive scores to [0.02, 1] relative to the best; zeros (no match) stay zero.

    `scale` (from `_scale`) normalises a part of a list as the whole list would be.

    >>> [round(float(x), 2) for x in _normalise(np.array([0.0, 2.0, 4.0, 3.0]))]
    [0.0, 0.02, 1.0, 0.51]
    """
    floor, top = scale or _scale(scores)
    if top <= 0:
        return np.zeros(scores.shape, dtype=np.float32)
    out = _WEAKEST + (1.0 - _WEAKEST) * (scores - floor) / (top - floor)
    return np.where(scores > 0, np.clip(out, _WEAKEST, 1.0), 0.0).astype(np.float32)


def _nearest(similarities: np.ndarray, k: int, among: np.ndarray | None = None) -> np.ndarray:
    """Per row and column: is the row among the column's k most similar (of the rows `among` marks)?

    >>> _nearest(np.array([[0.9, 0.1], [0.5, 0.2], [0.1, 0.8]]), 1).astype(int).tolist()
    [[1, 0], [0, 0], [0, 1]]
    """
    found = np.zeros(similarities.shape, dtype=bool)
    rows = np.arange(len(similarities)) if among is None else np.flatnonzero(among)
    if not len(rows):
        return found
    for column in range(similarities.shape[1]):
        values = similarities[rows, column]
        best = np.argpartition(-values, k - 1)[:k] if len(values) > k else slice(None)
        found[rows[best], column] = True
    return found


def _mean_over_phrasings(similarities: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Mean similarity over the phrasings (columns); where a phrasing did not find a row, its
    weakest find counts instead (what a nearest-neighbour search returning only its finds allows).

    >>> found = np.array([[True, False], [True, True]])
    >>> [round(float(x), 2) for x in _mean_over_phrasings(np.array([[0.9, 0.2], [0.5, 0.6]]), found)]
    [0.75, 0.55]
    """
    floors = np.where(found, similarities, np.inf).min(axis=0, initial=np.inf)
    floors = np.where(np.isfinite(floors), floors, 0.0)
    return np.asarray(np.where(found, similarities, floors).mean(axis=1), dtype=np.float32)


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
