"""Drafting: the proposal paragraph the 2019 evaluation asks for, every sentence cited.

The deterministic draft is composed from the framework model and the alignment: each
sentence quotes or names one framework span (a sector definition, a phase passage, an
objective, the cross-cutting and modality lists, the evaluation's recommendation) and
cites it. Templates vary with the project (a hash picks the wording), never at random.
With a chat model, the model writes the paragraph for the project from the composed one and
its sources, and every sentence it writes is verified against the description and the sources
it cites (`draft_llm`): what fails is dropped, and composed sentences come back for any sector,
phase or objective no longer named.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from .align import Aligner, clauses, span_chunk, strong_sectors
from .answering import Searcher
from .citations import make_citation, render_sentences, renumber, split_cited, with_markers
from .draft_llm import CheckedRewrite, Grounds, framework_elements, verify_rewrite, word_count
from .embeddings import model_key
from .errors import InputError, NotCoveredError
from .textutil import content_hash, sentence_spans, stem, terms, words
from .types import (
    Alignment,
    Citation,
    DocumentMeta,
    Draft,
    FrameworkModel,
    NamedItem,
    ObjectiveMatch,
    SectorMatch,
    Span,
)

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

log = logging.getLogger(__name__)

Length = Literal["short", "standard", "long"]
LENGTHS: tuple[Length, ...] = ("short", "standard", "long")


Relevance = Callable[[str, Sequence[str]], Sequence[float]]  # (project, texts) → similarity of each text
ClauseScores = Callable[[Sequence[str]], Sequence[float]]  # clauses → how much each deserves quoting


@dataclass(frozen=True)
class _Plan:
    """What a paragraph of one length contains and how long it may get."""

    max_words: int  # the paragraph's length limit (the chat model's rewrite included)
    sectors: int = 1  # at most this many sectors (strong ones only; the top one always)
    primary_words: int = 24  # quote budget for the top sector's definition
    other_words: int = 0  # ... for the other sectors' definitions
    phase_words: int = 40  # ... for the phase passage's opening sentence
    example_words: int = 0  # ... for a phase-passage sentence naming a chosen sector (0: none)
    objectives: int = 1
    objective_words: int = 24
    items: bool = False  # cross-cutting issues and operational modalities
    modality_options: bool = True  # with `items`: name the closest modalities as options when the project states none
    recommendation: bool = False
    support_words: int = 0  # quote budget for a retrieved passage naming a chosen sector (0: none)
    room_words: int = 0  # the composed draft a chat model rewrites stops this far below `max_words`: room for the
    # project's own specifics (a composed draft shown as it is uses all of `max_words`)


_PLANS: dict[Length, _Plan] = {
    "short": _Plan(max_words=110),
    "standard": _Plan(
        max_words=220, room_words=20, sectors=2, primary_words=60, other_words=22, phase_words=36, example_words=22,
        objectives=2, objective_words=30, items=True, modality_options=False, recommendation=True,
    ),
    "long": _Plan(
        max_words=380, sectors=3, primary_words=60, other_words=40, phase_words=60, example_words=40,
        objectives=2, objective_words=40, items=True, recommendation=True, support_words=30,
    ),
}
_SUPPORT_QUERY_CHARS = 1000
_GENERIC_STEMS = set(terms("intervention interventions programming based approach"))
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


@dataclass(frozen=True)
class _Claim:
    """One sentence of the draft and the framework span it cites."""

    text: str  # without marker, ending in "."
    source: Span
    quote: str = ""  # the passage words the sentence quotes, to highlight in the citation
    keep: int = 0  # 0: essential; higher numbers are dropped first when the draft is too long


class Drafter:
    """Write the proposal paragraph for a project description."""

    def __init__(
        self,
        framework: FrameworkModel,
        aligner: Aligner,
        searcher: Searcher,
        catalog: Mapping[str, DocumentMeta],
        chat_model: BaseChatModel | None = None,
        min_support: float | None = None,
    ) -> None:
        """`min_support`: the cosine a sentence the chat model writes must reach (`rewrite_support`;
        None: no cosine check)."""
        self.framework = framework
        self._aligner = aligner
        self._searcher = searcher
        self._catalog = catalog
        self._chat = chat_model
        self._min_support = min_support

    def draft(self, project: str, length: Length = "standard") -> Draft:
        """One paragraph, every sentence ending in a valid [n] citation."""
        alignment = self._alignment(project, length)
        plan = _PLANS[length]
        shown = self._composed(alignment, replace(plan, room_words=0))  # shown as it is, it may use every word
        if self._chat is None:
            return shown
        return self._rewrite(self._composed(alignment, plan) if plan.room_words else shown, length, shown)

    def composed_for_rewrite(self, project: str, length: Length = "standard") -> Draft:
        """The composed draft a chat model is given to rewrite: `room_words` short of the length's limit."""
        return self._composed(self._alignment(project, length), _PLANS[length])

    def _alignment(self, project: str, length: Length) -> Alignment:
        if length not in _PLANS:
            raise InputError(f"length must be one of {', '.join(LENGTHS)}, not {length!r}")
        alignment = self._aligner.align(project, explain=False)  # the rationale would cost an LLM call
        if alignment.declined:
            raise NotCoveredError(alignment.declined)
        return alignment

    def _composed(self, alignment: Alignment, plan: _Plan) -> Draft:
        support = self._support(alignment, plan) if plan.support_words else None
        claims = compose(self.framework, alignment, self._catalog, plan, self._aligner.relevance, support)
        paragraph, citations = number_claims(claims, self._catalog)
        return Draft(project=alignment.description, paragraph=paragraph, citations=citations, alignment=alignment)

    def _support(self, alignment: Alignment, plan: _Plan) -> Span | None:
        """A retrieved passage, outside the sector and phase texts the draft already quotes, that
        names one of the chosen sectors: the framework's own word on that kind of work."""
        sectors = list(strong_sectors(alignment.sectors))[: plan.sectors]
        quoted = [m.sector.source for m in alignment.sectors] + [p.source for p in self.framework.phases]
        query = f"{sectors[0].sector.name}: {alignment.description[:_SUPPORT_QUERY_CHARS]}"
        for hit in self._searcher.search(query):
            chunk = hit.chunk
            if not any(q.overlaps(chunk) for q in quoted) and naming_sentence(chunk.text, sectors):
                return Span(chunk.doc, chunk.start, chunk.end, chunk.text, chunk.section)
        return None

    def _rewrite(self, draft: Draft, length: Length, composed: Draft) -> Draft:
        """The chat model's paragraph for the project written from `draft` (composed with room for the
        project's specifics), every sentence verified (`draft_llm`); `composed` (the full composed draft)
        with a notice when the model fails or none of its sentences stands."""
        from .prompts import render_prompt

        low, high = rewrite_words(draft.paragraph, length)
        sources = "\n".join(f"[{c.n}] {c.text}" for c in draft.citations)
        messages = render_prompt(
            "draft_rewrite", project=draft.project, draft=draft.paragraph, sources=sources, words=f"{low} to {high}"
        )
        try:
            assert self._chat is not None
            reply = self._chat.bind(max_tokens=_TOKENS_PER_WORD * high).invoke(messages)
        except Exception as exc:  # endpoint down, timeout, malformed reply: never a traceback
            log.warning("draft rewrite: LLM backend failed (%r)", exc)
            return _fallback(composed, f"The language model failed ({type(exc).__name__}); showing the composed draft.")
        framework = self.framework
        names = [s.name for s in framework.sectors] + [i.name for i in framework.cross_cutting]
        grounds = Grounds(
            draft.project, tuple(split_cited(draft.paragraph)), tuple(c.text for c in draft.citations),
            framework_elements(names, [m.name for m in framework.modalities]),
        )
        text = str(getattr(reply, "text", "") or "")
        support = self._aligner.relevance if self._min_support is not None else None
        checked = verify_rewrite(text, grounds, support, self._min_support or 0.0, high)
        problem, rewritten = _checked_rewrite(checked, draft, (low, high))
        if rewritten is None:
            notice = f"The language model's draft was not usable ({problem}); showing the composed draft."
            return _fallback(composed, notice, len(checked.dropped))
        return rewritten


# Per embedding model (`model_key`): the cosine a sentence the chat model writes must reach with a source
# it cites (`draft_llm.support_score`, the aligner's embedder). EmbeddingGemma: the lowest of the 101
# sentences of Qwen2.5-Coder-1.5B's dev drafts (6 items, 3 lengths) that passed every other check was
# 0.526; at 0.52 those sentences citing their best wrong source instead are dropped 67 % of the time, the
# description's own sentences cited to their closest source 92 %. Checked on dev2 (26 sentences, all kept,
# lowest 0.568; 58 % and 90 %) and fresh (59, all kept, lowest 0.528; 63 % and 91 %).
REWRITE_SUPPORT: dict[str, float] = {"embeddinggemma-300m": 0.52}
_MIN_REWRITE_WORDS: dict[Length, int] = {"short": 50, "standard": 120, "long": 200}
_TOKENS_PER_WORD = 2  # the reply's token budget per word allowed: markers and long words included


def rewrite_support(embedder: str) -> float | None:
    """The cosine threshold fitted for this embedding model; None (no cosine check) for another.

    >>> rewrite_support("/models/embeddinggemma-300m") is not None, rewrite_support("hashing")
    (True, None)
    """
    return REWRITE_SUPPORT.get(model_key(embedder))


def rewrite_words(composed: str, length: Length) -> tuple[int, int]:
    """The word range asked of the model and required of its paragraph: the bounds of a composed
    draft of that length, never above the composed draft's own length at the bottom."""
    return min(_MIN_REWRITE_WORDS[length], word_count(composed)), _PLANS[length].max_words


def _fallback(draft: Draft, notice: str, dropped: int = 0) -> Draft:
    return replace(draft, fallback=True, notice=notice, dropped=dropped)


def _checked_rewrite(checked: CheckedRewrite, draft: Draft, words: tuple[int, int]) -> tuple[str, Draft | None]:
    """("", the rewritten draft with its citations renumbered), or (problem, None) when none of the
    model's sentences stands or the paragraph falls outside `words`."""
    if not checked.written:
        if checked.gave_way:
            return f"it did not fit within {words[1]} words", None
        return "none of its sentences could be verified", None
    numbered = renumber(checked.sentences)
    paragraph = render_sentences(numbered.sentences)
    count = word_count(paragraph)
    if not words[0] <= count <= words[1]:
        return f"{count} words instead of {words[0]} to {words[1]}", None
    citations = tuple(replace(draft.citations[old - 1], n=new) for new, old in enumerate(numbered.sources, 1))
    notes = []
    if checked.dropped:
        notes.append(f"{len(checked.dropped)} sentence(s) that could not be verified against the description "
                     "and the sources were left out")
    if checked.restored:
        notes.append(f"{checked.restored} sentence(s) of the composed draft were kept for what they name")
    if checked.gave_way:
        notes.append(f"{checked.gave_way} sentence(s) gave way to the composed ones to stay within {words[1]} words")
    notice = f"The language model's draft was checked: {'; '.join(notes)}." if notes else ""
    return "", replace(draft, paragraph=paragraph, citations=citations, notice=notice,
                       dropped=len(checked.dropped), restored=checked.restored)


# --------------------------------------------------------------------------- composition (pure)


def compose(
    framework: FrameworkModel,
    alignment: Alignment,
    catalog: Mapping[str, DocumentMeta],
    plan: _Plan,
    relevance: Relevance | None = None,
    support: Span | None = None,
) -> list[_Claim]:
    """The draft's sentences in reading order, each with the span it cites, within `plan.max_words`
    less `plan.room_words`; optional sentences go, least important first, beyond that.

    `support` is a retrieved passage naming a chosen sector, quoted after the phase (long drafts).
    """
    project = alignment.description
    pick = _Picker(project)

    def activities(match: SectorMatch, budget: int) -> str:
        """A definition lists activities: quote the ones closest to the project."""
        scores = (lambda texts: relevance(project, texts)) if relevance else None
        return excerpt(first_sentence(match.sector.definition), budget, scores)

    sectors = list(strong_sectors(alignment.sectors))[: plan.sectors]
    claims = [_sector_claim(sectors[0], pick, activities(sectors[0], plan.primary_words))]
    claims += [_sector_claim(m, pick, activities(m, plan.other_words), keep=1) for m in sectors[1:]]
    claims += _phase_claims(framework, alignment, sectors, pick, plan)
    if support is not None:
        claims.append(_support_claim(support, sectors, catalog, pick, plan.support_words))
    claims += [
        _objective_claim(m, pick, excerpt(m.objective.text, plan.objective_words), second=i > 0)
        for i, m in enumerate(alignment.objectives[: plan.objectives])
    ]
    if plan.items and framework.cross_cutting_statement and alignment.cross_cutting:
        claims.append(_cross_cutting_claim(framework, framework.cross_cutting_statement, alignment, pick))
    if plan.items and framework.modality_statement and alignment.modalities:
        modality = _modality_claim(
            framework.modality_statement, alignment.modalities, project, pick, plan.modality_options
        )
        claims += [modality] if modality else []
    if plan.recommendation and framework.recommendation:
        claims.append(_recommendation_claim(framework.recommendation, catalog, pick))
    return _within(claims, plan.max_words - plan.room_words)


def _within(claims: list[_Claim], max_words: int) -> list[_Claim]:
    """Drop optional claims, least important (highest `keep`) and latest first, until the words fit.

    Words are counted as the grader does: a sentence's closing "." stands alone once its marker is removed.
    """
    kept = list(claims)
    for level in sorted({c.keep for c in claims if c.keep}, reverse=True):
        for claim in reversed([c for c in kept if c.keep == level]):
            if sum(len(c.text.split()) + 1 for c in kept) <= max_words:
                return kept
            kept.remove(claim)
    return kept


class _Picker:
    """Deterministic choice among template variants, different for each project and slot."""

    def __init__(self, project: str) -> None:
        self._seed = int(content_hash(project, length=8), 16)
        self._slot = 0

    def __call__(self, variants: Sequence[str]) -> str:
        self._slot += 1
        return variants[(self._seed // self._slot + self._slot) % len(variants)]


def _sector_claim(match: SectorMatch, pick: _Picker, quote: str, keep: int = 0) -> _Claim:
    """ "... Sector 4 Health Support, which aims “to provide ...”" (the definitions start "To ...")."""
    sector = match.sector
    aim = f"“{_lower_first(quote).rstrip('.')}”"
    if not aim.startswith("“to "):
        aim = f"to meet its definition, {aim}"
    if keep == 0:
        template = pick((
            "The project fits under IOM's Migration Crisis Operational Framework (MCOF) through {label}, "
            "which aims {aim}",
            "Within the Migration Crisis Operational Framework (MCOF), the project belongs to {label}, "
            "whose purpose is {aim}",
            "The project falls under {label} of the Migration Crisis Operational Framework (MCOF), "
            "which seeks {aim}",
        ))
    else:
        template = pick((
            "It also draws on {label}, which aims {aim}",
            "The project equally contributes to {label}, intended {aim}",
            "{label} is relevant as well, as it seeks {aim}",
        ))
    text = template.format(label=f"Sector {sector.number} {sector.name}", aim=aim)
    return _Claim(_sentence(text), sector.source, quote, keep)


def _phase_claims(
    framework: FrameworkModel, alignment: Alignment, sectors: Sequence[SectorMatch], pick: _Picker, plan: _Plan
) -> list[_Claim]:
    """The main phase with the opening of its passage; other likely phases; a passage sentence naming a sector."""
    ranked = {m.phase.phase: i for i, m in enumerate(alignment.phases)}
    chosen = sorted(
        (p for p in framework.phases if p.phase in alignment.likely_phases), key=lambda p: ranked.get(p.phase, 9)
    )
    if not chosen:
        return []
    main = chosen[0]
    opening = excerpt(first_sentence(main.description), plan.phase_words)
    text = pick((
        "Its activities take place {when}, the phase in which {what}",
        "The project works {when}, when {what}",
        "In terms of the crisis phases, it works {when}: {what}",
    )).format(when=_lower_first(main.title), what=f"“{_lower_first(opening).rstrip('.')}”")
    claims = [_Claim(_sentence(text), main.source, opening)]
    for other in chosen[1:]:
        text = pick(("The work continues {when} as well", "It also extends to the period {when}"))
        claims.append(_Claim(_sentence(text.format(when=_lower_first(other.title))), other.source, keep=1))
    example = naming_sentence(main.description, sectors, skip_first=True) if plan.example_words else ""
    if example:
        cited = naming_quote(example, sectors, plan.example_words)
        text = pick(("The framework notes for this phase that “{q}”", "As the framework's annex puts it, “{q}”"))
        claims.append(_Claim(_sentence(text.format(q=_lower_first(cited).rstrip("."))), main.source, cited, keep=2))
    return claims


def naming_sentence(text: str, sectors: Sequence[SectorMatch], skip_first: bool = False) -> str:
    """The first sentence of `text` that names one of the sectors; "" when none does.

    >>> from assistant.types import Sector, Span
    >>> shelter = SectorMatch(Sector(2, "Shelter and Non-food Items", "", Span("d", 0, 0, "")), 1.0)
    >>> naming_sentence("Needs rise. People flee, and shelter and non-food items help.", [shelter])
    'People flee, and shelter and non-food items help.'
    """
    names = [_stems(m.sector.name) for m in sectors]
    for start, end in sentence_spans(text)[1 if skip_first else 0 :]:
        if any(name.strip() and name in _stems(text[start:end]) for name in names):
            return text[start:end]
    return ""


def naming_quote(sentence: str, sectors: Sequence[SectorMatch], max_words: int) -> str:
    """A quote of `sentence` that keeps the clause naming a sector: its opening clause and the
    naming one when both fit, else the sentence from the naming clause on.

    >>> from assistant.types import Sector, Span
    >>> shelter = SectorMatch(Sector(2, "Shelter and Non-food Items", "", Span("d", 0, 0, "")), 1.0)
    >>> text = "When they flee their homes, most families need urgent help, and shelter and non-food items help."
    >>> naming_quote(text, [shelter], 11)
    'When they flee their homes, … and shelter and non-food items help.'
    >>> naming_quote(text, [shelter], 7)
    'and shelter and non-food items help.'
    """
    names = [_stems(m.sector.name) for m in sectors]

    def names_one(text: str) -> bool:
        return any(name.strip() and name in _stems(text) for name in names)

    pieces = clauses(sentence)
    naming = next((p for p in pieces if names_one(p)), pieces[0])
    quote = excerpt(sentence, max_words, lambda texts: [1.0 if names_one(t) else -1.0 for t in texts])
    if naming.rstrip(" ,;") in quote:
        return quote
    return excerpt(sentence[sentence.index(naming) :], max_words)


def _support_claim(
    span: Span, sectors: Sequence[SectorMatch], catalog: Mapping[str, DocumentMeta], pick: _Picker, budget: int
) -> _Claim:
    quote = naming_quote(naming_sentence(span.text, sectors), sectors, budget)
    meta = catalog.get(span.doc)
    text = pick(("Elsewhere, the {source} observes that “{q}”", "The {source} adds that “{q}”")).format(
        source=meta.label if meta else span.doc, q=_lower_first(quote).rstrip(".")
    )
    return _Claim(_sentence(text), span, quote, keep=2)


def _objective_claim(match: ObjectiveMatch, pick: _Picker, quote: str, second: bool) -> _Claim:
    letter, aim = match.objective.letter, _lower_first(quote).rstrip(".")
    if second:
        text = pick(("It also supports objective ({l}), to {aim}", "Objective ({l}) is served as well: to {aim}"))
    else:
        text = pick((
            "The project serves objective ({l}) of the framework, to {aim}",
            "It contributes to the framework's objective ({l}), which is to {aim}",
            "In doing so it advances objective ({l}) of the framework: to {aim}",
        ))
    return _Claim(_sentence(text.format(l=letter, aim=aim)), match.objective.source, quote, keep=2 if second else 0)


def _cross_cutting_claim(framework: FrameworkModel, statement: Span, alignment: Alignment, pick: _Picker) -> _Claim:
    everything = _join([_lower_first(i.name) for i in framework.cross_cutting])
    top = _lower_first(alignment.cross_cutting[0][0].name)
    count = _number_word(len(framework.cross_cutting))
    text = pick((
        "It will take into account the {count} cross-cutting issues ({all}), above all {top}",
        "Of the {count} cross-cutting issues every MCOF sector should address ({all}), {top} matters most here",
    )).format(count=count, all=everything, top=top)
    return _Claim(_sentence(text), statement, keep=3)


def _modality_claim(
    statement: Span, modalities: Sequence[tuple[NamedItem, float]], project: str, pick: _Picker, options: bool
) -> _Claim | None:
    """The modalities the project says it uses (at most two, closest first), as its own; otherwise
    (with `options`) the two closest, as options; None when it states none and no options are wanted.

    The draft never claims a way of working the description does not state: a shelter project
    that never mentions cash is not "delivered through cash-based interventions".
    """
    used = [item for item, _ in modalities if describes(project, item.name)][:2]
    if not used and not options:
        return None
    if used:
        text = pick((
            "Among the operational modalities IOM promotes across its sectors of assistance, it relies on {names}",
            "It will be delivered through {names}, {what}",
        ))
    else:
        text = pick((
            "Of the operational modalities IOM promotes across its sectors of assistance, {names} could be considered",
            "The proposal may also consider {names}, {what}",
        ))
    named = used or [item for item, _ in modalities[:2]]
    names = _join([_lower_first(item.name) for item in named])
    what = (  # as many words either way: a paragraph at its word limit keeps the sentence
        "operational modalities IOM promotes across its sectors" if len(named) > 1
        else "an operational modality IOM promotes across sectors"
    )
    # a way of working the project states is its own specific: it outlasts the generic cross-cutting list, the
    # phase passage's example and the second objective (it goes with a second sector); an option goes early
    return _Claim(_sentence(text.format(names=names, what=what)), statement, keep=1 if used else 4)


def describes(project: str, name: str) -> bool:
    """Whether the project description names this way of working: for every content word of the
    name but generic ones ("interventions", "programming"), a word with its stem and at least
    three quarters of its length ("local" shares a stem with "localization" but not its meaning).

    >>> describes("IOM proposes cash grants and vouchers for repairs.", "Cash-based interventions")
    True
    >>> [describes("Radio in local languages in a conflict area.", n) for n in ("Localization", "Conflict sensitivity")]
    [False, False]
    """
    words: dict[str, int] = {}
    for word in re.findall(r"[A-Za-z]+", project):
        for root in terms(word):
            words[root] = max(words.get(root, 0), len(word))
    wanted = [
        (root, len(word)) for word in re.findall(r"[A-Za-z]+", name) for root in terms(word)
        if root not in _GENERIC_STEMS
    ]
    return bool(wanted) and all(words.get(root, 0) >= 0.75 * length for root, length in wanted)


def _recommendation_claim(span: Span, catalog: Mapping[str, DocumentMeta], pick: _Picker) -> _Claim:
    """Why the paragraph exists: the evaluation's recommendation, quoted from "how ..." on."""
    m = re.search(r"\bhow\b.*", span.text)
    quote = excerpt((m.group(0) if m else span.text).rstrip(" ."), 20)
    meta = catalog.get(span.doc)
    year = re.search(r"\b(?:19|20)\d\d\b", meta.date if meta else "")
    source = " ".join(x for x in (year.group(0) if year else "", (meta.kind if meta else "") or "evaluation") if x)
    text = pick((
        "This paragraph follows the {source}'s recommendation that project proposals show “{q}”",
        "As the {source} recommends, the proposal thereby sets out “{q}”",
    )).format(source=source, q=quote)
    return _Claim(_sentence(text), span, quote, keep=5)


def number_claims(claims: Sequence[_Claim], catalog: Mapping[str, DocumentMeta]) -> tuple[str, tuple[Citation, ...]]:
    """The paragraph with [n] markers, one citation per distinct span, numbered by first use."""
    numbers: dict[tuple[str, int, int], int] = {}
    citations: list[Citation] = []
    sentences: list[str] = []
    for claim in claims:
        key = (claim.source.doc, claim.source.start, claim.source.end)
        if key not in numbers:
            numbers[key] = len(numbers) + 1
            citations.append(make_citation(numbers[key], span_chunk(claim.source), catalog, _quoted(claim)))
        sentence = with_markers(claim.text, [numbers[key]])
        if sentence not in sentences:
            sentences.append(sentence)
    return " ".join(sentences), tuple(citations)


def _quoted(claim: _Claim) -> tuple[int, int]:
    """Where the claim's quote (its longest unelided stretch) sits in the cited text; (0, 0) if nowhere."""
    piece = max((p.strip(" ,;:") for p in claim.quote.split("…")), key=len, default="")
    at = claim.source.text.find(piece) if piece else -1
    if at < 0 and piece:
        at = claim.source.text.find(piece[0].upper() + piece[1:])
    return (at, at + len(piece)) if at >= 0 else (0, 0)


# --------------------------------------------------------------------------- text helpers


def first_sentence(text: str) -> str:
    spans = sentence_spans(text)
    return text[spans[0][0] : spans[0][1]] if spans else text


def excerpt(text: str, max_words: int, scores: ClauseScores | None = None) -> str:
    """`text` within `max_words`: its first clause, then the best-scored clauses that fit (clauses
    scored below zero never), in their original order, "…" marking what was left out.
    Without scores, the text's head up to the first clause that does not fit.

    >>> excerpt("To help people, by giving them shelter, and food.", 7)
    'To help people, by giving them shelter…'
    """
    if len(text.split()) <= max_words:
        return text
    pieces = clauses(text)
    if len(pieces[0].split()) > max_words:
        return whole_phrases(pieces[0], max_words) + "…"
    kept, used = {0}, len(pieces[0].split())
    ranked = list(scores(pieces[1:])) if scores else [0.0] * (len(pieces) - 1)
    order = sorted(range(1, len(pieces)), key=lambda i: -ranked[i - 1]) if scores else range(1, len(pieces))
    for i in order:
        size = len(pieces[i].split())
        if used + size > max_words and not scores:
            break
        if used + size <= max_words and ranked[i - 1] >= 0:
            kept.add(i)
            used += size
    out = ""
    for i, clause in enumerate(pieces):
        if i in kept:
            out += (" " if out and (i - 1) in kept else " … " if out else "") + clause
    out = out.rstrip(" ,;:")
    return out if max(kept) == len(pieces) - 1 else out + "…"


_PHRASE_STARTS = frozenset(
    "about across after against along among and as at before between but by during for from in including "
    "into like of on or over such than that through to towards under until when where which while who whose "
    "with within without".split()
)


def whole_phrases(text: str, max_words: int) -> str:
    """The head of `text` within `max_words`, cut before a word that opens a phrase (a preposition,
    conjunction or relative) so the quote never stops inside one ("referrals of…"); without such a
    place in its second half, the head without its trailing function words.

    >>> whole_phrases("To facilitate referrals of vulnerable migrants to the services they need", 4)
    'To facilitate referrals'
    >>> whole_phrases("To ensure access to essential health services for the displaced populations", 8)
    'To ensure access to essential health services'
    """
    words_ = text.split()[: max_words + 1]
    for cut in range(min(max_words, len(words_) - 1), max(1, max_words // 2) - 1, -1):
        if words_[cut].lower().strip("(\"“") in _PHRASE_STARTS and words_[cut - 1].lower() not in _PHRASE_STARTS:
            return " ".join(words_[:cut]).rstrip(" ,;:")
    head = words_[:max_words]
    while len(head) > 1 and head[-1].lower().strip(",;:") in _PHRASE_STARTS | {"a", "an", "the"}:
        head.pop()
    return " ".join(head).rstrip(" ,;:")


def _lower_first(text: str) -> str:
    """Lowercase the first letter unless the first word is an acronym: "The X" → "the X", "IOM" stays."""
    first = text.split(" ", 1)[0]
    if not text or (len(first) > 1 and first[:2].isupper()):
        return text
    return text[0].lower() + text[1:]


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


def _number_word(n: int) -> str:
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else str(n)


def _stems(text: str) -> str:
    return " " + " ".join(stem(w) for w in re.findall(r"[a-z0-9]+", " ".join(words(text)))) + " "


# --------------------------------------------------------------------------- contracts


def draft_to_contract(draft: Draft, item_id: str) -> dict[str, Any]:
    """The `mcof draft --json` output line (see ../shared/eval/README.md)."""
    return {
        "id": item_id,
        "paragraph": draft.paragraph,
        "citations": [citation_to_dict(c) for c in draft.citations],
        "sectors": [m.sector.number for m in strong_sectors(draft.alignment.sectors)],
        "phases": list(draft.alignment.likely_phases),
        "fallback": draft.fallback,
        "notice": draft.notice,
    }


def alignment_to_contract(alignment: Alignment, item_id: str) -> dict[str, Any]:
    """The `mcof align --json` output line: all 15 sectors best first, the likely phases, and the rest."""
    return {
        "id": item_id,
        "sectors": [
            {
                "number": m.sector.number,
                "name": m.sector.name,
                "score": m.score,
                "matched": list(m.matched),
                "evidence": [
                    {"doc": h.doc, "section": h.chunk.section, "text": h.chunk.text, "start": h.chunk.start,
                     "end": h.chunk.end}
                    for h in m.evidence
                ],
            }
            for m in alignment.sectors
        ],
        "phases": list(alignment.likely_phases),
        "phase_scores": {m.phase.phase: m.score for m in alignment.phases},
        "objectives": [{"letter": m.objective.letter, "text": m.objective.text, "score": m.score}
                       for m in alignment.objectives],
        "cross_cutting": [{"name": item.name, "score": score} for item, score in alignment.cross_cutting],
        "modalities": [{"name": item.name, "score": score} for item, score in alignment.modalities],
        "rationale": alignment.rationale,
        "declined": alignment.declined,
    }


def citation_to_dict(c: Citation) -> dict[str, Any]:
    return {
        "n": c.n, "doc": c.doc, "section": c.section, "text": c.text, "title": c.title, "start": c.start,
        "end": c.end, "quote_start": c.quote_start, "quote_end": c.quote_end, "publisher": c.publisher,
        "date": c.date,
    }
