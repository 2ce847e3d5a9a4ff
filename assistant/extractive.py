"""Extractive answers: the few source sentences that best answer a question, each cited.

Sentences of the retrieved passages are scored by embedding cosine with the question
plus IDF-weighted term overlap; the best sentence of each of the top passages competes,
the best few are kept, list items stay together (an intro ending in ":" with its items,
"Sector 1".."Sector 15" across passages), and each sentence cites its passage with [n].
Deterministic: same hits, same answer.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field

import numpy as np

from .citations import END_PUNCT, MARKER_RE, CitedSentence, display_text, make_citation, render_sentences, with_markers
from .embeddings import Embedder
from .textutil import BULLETS, STOPWORDS, YEAR_RE, anchors, is_field_line, sentence_spans, stem, terms, words
from .types import Chunk, Citation, DocumentMeta, Hit

Idf = Callable[[str], float]
Expand = Callable[[Sequence[str]], list[str]]  # stemmed terms → the same plus the acronyms they spell out

# Words that frame a question rather than name its topic ("list the...", "what does it mention").
QUESTION_FRAME = frozenset(terms("list name describe explain mention give example happen mean exactly"))

_NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "twenty thirty forty fifty hundred thousand million billion half dozen"
).split()
_ORDINALS = {w: i + 1 for i, w in enumerate(_NUMBER_WORDS[:15])}
_ITEM_RE = re.compile(rf"^(?:{BULLETS}\s*)?(?:\(?[a-z0-9]{{1,3}}[.)]\s|{BULLETS}\s)", re.IGNORECASE)
_LEADING_BULLET_RE = re.compile(rf"^{BULLETS}\s*")  # an item's bullet, "-Shelter" included
_PROSE_BULLET_RE = re.compile(rf"^{BULLETS}\s+")  # in prose a bullet is followed by a space: "-5 per cent" stays
_LABEL_RE = re.compile(
    r"^(?:[-•*]\s*)?(?:\*\*)?([A-Z][a-z]+|[A-Z]{2,5})\s+(\d{1,2}|(?i:" + "|".join(_NUMBER_WORDS[:15]) + r"))\b"
)
_SERIES_WINDOW = 40  # passages either side searched for the rest of a numbered series
_HEADING_BREAK_RE = re.compile(r"(?<=[\w)])[ \t]*\n\s*(?=[A-Z])")  # "…crisis\nThe sectors…"
_LIST_SCAN = 30  # best sentences searched for a list that a list question asks for
_EMBED_CHARS = 600  # MiniLM reads about 256 word pieces; a longer sentence costs time, not meaning
_OBJECT_WORDS = frozenset("them him her it us me you their his its our my your".split())  # "gets them": a verb
_AUXILIARIES = frozenset("are were do does did have had can could should would will may might must".split())
_ADJECTIVE_ENDINGS = ("ed", "al", "ic", "ive", "ous", "ing", "ary", "ent", "ant", "ful", "less", "ible", "able")
_LIST_VERBS = frozenset({"list", "enumerate", "name"})
_LIST_LEAD = frozenset("are were the all of kinds kind types type sorts sort".split())
_NOT_PLURAL_ENDINGS = ("ss", "us", "is", "ics")
_NOT_PLURAL = frozenset("headquarters means series species news whereabouts".split())  # "which headquarters unit"
# "what makes migrants vulnerable?": a verb, not the plural noun a list question asks for
_WHAT_VERBS = frozenset(
    "makes causes happens matters helps hinders drives explains determines affects leads triggers prevents "
    "counts remains gives takes says shows does goes comes needs".split()
)
_DIGIT_RE = re.compile(r"\d")
_NUMBER_Q_RE = re.compile(
    r"\bhow (?:many|much|long|often|old)\b|\bwhat (?:percentage|proportion|share|number|amount|sum|year|date)\b"
    r"|\b(?:which|in what) year\b|\bbudget\b|\bcost\b",
    re.IGNORECASE,
)
_COUNT_Q_RE = re.compile(
    r"\bhow (?:many|much)\b|\bwhat (?:percentage|proportion|share|number|amount|sum)\b|\bbudget\b|\bcost\b",
    re.IGNORECASE,
)
# "how much money…", "what budget…": the figure is an amount or a share, not a count of things
_MONEY_Q_RE = re.compile(
    r"\bhow much\b[^?]*\b(?:money|spen[dt]|costs?|pay|paid|fund\w*|budget\w*|income|overhead)\b"
    r"|\bwhat (?:budget|cost|amount of (?:money|funding))\b",
    re.IGNORECASE,
)
_HOW_MANY_RE = re.compile(r"\bhow many (\w+)", re.IGNORECASE)  # "how many days…": the figure counts days
_GENERIC_UNITS = frozenset("people persons individuals times".split())  # "how many people…": "one Risk Officer"
_AMOUNT_RE = re.compile(
    r"(?:USD|US\$|\$|€|£|EUR|CHF)\s?\d"
    r"|\d(?:[\d,.]*\d)?\s?(?:%|per ?cent\b|million\b|billion\b|USD\b|CHF\b|dollars\b|euros?\b|francs\b)",
    re.IGNORECASE,
)
_LIST_CUE_RE = re.compile(r":|\binclud\w*\b|\bsuch as\b|\bnamely\b|\bfollowing\b", re.IGNORECASE)
_SEGMENT_WORDS = 8  # an inline list item ("Gender equality", "evacuations") is short
_NAME_Q_RE = re.compile(r"^\s*(?:and\s+)?who\b", re.IGNORECASE)
# a question asked for yes or no: it opens with an auxiliary verb, perhaps after a lead-in clause ("According
# to MOPAN, is ..."); a request put as one ("Can you list ...") is not, nor a choice ("... go up or down?")
_YES_NO_Q_RE = re.compile(
    r"^\s*(?:[^,?]{1,60},\s*)?(?:is|are|was|were|do|does|did|has|have|had|can|could|should|would|will|may|must)"
    r"\s+(?!you\b|u\b)\w", re.IGNORECASE,
)
_CHOICE_RE = re.compile(r"\bor\b(?!\s+not\b)", re.IGNORECASE)
_DEFINE_Q_RE = re.compile(
    r"^\s*what (?:is|are) (?:the |an? )?([^?]{2,80})\??\s*$"  # "What is the MCOF?"
    r"|\b(?:definition|meaning) of (?:the |an? )?['\"‘“]?([^?'\"’”]{2,60})"  # "definition of X"
    r"|\bhow (?:does|do|did) [^?]{2,60} define (?:the |an? )?['\"‘“]?([^?'\"’”]{2,60})",
    re.IGNORECASE,
)
_WHICH_ENTRY_RE = re.compile(r"\b(?i:which|what) (?:(?:[A-Z]{2,}|IOM's|of the) )?([a-z]+)\b")
_FOOTNOTE_RE = re.compile(r"^\s*[⁰¹²³⁴⁵⁶⁷⁸⁹]")
_DEFINING_VERBS = r"(?:is|are|refers to|means|describes|is defined as)\b"
_APPOSITION = r"\W{0,3}\s+an? (?:term|concept)\b"  # "… "migration crisis", a term that…": anywhere in the sentence
# what may stand before the defined word when a verb defines it, for the word to be the sentence's subject:
# a few words, no clause and no preposition ("The Migration Crisis Operational Framework (MCOF) is…", not
# "…documents about the MCOF are…" nor "Nevertheless, the MCOF is perceived…")
_SUBJECT_LEAD = (
    r"^\W*(?:(?!(?:about|as|at|by|for|from|in|into|of|on|over|than|to|under|with)\b)[\w'’‘\"“”-]+\s+\(?){0,6}"
)


@dataclass(frozen=True)
class Weights:
    """How a sentence is scored; the factors multiply the weighted sum."""

    cosine: float = 0.5
    coverage: float = 0.35
    passage: float = 0.15  # the retriever's score of the sentence's passage, relative to the top hit
    retriever_best: float = 0.05  # the sentence the retriever itself found best in its passage
    heading: float = 0.5  # a title line rather than a statement
    no_figure: float = 0.8  # "how many…?" and the sentence states no number
    no_list: float = 0.8  # "what are the…?" and the sentence neither lists nor belongs to a list
    unanchored: float = 0.6  # the passage never names a year or name the question names
    definition: float = 0.2  # "What is X?" and the sentence says "X … is/are/means …"
    named_document: float = 0.1  # the question names the sentence's document ("the evaluation")
    unnamed_document: float = 0.5  # the question names other documents, not this sentence's
    table: float = 0.7  # a table row ("WHO | World Health Organization | …") rather than a statement
    footnote: float = 0.5  # a footnote ("¹ Member States requested…"): an aside, not the text's answer
    headed_list: float = 0.2  # "Which systems…?" and the sentence sits under a heading "SYSTEMS"
    entry: float = 0.15  # "Which sector…?" and the sentence is the "Sector N …" entry closest in meaning


@dataclass(frozen=True)
class Limits:
    """Bounds of an extractive answer."""

    max_sentences: int = 3
    top_passages: int = 4  # the best sentence of each of these passages competes
    min_chars: int = 120  # below this, the best sentence's neighbours are added for context
    max_chars: int = 900
    max_list_items: int = 20
    max_list_chars: int = 2600
    max_sentence_chars: int = 700  # longer source sentences are shortened in the answer text
    relative_cutoff: float = 0.7  # a further sentence must score this share of the best one
    compared_cutoff: float = 0.5  # the same for the best sentence of a document a comparison names


@dataclass(frozen=True)
class Question:
    """What a question asks for, read once and used by scoring, lists and the refusal decision."""

    text: str
    terms: tuple[str, ...]  # content terms, frame words dropped
    expects: str  # "number", "name", "list" or "" (anything)
    list_nouns: tuple[str, ...]  # stems of the plural nouns a list question asks for
    anchors: tuple[str, ...]  # years and names the answer's passages must mention
    defines: str = ""  # "MCOF" for "What is the MCOF?": a sentence "… MCOF) is a …" defines it
    counts: bool = False  # "how many/much…": the figure is a quantity, so a year is not one
    entry: str = ""  # "sector" for "Which MCOF sector covers…?": the answer is a labelled entry
    money: bool = False  # "how much money…": only an amount or a share answers it
    unit: str = ""  # "day" for "how many days…": a figure answers it only beside that word

    @classmethod
    def read(cls, text: str) -> Question:
        """
        >>> q = Question.read("What are the updated sectors of the 2021 Addendum?")
        >>> q.expects, q.list_nouns, q.anchors
        ('list', ('sector',), ('2021', 'Addendum'))
        """
        nouns = tuple(list_nouns(text))
        if _NAME_Q_RE.search(text):
            expects = "name"
        elif _NUMBER_Q_RE.search(text):
            expects = "number"
        else:
            expects = "list" if nouns else ""
        define = _DEFINE_Q_RE.search(text)
        subject = next((g for g in define.groups() if g), "") if define else ""
        # the head noun: "phases" in "the three phases of a migration crisis"
        head = re.split(r"\s+(?:of|in|for|on|about|under|between|during)(?:\s+|$)", subject)[0]
        defines = words(head)[-1] if words(head) else ""
        counts = bool(_COUNT_Q_RE.search(text))
        which = _WHICH_ENTRY_RE.search(text)
        entry = stem(which.group(1).lower()) if which else ""
        money = bool(_MONEY_Q_RE.search(text))
        many = _HOW_MANY_RE.search(text)
        unit = stem(many.group(1).lower()) if many and many.group(1).lower() not in _GENERIC_UNITS else ""
        return cls(
            text, tuple(question_terms(text)), expects, nouns, tuple(anchors(text)), defines, counts, entry, money, unit
        )

    def states_figure(self, text: str) -> bool:
        """True when `text` holds the kind of figure the question asks for.

        >>> how_many = Question.read("How many staff?")
        >>> how_many.states_figure("in 2016, 40 staff"), how_many.states_figure("in 2016")
        (True, False)
        >>> money = Question.read("How much money does IOM spend on it?")
        >>> money.states_figure("two assessments"), money.states_figure("USD 6.6 million"), money.states_figure("7%")
        (False, True, True)
        >>> days = Question.read("How many days of leave do staff get?")
        >>> days.states_figure("97% of its 11 000 staff"), days.states_figure("staff get 30 days of leave")
        (False, True)
        """
        if self.money:
            return bool(_AMOUNT_RE.search(MARKER_RE.sub(" ", text)))
        if self.unit and self.unit not in terms(text):
            return False
        return has_number(text, besides=self.text, years=not self.counts)


@dataclass(frozen=True)
class ScoredSentence:
    """A sentence of passage `hit` (index into the hits), at [start, end) of the chunk text."""

    hit: int
    start: int
    end: int
    text: str
    semantic: float
    lexical: float
    score: float
    doc: str = ""  # the document of passage `hit`


@dataclass(frozen=True)
class Extract:
    """An extractive answer before the refusal decision: text, citations and what it is made of."""

    text: str
    citations: tuple[Citation, ...]
    sentences: tuple[ScoredSentence, ...] = ()
    list_items: int = 0  # items of an enumeration in the answer (0: prose)
    chunks: tuple[Chunk, ...] = field(default=())  # cited chunks, in citation order


def question_terms(question: str) -> list[str]:
    """Unique content terms of a question, frame words dropped, in order."""
    return list(dict.fromkeys(t for t in terms(question) if t not in QUESTION_FRAME))


def coverage(question_terms: Sequence[str], text_terms: Set[str], idf: Idf, context: Set[str] = frozenset()) -> float:
    """IDF-weighted share of the question's terms found in a text: 1.0 when all are there.

    A term found only in `context` (the document's title) counts half.

    >>> idf = {"sector": 1.0, "addendum": 3.0}.get
    >>> coverage(["sector", "addendum"], {"sector"}, idf), coverage(["sector"], set(), idf, {"sector"})
    (0.25, 0.5)
    """
    total = sum(idf(t) for t in question_terms)
    if not total:
        return 0.0
    found = sum(idf(t) if t in text_terms else idf(t) / 2 if t in context else 0.0 for t in question_terms)
    return found / total


def list_nouns(question: str) -> list[str]:
    """Stems of the plural nouns a list question asks for: "list the…", "what/which (are the) <plural>…".

    >>> list_nouns("What kinds of programmes count?"), list_nouns("Which external systems are shown?")
    (['programm'], ['system'])
    >>> list_nouns("Which sector covers health?"), list_nouns("What does MOPAN say about it?")
    ([], [])
    >>> list_nouns("Which sector gets them new papers?"), list_nouns("Which external systems were shown?")
    ([], ['system'])
    >>> list_nouns("Which sector deals with camps?"), list_nouns("What key sectors are named?")
    ([], ['sector'])
    >>> list_nouns("The evaluation asked for the 15 sectors to be revised. Did that happen?")
    []
    >>> list_nouns("What makes migrants vulnerable?"), list_nouns("Which headquarters department owns it?")
    ([], [])
    """
    ws = words(question)
    for i, w in enumerate(ws):
        if not (w in ("what", "which") or (i == 0 and w in _LIST_VERBS)):
            continue
        rest = ws[i + 1 : i + 8]
        while rest and (rest[0] in _LIST_LEAD or rest[0] in _NUMBER_WORDS or rest[0].isdigit()):
            rest = rest[1:]  # "what are the five…", "what kinds of…"
        phrase = rest[:1] if rest[:1] and _plural(rest[0]) and rest[0] not in _WHAT_VERBS else []
        if not phrase and len(rest) >= 2 and _plural(rest[1]) and _qualifies(rest):
            phrase = rest[:2]  # "which external systems are…", not "which sector deals with…" or "…gets them"
        nouns = [stem(x) for x in phrase if _plural(x)]
        if nouns:
            return nouns
    return []


def is_yes_no(question: str) -> bool:
    """Whether the question asks for yes or no.

    >>> [is_yes_no(q) for q in ("Is WASH a sector?", "According to MOPAN, does IOM budget by results?",
    ...                         "Can you list the sectors?", "What are the phases?", "Did spending go up or down?")]
    [True, True, False, False, False]
    """
    return bool(_YES_NO_Q_RE.match(question)) and not _CHOICE_RE.search(question)


def _qualifies(rest: Sequence[str]) -> bool:
    """True when `rest[0]` qualifies the plural `rest[1]` ("external systems are…", "key sectors are…")
    rather than being a singular noun that `rest[1]` is the verb of ("sector deals with", "sector gets them")."""
    if len(rest) > 2 and rest[2] in _AUXILIARIES:
        return True
    return rest[0].endswith(_ADJECTIVE_ENDINGS) and (len(rest) == 2 or rest[2] not in _OBJECT_WORDS)


def _plural(word: str) -> bool:
    return (
        len(word) > 3
        and word.endswith("s")
        and not word.endswith(_NOT_PLURAL_ENDINGS)
        and word not in STOPWORDS
        and word not in _NOT_PLURAL
    )


def mentions(text: str, anchor: str, expand: Expand = list) -> bool:
    """True when `text` names `anchor` (a year as such, a name by its stemmed terms, which
    `expand` may complete with acronyms: "Migration Crisis Operational Framework" names "MCOF").

    >>> mentions("The 2017-18 assessment", "2017"), mentions("updated addenda", "Addendum")
    (True, False)
    """
    if anchor.isdigit():
        return anchor in YEAR_RE.findall(text) or bool(re.search(rf"\b{anchor}\b", text))
    return set(terms(anchor)) <= set(expand(terms(text)))


def passage_text(chunk: Chunk, catalog: Mapping[str, DocumentMeta]) -> str:
    """What a passage is known to be about: its indexed text, section and its document's title and date."""
    meta = catalog.get(chunk.doc)
    extra = f"{meta.title} {meta.short_title} {meta.date}" if meta else chunk.title
    return f"{chunk.index_text} {chunk.section} {extra}"


def enumerates(text: str, nouns: Collection[str]) -> bool:
    """True when a sentence naming one of `nouns` lists items inline: a cue (":", "include",
    "such as") followed by short comma-separated items, or HTML list markup.

    >>> enumerates("The issues: Gender equality, Law and policy, Data and evidence.", ["issu"])
    True
    >>> updated = "Sectors were updated, including the operationalization of the HDPN and relevance to "
    >>> enumerates(updated + "inter-agency coordination, spanning analysis, planning.", ["sector"])
    False
    """
    if not set(nouns) & set(terms(text)):
        return False
    if "<li" in text or "<ul" in text:
        return True
    for cue in _LIST_CUE_RE.finditer(text):
        segments = [seg for seg in re.split(r"[,;]", text[cue.end() :]) if seg.strip()]
        if len(segments) >= 3 and all(len(seg.split()) <= _SEGMENT_WORDS for seg in segments[:3]):
            return True
    return False


def has_number(text: str, besides: str = "", years: bool = True) -> bool:
    """True when `text` states a quantity (digits or number words) that `besides` does not.

    A label opening the text ("Option Two: …", "Sector 4 …") is a name, not a quantity.

    >>> has_number("only one Risk Officer", besides="How many people?"), has_number("in 2018", "by 2018")
    (True, False)
    >>> has_number("Option Two: maintain the MCOF as a reference guide")
    False
    """
    known = set(words(besides))
    text = _LABEL_RE.sub("", MARKER_RE.sub(" ", text).strip(), count=1)
    if not years:
        text = YEAR_RE.sub(" ", text)
    return any((_DIGIT_RE.search(w) or w in _NUMBER_WORDS) and w not in known for w in words(text))


def score_sentences(
    question: Question,
    hits: Sequence[Hit],
    embedder: Embedder,
    idf: Idf,
    catalog: Mapping[str, DocumentMeta],
    weights: Weights = Weights(),
    expand: Expand = list,
) -> list[ScoredSentence]:
    """Every sentence of the hits, scored against the question (best first).

    score = cosine·w + term coverage·w + passage score·w (+ retriever's best sentence·w),
    times the factors of `Weights` for headings, missing figures and unanchored passages.
    Coverage counts the words of the document's title at half weight, so that "MCOF" in
    a question is partly matched by every sentence of an MCOF document; `expand` (the
    index's acronym expansion) lets "Migration Crisis Operational Framework" match "MCOF".
    """
    spans = [(i, s, e) for i, hit in enumerate(hits) for s, e in _worded_spans(hit.chunk.text)]
    if not spans:
        return []
    texts = [_readable(hits[i].chunk.text[s:e]) for i, s, e in spans]
    headings = [_is_heading(t) for t in texts]
    above = _headings_above(spans, headings)  # a sentence is read with the headings over it
    read = [t for hit in hits for t in reading_texts(hit.chunk.text)]  # the same headings, passage by passage
    question_vector = embedder.embed_queries([question.text])[0]
    cosines = np.asarray(embedder.embed(read) @ question_vector, dtype=np.float64)
    top = max(h.score for h in hits) or 1.0
    needed = content_anchors(question, catalog)
    anchored = [all(mentions(passage_text(h.chunk, catalog), a, expand) for a in needed) for h in hits]
    defining = definition_pattern(question.defines) if question.defines else None
    titles = [_title_terms(h.doc, catalog) for h in hits]
    named = named_documents(question.text, catalog)
    # "Which sector…?": of the entries of that label, the closest in meaning is the answer
    entries = [question.entry and (_label(t) or ("", 0))[0] == question.entry for t in texts]
    closest_entry = max((c for c, is_entry in zip(cosines, entries, strict=True) if is_entry), default=None)
    asked = set(question.list_nouns)
    out = []
    for (i, s, e), text, heading, cosine, is_entry, heads in zip(
        spans, texts, headings, cosines, entries, above, strict=True
    ):
        hit = hits[i]
        context = titles[i] | set(expand(terms(" ".join(texts[j] for j in heads))))
        lexical = coverage(question.terms, set(expand(terms(text))), idf, context)
        found = hit.best_sentence
        best = found is not None and found[0] - hit.chunk.start <= s < found[1] - hit.chunk.start
        score = (
            weights.cosine * float(cosine)
            + weights.coverage * lexical
            + weights.passage * max(hit.score, 0.0) / top
            + weights.retriever_best * best
            + weights.definition * bool(defining and defining.search(text))
            + weights.named_document * (hit.doc in named)
            + weights.entry * bool(is_entry and cosine == closest_entry)
        )
        if heading:
            score *= weights.heading
        if text.count("|") >= 3 or text.count("\t") >= 3:
            score *= weights.table
        if _FOOTNOTE_RE.match(text):
            score *= weights.footnote
        if question.expects == "number" and not question.states_figure(text):
            score *= weights.no_figure
        raw = hit.chunk.text[s:e]
        headed = question.expects == "list" and bool(heads) and bool(asked & set(terms(texts[heads[-1]])))
        if headed:  # "SYSTEMS\n\nCluster System (OCHA) …": shown with its heading
            score += weights.headed_list
            s = spans[heads[-1]][1]
            text = _readable(hit.chunk.text[s:e])
        listed = _is_item(raw) or _is_intro(raw) or headed or enumerates(raw, question.list_nouns)
        if question.expects == "list" and not listed:
            score *= weights.no_list
        if not anchored[i]:
            score *= weights.unanchored
        if named and hit.doc not in named:
            score *= weights.unnamed_document
        out.append(ScoredSentence(i, s, e, text, float(cosine), lexical, score, hit.doc))
    out.sort(key=lambda x: (-x.score, x.hit, x.start))
    return out


def definition_pattern(word: str) -> re.Pattern[str]:
    """Matches a sentence that defines `word`: as the subject of "is", "means"… or in apposition.

    >>> p = definition_pattern("MCOF")
    >>> [bool(p.search(s)) for s in ("The Migration Crisis Operational Framework (MCOF) is an analytical framework",
    ...     "Sharing documents about the MCOF are not sufficient", "Nevertheless, the MCOF is perceived as useful")]
    [True, False, False]
    >>> bool(definition_pattern("crisis").search('It rests on the concept of "migration crisis", a term that'))
    True
    """
    w = re.escape(word)
    return re.compile(rf"{_SUBJECT_LEAD}{w}\W{{0,3}}\s{_DEFINING_VERBS}|\b{w}{_APPOSITION}", re.IGNORECASE)


def _worded_spans(passage: str) -> list[tuple[int, int]]:
    """The sentence spans of a passage that hold a word (not a lone number or mark)."""
    return [(s, e) for s, e in sentence_spans(passage) if re.search(r"[A-Za-z]{2}", passage[s:e])]


def reading_texts(passage: str) -> list[str]:
    """What the answer step embeds for each sentence of a passage (`score_sentences`): the sentence
    made readable, after the heading lines right above it, cut to `_EMBED_CHARS`. Ingest embeds
    the same texts, so answering a question embeds only the question.

    >>> reading_texts("PHASES\\n\\nThe sectors help. 2.")
    ['PHASES', 'PHASES — The sectors help.']
    """
    spans = _worded_spans(passage)
    texts = [_readable(passage[s:e]) for s, e in spans]
    above = _headings_above([(0, s, e) for s, e in spans], [_is_heading(t) for t in texts])
    return [" — ".join([*(texts[j] for j in js), t])[:_EMBED_CHARS] for js, t in zip(above, texts, strict=True)]


def _headings_above(
    spans: Sequence[tuple[int, int, int]], headings: Sequence[bool], most: int = 3
) -> list[list[int]]:
    """For each sentence, the indices of the heading lines right above it in its passage (nearest last);
    `headings` tells which sentences are heading lines.

    >>> _headings_above([(0, 0, 7), (0, 9, 30), (1, 0, 5)], [True, False, True])
    [[], [0], []]
    """
    out: list[list[int]] = []
    for k, (hit, _, _) in enumerate(spans):
        heads: list[int] = []
        j = k - 1
        while j >= 0 and spans[j][0] == hit and headings[j] and len(heads) < most:
            heads.insert(0, j)
            j -= 1
        out.append(heads)
    return out


def named_documents(question: str, catalog: Mapping[str, DocumentMeta]) -> set[str]:
    """Documents the question names by one of their manifest aliases ("the evaluation", "MOPAN").

    >>> named_documents("What did MOPAN say?", {"m.txt": DocumentMeta("m.txt", "M", aliases=("mopan",))})
    {'m.txt'}
    """
    return {doc for doc, _ in _alias_mentions(question, catalog)}


def _alias_mentions(question: str, catalog: Mapping[str, DocumentMeta]) -> Iterator[tuple[str, str]]:
    """(document, the words naming it) for every manifest alias the question uses, case-insensitively."""
    low = question.lower()
    for doc, meta in catalog.items():
        for alias in meta.aliases:
            if alias:
                for m in re.finditer(rf"\b{re.escape(alias.lower())}\b", low):
                    yield doc, m.group(0)


def content_anchors(question: Question, catalog: Mapping[str, DocumentMeta]) -> list[str]:
    """The question's anchors that are not part of a document's name: "2023" in "the 2023 web page"
    names a document (which the document weights handle), so a 2012 passage need not mention it.

    >>> catalog = {"w.txt": DocumentMeta("w.txt", "W", aliases=("2023 page",))}
    >>> content_anchors(Question.read("Did the 2023 page drop the 2021 Addendum?"), catalog)
    ['2021', 'Addendum']
    """
    names = [name for _, name in _alias_mentions(question.text, catalog)]
    return [a for a in question.anchors if not any(mentions(name, a) for name in names)]


def _readable(source: str) -> str:
    """A source sentence as answer text; a heading line before it is set off with a dash.

    >>> _readable("Phase 2: During a migration crisis\\nThe sectors address needs.")
    'Phase 2: During a migration crisis — The sectors address needs.'
    """
    return display_text(_HEADING_BREAK_RE.sub(" — ", source.strip()))


def _title_terms(doc: str, catalog: Mapping[str, DocumentMeta]) -> set[str]:
    meta = catalog.get(doc)
    return set(terms(f"{meta.title} {meta.short_title}")) if meta else set()


def _is_heading(text: str) -> bool:
    """A title line rather than a statement: short and unpunctuated, or in capitals; a
    "Label: value" line (`is_field_line`) states a fact.

    >>> _is_heading("Findings of the Evaluation"), _is_heading("- People move to get out of harm's way")
    (True, False)
    """
    if _ITEM_RE.match(text) or is_field_line(text):
        return False
    letters = [c for c in text if c.isalpha()]
    shouting = len(letters) > 8 and sum(c.isupper() for c in letters) > 0.7 * len(letters)
    return shouting or (len(text.split()) <= 12 and text.rstrip()[-1:] not in ".!?:;)")


def extract(
    question: Question,
    hits: Sequence[Hit],
    scored: Sequence[ScoredSentence],
    catalog: Mapping[str, DocumentMeta],
    neighbours: Callable[[str], Sequence[Chunk]] | None = None,
    limits: Limits = Limits(),
) -> Extract:
    """Build the extractive answer from scored sentences.

    `neighbours(doc)` (optional) gives a document's chunks in order, so that a list
    split over several passages ("Sector 1".."Sector 15") can be completed.
    """
    if not scored:
        return Extract("", ())
    named = named_documents(question.text, catalog)
    compared = {i: hit.doc for i, hit in enumerate(hits) if hit.doc in named} if len(named) >= 2 else {}
    echoes: dict[ScoredSentence, ScoredSentence] = {}
    chosen = _choose(scored, limits, compared, echoes)
    if question.list_nouns or _is_intro(chosen[0].text):
        items = _list_around(question, chosen, scored, hits, neighbours, limits)
        if items:
            return _render_list(items, catalog, scored, limits)
    return _render_prose(chosen, hits, catalog, limits, scored, echoes)


# -- choosing sentences ------------------------------------------------------------------


def _choose(
    scored: Sequence[ScoredSentence],
    limits: Limits,
    compared: Mapping[int, str] | None = None,
    echoes: dict[ScoredSentence, ScoredSentence] | None = None,
) -> list[ScoredSentence]:
    """The best few sentences that add something, citing as many of the top passages as deserve it.

    The best sentence overall and the best of each top passage come first (a second
    passage is a second chance to cite the right one), then other sentences of those
    passages; each must score `relative_cutoff` of the best. `compared` maps the passages
    of the documents a comparison question names ("the 2012 framework and the 2023 page")
    to their document: each of those documents is heard, with its best sentence. A sentence of another
    passage that says again what a chosen one says is not chosen; `echoes` (when given) maps the chosen
    sentence to the first such one, so that the answer cites both passages for it.
    """
    best_of: dict[int, ScoredSentence] = {scored[0].hit: scored[0]}  # the best sentence wherever it is
    for s in scored:  # best first
        if s.hit < limits.top_passages:
            best_of.setdefault(s.hit, s)
    firsts = sorted(best_of.values(), key=lambda x: (-x.score, x.hit))
    heard: set[ScoredSentence] = set()
    if compared:
        firsts, heard = _each_document_heard(firsts, scored, compared)
    seconds = [s for s in scored if s.hit in best_of and s not in firsts]
    best = firsts[0]
    chosen = [best]
    chosen_terms = [set(terms(best.text))]
    used_terms = set(chosen_terms[0])
    size = len(best.text)
    for cand in [*firsts[1:], *seconds]:
        if len(chosen) >= limits.max_sentences:
            break
        cand_terms = set(terms(cand.text))
        cutoff = limits.compared_cutoff if cand in heard else limits.relative_cutoff
        if cand.score < cutoff * best.score or not cand_terms - used_terms:
            continue  # too weak, or adds nothing new
        said = None if cand in heard else restated(cand_terms, chosen_terms)  # a compared document's words stay
        if said is not None:  # says again what a chosen sentence says
            if echoes is not None and cand.hit != chosen[said].hit:
                echoes.setdefault(chosen[said], cand)
            continue
        if size + len(cand.text) > limits.max_chars:
            continue
        chosen.append(cand)
        chosen_terms.append(cand_terms)
        used_terms |= cand_terms
        size += len(cand.text)
    if size < limits.min_chars:
        chosen += _context(best, scored, chosen, limits.min_chars - size)
    return chosen


_RESTATED_SHARE = 0.8  # a sentence this much of whose terms one chosen sentence has, and no new figure, restates it


def restated(sentence_terms: Set[str], chosen: Sequence[Set[str]]) -> int | None:
    """Which chosen sentence (index) a sentence with these terms says again, if any: all but a fifth of its
    terms are in that one, and no figure that one lacks. Documents repeat themselves (an executive summary
    and its chapter); an answer quotes the statement once and cites both passages.

    >>> first = set(terms("The vast majority of IOM resources are earmarked for specific projects."))
    >>> restated(set(terms("As noted above, the vast majority of IOM resources are earmarked for specific projects.")),
    ...          [set(), first])
    1
    >>> in_2017 = set(terms("In 2017, 97% of staff were in the field."))
    >>> restated(set(terms("In 2016, 97% of staff were in the field.")), [in_2017]) is None
    True
    """
    for index, before in enumerate(chosen):
        new = sentence_terms - before
        if len(new) <= (1 - _RESTATED_SHARE) * len(sentence_terms) and not any(t[:1].isdigit() for t in new):
            return index
    return None


def _each_document_heard(
    firsts: list[ScoredSentence], scored: Sequence[ScoredSentence], compared: Mapping[int, str]
) -> tuple[list[ScoredSentence], set[ScoredSentence]]:
    """`firsts` reordered so that the best sentence of each compared document follows the best one,
    and those sentences (the ones moved up for their document).

    A document none of whose passages is among the top ones gets its best-scored sentence,
    however far down its passage ranks.
    """
    heard = {compared.get(firsts[0].hit)}
    lead = [firsts[0]]
    for s in [*firsts[1:], *scored]:  # best first: top passages, then everything else
        doc = compared.get(s.hit)
        if doc is not None and doc not in heard:
            heard.add(doc)
            lead.append(s)
    return lead + [s for s in firsts if s not in lead], set(lead[1:])


def _context(
    best: ScoredSentence, scored: Sequence[ScoredSentence], chosen: list[ScoredSentence], need: int
) -> list[ScoredSentence]:
    """Statements right after (then before) the best sentence in its passage, until `need` chars are added."""
    same = sorted(
        (s for s in scored if s.hit == best.hit and s not in chosen and not _is_heading(s.text)),
        key=lambda s: s.start,
    )
    after = [s for s in same if s.start >= best.end]
    before = [s for s in reversed(same) if s.end <= best.start]
    out: list[ScoredSentence] = []
    for s in after[:2] + before[:1]:
        if need <= 0:
            break
        out.append(s)
        need -= len(s.text)
    return out


# -- lists -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    chunk: Chunk
    start: int  # offsets in the chunk text
    end: int


def _is_intro(text: str) -> bool:
    return text.rstrip().endswith(":")


def _is_item(text: str, labels: Set[str] = frozenset()) -> bool:
    """A bullet or "(a)"/"1." entry, or a "<Label> N" entry whose label is one of `labels`."""
    label = _label(text)
    return bool(_ITEM_RE.match(text) or (label and label[0] in labels))


def _label(text: str) -> tuple[str, int] | None:
    """("sector", 3) for "Sector 3 Transport…", ("option", 2) for "Option Two: …" (label stemmed)."""
    m = _LABEL_RE.match(text.strip())
    if not m:
        return None
    number = m.group(2).lower()
    return stem(m.group(1).lower()), int(number) if number.isdigit() else _ORDINALS[number]


def _list_around(
    question: Question,
    chosen: Sequence[ScoredSentence],
    scored: Sequence[ScoredSentence],
    hits: Sequence[Hit],
    neighbours: Callable[[str], Sequence[Chunk]] | None,
    limits: Limits,
) -> list[_Item]:
    """The enumeration that answers the question, intro first; [] when there is none.

    First a numbered series of what the question asks for ("phases" → "Phase 1".."Phase 3")
    near the top passages, then the list one of the chosen sentences belongs to or introduces,
    then (for a list question) any list of the top sentences whose intro, items or passage
    context (headings, the framework label of `ingest.chunking.framework_labels`) name what
    the question asks for, and last a series another of its words names ("the
    modalities across the sectors" gets the modalities, and the sectors only if no list of
    modalities is found, inline or not).
    """
    wanted = frozenset(question.terms)
    nouns = set(question.list_nouns)
    series = _series_near(hits, nouns, neighbours) if nouns else []
    if series:
        return series[: limits.max_list_items]
    listy = [s for s in scored[:_LIST_SCAN] if _is_intro(s.text) or _is_item(s.text)] if nouns else []
    for sentence in [*chosen, *listy]:
        chunk = hits[sentence.hit].chunk
        items = _items_in_chunk(chunk, sentence, wanted)
        if len(items) < 2 and _is_intro(sentence.text) and neighbours:
            items = _following_items(chunk, neighbours)
        if len(items) >= 2 and (not nouns or _list_names(chunk, items) & nouns):
            return items[: limits.max_list_items]
    if not nouns or any(enumerates(hits[s.hit].chunk.text[s.start : s.end], nouns) for s in chosen):
        return []  # a chosen sentence lists them inline: the answer is prose
    return _series_near(hits, wanted, neighbours)[: limits.max_list_items]


def _list_names(chunk: Chunk, items: Sequence[_Item]) -> set[str]:
    """The terms that say what a list lists: its intro's, its passage's headings and labels, and
    those most of its items use ("Phase 1…", "Phase 2…"); not a word one item happens to hold
    ("development issues" does not make the objectives a list of issues).

    >>> c = Chunk("c", "d", "", "", "Aims:\\n(a) Help States.\\n(b) Address development issues.", 0, 0, "Aims")
    >>> sorted(_list_names(c, [_Item(c, 0, 5), _Item(c, 6, 21), _Item(c, 22, 54)]))
    ['aim']
    """
    texts = [it.chunk.text[it.start : it.end] for it in items]
    intro = [t for t in texts[:1] if _is_intro(t)]
    entries = [Counter(set(terms(t))) for t in texts[len(intro):]]
    used = sum(entries, Counter[str]())
    names = {t for t, n in used.items() if 2 * n > len(entries)}
    return names | set(terms(" ".join(intro))) | set(terms(chunk.index_text.partition("\n")[0]))


def _series_near(
    hits: Sequence[Hit], labels: Set[str], neighbours: Callable[[str], Sequence[Chunk]] | None
) -> list[_Item]:
    """The first numbered series (of two items or more) labelled by one of `labels` near a top passage."""
    for hit in hits:
        items = _named_series(hit.chunk, labels, hits, neighbours)
        if len(items) >= 2:
            return items
    return []


def _items_in_chunk(chunk: Chunk, sentence: ScoredSentence, labels: Set[str]) -> list[_Item]:
    """Intro + consecutive items of the chunk around `sentence` (items may wrap onto a lowercase line)."""
    spans = sentence_spans(chunk.text)
    texts = [chunk.text[s:e] for s, e in spans]
    at = next((i for i, (s, _) in enumerate(spans) if s == sentence.start), None)
    if at is None:
        return []
    first = at + 1 if _is_intro(texts[at]) else at
    if first >= len(spans) or not _is_item(texts[first], labels):
        return []
    while first > 0 and (_is_item(texts[first - 1], labels) or texts[first - 1][:1].islower()):
        first -= 1
    last = first
    while last + 1 < len(spans) and (_is_item(texts[last + 1], labels) or texts[last + 1][:1].islower()):
        last += 1
    intro = [first - 1] if first > 0 and _is_intro(texts[first - 1]) else []
    items: list[_Item] = [_Item(chunk, *spans[i]) for i in intro]
    for i in range(first, last + 1):
        if not _is_item(texts[i], labels) and items:  # a wrapped line continues the item before it
            items[-1] = _Item(chunk, items[-1].start, spans[i][1])
        else:
            items.append(_Item(chunk, *spans[i]))
    return items


def _window(chunk: Chunk, hits: Sequence[Hit], neighbours: Callable[[str], Sequence[Chunk]] | None) -> list[Chunk]:
    """The chunks of `chunk`'s document around it (only retrieved ones without `neighbours`)."""
    pool = list(neighbours(chunk.doc)) if neighbours else [h.chunk for h in hits if h.doc == chunk.doc]
    pool.sort(key=lambda c: c.start)
    at = next((i for i, c in enumerate(pool) if c.id == chunk.id), None)
    if at is None:
        return [chunk]
    return pool[max(0, at - _SERIES_WINDOW) : at + _SERIES_WINDOW]


def _named_series(
    chunk: Chunk, labels: Set[str], hits: Sequence[Hit], neighbours: Callable[[str], Sequence[Chunk]] | None
) -> list[_Item]:
    """The longest run "<Label> 1", "<Label> 2"… near `chunk` whose label is in `labels`.

    The run may lie in one passage ("Option One: …", "Option Two: …") or open
    consecutive passages ("Sector 1 …" … "Sector 15 …").
    """
    numbered: dict[str, dict[int, _Item]] = {}
    for c in _window(chunk, hits, neighbours):
        for s, e in sentence_spans(c.text):
            found = _label(c.text[s:e])
            if found and found[0] in labels:
                numbered.setdefault(found[0], {}).setdefault(found[1], _Item(c, s, e))
    best: list[_Item] = []
    for series in numbered.values():
        for first in series:
            if first - 1 in series:
                continue
            run = [first]
            while run[-1] + 1 in series:
                run.append(run[-1] + 1)
            if len(run) > len(best):
                best = [series[n] for n in run]
    return best


def _following_items(chunk: Chunk, neighbours: Callable[[str], Sequence[Chunk]]) -> list[_Item]:
    """An intro that ends its passage ("The following list describes…:"): the items open the next passages."""
    after = sorted((c for c in neighbours(chunk.doc) if c.start >= chunk.end), key=lambda c: c.start)
    spans = sentence_spans(after[0].text) if after else []
    label = _label(after[0].text[: spans[0][1]]) if spans else None
    return _named_series(after[0], {label[0]}, [], neighbours) if label else []


# -- rendering ---------------------------------------------------------------------------


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + " …"


def _with_body(item: _Item) -> _Item:
    """A heading item ("Phase 2: During a migration crisis") with the sentence that follows it."""
    if not _is_heading(item.chunk.text[item.start : item.end]):
        return item
    following = [(s, e) for s, e in sentence_spans(item.chunk.text) if s >= item.end]
    return _Item(item.chunk, item.start, following[0][1]) if following else item


def _item_text(text: str, long_list: bool, limits: Limits) -> str:
    """A list item for the answer: its name only ("Sector 4 Health Support") when the list is long."""
    text = _readable(text)
    text = _LEADING_BULLET_RE.sub("", text)
    if long_list and 0 < text.find(":") <= 120:
        return text[: text.find(":")].strip()
    return _shorten(text, limits.max_sentence_chars)


def _render_list(
    items: Sequence[_Item], catalog: Mapping[str, DocumentMeta], scored: Sequence[ScoredSentence], limits: Limits
) -> Extract:
    numbers: dict[str, int] = {}
    quotes: dict[str, tuple[int, int]] = {}
    chunks: dict[str, Chunk] = {}
    lines: list[str] = []
    long_list = len(items) > 6
    if not long_list:
        items = [_with_body(it) for it in items]
    body_items = [it for it in items if not _is_intro(it.chunk.text[it.start : it.end])]
    size = 0
    for item in items:
        cid = item.chunk.id
        numbers.setdefault(cid, len(numbers) + 1)
        chunks.setdefault(cid, item.chunk)
        s, e = quotes.get(cid, (item.start, item.end))
        quotes[cid] = (min(s, item.start), max(e, item.end))
        raw = item.chunk.text[item.start : item.end]
        if _is_intro(raw):
            line = with_markers(_shorten(display_text(raw), limits.max_sentence_chars), [numbers[cid]])
        else:
            line = "- " + with_markers(_item_text(raw, long_list, limits), [numbers[cid]])
        if size + len(line) > limits.max_list_chars:
            break
        lines.append(line)
        size += len(line) + 1
    citations = tuple(make_citation(n, chunks[cid], catalog, quotes[cid]) for cid, n in numbers.items())
    return Extract("\n".join(lines), citations, tuple(scored[:1]), len(body_items), tuple(chunks.values()))


# the last cell of a table row: bare numbers after a sentence ("… response. | 13, 17, 23"), MOPAN's sources,
# and any rows after it that the sentence span runs on into ("… | 6, 17 — MI 4.6 Evidence confidence | High")
_REFERENCE_CELL_RE = re.compile(r"(?<=[.!?”)])\s*\|\s*\d{1,3}(?:\s*[,;]\s*\d{1,3})*(?:\s+—\s.*)?\s*$")


def _prose_text(text: str) -> str:
    """A sentence as it reads in running prose: without a list bullet or a trailing cell of reference numbers
    (nor the table rows the sentence span runs on into after that cell).

    >>> _prose_text("- Funds reach the field faster. | 13, 17, 23")
    'Funds reach the field faster.'
    >>> _prose_text("Reports are not public. | 6, 17, 38 — MI 4.6 Evidence confidence | High confidence")
    'Reports are not public.'
    >>> _prose_text("Overall MI score | 2")  # a value, not references: no sentence ends before it
    'Overall MI score | 2'
    """
    return _REFERENCE_CELL_RE.sub("", _PROSE_BULLET_RE.sub("", text))


_ADJACENT_GAP = 3  # characters between two sentences that follow each other in their passage
# a sentence opening with one of these leans on the one before it in its passage
_CONNECTIVE_RE = re.compile(
    r"^(?:in contrast|by contrast|likewise|similarly|however|moreover|furthermore|further|in addition|additionally|"
    r"also|thus|therefore|hence|consequently|as a result|accordingly|in particular|nevertheless|nonetheless|"
    r"as such|in turn|besides|indeed|conversely|on the other hand|at the same time|in this regard|to this end|"
    r"finally|lastly)\s*,\s+(?=\S)",
    re.IGNORECASE,
)


def detached(text: str) -> str:
    """A sentence quoted without the one before it in its passage, without the connective that leaned
    on that one ("In contrast, the ten Member States ..." → "The ten Member States ...").

    >>> detached("In contrast, the ten Member States found the MCOF useful.")
    'The ten Member States found the MCOF useful.'
    >>> detached("However IOM joined the UN in 2016."), detached("Also known as MCOF, it has 15 sectors.")
    ('However IOM joined the UN in 2016.', 'Also known as MCOF, it has 15 sectors.')
    """
    m = _CONNECTIVE_RE.match(text)
    if not m:
        return text
    rest = text[m.end() :]
    return rest[:1].upper() + rest[1:]


def _follows(before: ScoredSentence | None, sentence: ScoredSentence) -> bool:
    """Does `sentence` come right after `before` in the same passage?"""
    return before is not None and before.hit == sentence.hit and 0 <= sentence.start - before.end <= _ADJACENT_GAP


_POINTS_BACK_RE = re.compile(
    r"^(?:this|these|that|those|it|its|they|their|such|the latter|the former)\s", re.IGNORECASE
)


def _with_antecedents(ordered: Sequence[ScoredSentence], scored: Sequence[ScoredSentence]) -> list[ScoredSentence]:
    """`ordered`, each sentence that opens by pointing back ("This", "It", "Such", ...) preceded by the
    statement right before it in its passage when that one is not shown already."""
    shown = set(ordered)
    out: list[ScoredSentence] = []
    for s in ordered:
        if _POINTS_BACK_RE.match(_prose_text(s.text)) and not (out and _follows(out[-1], s)):
            antecedent = next((p for p in scored if _follows(p, s)), None)
            if antecedent is not None and antecedent not in shown and not _is_heading(antecedent.text):
                out.append(antecedent)
                shown.add(antecedent)
        out.append(s)
    return out


def _as_sentence(text: str) -> str:
    """A "Label: value" line ends with a full stop in running prose; other text stays as it is.

    >>> _as_sentence("Commissioned by: IOM"), _as_sentence("IOM works in 100 countries.")
    ('Commissioned by: IOM.', 'IOM works in 100 countries.')
    """
    return f"{text}." if is_field_line(text) and text.rstrip()[-1:] not in f"{END_PUNCT}…" else text


def _render_prose(
    chosen: Sequence[ScoredSentence],
    hits: Sequence[Hit],
    catalog: Mapping[str, DocumentMeta],
    limits: Limits,
    scored: Sequence[ScoredSentence] = (),
    echoes: Mapping[ScoredSentence, ScoredSentence] | None = None,
) -> Extract:
    """The chosen sentences as running prose, passage by passage, each cited; a sentence that opens by
    pointing back ("This is especially the case if ...") is shown after the sentence it points to
    (from `scored`), which the judge does not read: `Extract.sentences` are the chosen ones. A sentence with
    an echo (`_choose`) cites the echo's passage too."""
    rank: dict[int, int] = {}
    for s in chosen:  # passages in the order of their best chosen sentence
        rank.setdefault(s.hit, len(rank))
    ordered = sorted(chosen, key=lambda s: (rank[s.hit], s.start))
    numbers: dict[int, int] = {}
    quotes: dict[int, tuple[int, int]] = {}
    sentences = []
    before: ScoredSentence | None = None

    def cite(s: ScoredSentence) -> int:
        """The number of the sentence's passage, its quoted span widened to take the sentence in."""
        q0, q1 = quotes.get(s.hit, (s.start, s.end))
        quotes[s.hit] = (min(q0, s.start), max(q1, s.end))
        return numbers.setdefault(s.hit, len(numbers) + 1)

    for s in _with_antecedents(ordered, scored):
        text = _prose_text(s.text)
        text = text if _follows(before, s) else detached(text)  # "In contrast, ..." needs what it contrasts
        echo = (echoes or {}).get(s)
        cited = (cite(s),) if echo is None else (cite(s), cite(echo))
        sentences.append(CitedSentence(_as_sentence(_shorten(text, limits.max_sentence_chars)), cited))
        before = s
    citations = tuple(make_citation(n, hits[i].chunk, catalog, quotes[i]) for i, n in numbers.items())
    return Extract(render_sentences(sentences), citations, tuple(ordered), 0, tuple(hits[i].chunk for i in numbers))
