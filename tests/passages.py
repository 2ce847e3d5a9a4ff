"""Literal passages and a small lexical searcher for answering tests (no index, no model)."""

from __future__ import annotations

import math
import re
from collections import Counter

from assistant.textutil import content_hash, terms
from assistant.types import Chunk, DocumentMeta, Hit

SECTOR_NAMES = (
    "Camp Management and Displacement Tracking",
    "Shelter and Non-food Items",
    "Transport Assistance for Affected Populations",
    "Health Support",
    "Psychosocial Support",
    "(Re)integration Assistance",
    "Community Stabilization and Transition",
    "Disaster Risk Reduction and Resilience Building",
    "Land and Property Support",
    "Counter-trafficking and Protection of Vulnerable Migrants",
    "Technical Assistance for Humanitarian Border Management",
    "Emergency Consular Assistance",
    "Diaspora and Human Resource Mobilization",
    "Migration Policy and Legislation Support",
    "Humanitarian Communications",
)

FRAMEWORK = "framework-2012.txt"
WEB_PAGE = "webpage-2023.txt"
EVALUATION = "evaluation-2019.txt"

FRAMEWORK_TEXT = (
    "The IOM Migration Crisis Operational Framework is organized around two pillars. "
    "The three phases of a crisis refer to the before, during and after stages.\n\n"
    "8. The following list briefly describes IOM's sectors of assistance:\n\n"
    + "\n\n".join(
        f"Sector {n} {name}: To provide {name.lower()} to crisis-affected populations in the field."
        for n, name in enumerate(SECTOR_NAMES, 1)
    )
    + "\n\nPhase 1: Before a migration crisis\n"
    "The sectors of assistance are geared towards building the capacity of States to prepare.\n\n"
    "Phase 2: During a migration crisis\n"
    "The sectors of assistance address the most immediate needs of affected mobile populations.\n\n"
    "Phase 3: After a migration crisis\n"
    "The sectors of assistance aim at durable solutions through recovery and transition.\n\n"
    "Sector 12 covers consular services, including the issuance of emergency travel documents or "
    "laissez-passer for nationals caught in a crisis."
)

WEB_PAGE_TEXT = (
    "The five cross-cutting issues ensure that IOM programming is evidence-based and accountable. "
    "All work should incorporate each of the cross-cutting issues: Protection mainstreaming, Gender "
    "equality, Law and policy, Disaster risk / climate change and Data and evidence.\n\n"
    "The 2021 Addendum stays true to the essence of MC/2355, but updating the sectors of assistance, "
    "and introduces operating modalities.\n\n"
    "Most crises have mobility dimensions, including:\n"
    "- People move, or require support to move, to get out of harm's way\n"
    "- Specific protection needs of displaced populations\n"
    "- Disruption of nomadic routes or seasonal labour cycles\n\n"
    "For more information, please contact the MCOF Team at mcof@iom.int."
)

EVALUATION_TEXT = (
    "The evaluation recommends that the MCOF online training be made mandatory for all new staff.\n\n"
    "Apart from two short assessments on the application of the Operational Framework (2013 and 2015), "
    "a comprehensive evaluation of the MCOF has not been carried out.\n\n"
    "The evaluation found that the MCOF was applied mostly in the emergency phase, during a crisis, "
    "and seldom before it.\n\n"
    "Externally, one of the barriers to using the MCOF is the existence of other systems such as the "
    "cluster approach."
)

CATALOG = {
    FRAMEWORK: DocumentMeta(
        FRAMEWORK,
        "IOM Migration Crisis Operational Framework: Key Elements",
        date="2012-09-20",
        short_title="MCOF Key Elements (2012)",
        aliases=("2012 framework", "key elements"),
    ),
    WEB_PAGE: DocumentMeta(
        WEB_PAGE,
        "Migration Crisis Operational Framework (MCOF), IOM web page",
        date="2023-03-15",
        short_title="MCOF web page (2023)",
        aliases=("web page", "2023 page"),
    ),
    EVALUATION: DocumentMeta(
        EVALUATION,
        "A Thematic Evaluation of the MCOF: Summary Report",
        date="2019-03",
        short_title="MCOF Evaluation Summary (2019)",
        aliases=("evaluation", "evaluators"),
    ),
}
TEXTS = {FRAMEWORK: FRAMEWORK_TEXT, WEB_PAGE: WEB_PAGE_TEXT, EVALUATION: EVALUATION_TEXT}


def paragraph_chunks(doc: str, text: str) -> list[Chunk]:
    """One chunk per blank-line separated paragraph, with exact offsets: `chunk.text == text[start:end]`."""
    chunks = []
    for m in re.finditer(r"\S(?:.|\n(?!\n))*", text):
        body = m.group(0)
        chunks.append(
            Chunk(
                content_hash(doc, body),
                doc,
                CATALOG.get(doc, DocumentMeta(doc, doc)).title,
                "",
                body,
                m.start(),
                m.end(),
                body,
            )
        )
    return chunks


def corpus_chunks(texts: dict[str, str] | None = None) -> list[Chunk]:
    return [c for doc, text in (texts or TEXTS).items() for c in paragraph_chunks(doc, text)]


class LexicalSearcher:
    """IDF-weighted term overlap over literal chunks; also the corpus statistics and chunk lists.

    Implements `Searcher`, `TermStats` and `ChunkSource`; records the queries it is asked.
    """

    def __init__(self, chunks: list[Chunk]) -> None:
        self.chunks = chunks
        self._terms = [set(terms(c.index_text)) for c in chunks]
        self._df = Counter(t for ts in self._terms for t in ts)
        self.queries: list[str] = []

    def document_frequency(self, term: str) -> int:
        return self._df.get(term, 0)

    @property
    def chunk_count(self) -> int:
        return len(self.chunks)

    def chunks_of(self, doc: str) -> list[Chunk]:
        return sorted((c for c in self.chunks if c.doc == doc), key=lambda c: c.start)

    def search(self, query: str, k: int = 10) -> list[Hit]:
        self.queries.append(query)
        wanted = set(terms(query))
        weight = {t: math.log((len(self.chunks) + 1) / (self._df.get(t, 0) + 0.5)) for t in wanted}
        total = sum(weight.values()) or 1.0
        scored = [(sum(weight[t] for t in wanted & ts) / total, i) for i, ts in enumerate(self._terms)]
        ranked = sorted((s for s in scored if s[0] > 0), key=lambda s: (-s[0], s[1]))[:k]
        return [Hit(rank, self.chunks[i], round(score, 4)) for rank, (score, i) in enumerate(ranked, 1)]
