"""Alignment: a project description → MCOF sectors, phases, objectives and cross-cutting items.

Sectors are scored by a small fitted model (`SectorModel`): a softmax over the 15 sectors of
a weighted sum of six features, each measured against every sector: embedding similarity
to the sector's name and definition, the mean of its three closest definition clauses
(prefixed with the sector's name, so a generic clause keeps its sector's meaning), the best
match between any sentence of the description and any clause, IDF-weighted stemmed term
overlap, the retrieval hits that sit in the sector's own entry, and the description's similarity to
the closest worked example of the sector (`SectorExample`: labelled project descriptions shipped
with the code, none of them from the shared dev sets). Each definition similarity is the mean of
two readings of the definitions: as passages to find and, by a model trained with a prompt for it,
as sentences to compare with. The weights are fitted
by `python -m bench.alignment` over every labelled alignment set, so each sector gets a
calibrated probability. A description whose best clause similarity is below what any
project description reached is declined as not a project the MCOF covers. Phases come from
cue words, from similarity to the phase passages of the framework's annex and from the phases of
the five closest worked examples (`python -m bench.phases` chose how much they weigh).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from .answering import CachingEmbedder, Searcher
from .citations import check_citations, with_markers
from .embeddings import Embedder, embed_for_similarity, embed_passages, model_key
from .errors import EmptyInputError, FrameworkError
from .textutil import content_hash, fold, sentence_spans, terms
from .types import (
    PHASES,
    Alignment,
    Chunk,
    FrameworkModel,
    Hit,
    NamedItem,
    Objective,
    ObjectiveMatch,
    Phase,
    PhaseMatch,
    Sector,
    SectorExample,
    SectorMatch,
    Span,
)

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

log = logging.getLogger(__name__)

# A sector other than the top one counts as strong from this probability, when it also reaches this share
# of the top sector's (best held-out F1 against the gold sets' sector lists, EmbeddingGemma and MiniLM alike)
STRONG_SECTOR = 0.15
_RELATIVE_STRONG = 0.4
_TOP_CLAUSES = 3
_MATCHED_WORDS = 6
_DECLINED = (
    "This does not read like a project the MCOF covers: no sector of the framework comes close to it."
    " Describe the crisis, the people affected and what the project will do."
)
_SEARCH_K = 10
_MAX_EVIDENCE = 3
_RATIONALE_SECTORS = 3
_OBJECTIVE_DESCRIPTION_WEIGHT = 0.5
_MIN_CLAUSE_WORDS = 4
_CLAUSE_RE = re.compile(r"(?<=[,;])\s+(?![^()]*\))|\s+(?=[–—]\s)")  # after , or ; outside parentheses; before a dash

# Cue patterns (regular expressions over the folded description) for each crisis phase.
PHASE_CUES: dict[Phase, tuple[str, ...]] = {
    "before": (
        r"\bprepar\w*", r"\bprevent\w*", r"\bcontingenc\w*", r"\bearly warning", r"\brisk reduction",
        r"\breduce (?:the |that |this )?risks?\b", r"\bmitigat\w*", r"\bhazards?\b", r"\banticipat\w*",
        r"\bbefore (?:the|a|an|it|they)\b", r"\bahead of\b", r"\bforecast\w*", r"\bcould (?:push|force|displace)",
        r"\bin case of\b", r"\bresilien\w*",
    ),
    "during": (
        r"\bemergenc\w*", r"\bfle(?:e|es|eing|d)\b", r"\bevacuat\w*", r"\bongoing\b", r"\btrapped\b",
        r"\bstranded\b", r"\bbesieged\b", r"\b(?:war|conflict|combat) (?:zone|area)s?\b", r"\bfighting\b",
        r"\bnow that\b", r"\bnew(?:ly)? arriv\w*", r"\bcrossing\b", r"\blife-?saving\b", r"\burgent\w*",
        r"\bescap\w*", r"\bhave forced\b", r"\bdisplaced\b", r"\bcollective (?:site|centre|center)s?\b",
    ),
    "after": (
        r"\brecover\w*", r"\breturn\w*", r"\breintegrat\w*", r"\breconstruct\w*", r"\brebuil\w*",
        r"\bafter (?:the|a|an|years|months)\b", r"\bemerging from\b", r"\bpost-?(?:conflict|crisis|disaster|war)\b",
        r"\bdurable solutions?\b", r"\bgo(?:ing)? (?:back|home)\b", r"\bback to their\b", r"\brehabilitat\w*",
        r"\btransition\w*", r"\bfollowing the\b", r"\bstabili[sz]\w*", r"\bpeacebuilding\b", r"\brestor\w*",
    ),
}
_PHASE_CUE_RES = {phase: [re.compile(p) for p in cues] for phase, cues in PHASE_CUES.items()}
_PHASE_EMBED_WEIGHT = 0.5  # a phase without cue words needs a clearly better similarity
_PHASE_PRIOR_WEIGHT = 0.25  # per cue word in the strong sectors' own definitions (at most two)
# the five worked examples closest to the description vote for their phases (a phase's share of the votes,
# 0..1, weighs as four cue words); a second phase is likely when it scores within _SECOND_PHASE_MARGIN of the
# best. Chosen by `python -m bench.phases` over the 138 labelled descriptions, each voted on by the examples
# of other sets only: best phase right 0.78 -> 0.87, overlap with the gold phases 0.76 -> 0.84
# (EmbeddingGemma; docs/benchmarks.md). The margin keeps a second phase for a project that spans two; the
# best setting without one (margin 0) overlaps 0.837 against 0.836.
_PHASE_EXAMPLE_WEIGHT = 4.0
_PHASE_EXAMPLE_NEIGHBOURS = 5
_SECOND_PHASE_MARGIN = 0.5


SECTOR_FEATURES = ("definition", "top_clauses", "sentence_clause", "terms", "retrieval", "examples")

# weights, decline threshold and sector biases per embedding model, from `python -m bench.alignment` run
# with that model's index (the dataclass defaults are EmbeddingGemma's)
FITTED_SECTOR_MODELS: dict[str, tuple[tuple[float, ...], float, tuple[float, ...]]] = {
    "all-minilm-l6-v2": (  # bench/results/alignment-minilm.json
        (0.7, 0.55, 0.49, 0.35, 0.11, 0.97), 0.28,
        (-1.04, -0.01, -0.7, 0.62, 0.95, 0.43, -0.63, 1.68, -1.4, -0.5, 0.1, 0.39, -0.61, 0.16, 0.53),
    ),
}


@dataclass(frozen=True)
class SectorModel:
    """P(sector | description) = softmax over the 15 sectors of `weights` · features + `bias`.

    The features, in `SECTOR_FEATURES` order, are z-normalised over the sectors (retrieval is
    sparse: scaled to [0, 1] instead), so a weight says how much a signal counts, not its scale.
    `bias` holds one logit per sector, in the framework's order, fitted with the weights: it
    corrects a definition the embedder finds close to nearly every description (or to few);
    empty, or of another length than the framework's sectors: no bias.
    `min_similarity` is the lowest best-clause cosine a description may have and still be read
    as a project the MCOF covers; None: never decline (a model nobody fitted).

    >>> model = SectorModel(weights=(1.0, 0.0, 0.0, 0.0, 0.0, 0.0), bias=())
    >>> features = np.zeros((3, 6)); features[:, 0] = [0.2, 0.5, 0.3]
    >>> [round(float(p), 2) for p in model.probabilities(features)]
    [0.07, 0.77, 0.16]
    """

    # bench/results/alignment.json (EmbeddingGemma index, both views of the definitions, sector biases, the
    # worked examples of the project's own sets; fitted on every labelled set): leave-one-set-out top-1 / top-3
    # dev 1.00 / 1.00, dev2 0.80 / 1.00, fresh 0.90 / 1.00, fresh2 1.00 / 1.00, fresh3 0.87 / 1.00 (without the
    # examples: 1.00 / 0.95, 0.73 / 1.00, 0.90 / 1.00, 1.00 / 1.00, 0.67 / 0.87), a description seeing only
    # the examples of other sets; the weights carry the temperature (x1.3) that makes the held-out top
    # probability match how often the top sector is the gold one (0.79 against 0.80)
    weights: tuple[float, ...] = (0.59, 0.62, 0.83, 0.12, 0.33, 1.0)
    min_similarity: float | None = 0.207
    bias: tuple[float, ...] = (
        -1.12, -0.67, 0.74, 0.41, 2.72, -0.25, 0.47, 1.3, -1.75, -1.15, 0.11, 0.12, -1.53, -0.3, 0.91,
    )

    @classmethod
    def for_embedder(cls, name: str) -> SectorModel:
        """The model fitted for this embedder; an unfitted one keeps the weights, but has no sector
        biases (they correct the fitted embedder's view of the definitions) and never declines."""
        fitted = FITTED_SECTOR_MODELS.get(model_key(name))
        if fitted:
            return cls(weights=fitted[0], min_similarity=fitted[1], bias=fitted[2])
        return cls() if model_key(name) == "embeddinggemma-300m" else cls(min_similarity=None, bias=())

    def scores(self, features: np.ndarray) -> np.ndarray:
        """The logit of each sector (rows of `features`)."""
        columns = [
            column / (column.max() or 1.0) if name == "retrieval" else _z(column)
            for name, column in zip(SECTOR_FEATURES, features.T, strict=True)
        ]
        logits = np.stack(columns, axis=1) @ np.asarray(self.weights)
        return np.asarray(logits + np.asarray(self.bias) if len(self.bias) == len(logits) else logits)

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        logits = self.scores(features)
        exp = np.exp(logits - logits.max())
        return np.asarray(exp / exp.sum())


@dataclass(frozen=True)
class FrameworkTexts:
    """The framework's wording an `Aligner` compares descriptions with, grouped in the order it embeds
    them: sectors ("name: definition"), their definitions' clauses, the phases' sentences, objectives,
    cross-cutting issues and modalities. Only a phase's sentence is read under a title (its phase's)."""

    groups: tuple[tuple[str, ...], ...]
    titles: tuple[tuple[str, ...], ...]
    clause_owner: tuple[int, ...]  # the sector (index) of each clause
    phase_sentences: tuple[tuple[int, str], ...]  # (phase index, sentence)
    objectives: tuple[Objective, ...]

    @classmethod
    def of(cls, framework: FrameworkModel) -> FrameworkTexts:
        sectors = framework.sectors
        owned = [(i, clause) for i, sector in enumerate(sectors) for clause in definition_clauses(sector.definition)]
        phase_sentences = tuple(
            (j, phase.description[s:e]) for j, phase in enumerate(framework.phases)
            for s, e in sentence_spans(phase.description)
        )
        objectives = tuple(_framework_wording(framework.objectives))
        groups = (
            tuple(f"{s.name}: {s.definition}" for s in sectors),
            tuple(f"{sectors[i].name}: {clause}" for i, clause in owned),  # a clause read in its sector's context
            tuple(text for _, text in phase_sentences),
            tuple(o.text for o in objectives),
            tuple(item.name for item in framework.cross_cutting),
            tuple(item.name for item in framework.modalities),
        )
        titles = tuple(
            tuple(framework.phases[j].title for j, _ in phase_sentences) if n == 2 else ("",) * len(group)
            for n, group in enumerate(groups)
        )
        return cls(groups, titles, tuple(i for i, _ in owned), phase_sentences, objectives)


@dataclass(frozen=True, eq=False)
class ReferenceVectors:
    """What an `Aligner` compares descriptions with, embedded: the framework's wording read as passages
    (`FrameworkTexts.groups`, all rows in order), its first three groups read for sentence similarity
    (None for a model without that reading), and the worked examples read as queries. `key` names the
    texts and the model they came from (`reference_key`): vectors of anything else are not used."""

    key: str
    passages: np.ndarray
    similar: np.ndarray | None
    examples: np.ndarray

    def matches(self, texts: FrameworkTexts, examples: Sequence[str], model: str) -> bool:
        """Are these the vectors of `texts` and `examples` by `model`, one row each?"""
        rows = [len(g) for g in texts.groups]
        return (
            self.key == reference_key(texts, examples, model)
            and len(self.passages) == sum(rows)
            and (self.similar is None or len(self.similar) == sum(rows[:3]))
            and len(self.examples) == len(examples)
        )


def usable_examples(examples: Sequence[SectorExample], sectors: int) -> list[SectorExample]:
    """The worked examples of sectors the framework has (numbered 1 to `sectors`)."""
    return [e for e in examples if 1 <= e.sector <= sectors]


def reference_key(texts: FrameworkTexts, examples: Sequence[str], model: str) -> str:
    """A name for the embedded references of these texts by this model (changes with any of them)."""
    rows = [f"{t}\t{x}" for group, titles in zip(texts.groups, texts.titles, strict=True)
            for x, t in zip(group, titles, strict=True)]
    return content_hash(model, str(len(texts.groups[0])), *rows, "\x00examples", *examples)


def embed_references(texts: FrameworkTexts, examples: Sequence[str], embedder: Embedder) -> ReferenceVectors:
    """Embed the framework's wording and the worked examples' descriptions (the slow part of building an
    `Aligner`: about 40 s with EmbeddingGemma on this machine's 2 cores)."""
    passages = embed_passages(embedder, [t for group in texts.groups for t in group],
                              [t for group in texts.titles for t in group])
    similar = embed_for_similarity(embedder, [t for group in texts.groups[:3] for t in group])
    queries = embedder.embed_queries(list(examples)) if examples else np.zeros((0, passages.shape[1]))
    return ReferenceVectors(reference_key(texts, examples, embedder.name), np.asarray(passages),
                            None if similar is None else np.asarray(similar), np.asarray(queries))


@dataclass(frozen=True)
class SectorEvidence:
    """A description as the sector model sees it."""

    query: np.ndarray  # the description embedded as a query
    hits: tuple[Hit, ...]  # passages retrieved for it
    features: np.ndarray  # sectors × SECTOR_FEATURES, raw
    best_clause: float  # its best cosine to any definition clause: how close it comes to the framework at all
    example_cosines: np.ndarray  # its cosine to each worked example (the examples feature and the phase vote)


class Aligner:
    """Rank the 15 MCOF sectors (and phases, objectives, cross-cutting items) for a project.

    Built once per process: the constructor embeds the framework's definitions (or is given them).
    """

    def __init__(
        self,
        framework: FrameworkModel,
        searcher: Searcher,
        embedder: Embedder,
        chat_model: BaseChatModel | None = None,
        model: SectorModel | None = None,
        examples: Sequence[SectorExample] = (),
        references: ReferenceVectors | None = None,
    ) -> None:
        """`examples`: labelled project descriptions, each a worked example of its sector (the
        `examples` feature; none: that feature is 0 for every sector); `references`: the framework's
        wording and the examples already embedded by `embedder` (`embed_references`, e.g. read back
        from a file), or None (or vectors of other texts or another model) to embed them here."""
        if not framework.sectors:
            raise FrameworkError("the framework model has no sectors: run `mcof ingest` on the MCOF corpus")
        self.framework = framework
        self._searcher = searcher
        self._embedder = CachingEmbedder(embedder)  # drafts quote the same framework clauses again and again
        self._chat = chat_model
        self.model = model or SectorModel.for_embedder(embedder.name)
        sectors = framework.sectors
        if self.model.bias and len(self.model.bias) != len(sectors):
            log.warning("sector biases ignored: %d fitted, the framework has %d sectors; refit with "
                        "`python -m bench.alignment`", len(self.model.bias), len(sectors))
            self.model = replace(self.model, bias=())
        texts = FrameworkTexts.of(framework)
        self._clause_owner = list(texts.clause_owner)
        self._phase_sentences = list(texts.phase_sentences)
        self._objectives = list(texts.objectives)
        known = usable_examples(examples, len(sectors))
        wanted = [e.description for e in known]
        if references is None or not references.matches(texts, wanted, embedder.name):
            references = embed_references(texts, wanted, embedder)
        vectors = references.passages
        cut = np.cumsum([0, *(len(g) for g in texts.groups)])
        (self._sector_vecs, self._clause_vecs, self._phase_vecs, self._objective_vecs,
         self._cross_vecs, self._modality_vecs) = (vectors[cut[i] : cut[i + 1]] for i in range(len(texts.groups)))
        # a second reading of the definitions and phase sentences, as sentences to compare with rather than
        # passages to find: the sector features and the phase similarity average the two readings' cosines
        # (held-out sector top-3 and phase overlap up on some labelled sets, down on none; docs/benchmarks.md)
        self._sector_views = [(self._sector_vecs, self._clause_vecs)]
        similar = references.similar
        if similar is not None:
            ends = np.cumsum([len(g) for g in texts.groups[:3]])
            self._sector_views.append((similar[: ends[0]], similar[ends[0] : ends[1]]))
            self._phase_vecs = (self._phase_vecs + similar[ends[1] : ends[2]]) / 2
        self._example_sectors = np.asarray([e.sector for e in known], dtype=int)
        self._example_phases = phase_shares(known)
        self._example_vecs = references.examples  # no rows without examples
        self._sector_terms = [Counter(terms(f"{s.name} {s.definition}")) for s in sectors]
        df = Counter(t for counts in self._sector_terms for t in counts)
        self._idf = {t: math.log(1 + len(sectors) / n) for t, n in df.items()}
        self._unknown_idf = math.log(1 + len(sectors))

    def align(self, description: str, explain: bool = True) -> Alignment:
        """Score every sector, phase, objective, cross-cutting issue and modality.

        A description that reads like no project the MCOF covers comes back `declined`, unranked.
        With a chat model and `explain`, its one-line rationale is added (one LLM call: a draft,
        which never shows it, passes False).
        """
        description = description.strip()
        if not description:
            raise EmptyInputError("description")
        measured = self.measure(description)
        if self.model.min_similarity is not None and measured.best_clause < self.model.min_similarity:
            return Alignment(description=description, sectors=(), phases=(), likely_phases=(), objectives=(),
                             declined=_DECLINED)
        query, hits = measured.query, measured.hits
        probabilities = self.model.probabilities(measured.features)
        order = np.argsort(-probabilities, kind="stable")
        sectors = tuple(
            SectorMatch(
                sector=self.framework.sectors[i],
                score=round(float(probabilities[i]), 4),
                evidence=self._evidence(self.framework.sectors[i], hits),
                matched=self._matched_words(description, i),
            )
            for i in order
        )
        strong = strong_sectors(sectors)
        phases = self._phase_scores(description, query, strong, measured.example_cosines)
        alignment = Alignment(
            description=description,
            sectors=sectors,
            phases=phases,
            likely_phases=likely_phases(phases),
            objectives=self._objective_scores(description, query, strong),
            cross_cutting=self._item_scores(
                description, query, strong, self.framework.cross_cutting, self._cross_vecs
            ),
            modalities=self._item_scores(description, query, strong, self.framework.modalities, self._modality_vecs),
        )
        if self._chat is not None and explain:
            alignment = replace(alignment, rationale=self._rationale(alignment))
        return alignment

    # ----------------------------------------------------------------- sectors

    def measure(self, description: str) -> SectorEvidence:
        """What the sector model reads: the description's vectors, retrieval hits and sector features."""
        sentences = [description[s:e] for s, e in sentence_spans(description)]
        extra = sentences if len(sentences) > 1 else []
        vectors = self._embedder.embed_queries([description, *extra])
        query = vectors[0]
        hits = tuple(self._searcher.search(description, k=_SEARCH_K))
        sentence_vectors = vectors[1:] if extra else vectors[:1]
        cosines = self._example_vecs @ query
        features, best_clause = self._sector_features(description, query, sentence_vectors, hits, cosines)
        return SectorEvidence(query, hits, features, best_clause, cosines)

    def _sector_features(
        self, description: str, query: np.ndarray, sentence_vectors: np.ndarray, hits: Sequence[Hit],
        example_cosines: np.ndarray,
    ) -> tuple[np.ndarray, float]:
        """One row per sector, one column per `SECTOR_FEATURES` entry (raw, before normalisation), and
        the description's best cosine to any definition clause (first view: passages to find).

        `sentence_vectors` are the description's sentences embedded as queries (the description
        itself when it is one sentence); `example_cosines`, its cosine to each worked example. The three
        similarity columns are the mean over the two views of the definitions (`_sector_views`).
        """
        n = len(self.framework.sectors)
        owner = np.asarray(self._clause_owner)
        similarity = np.zeros((n, 3))
        by_clauses = [clause_vecs @ query for _, clause_vecs in self._sector_views]
        for (sector_vecs, clause_vecs), by_clause in zip(self._sector_views, by_clauses, strict=True):
            by_sentence = (clause_vecs @ sentence_vectors.T).max(axis=1)
            similarity += np.stack([
                sector_vecs @ query,
                [np.sort(by_clause[owner == i])[-_TOP_CLAUSES:].mean() for i in range(n)],
                [by_sentence[owner == i].max() for i in range(n)],
            ], axis=1) / len(self._sector_views)
        lexical = np.array([self._term_overlap(description, counts) for counts in self._sector_terms])
        retrieval = np.zeros(n)
        for hit in hits:
            if hit.chunk.sector and 1 <= hit.chunk.sector <= n:
                retrieval[hit.chunk.sector - 1] += 1.0 / (hit.rank + 1)
        examples = closest_example(example_cosines, self._example_sectors, n)
        return np.column_stack([similarity, lexical, retrieval, examples]), float(by_clauses[0].max())

    def _matched_words(self, description: str, sector: int) -> tuple[str, ...]:
        """The description's words whose stems the sector's name or definition uses, rarest first."""
        counts = self._sector_terms[sector]
        found: dict[str, str] = {}
        for word in re.findall(r"[A-Za-z][A-Za-z'-]+", description):
            stems = terms(word)
            if stems and stems[0] in counts and stems[0] not in found:
                found[stems[0]] = word
        ranked = sorted(found, key=lambda t: -self._idf[t])
        return tuple(found[t] for t in ranked[:_MATCHED_WORDS])

    def _term_overlap(self, text: str, counts: Counter[str]) -> float:
        query = set(terms(text))
        total = sum(self._idf.get(t, self._unknown_idf) for t in query)
        return sum(self._idf[t] for t in query if t in counts) / total if total else 0.0

    def _evidence(self, sector: Sector, hits: Sequence[Hit]) -> tuple[Hit, ...]:
        own = Hit(rank=0, chunk=span_chunk(sector.source, sector.number, "sector"), score=1.0)
        support = [
            h for h in hits
            if sector.number in sectors_of_hit(h, self.framework.sectors)
            and (h.chunk.doc, h.chunk.start, h.chunk.end) != (own.chunk.doc, own.chunk.start, own.chunk.end)
            and not (h.chunk.start <= own.chunk.start and own.chunk.end <= h.chunk.end and h.doc == own.doc)
        ]
        return (own, *support[: _MAX_EVIDENCE - 1])

    # ----------------------------------------------------------------- phases

    def _phase_scores(
        self, description: str, query: np.ndarray, strong: Sequence[SectorMatch], example_cosines: np.ndarray
    ) -> tuple[PhaseMatch, ...]:
        sims = np.full(len(self.framework.phases), -1.0)
        for (j, _), sim in zip(self._phase_sentences, self._phase_vecs @ query, strict=True):
            sims[j] = max(sims[j], float(sim))
        similarity = _z(sims) if len(sims) > 1 else sims
        prior = Counter[Phase]()
        for match in strong:
            prior.update(phase_cues(match.sector.definition))
        cues = phase_cues(description)
        votes = example_votes(example_cosines, self._example_phases)
        matches = []
        for j, phase in enumerate(self.framework.phases):
            score = (
                cues.get(phase.phase, 0)
                + _PHASE_EMBED_WEIGHT * float(similarity[j])
                + _PHASE_PRIOR_WEIGHT * min(prior[phase.phase], 2)
                + _PHASE_EXAMPLE_WEIGHT * votes.get(phase.phase, 0.0)
            )
            matches.append(PhaseMatch(phase=phase, score=round(score, 4)))
        return tuple(sorted(matches, key=lambda m: -m.score))

    # ----------------------------------------------------------------- objectives and items

    def _objective_scores(
        self, description: str, query: np.ndarray, strong: Sequence[SectorMatch]
    ) -> tuple[ObjectiveMatch, ...]:
        """Objectives the project serves: those its strong sectors' definitions are closest to,
        corrected by the description's own similarity."""
        if not self._objectives:
            return ()
        by_sector = self._sector_vecs @ self._objective_vecs.T  # sectors × objectives
        affinity = np.mean([_z(by_sector[m.sector.number - 1]) for m in strong], axis=0)
        scores = affinity + _OBJECTIVE_DESCRIPTION_WEIGHT * _z(self._objective_vecs @ query)
        matches = [
            ObjectiveMatch(objective=objective, score=round(float(score), 4))
            for objective, score in zip(self._objectives, scores, strict=True)
        ]
        return tuple(sorted(matches, key=lambda m: -m.score))

    def _item_scores(
        self, description: str, query: np.ndarray, strong: Sequence[SectorMatch], items: Sequence[NamedItem],
        vectors: np.ndarray,
    ) -> tuple[tuple[NamedItem, float], ...]:
        """Cross-cutting issues or modalities, best first, plus shared terms.

        An item's similarity to the description and to the strong sectors' definitions is
        measured against its similarity to all 15 definitions: a name close to every crisis
        text ("Disaster risk / climate change") must not win every project.
        """
        if not items:
            return ()
        to_sectors = vectors @ self._sector_vecs.T  # items × sectors
        base = to_sectors.mean(axis=1)
        spread = to_sectors.std(axis=1) + 1e-6
        by_sector = np.mean([to_sectors[:, m.sector.number - 1] for m in strong], axis=0)
        scores = (by_sector - base) / spread + (vectors @ query - base) / spread
        scored = [
            (item, round(float(score) + 2.0 * _overlap(description, item.name), 4))
            for item, score in zip(items, scores, strict=True)
        ]
        return tuple(sorted(scored, key=lambda pair: -pair[1]))

    def relevance(self, description: str, texts: Sequence[str]) -> list[float]:
        """Cosine similarity of each text to the description (for choosing what to quote)."""
        if not texts:
            return []
        query = self._embedder.embed_queries([description])[0]
        return [float(v) for v in self._embedder.embed(texts) @ query]

    # ----------------------------------------------------------------- rationale

    def _rationale(self, alignment: Alignment) -> str:
        """An LLM's short explanation; only sentences citing the top sectors' definitions survive.

        Marker [n] stands for the n-th ranked sector.
        """
        from .prompts import render_prompt

        top = alignment.sectors[:_RATIONALE_SECTORS]
        passages = "\n".join(
            f"[{i}] Sector {m.sector.number} {m.sector.name}: {m.sector.definition}" for i, m in enumerate(top, 1)
        )
        messages = render_prompt("align_rationale", description=alignment.description, passages=passages)
        try:
            reply = self._chat.invoke(messages) if self._chat is not None else None
        except Exception as exc:  # any backend failure: the alignment stands without a rationale
            log.warning("align rationale: LLM backend failed (%s: %s)", exc.__class__.__name__, exc)
            return ""
        checked = check_citations(str(getattr(reply, "text", "") or ""), n_passages=len(top))
        return " ".join(
            with_markers(s.text, [checked.sources[n - 1] for n in s.sources]) for s in checked.sentences
        )


# --------------------------------------------------------------------------- pure helpers


def clauses(text: str, min_words: int = _MIN_CLAUSE_WORDS) -> list[str]:
    """Clauses cut after commas and semicolons outside parentheses and before dashes; a clause
    shorter than `min_words` joins the next one. Joined with spaces they give the text back.

    >>> clauses("To promote, protect and support people, with activities (food, water) for all.")
    ['To promote, protect and support people,', 'with activities (food, water) for all.']
    """
    out: list[str] = []
    for piece in (c for c in _CLAUSE_RE.split(text) if c):
        if out and len(out[-1].split()) < min_words:
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


def definition_clauses(definition: str) -> list[str]:
    """The sentences of a definition, then their clauses (each embedded on its own).

    >>> definition_clauses("To help people in need, by giving them shelter; and more.")
    ['To help people in need, by giving them shelter; and more.', 'To help people in need', 'by giving them shelter']
    """
    out: list[str] = []
    for s, e in sentence_spans(definition):
        sentence = definition[s:e]
        out.append(sentence)
        for piece in clauses(sentence):
            piece = piece.strip(" .,;")
            if len(piece.split()) >= _MIN_CLAUSE_WORDS and piece != sentence.strip(" ."):
                out.append(piece)
    return list(dict.fromkeys(out))


def closest_example(cosines: np.ndarray, sectors: np.ndarray, n: int) -> np.ndarray:
    """Per sector (1..n), the highest of the description's cosines to its worked examples (`cosines`,
    one per example, `sectors` the example's sector); a sector without examples gets the lowest of
    the others; no examples at all: zeros.

    >>> closest_example(np.array([0.9, 0.4, 0.2]), np.array([1, 1, 2]), 3).tolist()
    [0.9, 0.2, 0.2]
    """
    if not len(sectors):
        return np.zeros(n)
    best = np.full(n, -np.inf)
    np.maximum.at(best, sectors - 1, cosines)
    return np.where(np.isinf(best), best[~np.isinf(best)].min(), best)


def parse_sector_examples(text: str, source: str = "") -> tuple[SectorExample, ...]:
    """Worked examples from JSON lines: {"sector": 4, "phases": ["during"], "description": "...", "source": "..."}
    ("phases" and "source" optional).

    >>> parse_sector_examples('{"sector": 4, "phases": ["during"], "description": "Mobile clinics."}')[0].phases
    ('during',)
    """
    examples = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            phases = [str(p) for p in item.get("phases", ())]
            if unknown := [p for p in phases if p not in PHASES]:
                raise ValueError(f"unknown phase {unknown[0]!r} (one of {', '.join(PHASES)})")
            examples.append(SectorExample(
                int(item["sector"]), str(item["description"]), str(item.get("source", "")),
                tuple(p for p in PHASES if p in phases),
            ))
        except (ValueError, KeyError, TypeError) as exc:
            raise FrameworkError(f"sector examples{f' ({source})' if source else ''}, line {number}: {exc}") from exc
    return tuple(examples)


def phase_cues(text: str) -> Counter[Phase]:
    """How many distinct cue patterns of each phase occur in the text.

    >>> dict(phase_cues("Evacuate families fleeing the floods, then support their return."))
    {'during': 2, 'after': 1}
    """
    folded = fold(text)
    counts = Counter[Phase]()
    for phase in PHASES:
        found = sum(1 for pattern in _PHASE_CUE_RES[phase] if pattern.search(folded))
        if found:
            counts[phase] = found
    return counts


def likely_phases(phases: Sequence[PhaseMatch]) -> tuple[Phase, ...]:
    """The phases a project most likely belongs to (`close_to_best` of their scores)."""
    return close_to_best({m.phase.phase: m.score for m in phases})


def close_to_best(scores: Mapping[Phase, float], margin: float = _SECOND_PHASE_MARGIN) -> tuple[Phase, ...]:
    """The best-scoring phase and any other scoring within `margin` of it, in crisis order; none without scores.

    >>> close_to_best({"during": 3.1, "after": 2.8, "before": 0.2})
    ('during', 'after')
    """
    if not scores:
        return ()
    best = max(scores.values())
    return tuple(p for p in PHASES if p in scores and scores[p] >= best - margin)


def phase_shares(examples: Sequence[SectorExample]) -> np.ndarray:
    """One row per example: each phase's share of its phases (before, during, after; zeros without any).

    >>> phase_shares([SectorExample(1, "a", phases=("during", "after")), SectorExample(2, "b")]).tolist()
    [[0.0, 0.5, 0.5], [0.0, 0.0, 0.0]]
    """
    shares = np.zeros((len(examples), len(PHASES)))
    for row, example in enumerate(examples):
        for phase in example.phases:
            shares[row, PHASES.index(phase)] = 1 / len(example.phases)
    return shares


def example_votes(
    cosines: np.ndarray, shares: np.ndarray, neighbours: int = _PHASE_EXAMPLE_NEIGHBOURS
) -> dict[Phase, float]:
    """The phases of the worked examples closest to a description (`cosines`, one per example), as
    shares that sum to 1: the `neighbours` closest examples with phases vote alike (`shares`, rows of
    `phase_shares`); no such example: no votes.

    >>> example_votes(np.array([0.8, 0.7, 0.4]), np.array([[0, 1.0, 0], [0, 0.5, 0.5], [1.0, 0, 0]]), 2)
    {'before': 0.0, 'during': 0.75, 'after': 0.25}
    """
    labelled = np.flatnonzero(shares.sum(axis=1) > 0)
    if not len(labelled):
        return {}
    nearest = labelled[np.argsort(-cosines[labelled], kind="stable")[:neighbours]]
    votes = shares[nearest].mean(axis=0)
    return {phase: round(float(v), 3) for phase, v in zip(PHASES, votes, strict=True)}


def strong_sectors(sectors: Sequence[SectorMatch]) -> tuple[SectorMatch, ...]:
    """The top sector plus any other whose score is strong on its own and close to the top."""
    if not sectors:
        return ()
    top = sectors[0].score
    return (sectors[0], *(
        m for m in sectors[1:] if m.score >= STRONG_SECTOR and m.score >= _RELATIVE_STRONG * top
    ))


def sectors_of_hit(hit: Hit, sectors: Sequence[Sector]) -> set[int]:
    """Sectors a retrieved passage sits in (a "Sector N" chunk) or names in full."""
    if hit.chunk.sector:
        return {hit.chunk.sector}
    text = f" {_name_key(hit.chunk.text)} "
    return {s.number for s in sectors if f" {_name_key(s.name)} " in text}


def span_chunk(span: Span, sector: int | None = None, kind: str = "text") -> Chunk:
    """A framework span as a `Chunk`, so it can be cited and shown like a retrieved passage."""
    return Chunk(
        id=content_hash(span.doc, str(span.start), span.text),
        doc=span.doc,
        title=span.doc,
        section=span.section,
        text=span.text,
        start=span.start,
        end=span.end,
        index_text=span.text,
        sector=sector,
        kind=kind,
    )


def _name_key(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", fold(text)))


def _overlap(text: str, target: str) -> float:
    """Share of the target's content terms that the text uses."""
    wanted = set(terms(target))
    return len(wanted & set(terms(text))) / len(wanted) if wanted else 0.0


def _z(values: np.ndarray) -> np.ndarray:
    spread = float(values.std())
    return (values - values.mean()) / spread if spread > 1e-9 else np.zeros_like(values, dtype=float)


def _framework_wording(objectives: Sequence[Objective]) -> list[Objective]:
    """One wording per letter: the earliest (the framework's own), in letter order."""
    chosen: dict[str, Objective] = {}
    for objective in sorted(objectives, key=lambda o: (o.letter, o.year)):
        chosen.setdefault(objective.letter, objective)
    return [chosen[letter] for letter in sorted(chosen)]
