"""Chunking: golden summaries per corpus file, invariants every chunk keeps, and the corpus structure.

Regenerate the golden files after an intended chunker change, then review the diff:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_chunking.py
"""

from __future__ import annotations

import itertools
import json
import os
import re
import statistics
from pathlib import Path
from typing import Any

import pytest

from assistant.types import Chunk, Document, DocumentMeta
from ingest.chunking import MIN_SENTENCE_WORDS, chunk_document, sentences_of
from ingest.loaders import load_document
from ingest.manifest import read_manifest

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
GOLDEN = Path(__file__).resolve().parent / "golden" / "chunks"
FRAMEWORK_DOC = "mcof-2012-key-elements.txt"
EVALUATION = "mcof-evaluation-2019-summary.txt"
WEB_PAGE = "mcof-webpage-2023.txt"
MOPAN = "mopan-iom-assessment-2017-18.txt"
CORPUS_FILES = sorted(p.name for p in CORPUS.glob("*.txt"))
MAX_CHUNK_CHARS = 2000

_documents: dict[str, Document] = {}
_chunks: dict[str, list[Chunk]] = {}


def corpus_document(name: str) -> Document:
    if name not in _documents:
        _documents[name] = load_document(CORPUS / name, read_manifest(CORPUS).get(name))
    return _documents[name]


def corpus_chunks(name: str) -> list[Chunk]:
    if name not in _chunks:
        _chunks[name] = chunk_document(corpus_document(name))
    return _chunks[name]


def literal(text: str, name: str = "notes.txt", title: str = "Notes") -> Document:
    return Document(DocumentMeta(name, title), text, "txt", "0")


# --- golden summaries ----------------------------------------------------------------------------


def summary(chunk: Chunk) -> dict[str, Any]:
    return {
        "section": chunk.section,
        "kind": chunk.kind,
        "paragraph": chunk.paragraph,
        "sector": chunk.sector,
        "start": chunk.start,
        "end": chunk.end,
        "words": len(chunk.text.split()),
        "head": chunk.text[:60],
    }


def _write_golden(path: Path, summaries: list[dict[str, Any]]) -> None:
    """One chunk per line, so a chunker change reads as a line diff."""
    lines = ",\n".join(" " + json.dumps(s, ensure_ascii=False) for s in summaries)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"[\n{lines}\n]\n", encoding="utf-8")


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_chunks_match_the_golden_summary(name: str) -> None:
    summaries = [summary(c) for c in corpus_chunks(name)]
    path = GOLDEN / f"{Path(name).stem}.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        _write_golden(path, summaries)
    assert path.exists(), f"no golden file {path}: run UPDATE_GOLDEN=1 pytest tests/test_chunking.py"
    golden = json.loads(path.read_text(encoding="utf-8"))
    for i, (got, want) in enumerate(zip(summaries, golden, strict=False)):
        assert got == want, f"chunk {i} of {name} differs from {path.name}"
    assert len(summaries) == len(golden), f"{name}: {len(summaries)} chunks, golden has {len(golden)}"


# --- invariants on every corpus file -------------------------------------------------------------


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_every_chunk_is_the_exact_document_span(name: str) -> None:
    doc = corpus_document(name)
    for chunk in corpus_chunks(name):
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert chunk.text == chunk.text.strip() and chunk.text
        assert chunk.doc == name and chunk.title == doc.meta.title


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_chunks_are_in_reading_order_and_never_overlap(name: str) -> None:
    chunks = corpus_chunks(name)
    for before, after in itertools.pairwise(chunks):
        assert before.end <= after.start, f"{before.text[-40:]!r} overlaps {after.text[:40]!r}"


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in CORPUS_FILES
    ],
)
def test_every_line_of_the_document_is_in_some_chunk(name: str) -> None:
    doc = corpus_document(name)
    covered = bytearray(len(doc.text))
    for chunk in corpus_chunks(name):
        covered[chunk.start : chunk.end] = b"\x01" * (chunk.end - chunk.start)
    missing = [
        line
        for line, start in _lines_with_offsets(doc.text)
        if line.strip() and not any(covered[start : start + len(line)])
    ]
    assert missing == []


def _lines_with_offsets(text: str) -> list[tuple[str, int]]:
    out, offset = [], 0
    for line in text.split("\n"):
        out.append((line, offset))
        offset += len(line) + 1
    return out


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_chunk_sizes_are_bounded(name: str) -> None:
    chunks = corpus_chunks(name)
    longest = max(chunks, key=lambda c: len(c.text))
    assert len(longest.text) <= MAX_CHUNK_CHARS, f"{len(longest.text)} characters: {longest.text[:80]!r}"
    assert 60 <= statistics.median(len(c.text.split()) for c in chunks) <= 180


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_chunk_ids_are_unique_and_stable(name: str) -> None:
    ids = [c.id for c in corpus_chunks(name)]
    assert len(set(ids)) == len(ids)
    reloaded = load_document(CORPUS / name, read_manifest(CORPUS).get(name))
    assert [c.id for c in chunk_document(reloaded)] == ids


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_index_text_starts_with_the_document_label_and_holds_the_chunk(name: str) -> None:
    label = corpus_document(name).meta.label
    assert label != name  # the manifest's short title, not the file name
    for chunk in corpus_chunks(name):
        assert chunk.index_text.startswith(label)
        assert chunk.text in chunk.index_text


def test_chunk_id_changes_with_the_text_and_not_with_the_position() -> None:
    a = chunk_document(literal("Shelter\n\nShelter kits reached displaced families within two weeks.\n"))
    moved = chunk_document(literal("\n\n\nShelter\n\nShelter kits reached displaced families within two weeks.\n"))
    edited = chunk_document(literal("Shelter\n\nShelter kits reached displaced families within three weeks.\n"))
    assert a[0].id == moved[0].id and a[0].start != moved[0].start
    assert a[0].id != edited[0].id


def test_repeated_identical_passages_get_distinct_ids() -> None:
    block = "Phase\n\nThe sectors of assistance listed below are relevant in this phase.\n\n"
    filler = "Other\n\n" + "Filler words about other matters entirely, kept apart from the rest. " * 8 + "\n\n"
    chunks = chunk_document(literal(block + filler + block))
    repeated = [c for c in chunks if c.text.startswith("Phase")]
    assert len(repeated) == 2 and repeated[0].id != repeated[1].id


def test_a_heading_opens_the_chunk_of_its_own_section() -> None:
    shelter = "Shelter kits are handed out to displaced families. " * 4 + "Kits arrive there within two weeks."
    consular = " ".join(["Consular officials issue emergency travel documents to nationals."] * 6)
    chunks = chunk_document(literal(f"Shelter\n\n{shelter}\n\nConsular assistance\n\n{consular}\n"))
    assert [c.text.split("\n\n")[0] for c in chunks] == ["Shelter", "Consular assistance"]
    assert len(shelter.split()) == 38 and chunks[0].text.endswith("within two weeks.")


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in CORPUS_FILES
    ],
)
def test_no_chunk_ends_with_the_heading_of_the_next_section(name: str) -> None:
    chunks = corpus_chunks(name)
    orphans = [
        a.text.rsplit("\n\n", 1)[-1]
        for a, b in itertools.pairwise(chunks)
        if "\n\n" in a.text and a.text.rsplit("\n\n", 1)[-1] == b.section.split(" > ")[-1]
    ]
    assert orphans == []


# --- structure of the 2012 framework ---------------------------------------------------------------


def test_each_2012_sector_entry_is_its_own_chunk() -> None:
    sectors = [c for c in corpus_chunks(FRAMEWORK_DOC) if c.sector is not None]
    assert [c.sector for c in sectors] == list(range(1, 16))
    for chunk in sectors:
        assert re.match(rf"(- )?Sector {chunk.sector} [A-Z(]", chunk.text), chunk.text[:40]
        assert chunk.kind == "sector"
        assert f"Sector {chunk.sector + 1} " not in chunk.text


def test_sector_12_chunk_holds_its_whole_definition() -> None:
    sector_12 = next(c for c in corpus_chunks(FRAMEWORK_DOC) if c.sector == 12)
    assert "Emergency Consular Assistance" in sector_12.text
    assert "issuance of emergency travel documents or laissez-passer" in sector_12.text
    assert sector_12.text.endswith("the steps required to receive that documentation.")


def test_numbered_paragraphs_1_to_15_of_the_2012_framework_carry_their_number() -> None:
    chunks = corpus_chunks(FRAMEWORK_DOC)
    for n in range(1, 16):
        holders = [c for c in chunks if c.paragraph == str(n)]
        assert holders, f"no chunk has paragraph {n}"
        assert any(re.search(rf"(^|\n){n}\. [A-Z]", c.text) for c in holders), f"paragraph {n} not in its chunk"


def test_numbered_paragraph_keeps_its_lettered_items() -> None:
    chunk = next(c for c in corpus_chunks(FRAMEWORK_DOC) if c.paragraph == "4")
    assert "4. The migration crisis approach has been developed" in chunk.text
    assert "- (a) The patterns of human mobility before, during and after a crisis;" in chunk.text
    assert "- (d) The needs of vulnerable mobile populations" in chunk.text


def test_every_piece_of_a_split_numbered_paragraph_carries_its_number() -> None:
    first = " ".join(f"Sentence {i} says that camps need shelter, water and health care." for i in range(30))
    second = " ".join(f"Point {i} is about transport assistance and the evacuation of migrants." for i in range(6))
    doc = literal(f"Introduction\n\n1. {first}\n\n2. {second}\n")
    second_start = doc.text.index("2. Point")
    chunks = chunk_document(doc)
    assert len(chunks) >= 3
    assert [c.paragraph for c in chunks] == [("1" if c.start < second_start else "2") for c in chunks]


def test_sector_headings_of_the_2012_framework_do_not_leak_into_later_sections() -> None:
    after = [c for c in corpus_chunks(FRAMEWORK_DOC) if c.paragraph in ("9", "10", "15")]
    assert after and all("sectors of assistance within" not in c.section for c in after)
    assert next(c for c in corpus_chunks(FRAMEWORK_DOC) if c.paragraph == "15").section == "The way forward"


# --- structure of the MOPAN assessment and the web page ----------------------------------------------


def test_a_mopan_kpi_section_ends_at_the_next_kpi_heading() -> None:
    """A chunk's section names a KPI only when that KPI's heading is the last one before or inside it."""
    doc = corpus_document(MOPAN)
    headings = [(m.start(), m.group(1)) for m in re.finditer(r"(?m)^KPI (\d+)\s*:", doc.text)]
    kpi_12 = [c for c in corpus_chunks(MOPAN) if "KPI 12:" in c.section]
    assert len(kpi_12) >= 6  # the body's KPI 12 section and the annex's
    for chunk in corpus_chunks(MOPAN):
        named = re.findall(r"KPI (\d+):", chunk.section)
        if not named:
            continue
        before = [n for offset, n in headings if offset <= chunk.start]
        inside = {n for offset, n in headings if chunk.start < offset < chunk.end}
        allowed = inside | ({before[-1]} if before else set())
        assert named[-1] in allowed, f"section {chunk.section[-60:]!r} on {chunk.text[:60]!r}"


def test_the_mopan_body_kpi_12_section_does_not_run_into_the_annex() -> None:
    doc = corpus_document(MOPAN)
    kpi_12 = doc.text.index("KPI 12: Results are sustainable.")
    next_kpi = re.compile(r"(?m)^KPI \d+\s*:").search(doc.text, kpi_12 + 10)
    assert next_kpi is not None
    later = [c for c in corpus_chunks(MOPAN) if next_kpi.start() <= c.start < next_kpi.start() + 5000]
    # only a chunk that itself opens with a KPI 12 heading (the annex's score key) may carry the label
    assert later and all("KPI 12" not in c.section or c.text.startswith("KPI 12") for c in later)


def test_web_page_wrapped_bullet_lines_are_not_headings() -> None:
    chunks = corpus_chunks(WEB_PAGE)
    assert all("relocate or integrate" not in c.section for c in chunks)
    assert all("returning populations" not in c.section for c in chunks)
    holder = next(c for c in chunks if "relocate or integrate into local communities" in c.text)
    assert "- Challenges to the achievement of durable solutions" in holder.text
    assert holder.section == "The mobility dimensions of crisis"


def test_web_page_sections_follow_its_headings() -> None:
    sections = {c.section for c in corpus_chunks(WEB_PAGE)}
    assert {"Description", "2021 Addendum", "Key Points"} <= sections


# --- literal documents -----------------------------------------------------------------------------


def test_module_example_heading_paragraph_and_sector() -> None:
    text = "Introduction\n\n1. The framework has two pillars:\n\nSector 1 Camp Management: To improve camps.\n"
    chunks = chunk_document(literal(text, "f.txt", "F"))
    assert [(c.section, c.paragraph, c.sector, c.text) for c in chunks] == [
        ("Introduction", "1", None, "Introduction\n\n1. The framework has two pillars:"),
        ("Introduction", "", 1, "Sector 1 Camp Management: To improve camps."),
    ]


def test_a_long_table_is_split_and_every_piece_is_indexed_with_its_header() -> None:
    rows = "\n".join(f"Country {i} | {i % 4 + 1} | rating stays good and is improving over time" for i in range(40))
    doc = literal(f"Scores by country\n\nCountry | Score | Rating\n{rows}\n")
    chunks = chunk_document(doc)
    assert len(chunks) >= 3 and {c.kind for c in chunks} == {"table"}
    for chunk in chunks:
        assert "Country | Score | Rating" in chunk.index_text
        assert len(chunk.text.split()) <= 200
    assert "Country | Score | Rating" not in chunks[1].text  # the quoted span is the document's own


def test_a_long_paragraph_is_cut_at_sentence_ends() -> None:
    body = " ".join(f"Sentence number {i} talks about shelter and health in camps." for i in range(60))
    chunks = chunk_document(literal(f"Intro\n\n{body}\n"))
    assert len(chunks) >= 3
    for chunk in chunks:
        assert chunk.text.endswith("camps.")
        assert len(chunk.text.split()) <= 200


# --- sentences ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_sentences_are_spans_of_their_chunk(name: str) -> None:
    doc = corpus_document(name)
    total = 0
    for chunk in corpus_chunks(name):
        for sentence in sentences_of(chunk):
            assert doc.text[sentence.start : sentence.end] == sentence.text
            assert chunk.start <= sentence.start < sentence.end <= chunk.end
            assert sentence.doc == name and sentence.chunk_id == chunk.id
            assert len(sentence.text.split()) >= MIN_SENTENCE_WORDS
            total += 1
    assert total > len(corpus_chunks(name))


def test_sentences_split_at_full_stops_but_not_after_abbreviations() -> None:
    chunk = next(c for c in corpus_chunks(FRAMEWORK_DOC) if c.paragraph == "4")
    texts = [s.text for s in sentences_of(chunk)]
    assert any("(e.g. massive humanitarian needs in terms of food security and shelter)" in t for t in texts)
    assert "- (a) The patterns of human mobility before, during and after a crisis;" in texts


def test_table_rows_are_sentences_of_their_own_and_tiny_fragments_are_left_out() -> None:
    doc = literal("Ratings\n\nScore | Rating\n4 | Highly satisfactory performance\n3 | Satisfactory\n")
    (chunk,) = chunk_document(doc)
    texts = [s.text for s in sentences_of(chunk)]
    assert "4 | Highly satisfactory performance" in texts
    assert "Ratings" not in texts


def test_chunks_holding_framework_elements_are_labelled_with_them_and_keep_their_text() -> None:
    from assistant.framework import parse_framework
    from ingest.chunking import FRAMEWORK_LABELS, framework_labels

    documents = [corpus_document(name) for name in (FRAMEWORK_DOC, WEB_PAGE)]
    chunks = [c for d in documents for c in corpus_chunks(d.meta.doc)]
    labelled = framework_labels(chunks, parse_framework(documents))
    assert [(c.id, c.text) for c in labelled] == [(c.id, c.text) for c in chunks]  # quotes and ids untouched
    objectives = [c for c in labelled if FRAMEWORK_LABELS["objectives"] in c.index_text]
    # the 2012 list follows "designed to:" and the 2023 one a paragraph on emergencies: neither says "objective"
    assert {c.doc for c in objectives} == {FRAMEWORK_DOC, WEB_PAGE}
    assert all("Improve and systematize" in c.text for c in objectives)
    assert framework_labels(labelled, parse_framework(documents)) == labelled  # labelling twice adds nothing
    assert framework_labels(chunks, None) == chunks
