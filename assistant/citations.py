"""Citation markers: parse [n] in generated text, keep only claims that cite given passages.

Shared by answering and drafting. Pure functions over strings and chunks.

>>> checked = check_citations("Sectors exist [2]. Ignore this [9]. Phases too [2][1].", n_passages=3)
>>> render_sentences(checked.sentences)
'Sectors exist [1]. Phases too [1][2].'
>>> checked.sources, checked.dropped
((2, 1), 1)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .textutil import NAME_RE, sentence_spans, terms, words
from .types import Chunk, Citation, DocumentMeta

# [3], [1, 2], [1; 2], [1-3]: the forms models write and the grader reads
MARKER_RE = re.compile(r"\[\s*(\d{1,3}(?:\s*[,;\-–—]\s*\d{1,3})*)\s*\]")
_MAX_RANGE = 20  # "[1-500]" is not a citation
_TAG_RE = re.compile(r"</?[A-Za-z][^<>]{0,200}>")
_SPACE_RE = re.compile(r"\s+")
END_PUNCT = ".!?:;"  # marks a citation marker goes before
# "(see next page)", "(for more details, see page 4)", "(see overleaf)": the printed layout, not content
_PAGE_POINTER_RE = re.compile(
    r"\s*\((?:[^()]{0,40},\s*)?see (?:the )?(?:next|previous|following|overleaf|page \d+)(?: page)?\)", re.IGNORECASE
)


@dataclass(frozen=True)
class CitedSentence:
    """One sentence of generated text with the passage numbers it cites (markers removed)."""

    text: str
    sources: tuple[int, ...]


@dataclass(frozen=True)
class CheckedText:
    """Generated text after validation.

    `sentences` cite 1..m; `sources[i - 1]` is the passage number, as given to the
    generator, that new number i stands for; `dropped` counts the sentences removed.
    """

    sentences: tuple[CitedSentence, ...]
    sources: tuple[int, ...]
    dropped: int


def marker_numbers(text: str) -> list[int]:
    """Every passage number cited in `text`, in order, ranges expanded.

    >>> marker_numbers("a [1] b [2, 3] c [4-6] d [7-900]")
    [1, 2, 3, 4, 5, 6, 7, 900]
    """
    out: list[int] = []
    for m in MARKER_RE.finditer(text):
        for part in re.split(r"\s*[,;]\s*", m.group(1)):
            bounds = [int(x) for x in re.split(r"\s*[\-–—]\s*", part) if x]
            if len(bounds) == 2 and 0 <= bounds[1] - bounds[0] <= _MAX_RANGE:
                out.extend(range(bounds[0], bounds[1] + 1))
            else:
                out.extend(bounds)
    return out


def split_cited(text: str) -> list[CitedSentence]:
    """Sentences of `text` with their cited numbers; markers opening a sentence belong to the one before.

    >>> split_cited("Phases are three. [2] The first is before [1][1].")
    [CitedSentence(text='Phases are three.', sources=(2,)), CitedSentence(text='The first is before.', sources=(1,))]
    """
    out: list[tuple[str, list[int]]] = []
    for start, end in sentence_spans(text):
        piece = text[start:end]
        lead = re.match(r"(?:\s*" + MARKER_RE.pattern + r")+", piece)
        if lead and out:
            out[-1][1].extend(marker_numbers(lead.group(0)))
            piece = piece[lead.end() :]
        numbers = marker_numbers(piece)
        body = _SPACE_RE.sub(" ", MARKER_RE.sub("", piece)).strip()
        body = re.sub(r"\s+([.,;:!?])", r"\1", body)
        if re.search(r"\w", body):
            out.append((body, numbers))
        elif out:
            out[-1][1].extend(numbers)
    return [CitedSentence(body, tuple(dict.fromkeys(numbers))) for body, numbers in out]


def check_citations(
    text: str,
    n_passages: int,
    passages: Sequence[str] = (),
    min_support: float = 0.5,
    verify: Callable[[str, list[str]], bool] | None = None,
) -> CheckedText:
    """Keep the sentences whose every marker names a passage 1..n_passages; renumber by first use.

    A sentence without markers, or with any marker naming no given passage (an
    invented number, a passage that was retrieved but not shown), is dropped. When
    the passage texts are given, so is a sentence sharing less than `min_support` of
    its content terms with the passages it cites ("The passage is [1]."), and one that
    `verify(sentence, cited passage texts)` rejects.

    >>> check_citations("Gender equality is one [1]. The passage is [1].", 1, ["Gender equality"]).dropped
    1
    """
    kept: list[CitedSentence] = []
    dropped = 0
    for sentence in split_cited(text):
        valid = bool(sentence.sources) and all(1 <= n <= n_passages for n in sentence.sources)
        if valid and passages:
            valid = _support(sentence, passages) >= min_support
            if valid and verify is not None:
                valid = verify(sentence.text, [passages[n - 1] for n in sentence.sources])
        if not valid:
            dropped += 1
            continue
        kept.append(sentence)
    return renumber(kept, dropped)


def renumber(sentences: Sequence[CitedSentence], dropped: int = 0) -> CheckedText:
    """The sentences with their markers numbered by first use.

    >>> renumber([CitedSentence("A.", (3,)), CitedSentence("B.", (1, 3))]).sources
    (3, 1)
    """
    order: dict[int, int] = {}
    for sentence in sentences:
        for n in sentence.sources:
            order.setdefault(n, len(order) + 1)
    numbered = tuple(CitedSentence(s.text, tuple(order[n] for n in s.sources)) for s in sentences)
    return CheckedText(numbered, tuple(order), dropped)


def _support(sentence: CitedSentence, passages: Sequence[str]) -> float:
    """Share of the sentence's content terms found in the passages it cites."""
    claim = set(terms(sentence.text))
    if not claim:
        return 0.0
    cited = set().union(*(terms(passages[n - 1]) for n in sentence.sources if n <= len(passages)))
    return len(claim & cited) / len(claim)


_NUMBER_RE = re.compile(r"\d[\d.,]*\d|\d")


def unstated_facts(claim: str, passages: Sequence[str]) -> list[str]:
    """Numbers, years and capitalised names of `claim` that none of `passages` contains.

    A generated sentence may reword its passage, but every figure, date and name in it must
    be the passage's own: "IOM takes 25 %" where the text says 7 % is an invented fact.

    >>> unstated_facts("IOM charges 25% overhead in Geneva.", ["A 7% overhead charge on all projects."])
    ['25', 'Geneva']
    >>> unstated_facts("Phase 1 comes before the crisis.", ["Phase 1: Before a migration crisis"])
    []
    """
    source = " ".join(passages)
    known_words = set(words(source)) | set(terms(source))
    known_numbers = {n.replace(",", "") for n in _NUMBER_RE.findall(source)}
    missing = [n for n in _NUMBER_RE.findall(claim) if n.replace(",", "").rstrip(".") not in known_numbers]
    for match in NAME_RE.finditer(MARKER_RE.sub(" ", claim)):
        name = match.group(0)
        if not all(w in known_words or set(terms(w)) <= known_words for w in words(name)):
            missing.append(name)
    return list(dict.fromkeys(missing))


def render_sentences(sentences: Sequence[CitedSentence], separator: str = " ") -> str:
    """Join sentences, each with its markers placed before its final punctuation.

    >>> render_sentences([CitedSentence("Two pillars.", (1,)), CitedSentence("- Sector 1", (2, 3))])
    'Two pillars [1]. - Sector 1 [2][3]'
    """
    return separator.join(with_markers(s.text, s.sources) for s in sentences)


def with_markers(text: str, sources: Sequence[int]) -> str:
    """`text` with "[n]" markers before its closing punctuation: ("Yes.", [2]) → "Yes [2]."."""
    marks = "".join(f"[{n}]" for n in sources)
    if not marks:
        return text
    body = text.rstrip()
    if body and body[-1] in END_PUNCT:
        return f"{body[:-1].rstrip()} {marks}{body[-1]}"
    return f"{body} {marks}"


def display_text(text: str) -> str:
    """Source text made readable for an answer: tags, `**` and stray markers removed, spaces collapsed.

    Markers in a document ("cite [9]") become "(9)" so they can never pose as citations; pointers to
    the printed layout ("(see next page)") mean nothing in an answer and go.

    >>> display_text("<p>**Sector 1** Camp [9]</p>")
    'Sector 1 Camp (9)'
    >>> display_text("two options emerged (for more details, see next page).")
    'two options emerged.'
    """
    text = _TAG_RE.sub(" ", text).replace("**", "")
    text = _PAGE_POINTER_RE.sub("", text)
    text = MARKER_RE.sub(lambda m: f"({m.group(1)})", text)
    return _SPACE_RE.sub(" ", text).strip()


def supporting_span(passage: str, claim: str) -> tuple[int, int]:
    """(start, end) inside `passage` of the sentence that best supports `claim` (most shared terms).

    >>> p = "IOM has sectors. The phases are before, during and after."
    >>> s, e = supporting_span(p, "There are three phases: before, during, after.")
    >>> p[s:e]
    'The phases are before, during and after.'
    """
    at = passage.find(claim)
    if claim and at >= 0:
        return at, at + len(claim)
    wanted = set(terms(claim))
    best, best_span = -1.0, (0, 0)
    for start, end in sentence_spans(passage):
        have = set(terms(passage[start:end]))
        overlap = len(wanted & have) / (len(have) ** 0.5 or 1.0)
        if overlap > best:
            best, best_span = overlap, (start, end)
    return best_span if best > 0 else (0, 0)


def make_citation(
    n: int, chunk: Chunk, catalog: Mapping[str, DocumentMeta], quote: tuple[int, int] = (0, 0)
) -> Citation:
    """Citation number `n` quoting `chunk` verbatim; `quote` is the supporting span inside the chunk text."""
    meta = catalog.get(chunk.doc)
    return Citation(
        n=n,
        doc=chunk.doc,
        title=meta.title if meta else chunk.title,
        section=chunk.section,
        text=chunk.text,
        start=chunk.start,
        end=chunk.end,
        quote_start=quote[0],
        quote_end=quote[1],
        publisher=meta.publisher if meta else "",
        date=meta.date if meta else "",
    )
