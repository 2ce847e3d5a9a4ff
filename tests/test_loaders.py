"""Loaders: each file kind gives the expected text; every bad file gives a one-line DocumentError."""

from __future__ import annotations

import hashlib
import io
import re
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import docx
import pytest

from assistant.errors import DocumentError
from assistant.types import DocumentMeta
from ingest.loaders import Limits, extract_text, load_document, source_kind


def make_pdf(*pages: list[str]) -> bytes:
    """A minimal PDF, one page per list of text lines; an empty list draws a line and no text.

    Written by hand (Helvetica, one text object per page) so the bytes are deterministic.
    """
    font = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", "", font]
    kids = []
    for lines in pages:
        shows = "".join(f"({line}) Tj 0 -16 Td " for line in lines)
        stream = f"BT /F1 12 Tf 72 720 Td {shows}ET" if lines else "0 0 m 100 100 l S"
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {len(objects)} 0 R "
            "/Resources << /Font << /F1 3 0 R >> >> >>"
        )
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def make_docx(path: Path) -> Path:
    """A Word file with a heading, prose, bullet and numbered lists and a table with a merged header."""
    document = docx.Document()
    document.add_heading("Camp management", level=1)
    document.add_paragraph("IOM leads the cluster in natural disasters.")
    document.add_paragraph("shelter", style="List Bullet")
    document.add_paragraph("water", style="List Bullet")
    document.add_heading("Phases", level=2)
    document.add_paragraph("before the crisis", style="List Number")
    document.add_paragraph("during the crisis", style="List Number")
    table = document.add_table(rows=3, cols=2)
    top = table.cell(0, 0).merge(table.cell(0, 1))
    top.text = "KPI scores"
    table.cell(1, 0).text = "KPI 1"
    table.cell(1, 1).text = "Highly\nsatisfactory"
    table.cell(2, 0).text = "KPI 2"
    table.cell(2, 1).text = "Satisfactory"
    document.add_paragraph("Closing remark.")
    document.save(str(path))
    return path


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- extraction, one kind at a time ----------------------------------------------------------


def test_source_kind_maps_suffix_aliases_case_insensitively() -> None:
    assert [source_kind(Path(n)) for n in ("a.TXT", "b.markdown", "c.htm", "d.Pdf", "e.docx")] == [
        "txt",
        "md",
        "html",
        "pdf",
        "docx",
    ]


def test_text_with_a_byte_order_mark_decodes_without_it() -> None:
    assert extract_text("notes.txt", "txt", "\ufeffCafé – sector 3\n".encode()) == "Café – sector 3\n"


def test_html_is_passed_on_as_markup_for_the_cleaner() -> None:
    markup = "<html><body><p>Shelter &amp; NFI</p></body></html>"
    assert extract_text("page.html", "html", markup.encode()) == markup


def test_pdf_text_comes_out_page_by_page_in_order() -> None:
    data = make_pdf(["Sector 1 Camp management", "and displacement"], ["Page two."])
    text = extract_text("report.pdf", "pdf", data)
    assert text == "Sector 1 Camp management\nand displacement\n\nPage two."


def test_docx_keeps_headings_lists_and_tables_in_document_order(tmp_path: Path) -> None:
    data = make_docx(tmp_path / "plan.docx").read_bytes()
    assert extract_text("plan.docx", "docx", data) == (
        "Camp management\n"
        "\n"
        "IOM leads the cluster in natural disasters.\n"
        "\n"
        "- shelter\n"
        "- water\n"
        "\n"
        "Phases\n"
        "\n"
        "1. before the crisis\n"
        "2. during the crisis\n"
        "\n"
        "KPI scores\n"
        "KPI 1\tHighly satisfactory\n"
        "KPI 2\tSatisfactory\n"
        "\n"
        "Closing remark."
    )


# --- load_document: extraction + cleaning + metadata ------------------------------------------


def test_load_txt_hashes_the_bytes_and_takes_the_title_from_the_first_line(tmp_path: Path) -> None:
    data = b"Field notes\n\nShelter was provided to 200 families.\n"
    document = load_document(write(tmp_path, "notes.txt", data), None)
    assert document.sha256 == hashlib.sha256(data).hexdigest()
    assert document.source_kind == "txt"
    assert document.meta == DocumentMeta(doc="notes.txt", title="Field notes")
    assert "Shelter was provided to 200 families." in document.text


def test_load_keeps_the_manifest_metadata_it_is_given(tmp_path: Path) -> None:
    meta = DocumentMeta(doc="notes.md", title="Notes from the field", publisher="IOM")
    document = load_document(write(tmp_path, "notes.md", b"# Heading\n\nBody text here.\n"), meta)
    assert document.meta is meta
    assert document.source_kind == "md"


def test_load_html_gives_text_without_tags(tmp_path: Path) -> None:
    markup = b"<html><head><style>p{}</style></head><body><h1>Evacuation</h1><p>Shelter &amp; NFI</p></body>"
    document = load_document(write(tmp_path, "page.htm", markup), None)
    assert document.source_kind == "html"
    assert document.text.split("\n")[:2] == ["Evacuation", "Shelter & NFI"]
    assert document.meta.title == "Evacuation"


def test_load_pdf(tmp_path: Path) -> None:
    path = write(tmp_path, "report.pdf", make_pdf(["Humanitarian border management"]))
    document = load_document(path, None)
    assert document.source_kind == "pdf"
    assert document.text.strip() == "Humanitarian border management"


def test_load_docx_table_rows_stay_readable_rows(tmp_path: Path) -> None:
    document = load_document(make_docx(tmp_path / "plan.docx"), None)
    lines = document.text.split("\n")
    assert document.meta.title == "Camp management"
    assert any("KPI 1" in line and "Highly satisfactory" in line for line in lines)
    assert lines.index("Phases") < lines.index("1. before the crisis")


# --- bad input: one line, file name first, says what to do ---------------------------------------


def _latin1() -> bytes:
    return "Réintégration des migrants après la crise\n".encode("latin-1")


def _zip_without_word_parts() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not a word document")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "phrase"),
    [
        ("empty.txt", b"", "the file is empty"),
        ("blank.md", b"  \n\n\t\n", "contains no text"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        ("controls.txt", bytes(range(1, 32)) * 4 + b"abc", "binary file"),
        ("legacy.txt", _latin1(), "save it as UTF-8"),
        ("legacy.html", b"<p>" + _latin1() + b"</p>", "save it as UTF-8"),
        ("empty.pdf", b"", "the file is empty"),
        ("renamed.pdf", b"just some text, not a pdf", "not a PDF file"),
        ("truncated.pdf", make_pdf(["Some text"])[:60], "corrupt PDF"),
        ("scanned.pdf", make_pdf([]), "no extractable text"),
        ("renamed.docx", b"plain text posing as a Word file", "not a zip archive"),
        ("other.docx", _zip_without_word_parts(), "corrupt Word document"),
        ("slides.pptx", b"anything", "unsupported file type '.pptx'"),
        ("README", b"text", "unsupported file type '(no suffix)'"),
    ],
)
def test_bad_files_raise_one_line_document_error_naming_the_file(
    tmp_path: Path, name: str, data: bytes, phrase: str
) -> None:
    with pytest.raises(DocumentError) as caught:
        load_document(write(tmp_path, name, data), None)
    message = str(caught.value)
    assert message.startswith(f"{name}: ")
    assert phrase in message
    assert "\n" not in message


def test_file_over_the_size_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    path = write(tmp_path, "big.txt", b"word " * (2**20 // 5 + 1))
    with pytest.raises(DocumentError, match=r"^big\.txt: larger than the 1 MB limit: split it"):
        load_document(path, None, max_bytes=2**20)
    assert load_document(path, None, max_bytes=2 * 2**20).text.startswith("word word")


def test_missing_file_is_a_document_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match=r"^gone\.txt: cannot be read"):
        load_document(tmp_path / "gone.txt", None)


# --- bounded work per document --------------------------------------------------------------


def _with_document_xml(template: Path, out: Path, body: Callable[[IO[bytes]], None]) -> Path:
    """A copy of the .docx `template` whose word/document.xml is written by `body`."""
    with zipfile.ZipFile(template) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            if item.filename == "word/document.xml":
                with target.open(item.filename, "w", force_zip64=True) as part:
                    body(part)
            else:
                target.writestr(item, source.read(item.filename))
    return out


def test_a_docx_that_inflates_to_200_mb_is_skipped_in_seconds(tmp_path: Path) -> None:
    def bomb(part: IO[bytes]) -> None:
        part.write(b'<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
                   b'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>')
        block = b"a" * 2**20
        for _ in range(200):
            part.write(block)
        part.write(b"</w:t></w:r></w:p></w:body></w:document>")

    path = _with_document_xml(make_docx(tmp_path / "plain.docx"), tmp_path / "bomb.docx", bomb)
    assert path.stat().st_size < 2**20  # small on disk

    started = time.monotonic()
    with pytest.raises(DocumentError) as caught:
        load_document(path)
    assert time.monotonic() - started < 10
    assert re.fullmatch(r"bomb\.docx: its parts inflate to 20\d MB, more than the 64 MB limit: split it into "
                        r"smaller files", str(caught.value))


def test_a_docx_with_too_many_parts_is_skipped(tmp_path: Path) -> None:
    path = make_docx(tmp_path / "parts.docx")
    with zipfile.ZipFile(path, "a") as archive:
        for i in range(30):
            archive.writestr(f"customXml/extra{i}.xml", "<x/>")
    with pytest.raises(DocumentError, match=r"parts\.docx: \d+ parts in the archive, more than the 20 part limit"):
        load_document(path, limits=Limits(zip_entries=20))


def test_a_pdf_over_the_page_limit_is_skipped(tmp_path: Path) -> None:
    path = write(tmp_path, "long.pdf", make_pdf(["one"], ["two"], ["three"]))
    with pytest.raises(DocumentError, match=r"long\.pdf: 3 pages, more than the 2 page limit: split it"):
        load_document(path, limits=Limits(pdf_pages=2))
    assert "three" in load_document(path, limits=Limits(pdf_pages=3)).text


@pytest.mark.parametrize("name,data", [
    ("wordy.pdf", make_pdf(["a long line of text on the first page"], ["and more on the second page"])),
    ("wordy.txt", b"a long line of text " * 10),
])
def test_a_file_over_the_character_limit_is_skipped(tmp_path: Path, name: str, data: bytes) -> None:
    path = write(tmp_path, name, data)
    with pytest.raises(DocumentError, match=f"{name}: more than 40 characters of text"):
        load_document(path, limits=Limits(chars=40))


def test_a_docx_over_its_time_budget_is_skipped(tmp_path: Path) -> None:
    path = make_docx(tmp_path / "slow.docx")
    with pytest.raises(DocumentError, match=r"slow\.docx: reading it took longer than 0 s"):
        load_document(path, limits=Limits(seconds=0))
