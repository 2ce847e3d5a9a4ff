"""Domain types: plain frozen dataclasses shared by every module.

Offsets are character offsets into a document's *cleaned* text, so any chunk, hit or
citation can be traced back to the exact span it quotes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Phase = Literal["before", "during", "after"]
PHASES: tuple[Phase, ...] = ("before", "during", "after")


@dataclass(frozen=True)
class DocumentMeta:
    """What the manifest (or the file itself) says about a source document."""

    doc: str  # file name inside the corpus folder, e.g. "mcof-2012-key-elements.txt"
    title: str
    publisher: str = ""
    date: str = ""
    kind: str = ""
    short_title: str = ""
    aliases: tuple[str, ...] = ()  # words a question may use to name this document ("MOPAN")
    uploaded_by: str = ""  # who added it in the app ("" for an official source, or an upload without a login)
    uploaded: str = ""  # when it was added in the app (ISO time); "" for an official source

    @property
    def label(self) -> str:
        return self.short_title or self.title

    @property
    def official(self) -> bool:
        """True for the shipped corpus; False for a document added in the app."""
        return not self.uploaded


@dataclass(frozen=True)
class Document:
    """A loaded and cleaned document: `text` is what every span points into."""

    meta: DocumentMeta
    text: str
    source_kind: str  # loader that produced it: "txt", "md", "html", "pdf", "docx"
    sha256: str  # hash of the file's bytes


@dataclass(frozen=True)
class Chunk:
    """A retrievable passage: `text == document.text[start:end]`.

    `index_text` is what gets embedded and indexed lexically; it may add context
    (title, section, a table header) that is not part of the quotable span.
    """

    id: str
    doc: str
    title: str
    section: str
    text: str
    start: int
    end: int
    index_text: str
    paragraph: str = ""  # "7" for numbered paragraph 7, "" otherwise
    sector: int | None = None  # 1..15 for a "Sector N Name:" entry of the 2012 framework
    kind: str = "text"  # "text", "table", "list", "sector", "heading"


@dataclass(frozen=True)
class Sentence:
    """A sentence of a chunk, indexed on its own for sentence-level matching."""

    id: str
    chunk_id: str
    text: str
    start: int  # offsets into the document's cleaned text
    end: int
    doc: str = ""  # the document the sentence belongs to (lets a search stay inside one document)


@dataclass(frozen=True)
class Hit:
    """One ranked search result."""

    rank: int
    chunk: Chunk
    score: float
    best_sentence: tuple[int, int] | None = None  # (start, end) in the document, when known
    dense_similarity: float = 0.0  # raw cosine of the query to the chunk or its best sentence
    term_coverage: float = 0.0  # IDF-weighted share of the query's content terms found in the chunk

    @property
    def doc(self) -> str:
        return self.chunk.doc

    @property
    def text(self) -> str:
        return self.chunk.text


@dataclass(frozen=True)
class Citation:
    """A numbered reference from an answer or draft to an exact source span.

    `quote_start`/`quote_end` locate the supporting sentence inside `text`
    (for highlighting); both are 0 when the whole passage supports the claim.
    """

    n: int
    doc: str
    title: str
    section: str
    text: str
    start: int
    end: int
    quote_start: int = 0
    quote_end: int = 0
    publisher: str = ""
    date: str = ""


@dataclass(frozen=True)
class Answer:
    """The result of answering one question."""

    question: str
    text: str
    citations: tuple[Citation, ...] = ()
    refused: bool = False
    fallback: bool = False  # the LLM answer was unusable; this is the extractive answer
    notice: str = ""  # shown to the user, e.g. "LLM backend unreachable: extractive answer"
    standalone_question: str = ""  # the follow-up rewritten into a stand-alone question
    closest: tuple[Hit, ...] = ()  # for refusals: what came nearest


@dataclass(frozen=True)
class Turn:
    """One exchange of a conversation."""

    question: str
    answer: str


@dataclass(frozen=True)
class Span:
    """A span of a corpus document that defines something in the framework model."""

    doc: str
    start: int
    end: int
    text: str
    section: str = ""

    def overlaps(self, chunk: Chunk) -> bool:
        """Whether `chunk` shares at least one character of the document with this span.

        >>> span = Span("f.txt", 10, 20, "x")
        >>> [span.overlaps(Chunk("c", doc, "F", "", "y", a, b, "y")) for doc, a, b in (("f.txt", 19, 30),
        ...     ("f.txt", 20, 30), ("g.txt", 0, 30))]
        [True, False, False]
        """
        return self.doc == chunk.doc and self.start < chunk.end and chunk.start < self.end


@dataclass(frozen=True)
class Sector:
    number: int
    name: str
    definition: str
    source: Span


@dataclass(frozen=True)
class PhaseDef:
    phase: Phase
    title: str
    description: str
    source: Span


@dataclass(frozen=True)
class Objective:
    letter: str  # "a".."d"
    text: str
    source: Span
    year: int  # 2012 or 2023 wording


@dataclass(frozen=True)
class NamedItem:
    """A cross-cutting issue or an operational modality of the 2023 page."""

    name: str
    source: Span


@dataclass(frozen=True)
class SectorExample:
    """A labelled project description: a worked example of a sector's work, read beside its definition,
    and of the crisis phases such work belongs to."""

    sector: int  # the description's primary sector
    description: str
    source: str = ""  # where it comes from, e.g. "bench/gold/align.fresh.jsonl#al-f01"
    phases: tuple[Phase, ...] = ()  # its crisis phases (none: it says nothing about phases)


@dataclass(frozen=True)
class FrameworkModel:
    """The MCOF structure parsed from the corpus at ingest time."""

    sectors: tuple[Sector, ...] = ()
    phases: tuple[PhaseDef, ...] = ()
    objectives: tuple[Objective, ...] = ()
    cross_cutting: tuple[NamedItem, ...] = ()
    modalities: tuple[NamedItem, ...] = ()
    recommendation: Span | None = None  # the 2019 evaluation's proposal-paragraph recommendation
    phase_overview: Span | None = None  # Pillar 1: the "before, during and after" stages
    cross_cutting_statement: Span | None = None  # the sentence listing the cross-cutting issues
    modality_statement: Span | None = None  # the sentence listing the operational modalities

    @property
    def complete(self) -> bool:
        return len(self.sectors) == 15 and len(self.phases) == 3


@dataclass(frozen=True)
class SectorMatch:
    """A sector's place in an alignment: `score` is its probability (0–1) among the 15."""

    sector: Sector
    score: float
    evidence: tuple[Hit, ...] = ()
    matched: tuple[str, ...] = ()  # the description's words the sector's name or definition uses


@dataclass(frozen=True)
class PhaseMatch:
    phase: PhaseDef
    score: float


@dataclass(frozen=True)
class ObjectiveMatch:
    objective: Objective
    score: float


@dataclass(frozen=True)
class Alignment:
    description: str
    sectors: tuple[SectorMatch, ...]
    phases: tuple[PhaseMatch, ...]  # all three, best first; `likely_phases` are the chosen ones
    likely_phases: tuple[Phase, ...]
    objectives: tuple[ObjectiveMatch, ...]
    cross_cutting: tuple[tuple[NamedItem, float], ...] = ()
    modalities: tuple[tuple[NamedItem, float], ...] = ()
    rationale: str = ""
    declined: str = ""  # why the description was not ranked (not a project the MCOF covers); "" when it was


@dataclass(frozen=True)
class Draft:
    project: str
    paragraph: str
    citations: tuple[Citation, ...]
    alignment: Alignment
    fallback: bool = False
    notice: str = ""
    dropped: int = 0  # sentences of a language model's draft that failed verification
    restored: int = 0  # composed sentences put back in it for the elements they name


@dataclass(frozen=True)
class IngestReport:
    """What one ingest run did."""

    generation: str
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()  # (file, reason) for files that could not be read
    chunks: int = 0
    embedded: int = 0  # texts actually sent to the model (the rest came from the cache)
    seconds: float = 0.0
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def changed_anything(self) -> bool:
        return bool(self.added or self.changed or self.removed)


@dataclass(frozen=True)
class Feedback:
    """A user's rating of one answer or draft: +1 helpful, -1 not helpful, 0 a comment alone."""

    kind: Literal["answer", "draft"]
    question: str  # the question, or the project description of a draft
    answer: str  # the answer text, or the draft paragraph
    citations: tuple[Citation, ...] = ()
    rating: int = 0
    comment: str = ""
