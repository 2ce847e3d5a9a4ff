"""The MCOF model parsed from the corpus: sectors, phases, objectives, cross-cutting issues.

Pure functions over cleaned `Document`s; every item keeps the exact span it was read from,
so alignment and drafting can cite it (`span.text == document.text[span.start:span.end]`).

>>> doc = Document(DocumentMeta("f.txt", "F"), "Sector 3 Transport: To move people.\\n", "txt", "")
>>> _sectors(doc)[0].name, _sectors(doc)[0].definition
('Transport', 'To move people.')
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from typing import Any

from .errors import FrameworkError
from .textutil import BULLETS, sentence_spans, terms
from .types import (
    PHASES,
    Document,
    DocumentMeta,
    FrameworkModel,
    NamedItem,
    Objective,
    Phase,
    PhaseDef,
    Sector,
    Span,
)

log = logging.getLogger(__name__)

SECTOR_COUNT = 15
_BULLET = rf"(?:{BULLETS}[ \t]+)?"
_SECTOR_RE = re.compile(
    rf"^[ \t]*{_BULLET}(Sector[ \t]+(\d{{1,2}})[ \t]+([^:\n]{{3,90}}?)[ \t]*:[ \t]*(\S[^\n]*?))[ \t]*$", re.M
)
_PHASE_RE = re.compile(rf"^[ \t]*{_BULLET}(Phase[ \t]+([1-3])[ \t]*[:.–-][ \t]*([^\n]{{3,80}}?))[ \t]*$", re.M)
_PILLAR_RE = re.compile(rf"^[ \t]*{_BULLET}(Pillar[ \t]+1\b[^\n:]{{0,80}}:[ \t]*\S[^\n]*?)[ \t]*$", re.M)
_ITEM_RE = re.compile(rf"^[ \t]*{_BULLET}\(?([a-z])\)[ \t]+(\S[^\n]*?)[ \t]*$", re.M)
_NUMBERED_PARA_RE = re.compile(r"^(\d{1,3})\.[ \t]+\S", re.M)
_PHASE_BY_NUMBER: dict[str, Phase] = {"1": "before", "2": "during", "3": "after"}
_OBJECTIVE_LETTERS = ("a", "b", "c", "d")
_CROSS_CUTTING_KEY = "cross-cutting issues"
_MODALITY_KEY = "operational modalities"


def parse_framework(documents: Sequence[Document]) -> FrameworkModel:
    """Read the MCOF structure out of the corpus; `FrameworkError` when the core is missing.

    The 15 sectors, three phases and objectives (a)–(d) are required; the 2023 page's
    cross-cutting issues and modalities and the evaluation's recommendation are optional.
    """
    framework_doc, sectors = _find_sectors(documents)
    phases = _find_phases(documents)
    objectives = _find_objectives(documents, framework_doc)
    cross_cutting, cross_statement = _find_named_list(documents, _CROSS_CUTTING_KEY)
    modalities, modality_statement = _find_named_list(documents, _MODALITY_KEY)
    model = FrameworkModel(
        sectors=sectors,
        phases=phases,
        objectives=objectives,
        cross_cutting=cross_cutting,
        modalities=modalities,
        recommendation=_find_recommendation(documents),
        phase_overview=_find_pillar(documents),
        cross_cutting_statement=cross_statement,
        modality_statement=modality_statement,
    )
    for what, value in (
        ("cross-cutting issues", cross_cutting),
        ("operational modalities", modalities),
        ("proposal-paragraph recommendation", model.recommendation),
    ):
        if not value:
            log.warning("framework: no %s found in the corpus; drafts will leave them out", what)
    return model


# --------------------------------------------------------------------------- sectors


def _sectors(doc: Document) -> list[Sector]:
    found: dict[int, Sector] = {}
    for m in _SECTOR_RE.finditer(doc.text):
        number = int(m.group(2))
        if number in found:
            continue
        name = m.group(3).replace("*", "").strip()
        definition = m.group(4).replace("*", "").strip()
        source = _span(doc, m.start(1), m.end(1), f"Sector {number} {name}")
        found[number] = Sector(number=number, name=name, definition=definition, source=source)
    return [found[n] for n in sorted(found)]


def _find_sectors(documents: Sequence[Document]) -> tuple[Document, tuple[Sector, ...]]:
    best_doc: Document | None = None
    sectors: list[Sector] = []
    for doc in documents:
        found = _sectors(doc)
        if len(found) > len(sectors):
            best_doc, sectors = doc, found
    if best_doc is None or [s.number for s in sectors] != list(range(1, SECTOR_COUNT + 1)):
        raise FrameworkError(
            f"the corpus has no document listing the {SECTOR_COUNT} 'Sector N Name: definition' entries "
            f"of the 2012 framework (best found: {len(sectors)}): add mcof-2012-key-elements.txt to the "
            "corpus and run `mcof ingest`"
        )
    return best_doc, tuple(sectors)


# --------------------------------------------------------------------------- phases


def _find_phases(documents: Sequence[Document]) -> tuple[PhaseDef, ...]:
    found: dict[Phase, PhaseDef] = {}
    for doc in documents:
        for m in _PHASE_RE.finditer(doc.text):
            title = m.group(3).strip()
            phase = _phase_of_title(title) or _PHASE_BY_NUMBER[m.group(2)]
            passage = _passage_after(doc, m.end(), m.group(1).strip())
            if phase not in found and passage is not None:
                found[phase] = PhaseDef(phase=phase, title=title, description=passage.text, source=passage)
    missing = [p for p in PHASES if p not in found]
    if missing:
        raise FrameworkError(
            f"the corpus does not define the crisis phase(s) {', '.join(missing)} "
            "('Phase N: Before/During/After a migration crisis' followed by its text): "
            "add mcof-2012-key-elements.txt to the corpus and run `mcof ingest`"
        )
    return tuple(found[p] for p in PHASES)


def _phase_of_title(title: str) -> Phase | None:
    words = set(terms(title))
    return next((p for p in PHASES if p in words), None)


def _passage_after(doc: Document, pos: int, section: str) -> Span | None:
    """The prose paragraphs after a heading, up to the next heading-like line."""
    start = end = None
    for block_start, block_end in _blocks(doc.text, pos):
        block = doc.text[block_start:block_end]
        if _is_heading(block) or _PHASE_RE.match(block):
            break
        start = block_start if start is None else start
        end = block_end
    if start is None or end is None:
        return None
    return _span(doc, start, end, section)


def _blocks(text: str, pos: int) -> Iterator[tuple[int, int]]:
    """(start, end) of the blank-line-separated blocks from `pos` on, trimmed."""
    for m in re.finditer(r"\S(?:.|\n(?![ \t]*\n))*", text[pos:]):
        yield pos + m.start(), pos + m.start() + len(m.group().rstrip())


def _is_heading(block: str) -> bool:
    line = block.strip()
    return "\n" not in line and 2 <= len(line) <= 100 and line[-1] not in ".,;:!?" and not line.startswith("- ")


def _find_pillar(documents: Sequence[Document]) -> Span | None:
    for doc in documents:
        m = _PILLAR_RE.search(doc.text)
        if m:
            return _span(doc, m.start(1), m.end(1), "Pillar 1")
    return None


# --------------------------------------------------------------------------- objectives


def _item_runs(doc: Document) -> list[list[re.Match[str]]]:
    """Runs of consecutive list items lettered (a), (b), (c), (d) at line starts."""
    runs: list[list[re.Match[str]]] = []
    current: list[re.Match[str]] = []
    for m in _ITEM_RE.finditer(doc.text):
        letter = m.group(1)
        adjacent = bool(current) and not doc.text[current[-1].end() : m.start()].strip()
        if adjacent and ord(letter) == ord(current[-1].group(1)) + 1:
            current.append(m)
        else:
            current = [m] if letter == "a" else []
        if len(current) == len(_OBJECTIVE_LETTERS):
            runs.append(current)
            current = []
    return runs


def _similarity(a: str, b: str) -> float:
    ta, tb = set(terms(a)), set(terms(b))
    return len(ta & tb) / len(ta | tb) if ta | tb else 0.0


def _find_objectives(documents: Sequence[Document], framework_doc: Document) -> tuple[Objective, ...]:
    """Objectives (a)–(d): the lettered list that two documents state in near-identical words.

    The framework states them and the web page restates them, so the pair of lettered
    runs from different documents that agree best is taken. With a single document, its
    first lettered run (the framework lists its objectives before anything else).
    """
    runs = [(doc, run) for doc in documents for run in _item_runs(doc)]
    best: tuple[float, list[tuple[Document, list[re.Match[str]]]]] = (0.0, [])
    for i, (doc_a, run_a) in enumerate(runs):
        for doc_b, run_b in runs[i + 1 :]:
            if doc_a is doc_b:
                continue
            score = sum(_similarity(x.group(2), y.group(2)) for x, y in zip(run_a, run_b, strict=True)) / 4
            if score > best[0]:
                best = (score, [(doc_a, run_a), (doc_b, run_b)])
    chosen = best[1] if best[0] >= 0.5 else [(d, r) for d, r in runs if d is framework_doc][:1]
    if not chosen:
        raise FrameworkError(
            "the corpus does not state the framework's objectives (a)–(d) as a lettered list: "
            "add mcof-2012-key-elements.txt to the corpus and run `mcof ingest`"
        )
    chosen.sort(key=lambda pair: _year(pair[0].meta))
    objectives = []
    for doc, run in chosen:
        for m in run:
            text = m.group(2).rstrip(";.,").removesuffix(" and").rstrip(";,")
            start = m.start(2)
            source = _span(doc, start, start + len(text), _section_at(doc.text, start))
            objectives.append(Objective(letter=m.group(1), text=text, source=source, year=_year(doc.meta)))
    return tuple(objectives)


def _year(meta: DocumentMeta) -> int:
    m = re.search(r"\b(19|20)\d\d\b", meta.date)
    return int(m.group()) if m else 0


# --------------------------------------------------------------------------- named lists


def _find_named_list(documents: Sequence[Document], key: str) -> tuple[tuple[NamedItem, ...], Span | None]:
    """Items of a sentence "... <key>: A, B, C and D." as named spans, plus the sentence.

    Items start with a capital, so "Law and policy" stays one item while
    "... change and Data and evidence" splits before "Data".
    """
    pattern = re.compile(rf"{re.escape(key)}[^.:\n]{{0,80}}:[ \t]*([A-Z][^\n]*?)\.(?=\s|$)", re.I)
    for doc in documents:
        for m in pattern.finditer(doc.text):
            items = _split_list(doc, m.start(1), m.end(1))
            if len(items) >= 2 and all(len(item.name.split()) <= 6 for item in items):
                return tuple(items), _sentence_around(doc, m.start(), m.end(1) + 1)
    return (), None


def _split_list(doc: Document, start: int, end: int) -> list[NamedItem]:
    items = []
    section = _section_at(doc.text, start)
    cut = start
    for sep in [*re.finditer(r",[ \t]*|[ \t]+and[ \t]+(?=[A-Z])", doc.text[start:end]), None]:
        piece_end = start + sep.start() if sep else end
        name = doc.text[cut:piece_end].strip()
        if name:
            offset = doc.text.index(name, cut)
            items.append(NamedItem(name=name, source=_span(doc, offset, offset + len(name), section)))
        if sep:
            cut = start + sep.end()
    return items


def _sentence_around(doc: Document, start: int, end: int) -> Span:
    line_start = doc.text.rfind("\n", 0, start) + 1
    line_end = doc.text.find("\n", end)
    line_end = len(doc.text) if line_end < 0 else line_end
    for s, e in sentence_spans(doc.text[line_start:line_end]):
        if line_start + s <= start < line_start + e:
            return _span(doc, line_start + s, max(line_start + e, end), _section_at(doc.text, start))
    return _span(doc, start, end, _section_at(doc.text, start))


def _find_recommendation(documents: Sequence[Document]) -> Span | None:
    """The sentence asking that project proposals carry a paragraph on how they fit the MCOF."""
    for doc in documents:
        for m in re.finditer(r"\bparagraph\b", doc.text):
            sentence = _sentence_around(doc, m.start(), m.end())
            if {"propos", "project"} <= set(terms(sentence.text)):
                return sentence
    return None


# --------------------------------------------------------------------------- spans


def _span(doc: Document, start: int, end: int, section: str) -> Span:
    return Span(doc=doc.meta.doc, start=start, end=end, text=doc.text[start:end], section=section)


def _section_at(text: str, pos: int) -> str:
    """A readable location: the nearest heading above `pos`, with the numbered paragraph if any.

    >>> _section_at("Intro\\n\\n2. The text (a) here.", 20)
    'Intro, para. 2'
    """
    heading = ""
    para = ""
    for block_start, block_end in _blocks(text, 0):
        if block_start > pos:
            break
        block = text[block_start:block_end]
        if _is_heading(block):
            heading, para = block.strip(), ""
        elif m := _NUMBERED_PARA_RE.match(block):
            para = m.group(1)
    if heading and para:
        return f"{heading}, para. {para}"
    return heading or (f"para. {para}" if para else "")


# --------------------------------------------------------------------------- storage


def framework_to_dict(model: FrameworkModel) -> dict[str, Any]:
    """A JSON-safe dict of the model (stored with the index)."""
    return {
        "version": 1,
        "sectors": [
            {"number": s.number, "name": s.name, "definition": s.definition, "source": _span_dict(s.source)}
            for s in model.sectors
        ],
        "phases": [
            {"phase": p.phase, "title": p.title, "description": p.description, "source": _span_dict(p.source)}
            for p in model.phases
        ],
        "objectives": [
            {"letter": o.letter, "text": o.text, "year": o.year, "source": _span_dict(o.source)}
            for o in model.objectives
        ],
        "cross_cutting": [{"name": i.name, "source": _span_dict(i.source)} for i in model.cross_cutting],
        "modalities": [{"name": i.name, "source": _span_dict(i.source)} for i in model.modalities],
        "recommendation": _span_dict(model.recommendation),
        "phase_overview": _span_dict(model.phase_overview),
        "cross_cutting_statement": _span_dict(model.cross_cutting_statement),
        "modality_statement": _span_dict(model.modality_statement),
    }


def framework_from_dict(d: dict[str, Any]) -> FrameworkModel:
    """Inverse of `framework_to_dict`; a malformed dict raises `FrameworkError`."""
    try:
        return FrameworkModel(
            sectors=tuple(
                Sector(int(s["number"]), str(s["name"]), str(s["definition"]), _span_of(s["source"]))
                for s in d["sectors"]
            ),
            phases=tuple(
                PhaseDef(_phase(p["phase"]), str(p["title"]), str(p["description"]), _span_of(p["source"]))
                for p in d["phases"]
            ),
            objectives=tuple(
                Objective(str(o["letter"]), str(o["text"]), _span_of(o["source"]), int(o["year"]))
                for o in d["objectives"]
            ),
            cross_cutting=tuple(NamedItem(str(i["name"]), _span_of(i["source"])) for i in d["cross_cutting"]),
            modalities=tuple(NamedItem(str(i["name"]), _span_of(i["source"])) for i in d["modalities"]),
            recommendation=_optional_span(d.get("recommendation")),
            phase_overview=_optional_span(d.get("phase_overview")),
            cross_cutting_statement=_optional_span(d.get("cross_cutting_statement")),
            modality_statement=_optional_span(d.get("modality_statement")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise FrameworkError(f"the stored framework model is unreadable ({exc}): run `mcof ingest --rebuild`") from exc


def _phase(value: object) -> Phase:
    for phase in PHASES:
        if value == phase:
            return phase
    raise ValueError(f"unknown phase {value!r}")


def _span_dict(span: Span | None) -> dict[str, Any] | None:
    if span is None:
        return None
    return {"doc": span.doc, "start": span.start, "end": span.end, "text": span.text, "section": span.section}


def _span_of(d: dict[str, Any]) -> Span:
    return Span(str(d["doc"]), int(d["start"]), int(d["end"]), str(d["text"]), str(d.get("section", "")))


def _optional_span(d: dict[str, Any] | None) -> Span | None:
    return None if d is None else _span_of(d)
