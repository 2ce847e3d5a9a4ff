"""Grounded answers: condense the follow-up → retrieve → decide → generate → validate.

Whether to answer is decided from the evidence (retrieval, term coverage, what the
question asks for), never by asking the model. The extractive answer is always built;
an LLM answer replaces it only when its citations survive validation.

>>> Answerer(searcher, embedder, catalog).answer("What are the three phases of a crisis?")  # doctest: +SKIP
Answer(text='Phase 1: Before a migration crisis [1] ...', citations=(Citation(n=1, ...), ...))
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from .citations import (
    MARKER_RE,
    CitedSentence,
    check_citations,
    display_text,
    make_citation,
    marker_numbers,
    render_sentences,
    split_cited,
    supporting_span,
    unstated_facts,
    with_markers,
)
from .embeddings import Embedder, model_key
from .errors import EmptyInputError
from .extractive import (
    QUESTION_FRAME,
    Expand,
    Extract,
    Idf,
    Limits,
    Question,
    ScoredSentence,
    Weights,
    coverage,
    enumerates,
    extract,
    is_yes_no,
    mentions,
    passage_text,
    question_terms,
    score_sentences,
)
from .prompts import render_prompt
from .textutil import NAME_RE, QUESTION_WORDS, STOPWORDS, YEAR_RE, is_field_line, sentence_spans, stem, terms, words
from .types import Answer, Chunk, Citation, DocumentMeta, Hit, Turn

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

log = logging.getLogger(__name__)


class Searcher(Protocol):
    def search(self, query: str, k: int = 10) -> list[Hit]: ...


@runtime_checkable
class TermStats(Protocol):
    """Corpus statistics over stemmed terms (`textutil.terms`), counted per chunk."""

    def document_frequency(self, term: str) -> int: ...

    @property
    def chunk_count(self) -> int: ...


@runtime_checkable
class TermExpander(Protocol):
    """Completes stemmed terms with the acronyms they spell out, as the index does."""

    def expand_terms(self, tokens: Sequence[str]) -> list[str]: ...


@runtime_checkable
class LabelSpeller(Protocol):
    """Spells out the numbered labels a question uses alone ("Sector 12" → "Sector 12 (Emergency…)")."""

    def spell_out_labels(self, text: str) -> str: ...


@runtime_checkable
class StoredVectors(Protocol):
    """Passage-side vectors the index computed at ingest, for those of `texts` it holds."""

    def stored_vectors(self, texts: Sequence[str]) -> dict[str, np.ndarray]: ...


@runtime_checkable
class ChunkSource(Protocol):
    """All chunks of a document, so a list split over passages can be completed."""

    def chunks_of(self, doc: str) -> Sequence[Chunk]: ...


# weights and threshold per embedding model, from `python -m bench.answerability` run with that model's index
# (the dataclass defaults are EmbeddingGemma's)
FITTED_POLICIES: dict[str, tuple[tuple[float, ...], float]] = {
    "all-minilm-l6-v2": ((4.16, 0.92, -1.32, 3.18, 0.02, -5.39), 0.43),  # bench/results/answerability-minilm.json
}
ANSWERABILITY_FEATURES = ("semantic", "coverage", "sentence_coverage", "anchored", "unknown_names", "bias")


@dataclass(frozen=True)
class RefusalPolicy:
    """The answer-or-refuse decision: a logistic model of "the passages answer the question".

    P(answerable) = sigmoid(weights · features), the features being, in `ANSWERABILITY_FEATURES`
    order: the best question-to-sentence cosine, the IDF-weighted share of the question's terms
    in the best of the top passages, the same share in the best-scoring sentence, the share of
    the question's names and years that the answer's passages mention ("the 2021 Addendum" is not
    answered from passages that never speak of it), whether the question names something the
    corpus never mentions, and a constant. A question is answered when the probability reaches
    `threshold`. Weights and threshold are fitted by `python -m bench.answerability` over every
    labelled question set (dev, dev2, fresh, fresh2), the threshold chosen inside each fold of a
    leave-one-set-out cross-validation as the highest that still answers 95 % of the answerable
    questions. Without an LLM the answer-shape checks (`check_answer_shape`) can still veto.

    >>> RefusalPolicy(weights=(10.0, 0.0, 0.0, 0.0, -5.0, -5.0)).probability((0.7, 0, 0, 1, 0, 1)) > 0.5
    True
    """

    # fitted by `python -m bench.answerability` on dev, dev2, fresh, fresh2 and the off-topic set (156
    # questions, EmbeddingGemma; bench/results/answerability.json)
    weights: tuple[float, ...] = (5.38, 0.21, -0.87, 2.91, -0.2, -5.44)
    threshold: float = 0.397
    # With an LLM: the same features and the judge's P(yes) (`Answerer.judge`: does the extractive answer
    # state the answer to this exact question?), in that order before the constant, for the questions whose
    # evidence probability reaches `llm_floor` (below it: refused without asking). Fitted by
    # `python -m bench.answerability --llm` with Qwen2.5-Coder-1.5B on dev, dev2, fresh, fresh2 and the
    # off-topic set (bench/results/answerability-llm.json), the floor chosen among 0.1-0.4 by held-out
    # balanced accuracy: the best question-to-sentence cosine and the judge's P(yes) carry the decision.
    # Leave-one-set-out, shape checks included, answered / refused: dev 0.89 / 1.00, dev2 1.00 / 0.75,
    # fresh 0.96 / 1.00, fresh2 0.89 / 0.58, off-topic - / 1.00 (evidence alone: dev2 0.17, fresh2 0.08 refused).
    # Unseen by the fit: fresh3, fresh4 and fresh5 (docs/benchmarks.md).
    # None: no judge fitted for this embedder (the LLM is not asked whether the answer is there).
    llm_weights: tuple[float, ...] | None = (-1.67, 0.0, 0.0, 0.0, 0.0, 9.04, -2.93)
    llm_threshold: float = 0.3
    llm_floor: float = 0.2  # below this evidence-only probability the LLM is not asked at all
    min_llm_support: float = 0.6  # cosine of a generated sentence to the closest sentence it cites
    # The answer-shape checks (a figure for "how many", a name for "who", a list when the passages
    # speak of the things asked for...) still veto: on every labelled set the evidence features alone,
    # and with the LLM judge, refused fewer unanswerable questions (docs/benchmarks.md,
    # bench/results/answerability-llm.json).
    check_answer_shape: bool = True
    top_passages: int = 3  # passages whose term coverage counts

    @classmethod
    def for_embedder(cls, name: str) -> RefusalPolicy:
        """The policy fitted for an embedding model: cosines of different models live on different scales.

        >>> RefusalPolicy.for_embedder("all-MiniLM-L6-v2") == RefusalPolicy()
        False
        """
        fitted = FITTED_POLICIES.get(model_key(name))
        return cls(weights=fitted[0], threshold=fitted[1], llm_weights=None) if fitted else cls()

    def probability(self, features: Sequence[float], weights: Sequence[float] | None = None) -> float:
        z = sum(w * f for w, f in zip(weights or self.weights, features, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def with_judgement(self, evidence: Evidence, yes: float | None) -> Evidence:
        """The decision again, now with the LLM judge's probability that the answer is there (None: not asked).

        >>> e = Evidence(0.5, 0.6, 1.0, 1.0, 1.0, (), 0.9, ())
        >>> [RefusalPolicy().with_judgement(e, yes).refused for yes in (0.9, 0.1, None)]
        [False, True, False]
        """
        if yes is None or self.llm_weights is None:
            return evidence
        *features, constant = evidence.features
        probability = self.probability((*features, yes, constant), self.llm_weights)
        reasons: tuple[str, ...] = ()
        if probability < self.llm_threshold:
            reasons = (f"the passages do not answer it (the language model's judgement and the evidence: "
                       f"confidence {probability:.0%})",)
        elif self.check_answer_shape:
            reasons = evidence.shape
        return replace(evidence, probability=probability, reasons=reasons, llm_yes=yes)


@dataclass(frozen=True)
class Evidence:
    """The signals behind the decision, kept for calibration and the refusal notice."""

    top_score: float
    semantic: float
    coverage: float
    sentence_coverage: float
    anchored: float
    unknown: tuple[str, ...]
    probability: float
    reasons: tuple[str, ...]  # empty when the question is answered
    shape: tuple[str, ...] = ()  # what the extractive answer lacks of what the question asks for
    llm_yes: float | None = None  # the LLM judge's probability that the answer is there, when asked

    @property
    def refused(self) -> bool:
        return bool(self.reasons)

    @property
    def features(self) -> tuple[float, ...]:
        """In `ANSWERABILITY_FEATURES` order."""
        return (self.semantic, self.coverage, self.sentence_coverage, self.anchored, float(bool(self.unknown)), 1.0)


_CONTACT_Q_RE = re.compile(r"\bcontact|\bwrite to\b|\bemail\b|\breach\b", re.IGNORECASE)
_EMAIL_RE = re.compile(r"\b[\w.-]+@[\w-]+\.\w+")
_AFTER_YEAR_RE = re.compile(
    r"\b(?:after|since|later than|beyond|post)\s+(?:the\s+)?((?:19|20)\d\d)(?:\s*[-–/]\s*(\d\d))?"
)
JUDGED_SENTENCES = 5  # sentences of the extractive answer the LLM judge reads
_NOT_IN_DOCUMENTS_RE = re.compile(r"NOT\s+IN\s+(?:THE\s+)?DOCUMENTS", re.IGNORECASE)
_ORDINAL_WORDS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")
_PRONOUN_RE = re.compile(
    r"\b(?:it|its|they|them|their|this|that|these|those|he|she|his|her|one|ones|former|latter|same|there)\b",
    re.IGNORECASE,
)
_REWRITE_NEW_TERMS = 2  # content terms a condensed question may add to the conversation's own
_ITEM_WORDS = 12  # a list item carried into a follow-up: its name, not its whole text
_FOLLOWUP_START_RE = re.compile(r"^\s*(?:and|but|also|so|or|then|what about|how about)\b", re.IGNORECASE)


def assess(
    question: Question,
    hits: Sequence[Hit],
    scored: Sequence[ScoredSentence],
    draft: Extract,
    idf: Idf,
    stats: TermStats | None,
    policy: RefusalPolicy,
    catalog: Mapping[str, DocumentMeta],
    expand: Expand = list,
) -> Evidence:
    """Decide from the evidence whether `draft` answers `question`; the reasons say why not.

    `expand` (the index's acronym expansion) lets "OIG" be named by "Office of the Inspector General".
    """
    top = hits[: policy.top_passages]
    best_coverage = max(
        (coverage(question.terms, set(terms(passage_text(h.chunk, catalog))), idf) for h in top), default=0.0
    )
    semantic = max((s.semantic for s in scored), default=0.0)
    sentence_coverage = max((s.lexical for s in scored[:1]), default=0.0)
    top_score = hits[0].score if hits else 0.0
    unknown = _unknown_names(question.text, stats) if stats else ()
    cited = " ".join(passage_text(c, catalog) for c in draft.chunks)
    named = [a for a in question.anchors if mentions(cited, a, expand)]
    anchored = len(named) / len(question.anchors) if question.anchors else 1.0
    evidence = Evidence(top_score, semantic, best_coverage, sentence_coverage, anchored, unknown, 0.0, ())
    probability = policy.probability(evidence.features)
    shape = tuple(_shape_problems(question, hits, draft, catalog, expand)) if draft.text else ()
    reasons: list[str] = []
    if not hits or not draft.text:
        reasons.append("nothing retrieved")
    elif probability < policy.threshold:
        reasons.append(f"the passages do not answer it (confidence {probability:.0%})")
        if unknown:
            reasons.append("never mentioned in the documents: " + ", ".join(unknown))
    elif policy.check_answer_shape:
        reasons += shape
    return replace(evidence, probability=probability, reasons=tuple(reasons), shape=shape)


def _unknown_names(question: str, stats: TermStats) -> tuple[str, ...]:
    """Names and numbers in the question that no chunk contains ("Yemen", "2025")."""
    out = []
    for m in NAME_RE.finditer(question):
        word = m.group(0)
        stems = terms(word)
        if word.lower() not in QUESTION_WORDS and stems and all(stats.document_frequency(t) == 0 for t in stems):
            out.append(word)
    for word in words(question):
        if re.fullmatch(r"\d[\d-]*", word) and stats.document_frequency(stem(word)) == 0:
            out.append(word)
    return tuple(dict.fromkeys(out))


def _shape_problems(
    question: Question, hits: Sequence[Hit], draft: Extract, catalog: Mapping[str, DocumentMeta], expand: Expand
) -> list[str]:
    """What the question asks for that the draft answer does not contain.

    A figure must come from a passage that names the question's years and names (the
    MOPAN budget does not answer "the MCOF's budget"); a name must be in the best sentence;
    a list is missing when the answer speaks of the things asked for ("updates the sectors")
    without listing them; an answer that does not name them ("with governments, followed
    by donors" for "which partners…?") is judged by the other checks.
    """
    problems = []
    answer = draft.text
    if draft.list_items:
        supporting = [answer]
        best = answer
    else:
        supporting = [
            s.text
            for s in draft.sentences
            if all(mentions(passage_text(hits[s.hit].chunk, catalog), a, expand) for a in question.anchors)
        ]
        best = draft.sentences[0].text if draft.sentences else answer
    if question.expects == "number" and not any(question.states_figure(t) for t in supporting):
        problems.append("no figure in the passages")
    if question.expects == "name" and not (_new_names(best, question.text) and _on_topic(best, question, expand)):
        problems.append("no name in the passages")
    if (
        question.expects == "list"
        and draft.list_items < 2
        and set(question.list_nouns) & set(terms(answer))
        and not _has_inline_list(draft, question.list_nouns)
    ):
        problems.append("no list in the passages")
    after = _AFTER_YEAR_RE.search(question.text)
    if after:
        year = int(after.group(1)[:2] + after.group(2)) if after.group(2) else int(after.group(1))
        if not any(int(y) > year for y in YEAR_RE.findall(answer)):
            problems.append(f"nothing dated after {year}")
    cited = " ".join(passage_text(c, catalog) for c in draft.chunks)
    missing = [a for a in question.anchors if not mentions(cited, a, expand)]
    if missing:
        problems.append("the answer's passages do not mention " + ", ".join(missing))
    return problems


def _has_inline_list(draft: Extract, nouns: Sequence[str]) -> bool:
    """One of the answer's sentences (or cited passages, for HTML lists) enumerates one of `nouns`."""
    if any(("<li" in c.text or "<ul" in c.text) and enumerates(c.text, nouns) for c in draft.chunks):
        return True
    return any(enumerates(draft.text[s:e], nouns) for s, e in sentence_spans(draft.text))


def _on_topic(sentence: str, question: Question, expand: Expand) -> bool:
    """True when `sentence` has at least half of the question's terms besides its names and years:
    a name in "IOM staff at the COs and ROs…" or "the OIG Evaluation Plan includes…" does not answer
    "Who led the OIG team that wrote the evaluation?".

    >>> q = Question.read("Who led the OIG team that wrote the evaluation?")
    >>> _on_topic("The OIG Evaluation Plan has four evaluations.", q, list)
    False
    >>> _on_topic("The OIG team that wrote the evaluation was led by J. Doe.", q, list)
    True
    """
    named = {t for a in question.anchors for t in terms(a)}
    topic = set(question.terms) - named
    return 2 * len(topic & set(expand(terms(sentence)))) >= len(topic)


def _new_names(answer: str, question: str) -> list[str]:
    """Names in the answer that the question does not contain (an e-mail address counts for "contact")."""
    asked = {w.lower() for w in words(question)}
    names = [m.group(0) for m in NAME_RE.finditer(MARKER_RE.sub(" ", answer)) if m.group(0).lower() not in asked]
    if _CONTACT_Q_RE.search(question):
        names += _EMAIL_RE.findall(answer)
    return names


# -- follow-up questions ---------------------------------------------------------------


def is_followup(question: str) -> bool:
    """True when the question leans on the conversation ("and the second one?", "what about it?").

    >>> is_followup("And the second one?"), is_followup("What are the three phases of a crisis?")
    (True, False)
    """
    content = [t for t in question_terms(question)]
    if _FOLLOWUP_START_RE.match(question):
        return True
    return (bool(_PRONOUN_RE.search(question)) and len(content) <= 3) or len(content) <= 1


def needs_context(question: str) -> bool:
    """True when the question only points at something said before ("and the second one?", "what is it?").

    >>> needs_context("And the second one?"), needs_context("What about shelter in camps?")
    (True, False)
    """
    return bool(_PRONOUN_RE.search(question)) and len(question_terms(question)) <= 2


def ask_back(question: str) -> str:
    """What the assistant asks when a follow-up comes without a conversation to follow."""
    return (
        f"What do you mean by \u201c{question.strip()}\u201d? It refers to something said before, and this "
        "conversation has nothing before it. Ask it in full, naming what it is about "
        "(for example a phase, a sector of assistance or a document)."
    )


def rewrite_followup(question: str, history: Sequence[Turn]) -> str:
    """Deterministic stand-alone rewrite: carry the previous question's subject (and list item).

    >>> turns = [Turn("What are the phases of a migration crisis?", "- Phase 1: Before [1]\\n- Phase 2: During [2]")]
    >>> rewrite_followup("And the second one?", turns)
    'And the second one (about: phases migration crisis; Phase 2: During)?'
    """
    if not history or not is_followup(question):
        return question
    previous = rewrite_followup(history[-1].question, history[:-1])
    context = [_subject(previous)]
    item = _ordinal_item(question, history[-1].answer)
    if item:
        context.append(item)
    context = [c for c in context if c]
    if not context:
        return question
    return f"{question.strip().rstrip('?. ')} (about: {'; '.join(context)})?"


def _subject(question: str) -> str:
    """The content words of a (stand-alone) question, in order: "phases migration crisis".

    A rewritten follow-up with no subject of its own ("And the second one (about: X)?") gives X.
    """
    main, _, about = question.partition("(about:")
    seen: list[str] = []
    for word in words(main):
        if word in STOPWORDS or word in QUESTION_WORDS or word in _ORDINAL_WORDS or word in ("one", "ones", "iom"):
            continue
        if terms(word) and all(t in QUESTION_FRAME for t in terms(word)):
            continue
        if word not in seen:
            seen.append(word)
    return " ".join(seen) or about.rstrip(")?. ").strip()


def _ordinal_item(question: str, answer: str) -> str:
    """The n-th list item of the previous answer when the question says "the n-th one"."""
    low = words(question)
    position = next((i for i, w in enumerate(_ORDINAL_WORDS) if w in low), None)
    if "last" in low:
        position = -1
    if position is None:
        return ""
    items = [line[2:] for line in answer.splitlines() if line.startswith("- ")]
    if not items:
        items = [answer[s:e] for s, e in sentence_spans(answer)]
    if not items or position >= len(items):
        return ""
    item = display_text(MARKER_RE.sub("", items[position])).split(" — ")[0]
    return " ".join(item.split()[:_ITEM_WORDS]).rstrip(" .:;,")


def _faithful_rewrite(rewritten: str, question: str, history: Sequence[Turn]) -> bool:
    """A condensed question may only reword the conversation: no new names, at most two new terms.

    >>> turns = [Turn("What are the cross-cutting issues?", "Gender equality [1]")]
    >>> _faithful_rewrite("Which objective do the cross-cutting issues support?", "And which objective?", turns)
    True
    >>> _faithful_rewrite("Which objective does the Multi-Currency Exchange support?", "Which objective?", turns)
    False
    """
    if not rewritten or len(rewritten) > 3 * len(question) + 200:
        return False
    conversation = question + " " + format_history(history)
    said = set(terms(conversation))
    new = set(terms(rewritten)) - said
    said_words = set(words(conversation))
    new_names = [m.group(0) for m in NAME_RE.finditer(rewritten) if m.group(0).lower() not in said_words]
    return len(new) <= _REWRITE_NEW_TERMS and not new_names


def format_history(history: Sequence[Turn], turns: int = 3, answer_chars: int = 400) -> str:
    """The last turns as "User: …\\nAssistant: …" lines for the condense prompt."""
    lines = []
    for turn in history[-turns:]:
        answer = re.sub(r"\s+", " ", turn.answer)[:answer_chars]
        lines += [f"User: {turn.question}", f"Assistant: {answer}"]
    return "\n".join(lines)


def format_passages(hits: Sequence[Hit], catalog: Mapping[str, DocumentMeta], max_chars: int = 1200) -> str:
    """Passages numbered [1]..[k], each delimited as untrusted data, for the answer prompt.

    A passage longer than `max_chars` is cut to a window around its best sentence.
    """
    blocks = []
    for n, hit in enumerate(hits, 1):
        meta = catalog.get(hit.doc)
        source = meta.label if meta else hit.chunk.title
        text = _window(hit, max_chars).replace("<passage", "‹passage").replace("</passage", "‹/passage")
        section = f" | section: {hit.chunk.section}" if hit.chunk.section else ""
        blocks.append(f"[{n}] {source}{section}\n<passage>\n{text}\n</passage>")
    return "\n\n".join(blocks)


def _window(hit: Hit, max_chars: int) -> str:
    text = hit.chunk.text
    if len(text) <= max_chars:
        return text
    start = 0
    if hit.best_sentence:
        centre = (hit.best_sentence[0] + hit.best_sentence[1]) // 2 - hit.chunk.start
        start = min(max(0, centre - max_chars // 2), len(text) - max_chars)
    return text[start : start + max_chars]


# -- the pipeline ----------------------------------------------------------------------


class CachingEmbedder:
    """An `Embedder` that remembers the vectors of texts it has embedded (most recent `size` texts).

    The same passages come back for related questions and follow-ups; their sentences
    are embedded once.
    """

    def __init__(self, embedder: Embedder, size: int = 20_000, stored: StoredVectors | None = None) -> None:
        self._embedder = embedder
        self._size = size
        self._stored = stored
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._embedder.name

    @property
    def dimension(self) -> int:
        return self._embedder.dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._cached(texts, self._passages, "")

    def _passages(self, texts: Sequence[str]) -> np.ndarray:
        """Passage vectors: those the index stored at ingest, the rest from the model."""
        found = self._stored.stored_vectors(texts) if self._stored is not None else {}
        missing = [t for t in texts if t not in found]
        if missing:
            found = {**found, **dict(zip(missing, self._embedder.embed(missing), strict=True))}
        return np.asarray([found[t] for t in texts], dtype=np.float32).reshape(len(texts), -1)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._cached(texts, self._embedder.embed_queries, "\x00query\x00")

    def _cached(self, texts: Sequence[str], encode: Callable[[Sequence[str]], np.ndarray], side: str) -> np.ndarray:
        """Vectors of `texts`, embedded by `encode` when not cached; `side` keeps query and passage vectors apart."""
        keyed = [side + t for t in texts]
        with self._lock:
            missing = list(dict.fromkeys(k for k in keyed if k not in self._vectors))
        if missing:
            fresh = encode([k[len(side) :] for k in missing])
            with self._lock:
                for text, vector in zip(missing, fresh, strict=True):
                    self._vectors[text] = vector
                while len(self._vectors) > self._size:
                    self._vectors.popitem(last=False)
        with self._lock:
            rows = []
            for text, key in zip(texts, keyed, strict=True):
                vector = self._vectors.get(key)
                if vector is None:  # evicted meanwhile by another thread's batch
                    vector = encode([text])[0]
                else:
                    self._vectors.move_to_end(key)
                rows.append(vector)
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), -1)


class Answerer:
    """Answers questions over a searcher, citing passages; an optional LangChain chat model writes prose.

    `stats` (corpus term frequencies) and `chunks` (a document's chunks in order) are
    taken from the searcher when it provides them. The LLM writer reads `llm_passages` passages of
    about `llm_passage_chars` characters around their best sentence: reading them is most of its wait
    for the first token (about 15 ms a token on a 2-core CPU), and 450 characters answered dev2, fresh
    and fresh3 as well as 700 did, about 3 s sooner.
    """

    def __init__(
        self,
        searcher: Searcher,
        embedder: Embedder,
        catalog: Mapping[str, DocumentMeta],
        chat_model: BaseChatModel | None = None,
        *,
        k: int = 8,
        policy: RefusalPolicy = RefusalPolicy(),
        stats: TermStats | None = None,
        chunks: ChunkSource | None = None,
        llm_passages: int = 3,
        llm_passage_chars: int = 450,
        llm_writes: bool = False,
        limits: Limits | None = None,
        weights: Weights | None = None,
    ) -> None:
        self.searcher = searcher
        self.embedder = CachingEmbedder(embedder, stored=searcher if isinstance(searcher, StoredVectors) else None)
        self.catalog = catalog
        self.chat_model = chat_model
        self.k = k
        self.policy = policy
        self.stats = stats if stats is not None else searcher if isinstance(searcher, TermStats) else None
        self.chunks = chunks if chunks is not None else searcher if isinstance(searcher, ChunkSource) else None
        self.expand: Expand = searcher.expand_terms if isinstance(searcher, TermExpander) else list
        self.spell_out: Callable[[str], str] = (
            searcher.spell_out_labels if isinstance(searcher, LabelSpeller) else _as_written
        )
        self.llm_passages = llm_passages
        self.llm_passage_chars = llm_passage_chars
        self.llm_writes = llm_writes
        self.limits = limits or Limits()
        self.weights = weights or Weights()

    def idf(self, term: str) -> float:
        """log((N + 1) / (df + 0.5)); 1.0 for every term when no corpus statistics are known."""
        if self.stats is None:
            return 1.0
        return math.log((self.stats.chunk_count + 1) / (self.stats.document_frequency(term) + 0.5))

    def answer(self, question: str, history: Sequence[Turn] = ()) -> Answer:
        final = None
        for piece in self.stream(question, history):
            if isinstance(piece, Answer):
                final = piece
        assert final is not None
        return final

    def stream(self, question: str, history: Sequence[Turn] = ()) -> Iterator[str | Answer]:
        """Text pieces as they are generated, then the validated `Answer` (which may differ).

        Without an LLM the evidence alone decides. With one, a question the evidence does not
        rule out is put to the model as a judge (`judge`: does the extractive answer state the
        answer?); its probability joins the evidence in one decision (`RefusalPolicy.with_judgement`).
        When `llm_writes`, the model then writes the answer, and every sentence it writes is
        verified against the passage it cites; when nothing survives, the extractive answer is shown.
        """
        if not question.strip():
            raise EmptyInputError("question")
        if not history and needs_context(question):
            yield Answer(question, ask_back(question), refused=True, notice="a follow-up without a conversation",
                         standalone_question=question)
            return
        notices: list[str] = []
        standalone = self.condense(question, history, notices)
        hits, draft, evidence = self.investigate(standalone)
        log.info("evidence for %r: %s", standalone, evidence)
        extractive = Answer(question, draft.text, draft.citations, standalone_question=standalone)
        asked = self.chat_model is not None and evidence.probability >= self.policy.llm_floor and bool(draft.text)
        writes = asked and self.llm_writes
        if asked and not notices and self.policy.llm_weights is not None:
            evidence = self.policy.with_judgement(evidence, self.judge(standalone, draft, notices))
        # a yes/no question the model was asked about gets a one-word lead when its P(yes) is far from even; one
        # the judge refused gets it only when it is "No": the passages contradict the question, not miss its answer
        yes_no = asked and is_yes_no(standalone) and (evidence.refused or not writes)
        lead = polar_lead(self.polarity(standalone, draft, notices) if yes_no else None)
        if evidence.refused and lead == "No":
            answer = with_lead(extractive, lead)
        elif evidence.refused:
            answer = self._refusal(question, standalone, hits, evidence)
        elif not writes:
            answer = with_lead(extractive, lead)
        else:
            written, absent = yield from self._generate(question, standalone, hits[: self.llm_passages], draft, notices)
            if written is not None:
                answer = written
            elif absent is None:  # the backend failed: its notice says so
                answer = replace(extractive, fallback=True)
            else:
                why = "found no answer in" if absent else "wrote an answer that could not be verified against"
                answer = _with_notice(
                    replace(extractive, fallback=True),
                    f"The language model {why} the passages; showing the extractive answer.",
                )
            notices = [n for n in notices if n not in answer.notice]
        if notices:
            answer = _with_notice(answer, " ".join(notices))
        if not writes or evidence.refused or answer.fallback:
            yield answer.text
        yield answer

    def judge(self, standalone: str, draft: Extract, notices: list[str] | None = None) -> float | None:
        """The LLM's probability that the extractive answer states the answer to the question
        (None: no model, or it failed; its notice is added to `notices`).

        One token is generated: P(YES) / (P(YES) + P(NO)) from the server's log-probabilities,
        or 1.0 / 0.0 from the word itself when the backend returns none.
        """
        return self._yes("judge", standalone, draft, notices)

    def polarity(self, standalone: str, draft: Extract, notices: list[str] | None = None) -> float | None:
        """For a yes/no question, the LLM's probability that the passages the extractive answer quotes
        say yes (`prompts/polar.md`; None: no model, or it failed)."""
        return self._yes("polar", standalone, draft, notices)

    def _yes(self, prompt: str, standalone: str, draft: Extract, notices: list[str] | None) -> float | None:
        """P(YES) of a one-token reply to `prompt` over the sentences the extractive answer quotes."""
        if self.chat_model is None:
            return None
        passages = judged_passages(draft, self.catalog)
        messages = render_prompt(prompt, passages=passages, question=standalone)
        try:
            reply = self.chat_model.bind(max_tokens=1, logprobs=True, top_logprobs=10).invoke(messages)
        except Exception as exc:  # endpoint down, timeout, a backend without log-probabilities
            log.warning("LLM %s failed: %r", prompt, exc)
            if notices is not None and _failure_notice(exc) not in notices:
                notices.append(_failure_notice(exc))
            return None
        return yes_probability(reply.text, reply.response_metadata.get("logprobs"))

    def investigate(self, standalone: str) -> tuple[list[Hit], Extract, Evidence]:
        """Retrieve, score, build the extractive answer and weigh the evidence for one stand-alone question.

        A label the question uses alone is read with its name: "What is Sector 12?" carries too little
        meaning to match the passage that defines it.
        """
        read_as = self.spell_out(standalone)
        question = Question.read(read_as)
        hits = self.searcher.search(read_as, k=self.k)
        scored = (
            score_sentences(question, hits, self.embedder, self.idf, self.catalog, self.weights, self.expand)
            if hits
            else []
        )
        neighbours = self.chunks.chunks_of if self.chunks is not None else None
        draft = extract(question, hits, scored, self.catalog, neighbours, self.limits)
        evidence = assess(
            question, hits, scored, draft, self.idf, self.stats, self.policy, self.catalog, self.expand
        )
        return hits, draft, evidence

    def condense(self, question: str, history: Sequence[Turn], notices: list[str] | None = None) -> str:
        """The follow-up rewritten into a stand-alone question (by the LLM when configured)."""
        question = question.strip()
        if not history or self.chat_model is None:
            return rewrite_followup(question, history)
        try:
            messages = render_prompt("condense", history=format_history(history), question=question)
            reply = self.chat_model.invoke(messages).text.strip().strip('"').splitlines()
        except Exception as exc:  # any backend failure: the rule still works
            log.warning("condense with the LLM failed: %r", exc)
            if notices is not None:
                notices.append(_failure_notice(exc))
            return rewrite_followup(question, history)
        rewritten = reply[0].strip() if reply else ""
        if not _faithful_rewrite(rewritten, question, history):
            log.info("LLM rewrite %r rejected; rule-based rewrite used", rewritten)
            return rewrite_followup(question, history)
        return rewritten

    def _generate(
        self, question: str, standalone: str, passages: Sequence[Hit], draft: Extract, notices: list[str]
    ) -> Generator[str, None, tuple[Answer | None, bool | None]]:
        """Stream the LLM answer and verify it: (the verified answer or None, whether the model said
        the passages hold no answer — None when it could not be asked)."""
        assert self.chat_model is not None
        if notices:  # the backend already failed on the condense step: do not wait for it twice
            return None, None
        shown = format_passages(passages, self.catalog, self.llm_passage_chars)
        messages = render_prompt("answer", question=standalone, passages=shown)
        pieces: list[str] = []
        try:
            for chunk in self.chat_model.stream(messages):
                piece = chunk.text
                if piece:
                    pieces.append(piece)
                    yield piece
        except Exception as exc:  # endpoint down, timeout, malformed reply: never a traceback
            log.warning("LLM answer failed: %r", exc)
            notices.append(_failure_notice(exc))
            return None, None
        reply = "".join(pieces)
        if _NOT_IN_DOCUMENTS_RE.search(reply[:80]):
            return None, True
        texts = [h.chunk.text for h in passages]
        checked = check_citations(self._cite_uncited(reply, texts), len(passages), texts, verify=self._verified)
        if not checked.sentences:
            return None, False
        citations = []
        for new, old in enumerate(checked.sources, 1):
            chunk_ = passages[old - 1].chunk
            claim = " ".join(s.text for s in checked.sentences if new in s.sources)
            citations.append(make_citation(new, chunk_, self.catalog, supporting_span(chunk_.text, claim)))
        notice = f"{checked.dropped} unverified sentence(s) were removed." if checked.dropped else ""
        text = _joined(checked.sentences)
        return Answer(question, text, tuple(citations), notice=notice, standalone_question=standalone), False

    def _cite_uncited(self, reply: str, passages: Sequence[str]) -> str:
        """The reply with each sentence that cites nothing given the passage that supports it best.

        Small models often leave the markers out; the sentence is then verified against that
        passage like any other (`_verified`), so a marker is never taken on trust either way.
        """
        sentences = split_cited(reply)
        if all(s.sources for s in sentences):
            return reply
        cited = [s if s.sources else CitedSentence(s.text, (self._best_passage(s.text, passages),)) for s in sentences]
        return _joined(cited)

    def _best_passage(self, sentence: str, passages: Sequence[str]) -> int:
        """1-based number of the passage holding the sentence closest in meaning to `sentence`."""
        return max(range(len(passages)), key=lambda i: self._support(sentence, [passages[i]])) + 1

    def _support(self, sentence: str, cited: Sequence[str]) -> float:
        """Cosine of `sentence` to the closest sentence of the `cited` passages (0.0 when they hold none)."""
        spans = [t for t in (display_text(p[s:e]) for p in cited for s, e in sentence_spans(p)) if t]
        if not spans:
            return 0.0
        vectors = self.embedder.embed([sentence, *spans])
        return float(np.max(vectors[1:] @ vectors[0]))

    def _verified(self, sentence: str, cited: list[str]) -> bool:
        """A generated sentence stands when every figure, date and name in it is in the passages
        it cites and one of their sentences is close to it in meaning (`policy.min_llm_support`)."""
        missing = unstated_facts(sentence, cited)
        if missing:
            log.info("dropped %r: facts not in its passages %s", sentence, missing)
            return False
        support = self._support(sentence, cited)
        if support < self.policy.min_llm_support:
            log.info("dropped %r: support %.2f", sentence, support)
        return support >= self.policy.min_llm_support

    def _refusal(self, question: str, standalone: str, hits: Sequence[Hit], evidence: Evidence) -> Answer:
        asked = set(question_terms(standalone))
        closest = tuple(h for h in hits[:3] if asked & set(question_terms(h.chunk.text)))  # on topic only
        if not closest:
            lines = ["The documents do not cover this question, so I cannot answer it from them."]
            titles = sorted({meta.label for meta in self.catalog.values() if meta.official})
            if titles:
                lines.append(f"Nothing in them comes close. They cover: {'; '.join(titles[:6])}.")
        else:
            # on topic but no answer: the question may ask for what they never give, or assume what they do not
            # say ("Why did IOM leave the UN?"); what they do say is often the correction
            lines = ["The documents do not answer this question as asked, so I cannot answer it from them.",
                     "What they say closest to it, for you to judge:"]
            for hit in closest:
                meta = self.catalog.get(hit.doc)
                where = meta.label if meta else hit.doc
                if hit.chunk.section:
                    where += f", {hit.chunk.section}"
                lines.append(f"- {where}: \u201c{_snippet(hit)}\u201d")
        return Answer(
            question,
            "\n".join(lines),
            refused=True,
            notice="; ".join(evidence.reasons),
            standalone_question=standalone,
            closest=closest,
        )


def judged_passages(draft: Extract, catalog: Mapping[str, DocumentMeta]) -> str:
    """The judge's view of an extractive answer: its first `JUDGED_SENTENCES` sentences, numbered (the
    whole answer when it has no scored sentences). A "Label: value" line says nothing without its
    document, so it comes after the document's label: "Evaluation period: November 2012 – November
    2018" answers "What period did the 2019 evaluation cover?" only to a reader who knows where it
    stands. Other sentences stand alone: measured, labelling every sentence made the judge worse at
    telling answers from near misses (`bench.answerability --llm`, AUC 0.86 against 0.89).

    >>> from assistant.extractive import ScoredSentence
    >>> meta = DocumentMeta("page.txt", "MCOF web page", short_title="MCOF Web Page (2023)")
    >>> line = ScoredSentence(0, 0, 25, "Last updated: 15 Mar 2023", 0.9, 1.0, 1.0, doc="page.txt")
    >>> prose = ScoredSentence(0, 30, 60, "IOM works in 100 countries.", 0.9, 1.0, 1.0, doc="page.txt")
    >>> print(judged_passages(Extract("…", (), (line, prose)), {"page.txt": meta}))
    [1] (MCOF Web Page (2023)) Last updated: 15 Mar 2023
    [2] IOM works in 100 countries.
    """
    if not draft.sentences:
        return f"[1] {MARKER_RE.sub('', draft.text).strip()}"
    lines = []
    for n, sentence in enumerate(draft.sentences[:JUDGED_SENTENCES], 1):
        text = MARKER_RE.sub("", sentence.text).strip()
        meta = catalog.get(sentence.doc) if is_field_line(text) else None
        lines.append(f"[{n}] ({meta.label}) {text}" if meta else f"[{n}] {text}")
    return "\n".join(lines)


# The yes/no lead: "Yes" from the model's P(yes) (`prompts/polar.md`) at or above the first, "No" at or below the
# second, no lead between. Chosen by `python -m bench.polar` on bench/gold/qa.yesno.jsonl (40 questions; a wrong
# lead costs three right ones): 9 leads right, 1 wrong; leave-one-out 9 right, 2 wrong; held out (qa.yesno2, 24
# questions) 7 right, 1 wrong. Qwen2.5-Coder-1.5B says yes to most answered questions, so an answered one rarely
# gets "No"; a refused one whose passages contradict it sometimes does.
POLAR_LEAD = (0.7, 0.1)


def polar_lead(p_yes: float | None, thresholds: tuple[float, float] = POLAR_LEAD) -> str:
    """ "Yes", "No" or "" (no lead: no probability, or one too close to even).

    >>> [polar_lead(p) for p in (0.97, 0.5, 0.03, None)]
    ['Yes', '', 'No', '']
    """
    if p_yes is None:
        return ""
    return "Yes" if p_yes >= thresholds[0] else "No" if p_yes <= thresholds[1] else ""


def with_lead(answer: Answer, lead: str) -> Answer:
    """The answer opening with a one-word sentence ("Yes [1].") cited to the passage its first sentence
    cites; unchanged without a lead or a citation.

    >>> with_lead(Answer("Is it?", "It is so [2]. More [1]."), "Yes").text
    'Yes [2]. It is so [2]. More [1].'
    """
    first = marker_numbers(answer.text)[:1]
    if not lead or not first:
        return answer
    return replace(answer, text=f"{with_markers(f'{lead}.', first)} {answer.text}")


def yes_probability(reply: str, logprobs: Mapping[str, Any] | None) -> float:
    """P(YES) / (P(YES) + P(NO)) over the first token's alternatives, or the reply's word when there are none.

    >>> yes_probability("NO", {"content": [{"top_logprobs": [{"token": "NO", "logprob": -0.3},
    ...     {"token": "YES", "logprob": -1.4}, {"token": "The", "logprob": -5.0}]}]})
    0.2497
    >>> yes_probability("Yes.", None), yes_probability("maybe", None)
    (1.0, 0.5)
    """
    content = (logprobs or {}).get("content") or []
    alternatives = content[0].get("top_logprobs") or [] if content else []
    mass = {"Y": 0.0, "N": 0.0}
    for alternative in alternatives:
        word = str(alternative.get("token", "")).strip().upper()
        if word in ("Y", "YE", "YES", "N", "NO"):
            mass[word[0]] += math.exp(float(alternative.get("logprob", -50.0)))
    if mass["Y"] + mass["N"] > 0:
        return round(mass["Y"] / (mass["Y"] + mass["N"]), 4)
    word = reply.strip().upper()
    return 1.0 if word.startswith("Y") else 0.0 if word.startswith("N") else 0.5


def _joined(sentences: Sequence[CitedSentence]) -> str:
    """Sentences with their markers, one per line when they are the items of a list."""
    is_list = sum(s.text.lstrip().startswith(("- ", "* ")) for s in sentences) >= 2
    return render_sentences(sentences, separator="\n" if is_list else " ")


def _snippet(hit: Hit, limit: int = 200) -> str:
    text = hit.chunk.text
    if hit.best_sentence:
        s, e = hit.best_sentence
        text = text[max(0, s - hit.chunk.start) : max(0, e - hit.chunk.start)] or text
    text = display_text(text)
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def _failure_notice(exc: Exception) -> str:
    kind = "did not answer in time" if "timeout" in type(exc).__name__.lower() or "timed out" in str(exc) else "failed"
    return f"The language model {kind} ({type(exc).__name__}); showing the extractive answer."


def _with_notice(answer: Answer, notice: str) -> Answer:
    joined = f"{answer.notice} {notice}".strip() if answer.notice else notice
    return replace(answer, notice=joined)


def answer_to_contract(answer: Answer, item_id: str) -> dict[str, Any]:
    """The `mcof ask --json` output line for one answer (see ../shared/eval/README.md).

    >>> answer_to_contract(Answer("q", "No.", refused=True), "qa-1")["refused"]
    True
    """
    out: dict[str, Any] = {
        "id": item_id,
        "answer": answer.text,
        "refused": answer.refused,
        "citations": [_citation_json(c) for c in answer.citations],
        "fallback": answer.fallback,
        "notice": answer.notice,
    }
    if answer.standalone_question and answer.standalone_question != answer.question:
        out["standalone_question"] = answer.standalone_question
    if answer.closest:
        out["closest"] = [
            {"doc": h.doc, "section": h.chunk.section, "text": h.chunk.text, "score": round(h.score, 4)}
            for h in answer.closest
        ]
    return out


def _citation_json(c: Citation) -> dict[str, Any]:
    return {
        "n": c.n,
        "doc": c.doc,
        "section": c.section,
        "text": c.text,
        "title": c.title,
        "start": c.start,
        "end": c.end,
        "quote_start": c.quote_start,
        "quote_end": c.quote_end,
    }


def _as_written(text: str) -> str:
    return text
