"""Alignment: a project description → MCOF sectors, phases, objectives and cross-cutting items.

Sector scores fuse four signals: embedding similarity to the sector's name and definition,
the best similarity to a single clause of the definition (prefixed with the sector's name,
so a generic clause keeps its sector's meaning) and IDF-weighted stemmed term
overlap (each z-normalised over the 15 sectors, so none dominates by scale), plus the
retrieval hits that sit in the sector's own entry. Phases come from cue words and from
similarity to the phase passages of the framework's annex.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from .answering import Searcher
from .citations import check_citations, with_markers
from .embeddings import Embedder
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
    SectorMatch,
    Span,
)

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

log = logging.getLogger(__name__)

# Weights of the z-normalised sector signals: definition, best clause, terms, retrieval.
_SECTOR_WEIGHTS = (1.0, 1.0, 0.5, 0.3)
STRONG_SECTOR = 1.6  # fused score from which a sector other than the top one counts as strong...
_RELATIVE_STRONG = 0.75  # ... when it also reaches this share of the top sector's score
_SEARCH_K = 10
_MAX_EVIDENCE = 3
_RATIONALE_SECTORS = 3
_OBJECTIVE_DESCRIPTION_WEIGHT = 0.5
_MULTI_SECTOR_BONUS = 0.5
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


class Aligner:
    """Rank the 15 MCOF sectors (and phases, objectives, cross-cutting items) for a project.

    Built once per process: the constructor embeds the framework's definitions.
    """

    def __init__(
        self,
        framework: FrameworkModel,
        searcher: Searcher,
        embedder: Embedder,
        chat_model: BaseChatModel | None = None,
    ) -> None:
        if not framework.sectors:
            raise FrameworkError("the framework model has no sectors: run `mcof ingest` on the MCOF corpus")
        self.framework = framework
        self._searcher = searcher
        self._embedder = embedder
        self._chat = chat_model
        sectors = framework.sectors
        self._clause_owner: list[int] = []
        clause_texts: list[str] = []
        for i, sector in enumerate(sectors):
            for clause in definition_clauses(sector.definition):
                clause_texts.append(f"{sector.name}: {clause}")  # a clause read in its sector's context
                self._clause_owner.append(i)
        self._phase_sentences = [
            (j, phase.description[s:e]) for j, phase in enumerate(framework.phases)
            for s, e in sentence_spans(phase.description)
        ]
        self._objectives = _framework_wording(framework.objectives)
        groups = [
            [f"{s.name}: {s.definition}" for s in sectors],
            clause_texts,
            [text for _, text in self._phase_sentences],
            [o.text for o in self._objectives],
            [item.name for item in framework.cross_cutting],
            [item.name for item in framework.modalities],
        ]
        vectors = embedder.embed([t for group in groups for t in group])
        cut = np.cumsum([0, *(len(g) for g in groups)])
        (self._sector_vecs, self._clause_vecs, self._phase_vecs, self._objective_vecs,
         self._cross_vecs, self._modality_vecs) = (vectors[cut[i] : cut[i + 1]] for i in range(len(groups)))
        self._sector_terms = [Counter(terms(f"{s.name} {s.definition}")) for s in sectors]
        df = Counter(t for counts in self._sector_terms for t in counts)
        self._idf = {t: math.log(1 + len(sectors) / n) for t, n in df.items()}
        self._unknown_idf = math.log(1 + len(sectors))

    def align(self, description: str) -> Alignment:
        """Score every sector, phase, objective, cross-cutting issue and modality."""
        description = description.strip()
        if not description:
            raise EmptyInputError("description")
        query = self._embedder.embed_queries([description])[0]
        hits = self._searcher.search(description, k=_SEARCH_K)
        fused = self._sector_scores(description, query, hits)
        order = np.argsort(-fused, kind="stable")
        sectors = tuple(
            SectorMatch(
                sector=self.framework.sectors[i],
                score=round(float(fused[i]), 4),
                evidence=self._evidence(self.framework.sectors[i], hits),
            )
            for i in order
        )
        strong = strong_sectors(sectors)
        phases = self._phase_scores(description, query, strong)
        alignment = Alignment(
            description=description,
            sectors=sectors,
            phases=phases,
            likely_phases=likely_phases(phases, description),
            objectives=self._objective_scores(description, query, strong),
            cross_cutting=self._item_scores(
                description, query, strong, self.framework.cross_cutting, self._cross_vecs
            ),
            modalities=self._item_scores(description, query, strong, self.framework.modalities, self._modality_vecs),
        )
        if self._chat is not None:
            alignment = replace(alignment, rationale=self._rationale(alignment))
        return alignment

    # ----------------------------------------------------------------- sectors

    def _sector_scores(self, description: str, query: np.ndarray, hits: Sequence[Hit]) -> np.ndarray:
        n = len(self.framework.sectors)
        definition = self._sector_vecs @ query
        clause = np.full(n, -1.0)
        for owner, sim in zip(self._clause_owner, self._clause_vecs @ query, strict=True):
            clause[owner] = max(clause[owner], float(sim))
        lexical = np.array([self._term_overlap(description, counts) for counts in self._sector_terms])
        retrieval = np.zeros(n)
        for hit in hits:
            if hit.chunk.sector and 1 <= hit.chunk.sector <= n:
                retrieval[hit.chunk.sector - 1] += 1.0 / (hit.rank + 1)
        dense_and_lexical = (_z(definition), _z(clause), _z(lexical))
        fused = sum(w * s for w, s in zip(_SECTOR_WEIGHTS, dense_and_lexical, strict=False))
        # Retrieval is sparse (a few sectors get hits): scaled to [0, 1], not z-normalised.
        return np.asarray(fused + _SECTOR_WEIGHTS[-1] * retrieval / (retrieval.max() or 1.0))

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
        self, description: str, query: np.ndarray, strong: Sequence[SectorMatch]
    ) -> tuple[PhaseMatch, ...]:
        sims = np.full(len(self.framework.phases), -1.0)
        for (j, _), sim in zip(self._phase_sentences, self._phase_vecs @ query, strict=True):
            sims[j] = max(sims[j], float(sim))
        similarity = _z(sims) if len(sims) > 1 else sims
        prior = Counter[Phase]()
        for match in strong:
            prior.update(phase_cues(match.sector.definition))
        cues = phase_cues(description)
        matches = []
        for j, phase in enumerate(self.framework.phases):
            score = (
                cues.get(phase.phase, 0)
                + _PHASE_EMBED_WEIGHT * float(similarity[j])
                + _PHASE_PRIOR_WEIGHT * min(prior[phase.phase], 2)
            )
            matches.append(PhaseMatch(phase=phase, score=round(score, 4)))
        return tuple(sorted(matches, key=lambda m: -m.score))

    # ----------------------------------------------------------------- objectives and items

    def _objective_scores(
        self, description: str, query: np.ndarray, strong: Sequence[SectorMatch]
    ) -> tuple[ObjectiveMatch, ...]:
        """Objectives the project serves: those its strong sectors' definitions are closest to,
        corrected by the description's own similarity; an objective about bringing sectors
        together gains when several sectors are strong."""
        if not self._objectives:
            return ()
        by_sector = self._sector_vecs @ self._objective_vecs.T  # sectors × objectives
        affinity = np.mean([_z(by_sector[m.sector.number - 1]) for m in strong], axis=0)
        scores = affinity + _OBJECTIVE_DESCRIPTION_WEIGHT * _z(self._objective_vecs @ query)
        matches = []
        for objective, score in zip(self._objectives, scores, strict=True):
            if len(strong) > 1 and "sector" in terms(objective.text):
                score += _MULTI_SECTOR_BONUS
            matches.append(ObjectiveMatch(objective=objective, score=round(float(score), 4)))
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


def likely_phases(phases: Sequence[PhaseMatch], description: str) -> tuple[Phase, ...]:
    """The phases a project most likely belongs to: the phase with most cue words (ties go to the
    better-scoring one), plus any other with at least two cues and half as many as the best; with
    no cue words, the best-scoring phase alone. A single passing cue ("evacuation routes" agreed
    before the season, "displaced" families) does not add a phase."""
    cues = phase_cues(description)
    if cues:
        most = max(cues.values())
        rank = {m.phase.phase: i for i, m in enumerate(phases)}
        first = min((p for p, n in cues.items() if n == most), key=lambda p: rank.get(p, len(rank)))
        chosen = {first} | {p for p, n in cues.items() if n >= 2 and 2 * n >= most}
    else:
        chosen = {phases[0].phase.phase} if phases else set()
    return tuple(p for p in PHASES if p in chosen)


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
