"""Lexical matching: Okapi BM25 over postings, and acronym mining. Pure functions over token lists.

The postings (term → positions of the documents holding it, and how often) are built once at
ingest and read back from the text index; `BM25` scores a query from them without ever
holding the documents.

>>> index = BM25.from_documents([["camp", "manag"], ["border", "manag"], ["health"]])
>>> [round(float(s), 2) for s in index.scores(["border"])]
[0.0, 0.91, 0.0]
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from .textutil import terms

Postings = tuple[np.ndarray, np.ndarray]  # document positions (ascending), term counts


def postings(documents: Iterable[Sequence[str]]) -> dict[str, Postings]:
    """Term → (positions of the documents holding it, its count in each).

    >>> {t: (p.tolist(), c.tolist()) for t, (p, c) in postings([["camp", "camp"], ["shelter", "camp"]]).items()}
    {'camp': ([0, 1], [2, 1]), 'shelter': ([1], [1])}
    """
    found: dict[str, tuple[list[int], list[int]]] = {}
    for i, doc in enumerate(documents):
        for term, tf in Counter(doc).items():
            positions, counts = found.setdefault(term, ([], []))
            positions.append(i)
            counts.append(tf)
    return {t: (np.array(p, dtype=np.int32), np.array(c, dtype=np.uint16)) for t, (p, c) in found.items()}


class BM25:
    """Okapi BM25 (k1=1.2, b=0.75) from document lengths and a postings lookup.

    `lookup(term)` gives the postings of a term or None; `frequency(term)` (optional) its
    document frequency without reading the postings.
    """

    def __init__(
        self,
        lengths: np.ndarray,
        lookup: Callable[[str], Postings | None],
        k1: float = 1.2,
        b: float = 0.75,
        frequency: Callable[[str], int] | None = None,
    ) -> None:
        self.k1 = k1
        self.b = b
        self.n = len(lengths)
        self.lengths = np.asarray(lengths, dtype=np.float32)
        self.avg_length = float(self.lengths.mean()) if self.n else 0.0
        self._lookup = lookup
        self._frequency = frequency
        self._norm: np.ndarray | None = None

    @classmethod
    def from_documents(cls, documents: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> BM25:
        """BM25 over documents held in memory."""
        return cls(np.array([len(d) for d in documents], dtype=np.float32), postings(documents).get, k1, b)

    def idf(self, term: str) -> float:
        df = self.document_frequency(term)
        return math.log(1.0 + (self.n - df + 0.5) / (df + 0.5))

    def document_frequency(self, term: str) -> int:
        if self._frequency is not None:
            return self._frequency(term)
        found = self._lookup(term)
        return 0 if found is None else len(found[0])

    def scores(self, query: Iterable[str]) -> np.ndarray:
        out = np.zeros(self.n, dtype=np.float32)
        if not self.n:
            return out
        if self._norm is None:
            self._norm = self.k1 * (1 - self.b + self.b * self.lengths / max(self.avg_length, 1e-9))
        for term, qtf in Counter(query).items():
            found = self._lookup(term)
            if found is None:
                continue
            positions, counts = found
            idf = math.log(1.0 + (self.n - len(positions) + 0.5) / (len(positions) + 0.5))
            tf = counts.astype(np.float32)
            out[positions] += np.float32(qtf * idf) * tf * np.float32(self.k1 + 1) / (tf + self._norm[positions])
        return out


_PAREN_ACRONYM_RE = re.compile(
    r"((?:[A-Z][\w'’-]*[\s,]+(?:(?:and|of|for|the|on|in|to|&)\s+)*){1,9})\(([A-Z][A-Za-z&-]{1,9})\)"
)


def mine_acronyms(texts: Iterable[str]) -> dict[str, str]:
    """Acronym → expansion, from "Full Name (ACR)" patterns and "ACR | Full name" table cells.

    >>> mine_acronyms(["the Migration Governance Framework (MiGOF) is", "RBM | Results-based management"])
    {'MiGOF': 'Migration Governance Framework', 'RBM': 'Results-based management'}
    """
    found: dict[str, str] = {}
    for text in texts:
        for m in _PAREN_ACRONYM_RE.finditer(text):
            acronym = m.group(2)
            expansion = _expansion_matching(m.group(1).split(), acronym)
            if expansion:
                found.setdefault(acronym, expansion)
        for line in text.split("\n"):
            cells = [c.strip() for c in line.split(" | ")]
            for acronym, expansion in zip(cells[::2], cells[1::2], strict=False):
                if (
                    re.fullmatch(r"[A-Z][A-Za-z&-]{1,9}", acronym)
                    and sum(c.isupper() for c in acronym) >= 2
                    and _expansion_matching(expansion.split(), acronym)
                ):
                    found.setdefault(acronym, expansion)
    return found


_LABEL = r"[A-Z][A-Za-z]{1,11} \d{1,3}(?:\.\d{1,3})?[a-z]?"  # "Sector 12", "MI 4.2", "MI 2.1b"
_LINE_START = r"^[-*•\s]*"  # list bullets and bold markers before a heading
_LABEL_RES = (
    re.compile(rf"{_LINE_START}({_LABEL})[ \t]+(?!\d)([^:\t\n*]{{2,120}}?)\**:", re.MULTILINE),  # "Sector 12 Name:"
    re.compile(  # "MI 4.2: Name", ending a line or a table cell
        rf"{_LINE_START}({_LABEL}):\**[ \t]+([^:|\t\n*]{{2,120}}?)\**[ \t]*(?:\t| \| |$)", re.MULTILINE
    ),
)
_LABEL_MAX_WORDS = 20


def mine_labels(texts: Iterable[str]) -> dict[str, str]:
    """Numbered label → the name a heading gives it, from lines such as "Sector 12 Emergency Consular
    Assistance: To support…" or "MI 4.2: Allocated resources disbursed as planned". The first name
    stands; a label headed elsewhere with a name that is not a rewording of it ("Element 1" under
    every indicator) names nothing and is left out.

    >>> mine_labels(["- Sector 12 Emergency Consular Assistance: To support", "Element 1: Targets\\tScore",
    ...              "MI 4.2: Allocated resources disbursed\\t4", "Element 1: Staff\\t3", "KPI 8 Results focus:",
    ...              "KPI 8: The focus on results is strong | 4"])
    {'Sector 12': 'Emergency Consular Assistance', 'MI 4.2': 'Allocated resources disbursed', 'KPI 8': 'Results focus'}
    """
    first: dict[str, str] = {}  # label → its first name, as written
    clashing: set[str] = set()
    for text in texts:
        for pattern in _LABEL_RES:
            for m in pattern.finditer(text):
                label, name = m.group(1), m.group(2).strip().rstrip(".")
                if not (name[:1].isupper() or name[:1] == "(") or len(name.split()) > _LABEL_MAX_WORDS:
                    continue
                known = first.setdefault(label, name)
                if not _rewording(name, known):
                    clashing.add(label)
    return {label: name for label, name in first.items() if label not in clashing}


def _rewording(name: str, first: str) -> bool:
    """Does `name` say what `first` says: half its content terms or more in either one?"""
    a, b = set(terms(name)), set(terms(first))
    shared = len(a & b)
    return bool(a and b) and shared >= 0.5 * min(len(a), len(b))


def spell_out_labels(text: str, labels: Mapping[str, str]) -> str:
    """`text` with each label it uses followed by its name (`mine_labels`), unless the name is already there.

    >>> spell_out_labels("What is sector 12 for?", {"Sector 12": "Emergency Consular Assistance", "Sector 1": "Camps"})
    'What is sector 12 (Emergency Consular Assistance) for?'
    """
    folded = text.casefold()
    for label, name in labels.items():
        if name.casefold() in folded:
            continue
        text = re.sub(rf"\b({re.escape(label)})\b", rf"\1 ({_escaped(name)})", text, flags=re.IGNORECASE)
    return text


def _escaped(replacement: str) -> str:
    """`replacement` safe as the literal part of a `re.sub` template."""
    return replacement.replace("\\", "\\\\")


def _expansion_matching(words: list[str], acronym: str) -> str:
    """The shortest tail of `words` that spells the acronym, each word giving a prefix of it.

    Hyphenated words count as separate words and minor words ("of", "and") may give nothing:
    "Results-based management" spells RBM, "Migration Governance Framework" spells MiGOF.
    """
    words = [w.strip(",") for w in words if w.strip(",")]
    letters = acronym.lower().replace("&", "").replace("-", "")
    for size in range(1, len(words) + 1):
        tail = words[-size:]
        parts = [p.lower() for w in tail for p in w.split("-") if p]
        if parts and parts[0] not in _MINOR and _spells(letters, parts):
            return " ".join(tail)
    return ""


def _spells(letters: str, parts: list[str]) -> bool:
    """Can `letters` be cut into consecutive prefixes of `parts`, in order (minor words may give none)?"""
    if not parts:
        return not letters
    head, rest = parts[0], parts[1:]
    if head in _MINOR and _spells(letters, rest):
        return True
    longest = 0
    while longest < min(len(head), len(letters)) and head[longest] == letters[longest]:
        longest += 1
    return any(_spells(letters[n:], rest) for n in range(longest, 0, -1))


_MINOR = frozenset({"and", "of", "for", "the", "on", "in", "to", "&"})
