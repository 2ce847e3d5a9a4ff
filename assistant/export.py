"""Export a draft as Markdown or DOCX (the paragraph, its references and the alignment table), and an
answer or a whole conversation as Markdown with its references.

Markdown turns the [n] markers into footnotes (`[^n]`); DOCX keeps [n] as superscript
and lists the references under the paragraph. Both end with the sector table.

>>> _reference_line(Citation(1, "a.txt", "A Title", "Intro", "Quoted.", 0, 7, publisher="IOM", date="2012"), {})
'A Title. IOM, 2012. Intro. “Quoted.”'
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from .citations import MARKER_RE, display_text, marker_numbers
from .types import Alignment, Answer, Citation, DocumentMeta, Draft

TITLE = "How the project fits under the Migration Crisis Operational Framework"
_QUOTE_CHARS = 400
_EVIDENCE_CHARS = 160


def draft_to_markdown(draft: Draft, catalog: Mapping[str, DocumentMeta]) -> str:
    """The draft as a Markdown document with footnote references and the alignment table."""
    lines = [f"# {TITLE}", ""]
    if draft.notice:
        lines += [f"> {draft.notice}", ""]
    lines += [MARKER_RE.sub(_footnote_marks, draft.paragraph), ""]
    lines += [f"[^{c.n}]: {_reference_line(c, catalog)}" for c in draft.citations]
    lines += ["", "## Alignment", "", "| Sector | Name | Probability | Evidence |", "|---:|---|---:|---|"]
    for number, name, score, evidence in alignment_rows(draft.alignment, catalog):
        lines.append(f"| {number} | {_cell(name)} | {score} | {_cell(evidence)} |")
    lines += ["", *(f"- {label}: {value}" for label, value in alignment_facts(draft.alignment))]
    return "\n".join(lines) + "\n"


def answer_to_markdown(answer: Answer, catalog: Mapping[str, DocumentMeta]) -> str:
    """An answer as plain Markdown (what "copy" gives): its text with [n] markers, then its references.

    >>> c = Citation(1, "a.txt", "A Title", "", "Quoted.", 0, 7)
    >>> print(answer_to_markdown(Answer("q", "Yes [1].", (c,)), {}))
    Yes [1].
    <BLANKLINE>
    References:
    <BLANKLINE>
    - [1] A Title. “Quoted.”
    """
    return _with_references(answer.text, "" if answer.refused else answer.notice, answer.citations, catalog)


def draft_copy_markdown(draft: Draft, catalog: Mapping[str, DocumentMeta]) -> str:
    """What "Copy as Markdown" gives for a draft: the paragraph with its [n] markers, then its
    references, ready to paste into a proposal (no alignment table: that is in the .md download).

    >>> from assistant.types import Alignment
    >>> c = Citation(1, "a.txt", "A Title", "", "Quoted.", 0, 7)
    >>> print(draft_copy_markdown(Draft("p", "It fits [1].", (c,), Alignment("p", (), (), (), ())), {}))
    It fits [1].
    <BLANKLINE>
    References:
    <BLANKLINE>
    - [1] A Title. “Quoted.”
    """
    return _with_references(draft.paragraph, draft.notice, draft.citations, catalog)


def _with_references(
    text: str, notice: str, citations: Sequence[Citation], catalog: Mapping[str, DocumentMeta]
) -> str:
    lines = [text]
    if notice:
        lines += ["", f"> {notice}"]
    if citations:
        lines += ["", "References:", "", *(f"- [{c.n}] {_reference_line(c, catalog)}" for c in citations)]
    return "\n".join(lines)


def conversation_to_markdown(
    title: str, exchanges: Sequence[tuple[str, Answer | None, str]], catalog: Mapping[str, DocumentMeta]
) -> str:
    """A conversation as a Markdown document: each (question, answer or None, error) with its references."""
    lines = [f"# {title}", ""]
    for i, (question, answer, error) in enumerate(exchanges, 1):
        lines += [f"## {i}. {question}", ""]
        lines += [answer_to_markdown(answer, catalog) if answer else f"(not answered: {error})", ""]
    return "\n".join(lines)


def write_docx(draft: Draft, catalog: Mapping[str, DocumentMeta], path: Path) -> Path:
    """Save the draft as a Word document at `path` (python-docx) and return the path."""
    import docx

    document = docx.Document()
    document.add_heading(TITLE, level=1)
    if draft.notice:
        document.add_paragraph(draft.notice).runs[0].italic = True
    body = document.add_paragraph()
    for text, is_marker in _marker_split(draft.paragraph):
        run = body.add_run(text)
        run.font.superscript = is_marker
    document.add_heading("References", level=2)
    for c in draft.citations:
        document.add_paragraph(f"[{c.n}] {_reference_line(c, catalog)}")
    document.add_heading("Alignment", level=2)
    rows = alignment_rows(draft.alignment, catalog)
    table = document.add_table(rows=1 + len(rows), cols=4)
    table.style = "Table Grid"
    for row, values in zip(table.rows, [("Sector", "Name", "Probability", "Evidence"), *rows], strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = str(value)
    for label, value in alignment_facts(draft.alignment):
        document.add_paragraph(f"{label}: {value}")
    path = Path(path)
    document.save(str(path))
    return path


def alignment_rows(alignment: Alignment, catalog: Mapping[str, DocumentMeta]) -> list[tuple[int, str, str, str]]:
    """(sector number, name, probability as a percentage, evidence) for every ranked sector, best first.

    The evidence starts with the description's words the sector matched, when there are any.
    """
    rows = []
    for match in alignment.sectors:
        evidence = " · ".join(
            f"{_label(h.doc, catalog)}, {h.chunk.section}: “{_clip(display_text(h.chunk.text), _EVIDENCE_CHARS)}”"
            for h in match.evidence
        )
        if match.matched:
            evidence = f"matched: {', '.join(match.matched)} · {evidence}"
        rows.append((match.sector.number, match.sector.name, f"{match.score:.0%}", evidence))
    return rows


def alignment_facts(alignment: Alignment) -> list[tuple[str, str]]:
    """The rest of the alignment as (label, value) lines."""
    facts = [
        ("Likely phases", ", ".join(alignment.likely_phases) or "none"),
        ("Objectives", "; ".join(f"({m.objective.letter}) {m.objective.text}" for m in alignment.objectives[:2])),
        ("Cross-cutting issues to consider", ", ".join(item.name for item, _ in alignment.cross_cutting[:3])),
        ("Operational modalities to consider", ", ".join(item.name for item, _ in alignment.modalities[:3])),
    ]
    if alignment.rationale:
        facts.append(("Rationale", alignment.rationale))
    return facts


def _reference_line(c: Citation, catalog: Mapping[str, DocumentMeta]) -> str:
    meta = catalog.get(c.doc)
    title = c.title or (meta.title if meta else c.doc)
    publisher = c.publisher or (meta.publisher if meta else "")
    date = c.date or (meta.date if meta else "")
    quote = c.text[c.quote_start : c.quote_end] if c.quote_end > c.quote_start else c.text
    parts = [title, ", ".join(x for x in (publisher, date) if x), c.section, provenance(meta)]
    head = ". ".join(p.rstrip(".") for p in parts if p)
    return f"{head}. “{_clip(display_text(quote), _QUOTE_CHARS)}”"


def provenance(meta: DocumentMeta | None) -> str:
    """Where a document comes from, for an upload: "uploaded by ana on 2026-01-05" ("" for an official source)."""
    if meta is None or meta.official:
        return ""
    by = f" by {meta.uploaded_by}" if meta.uploaded_by else ""
    return f"uploaded{by} on {meta.uploaded[:10]}"


def _label(doc: str, catalog: Mapping[str, DocumentMeta]) -> str:
    meta = catalog.get(doc)
    return meta.label if meta else doc


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _footnote_marks(m: re.Match[str]) -> str:
    return "".join(f"[^{n}]" for n in marker_numbers(m.group(0)))


def _marker_split(paragraph: str) -> Iterator[tuple[str, bool]]:
    """The paragraph as (text, is_marker) pieces."""
    at = 0
    for m in MARKER_RE.finditer(paragraph):
        if m.start() > at:
            yield paragraph[at : m.start()], False
        yield m.group(0), True
        at = m.end()
    if at < len(paragraph):
        yield paragraph[at:], False
