"""Export: Markdown with footnotes and a sector table; a DOCX that python-docx reads back."""

from __future__ import annotations

from pathlib import Path

import docx
import pytest

from assistant.align import Aligner
from assistant.export import draft_to_markdown, write_docx
from assistant.framework import parse_framework
from assistant.types import DocumentMeta, Draft
from tests.mcof_corpus import SMALL_DOCS, StaticSearcher, corpus_documents

PROJECT = "Give families displaced by floods tents, household items and cash, with safe distribution points."


@pytest.fixture(scope="module")
def catalog() -> dict[str, DocumentMeta]:
    return {d.meta.doc: d.meta for d in corpus_documents(SMALL_DOCS)}


@pytest.fixture()
def draft(catalog: dict[str, DocumentMeta], hashing_embedder) -> Draft:
    from assistant.draft import Drafter

    framework = parse_framework(corpus_documents(SMALL_DOCS))
    searcher = StaticSearcher()
    return Drafter(framework, Aligner(framework, searcher, hashing_embedder), searcher, catalog).draft(PROJECT)


def test_markdown_has_the_paragraph_footnotes_and_the_alignment_table(draft: Draft, catalog) -> None:
    text = draft_to_markdown(draft, catalog)
    first = draft.citations[0]
    meta = catalog[first.doc]
    assert "[^1]" in text and "[1]" not in text.split("\n\n")[1]
    assert f"[^1]: {meta.title}. {meta.publisher}, {meta.date}. {first.section}. “" in text
    assert len([line for line in text.splitlines() if line.startswith("[^")]) == len(draft.citations)
    rows = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == 15
    top = draft.alignment.sectors[0]
    assert rows[0].startswith(f"| {top.sector.number} | {top.sector.name} | {top.score:.0%} | ")
    assert "- Likely phases: " in text


def test_the_docx_opens_and_holds_paragraph_references_and_table(draft: Draft, catalog, tmp_path: Path) -> None:
    path = write_docx(draft, catalog, tmp_path / "draft.docx")
    document = docx.Document(str(path))
    paragraphs = [p.text for p in document.paragraphs]
    assert draft.paragraph in paragraphs
    assert "References" in paragraphs
    references = [p for p in paragraphs if p.startswith("[")]
    assert len(references) == len(draft.citations)
    for citation, line in zip(draft.citations, references, strict=True):
        assert line.startswith(f"[{citation.n}] {citation.title}. {citation.publisher}, {citation.date}.")
        assert citation.section in line
    table = document.tables[0]
    assert [c.text for c in table.rows[0].cells] == ["Sector", "Name", "Probability", "Evidence"]
    assert len(table.rows) == 16
    assert table.rows[1].cells[1].text == draft.alignment.sectors[0].sector.name
    body = next(p for p in document.paragraphs if p.text == draft.paragraph)
    assert [r.text for r in body.runs if r.font.superscript][:1] == ["[1]"]
