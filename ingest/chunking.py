"""Structure-aware chunking of a cleaned document. Pure functions.

The clean text is cut on the document's own structure: headings open sections,
numbered paragraphs keep their lettered items, each "Sector N Name:" entry of the
2012 framework is a chunk of its own, table rows are grouped under their header, and
anything longer than `MAX_WORDS` is cut at sentence boundaries. Every chunk is an exact
span of the clean text; `index_text` adds the context (document, section, table header)
that helps search but is never quoted.

>>> from assistant.types import Document, DocumentMeta
>>> text = "Introduction\\n\\n1. The framework has two pillars:\\n\\nSector 1 Camp Management: To improve camps.\\n"
>>> doc = Document(DocumentMeta("f.txt", "F"), text, "txt", "0")
>>> for c in chunk_document(doc):
...     print(c.section, c.paragraph, c.sector, repr(c.text))
Introduction 1 None 'Introduction\\n\\n1. The framework has two pillars:'
Introduction  1 'Sector 1 Camp Management: To improve camps.'
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

from assistant.textutil import content_hash, sentence_spans
from assistant.types import Chunk, Document, FrameworkModel, Sentence, Span

CHUNKER_VERSION = "structure-v13"  # bump when cleaning or chunking changes what is indexed: re-ingest redoes all
# (v7: the answer step's sentence texts are embedded at ingest too, `extractive.reading_texts`;
# v10: chunks holding a framework element are labelled with it, `framework_labels`;
# v11: the text index keeps the numbered labels the documents head, `lexical.mine_labels`;
# v12: a title-reading model embeds chunks and sentences under their section title, `embed_passages`)
TARGET_WORDS = 180  # pack small blocks up to about this size
SMALL_WORDS = 25  # a chunk this small may absorb the next section (title pages, diagram labels)
MAX_WORDS = 260  # longer blocks are cut at sentence boundaries
MIN_SENTENCE_WORDS = 3

_SECTOR_RE = re.compile(r"^(?:-\s*)?Sector\s+(\d{1,2})\s+([^:\n]{3,90}?)\s*:")
_NUMBERED_RE = re.compile(r"^(\d{1,2})\.\s+(?=[A-Z])")
_ITEM_RE = re.compile(r"^(?:-\s|\(?[a-z]\)\s|\(?[ivx]{1,4}\)\s|\d{1,2}[.)]\s)")
_FOOTNOTE_RE = re.compile(r"^[⁰¹²³⁴⁵⁶⁷⁸⁹]+\s*")
_KPI_RE = re.compile(r"^KPI\s+\d+\s*:")
_MI_RE = re.compile(r"^MI\s+\d+\.\d+\s*:")
_LEVEL1_RE = re.compile(r"^(?:Chapter\s+\d+|Annex\b|\d+\.\s+[A-Z][A-Z /&,-]+$)")
_LEVEL2_RE = re.compile(r"^\d+\.\d+\.?\s")
_BOX_RE = re.compile(r"^(?:Box|Figure|Table)\s+\d+\s*:")


@dataclass(frozen=True)
class _Unit:
    """One non-empty line of the clean text, classified."""

    start: int
    end: int
    kind: str  # heading, sector, numbered, item, row, footnote, text
    text: str
    level: int = 0  # heading level
    number: str = ""  # paragraph or sector number

    @property
    def words(self) -> int:
        return len(self.text.split())


@dataclass
class _Block:
    """Units that belong together (a paragraph and its items, a table, a sector entry)."""

    units: list[_Unit]
    kind: str
    section: str
    header: str = ""  # table header row, for index_text

    @property
    def words(self) -> int:
        return sum(u.words for u in self.units)

    @property
    def start(self) -> int:
        return self.units[0].start

    @property
    def end(self) -> int:
        return self.units[-1].end


def chunk_document(doc: Document) -> list[Chunk]:
    """Cut a cleaned document into retrievable chunks (see module docstring)."""
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for block, heading_start in _pack(_blocks(_units(doc.text))):
        start = heading_start if heading_start is not None else block.start
        text = doc.text[start : block.end]
        sector = int(block.units[0].number) if block.kind == "sector" else None
        paragraph = next((u.number for u in block.units if u.kind == "numbered"), "")
        index_text = _index_text(doc.meta.label, block, text)
        base = content_hash(doc.meta.doc, index_text)
        seen[base] = seen.get(base, 0) + 1
        chunk_id = base if seen[base] == 1 else content_hash(base, str(seen[base]))
        chunks.append(
            Chunk(
                id=chunk_id,
                doc=doc.meta.doc,
                title=doc.meta.title,
                section=block.section,
                text=text,
                start=start,
                end=block.end,
                index_text=index_text,
                paragraph=paragraph,
                sector=sector,
                kind=block.kind,
            )
        )
    return chunks


# what each part of the framework model is, added to the index text of the chunks that hold it
FRAMEWORK_LABELS = {  # short: a label names what the passage holds, it does not add the framework's name
    "objectives": "Objectives (a) to (d)",
    "phases": "Phases of a crisis: before, during and after",
    "sectors": "Sectors of assistance",
    "cross_cutting": "Cross-cutting issues",
    "modalities": "Operational modalities",
}


def framework_labels(chunks: list[Chunk], framework: FrameworkModel | None) -> list[Chunk]:
    """The chunks, those holding an element of the framework model labelled with what it is.

    The framework's objectives follow "a flexible tool that has been designed to:" with no word
    "objective" near them; labelled, they are found by "What are the objectives of the MCOF?"
    like a heading would make them. Only `index_text` changes (and only once: labelling twice
    adds nothing), so quotes and ids stay as they are.

    >>> from assistant.types import Objective
    >>> text = "designed to: (a) Improve..."
    >>> chunk = Chunk("c1", "f.txt", "F", "Intro", text, 0, 27, "F" + chr(10) + text)
    >>> objective = Objective("a", "Improve...", Span("f.txt", 14, 27, "(a) Improve..."), 2012)
    >>> model = FrameworkModel(objectives=(objective,))
    >>> framework_labels(framework_labels([chunk], model), model)[0].index_text.splitlines()[0]
    'F — Objectives (a) to (d)'
    """
    if framework is None:
        return chunks
    spans: dict[str, list[Span]] = {
        "objectives": [o.source for o in framework.objectives],
        "phases": [p.source for p in framework.phases] + [s for s in [framework.phase_overview] if s],
        "sectors": [s.source for s in framework.sectors],
        "cross_cutting": [i.source for i in framework.cross_cutting]
        + [s for s in [framework.cross_cutting_statement] if s],
        "modalities": [i.source for i in framework.modalities] + [s for s in [framework.modality_statement] if s],
    }
    out = []
    for chunk in chunks:
        labels = [
            FRAMEWORK_LABELS[part] for part, found in spans.items()
            if any(s.overlaps(chunk) for s in found)
        ]
        context, _, text = chunk.index_text.partition("\n")
        new = [label for label in labels if label not in context]
        out.append(replace(chunk, index_text=" — ".join([context, *new]) + "\n" + text) if new else chunk)
    return out


def sentences_of(chunk: Chunk) -> list[Sentence]:
    """The sentences (table rows, list items) of a chunk, with document offsets.

    Fragments shorter than three words are left out: they carry no meaning of their own.
    """
    out = []
    for start, end in sentence_spans(chunk.text):
        for line_start, line_end in _line_spans(chunk.text, start, end):
            piece = chunk.text[line_start:line_end]
            if len(piece.split()) < MIN_SENTENCE_WORDS:
                continue
            doc_start = chunk.start + line_start
            out.append(
                Sentence(
                    id=content_hash(chunk.id, str(doc_start)),
                    chunk_id=chunk.id,
                    text=piece,
                    start=doc_start,
                    end=chunk.start + line_end,
                    doc=chunk.doc,
                )
            )
    return out


def _line_spans(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Split a sentence span further at line breaks between table rows or headings."""
    piece = text[start:end]
    if "\n" not in piece:
        yield start, end
        return
    offset = start
    for line in piece.split("\n"):
        stripped = line.strip()
        if stripped:
            lead = len(line) - len(line.lstrip())
            yield offset + lead, offset + lead + len(stripped)
        offset += len(line) + 1


def _units(text: str) -> list[_Unit]:
    units: list[_Unit] = []
    offset = 0
    lines = text.split("\n")
    for i, raw in enumerate(lines):
        line_start = offset
        offset += len(raw) + 1
        line = raw.strip()
        if not line:
            continue
        start = line_start + (len(raw) - len(raw.lstrip()))
        end = start + len(line)
        standalone = (i == 0 or not lines[i - 1].strip()) and (i + 1 >= len(lines) or not lines[i + 1].strip())
        units.append(_classify(line, start, end, standalone))
    return _merge_continuations(units, text)


def _classify(line: str, start: int, end: int, standalone: bool) -> _Unit:
    first_cell = line.split(" | ", 1)[0]
    if m := _SECTOR_RE.match(line):
        return _Unit(start, end, "sector", line, number=m.group(1))
    if _KPI_RE.match(first_cell) and len(first_cell) < 300:
        return _Unit(start, end, "heading", line, level=4)
    if _MI_RE.match(first_cell) and len(first_cell) < 300:
        return _Unit(start, end, "heading", line, level=5)
    if " | " in line and len(first_cell) < 200:
        return _Unit(start, end, "row", line)
    if _FOOTNOTE_RE.match(line):
        return _Unit(start, end, "footnote", line)
    if (m := _NUMBERED_RE.match(line)) and (len(line) > 150 or line.endswith(":")):
        return _Unit(start, end, "numbered", line, number=m.group(1))
    if _ITEM_RE.match(line):
        return _Unit(start, end, "item", line)
    if standalone and _looks_like_heading(line):
        return _Unit(start, end, "heading", line, level=_heading_level(line))
    return _Unit(start, end, "text", line)


def _looks_like_heading(line: str) -> bool:
    words = line.split()
    return (
        len(line) <= 100
        and 1 <= len(words) <= 14
        and (line[0].isupper() or line[0].isdigit())
        and not line.endswith((".", ";", ",", ":"))
        and not re.fullmatch(r"[\d\s.,%–-]+", line)
    )


def _heading_level(line: str) -> int:
    if _LEVEL1_RE.match(line):
        return 1
    if _LEVEL2_RE.match(line):
        return 2
    if _BOX_RE.match(line):
        return 4
    letters = [c for c in line if c.isalpha()]
    if letters and sum(c.isupper() for c in letters) / len(letters) > 0.8 and len(letters) > 3:
        return 3
    return 2


def _merge_continuations(units: list[_Unit], text: str) -> list[_Unit]:
    """A line starting in lower case continues the previous item or paragraph (wrapped bullets)."""
    out: list[_Unit] = []
    for unit in units:
        if out and unit.kind == "text" and unit.text[0].islower() and out[-1].kind in ("item", "text", "numbered"):
            prev = out[-1]
            out[-1] = _Unit(prev.start, unit.end, prev.kind, text[prev.start : unit.end], prev.level, prev.number)
        else:
            out.append(unit)
    return out


def _blocks(units: list[_Unit]) -> list[_Block]:
    """Group units: headings set the section; items follow their lead-in; rows form tables."""
    blocks: list[_Block] = []
    stack: list[tuple[int, str]] = []
    table_header = ""
    for unit in units:
        section = " > ".join(title for _, title in stack)
        if unit.kind == "heading":
            while stack and stack[-1][0] >= unit.level:
                stack.pop()
            stack.append((unit.level, _heading_title(unit.text)))
            blocks.append(_Block([unit], "heading", " > ".join(title for _, title in stack)))
            table_header = unit.text if " | " in unit.text else ""
            continue
        prev = blocks[-1] if blocks else None
        if unit.kind == "row":
            if prev is not None and prev.kind == "table" and prev.section == section:
                prev.units.append(unit)
            else:
                header = table_header or unit.text
                blocks.append(_Block([unit], "table", section, header=header))
            continue
        if unit.kind == "item" and prev is not None and prev.kind in ("text", "list") and prev.section == section:
            prev.units.append(unit)
            prev.kind = "list"
            continue
        if unit.kind == "item" and prev is not None and prev.kind == "numbered" and prev.section == section:
            prev.units.append(unit)
            continue
        kind = {"sector": "sector", "numbered": "numbered", "footnote": "footnote", "item": "list"}.get(
            unit.kind, "text"
        )
        blocks.append(_Block([unit], kind, section))
    return blocks


def _heading_title(text: str) -> str:
    """The section label of a heading line: a table-row heading keeps its first cell only."""
    title = text.split(" | ", 1)[0].strip()
    return title if len(title) <= 120 else title[:117].rsplit(" ", 1)[0] + "..."


def _pack(blocks: list[_Block]) -> Iterator[tuple[_Block, int | None]]:
    """Merge small neighbouring blocks of one section, split long ones.

    Yields (block, heading_start): heading_start is set when the block directly follows
    its heading lines (a run of consecutive headings counts as one), so the chunk's span
    starts with them. A chunk under SMALL_WORDS may run on into the next section; if it
    cannot, the heading opens the next chunk.
    """
    headings: list[_Unit] = []  # heading lines waiting for the content they introduce
    current: _Block | None = None
    current_heading: int | None = None
    for block in blocks:
        if block.kind == "heading":
            if current is not None and current.words >= SMALL_WORDS:
                yield current, current_heading
                current = None
            headings.extend(block.units)
            continue
        for piece in _split_long(block):
            heading_words = sum(u.words for u in headings)
            mergeable = (
                current is not None
                and piece.kind not in ("sector", "footnote")
                and current.kind not in ("sector", "footnote")
                and (current.section == piece.section or current.words < SMALL_WORDS)
                and current.words + heading_words + piece.words <= TARGET_WORDS
                and not (piece.kind == "numbered" and current.words >= TARGET_WORDS // 3)
            )
            if mergeable and current is not None:
                units = current.units + headings + piece.units
                current = _Block(units, _merged_kind(current, piece), current.section, current.header or piece.header)
            else:
                if current is not None:
                    yield current, current_heading
                current, current_heading = piece, (headings[0].start if headings else None)
            headings = []
    if current is not None:
        yield current, current_heading
    if headings:  # headings at the very end of the document
        yield _Block(headings, "heading", _heading_title(headings[-1].text)), None


def _merged_kind(a: _Block, b: _Block) -> str:
    return a.kind if a.kind == b.kind else ("table" if "table" in (a.kind, b.kind) else "text")


def _split_long(block: _Block) -> Iterator[_Block]:
    """Cut a block longer than MAX_WORDS into pieces of about TARGET_WORDS at unit or sentence ends."""
    if block.words <= MAX_WORDS:
        yield block
        return
    pieces: list[_Unit] = []
    for unit in block.units:
        if unit.words <= MAX_WORDS:
            pieces.append(unit)
            continue
        for s, e in _sentence_windows(unit.text):
            kind = unit.kind if s == 0 or unit.kind == "numbered" else "text"
            pieces.append(_Unit(unit.start + s, unit.start + e, kind, unit.text[s:e], unit.level, unit.number))
    group: list[_Unit] = []
    for unit in pieces:
        if group and sum(u.words for u in group) + unit.words > TARGET_WORDS:
            yield _Block(group, block.kind, block.section, block.header)
            group = []
        group.append(unit)
    if group:
        yield _Block(group, block.kind, block.section, block.header)


def _sentence_windows(text: str) -> Iterator[tuple[int, int]]:
    """Consecutive sentence groups of about TARGET_WORDS words covering `text`."""
    spans = sentence_spans(text, min_chars=1) or [(0, len(text))]
    window_start, window_end, words = spans[0][0], spans[0][0], 0
    for s, e in spans:
        n = len(text[s:e].split())
        if words and words + n > TARGET_WORDS:
            yield window_start, window_end
            window_start, words = s, 0
        window_end = e
        words += n
    yield window_start, window_end


def _index_text(label: str, block: _Block, text: str) -> str:
    """What is embedded and indexed: the chunk text with its context in front."""
    context = [label]
    if block.section:
        context.append(block.section)
    if block.header and not text.startswith(block.header):
        context.append(block.header)
    return " — ".join(context) + "\n" + text
