"""Pure text helpers shared by indexing, answering and alignment.

>>> terms("The States' sectors of assistance")
['state', 'sector', 'assist']
>>> [s for s, e in sentence_spans("First one. Second, e.g. this. Third")]
[0, 11, 30]
>>> text = "Crises (e.g. floods) displace people. Next."
>>> [text[s:e] for s, e in sentence_spans(text)]
['Crises (e.g. floods) displace people.', 'Next.']
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import snowballstemmer

_WORD_RE = re.compile(r"[A-Za-z0-9]+(?:[-'’][A-Za-z0-9]+)*")

STOPWORDS = frozenset(
    """
a about above after again against all also am an and any are aren as at be because been before
being below between both but by can could did do does doing don down during each either few for
from further had has have having he her here hers herself him himself his how however i if in
into is isn it its itself just let may me might more most must my myself no nor not now of off on
once only or other others our ours ourselves out over own per same shall she should so some such
than that the their theirs them themselves then there these they this those through thus to too
under until up upon us very via was we were what when where whether which while who whom whose
why will with within without would yet you your yours yourself yourselves
say said says tell told according does did do done kind kinds thing things get got
""".split()
)

# Words that name the corpus or its genre: they appear almost everywhere and carry no topic.
GENERIC = frozenset(
    """
iom mcof framework operational migration crisis crises organization international document
""".split()
)

_stemmer = snowballstemmer.stemmer("english")


@lru_cache(maxsize=100_000)
def stem(word: str) -> str:
    """Snowball (Porter 2) stem of a lowercased word: consistent for "state"/"states"."""
    return str(_stemmer.stemWord(word))


def fold(text: str) -> str:
    """NFKC, curly quotes to straight ones, lowercase."""
    text = unicodedata.normalize("NFKC", text)
    return text.replace("’", "'").replace("‘", "'").lower()


def words(text: str) -> list[str]:
    """Lowercased word tokens, possessives dropped: "IOM's (re)integration" → ['iom', 're', 'integration']."""
    out = []
    for w in _WORD_RE.findall(fold(text)):
        if w.endswith("'s"):
            w = w[:-2]
        out.append(w.replace("'", ""))
    return out


def terms(text: str, drop_generic: bool = False) -> list[str]:
    """Stemmed content terms, stop-words removed (the BM25 vocabulary)."""
    out = []
    for w in words(text):
        if w in STOPWORDS or (drop_generic and w in GENERIC):
            continue
        if len(w) == 1 and not w.isdigit():
            continue
        out.append(stem(w))
    return out


BULLETS = "[-•*▪◦]"  # a character class: the marks that open a list item in the corpus's texts
_ABBREVIATIONS = frozenset(
    "e.g i.e etc cf vs no nos para paras art p pp mr ms dr st fig vol approx incl u.s u.n inter alia".split()
)
_SENTENCE_END_RE = re.compile(
    r"[.!?]+[\"'”’)\]]*(?=\s+[\"“‘(\[]?[A-Z0-9•\-–])"  # end punctuation before a capital
    r"|\n\s*\n"  # a blank line
    r"|\n(?=\s*(?:[-•*]|\(?[a-z0-9]{1,3}[.)])\s)"  # a line break before a list item
)


def sentence_spans(text: str, min_chars: int = 2) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of `text`, trimmed of surrounding space.

    Breaks after . ! ? followed by a capital, at blank lines and before list items;
    never after a known abbreviation ("e.g.", "No.").
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _SENTENCE_END_RE.finditer(text):
        piece = text[start : m.start()]
        last = piece.rsplit(None, 1)[-1].lower().strip("([\"'“‘").rstrip(".") if piece.strip() else ""
        if m.group(0).startswith(".") and (last in _ABBREVIATIONS or re.fullmatch(r"[a-z]", last)):
            continue
        _append_trimmed(text, start, m.end(), spans, min_chars)
        start = m.end()
    _append_trimmed(text, start, len(text), spans, min_chars)
    return spans


def _append_trimmed(text: str, start: int, end: int, spans: list[tuple[int, int]], min_chars: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end - start >= min_chars and re.search(r"\w", text[start:end]):
        spans.append((start, end))


_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def blank_controls(text: str) -> str:
    """`text` with control characters (not tabs or line breaks) turned into spaces, stripped.

    >>> blank_controls("\\x01 sectors\\x1b ")
    'sectors'
    """
    return _CONTROL_RE.sub(" ", text).strip()


def content_hash(*parts: str, length: int = 20) -> str:
    """Stable short hash of text parts (chunk ids, cache keys)."""
    import hashlib

    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:length]


_FIELD_RE = re.compile(r"^[A-Z][a-z]+(?: [a-z]+){0,3}: \S")


def is_field_line(line: str) -> bool:
    """A "Label: value" line of a title page or a profile, which states a fact though it is short and
    unpunctuated: a label of one capitalised word and at most three more, without figures, then its value.

    >>> [is_field_line(t) for t in ("Evaluation period: November 2012 – November 2018", "Commissioned by: IOM")]
    [True, True]
    >>> [is_field_line(t) for t in ("Phase 2: During a migration crisis", "PERFORMANCE AREA: RESULTS", "Annex:")]
    [False, False, False]
    """
    return bool(_FIELD_RE.match(line.strip()))


QUESTION_WORDS = frozenset("what which who whom whose when where why how is are was were does do did can could".split())
NAME_RE = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'’-]+")  # a capitalised word not opening a sentence
YEAR_RE = re.compile(r"\b(?:19|20)\d\d\b")


def anchors(question: str) -> list[str]:
    """Years and capitalised names of the question that its answer must stand next to.

    >>> anchors("What are the updated sectors of IOM's 2021 Addendum of the MCOF?")
    ['2021', 'Addendum', 'MCOF']
    """
    found = [m.group(0) for m in NAME_RE.finditer(question)] + YEAR_RE.findall(question)
    out = []
    for word in found:
        low = word.lower()
        if low in QUESTION_WORDS or low in STOPWORDS or terms(word) in ([], ["iom"]):
            continue
        out.append(word)
    return sorted(set(out), key=question.find)
