"""Read a source file into a cleaned `Document`: txt, md, html, pdf and docx.

Every failure is a one-line `DocumentError` that starts with the file name and says
what to do, e.g. ``notes.txt: not UTF-8 text (bad byte at offset 12): save it as UTF-8 and try again``.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import DocumentError
from assistant.types import Document, DocumentMeta

from .cleaning import clean
from .manifest import SUPPORTED_SUFFIXES, fallback_meta

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 20 * 2**20


@dataclass(frozen=True)
class Limits:
    """How much work one document may cost; a file over a limit is skipped with the reason.

    The file size is bounded by `max_bytes`; these bound what the bytes expand to: a 0.6 MB
    .docx can inflate to 200 MB of XML, a small PDF can hold thousands of pages.
    """

    inflated_bytes: int = 64 * 2**20  # all parts of a .docx (a zip archive), uncompressed
    zip_entries: int = 2000
    pdf_pages: int = 2000
    chars: int = 5_000_000  # extracted text
    seconds: float = 60.0  # reading and extracting one file


DEFAULT_LIMITS = Limits()

# Bytes that never occur in text (NUL, C0 controls other than tab/newline/VT/FF/CR, DEL).
_CONTROL_BYTES = bytes([*range(0x00, 0x09), *range(0x0E, 0x20), 0x7F])
_MAX_CONTROL_SHARE = 0.05
_SUFFIX_KIND = {".markdown": "md", ".htm": "html"}


def source_kind(path: Path) -> str:
    """The loader kind for a file name, by suffix.

    >>> source_kind(Path("Report.HTM")), source_kind(Path("notes.markdown"))
    ('html', 'md')
    """
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DocumentError(
            f"{path.name}: unsupported file type {suffix or '(no suffix)'!r}: "
            f"use one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
    return _SUFFIX_KIND.get(suffix, suffix[1:])


def load_document(
    path: Path, meta: DocumentMeta | None = None, max_bytes: int = DEFAULT_MAX_BYTES, limits: Limits = DEFAULT_LIMITS
) -> Document:
    """Read, extract and clean one file; `meta` None → title from its first heading or its name."""
    kind = source_kind(path)
    data = _read_bytes(path, max_bytes)
    text = clean(extract_text(path.name, kind, data, limits), kind)
    if not text.strip():
        raise DocumentError(f"{path.name}: no text left after cleaning: check the file's content")
    return Document(
        meta=meta or fallback_meta(path.name, text),
        text=text,
        source_kind=kind,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def extract_text(name: str, kind: str, data: bytes, limits: Limits = DEFAULT_LIMITS) -> str:
    """The raw text of a file's bytes (HTML stays markup: the cleaner turns it into text).

    >>> extract_text("a.md", "md", b"\\xef\\xbb\\xbf# Title\\n")
    '# Title\\n'
    >>> extract_text("a.txt", "txt", b"x" * 20, Limits(chars=10))
    Traceback (most recent call last):
    assistant.errors.DocumentError: a.txt: more than 10 characters of text: split it into smaller files
    """
    if not data:
        raise DocumentError(f"{name}: the file is empty: add text or remove it")
    text = _EXTRACTORS[kind](name, data, _Budget(name, limits))
    if not text.strip():
        raise DocumentError(f"{name}: contains no text: add text or remove it")
    return text


class _Budget:
    """The limits of one file as it is read: characters so far and a deadline."""

    def __init__(self, name: str, limits: Limits) -> None:
        self.name = name
        self.limits = limits
        self._deadline = time.monotonic() + limits.seconds
        self._chars = 0

    def count(self, chars: int) -> None:
        """Add `chars` extracted characters; past the limit or the deadline, refuse the file."""
        self._chars += chars
        if self._chars > self.limits.chars:
            raise DocumentError(
                f"{self.name}: more than {self.limits.chars:,} characters of text: split it into smaller files"
            )
        if time.monotonic() > self._deadline:
            raise DocumentError(
                f"{self.name}: reading it took longer than {self.limits.seconds:g} s: split it or save a simpler copy"
            )


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)  # one read, bounded: never loads a huge file whole
    except OSError as exc:
        raise DocumentError(f"{path.name}: cannot be read ({exc.strerror or exc}): check the path") from exc
    if len(data) > max_bytes:
        raise DocumentError(
            f"{path.name}: larger than the {max_bytes / 2**20:g} MB limit: split it into smaller files"
        )
    return data


def _decode_text(name: str, data: bytes, budget: _Budget) -> str:
    """UTF-8 (with or without a BOM); binary or other encodings are refused."""
    controls = len(data) - len(data.translate(None, _CONTROL_BYTES))
    if b"\x00" in data or controls > _MAX_CONTROL_SHARE * len(data):
        raise DocumentError(f"{name}: looks like a binary file, not text: give it its real file type")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(
            f"{name}: not UTF-8 text (bad byte at offset {exc.start}): save it as UTF-8 and try again"
        ) from exc
    budget.count(len(text))
    return text


def _extract_pdf(name: str, data: bytes, budget: _Budget) -> str:
    from pypdf import PdfReader

    if b"%PDF-" not in data[:1024]:
        raise DocumentError(f"{name}: not a PDF file (no PDF header): it is corrupt or misnamed")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError(f"{name}: the PDF is password-protected: save an unprotected copy")
        if len(reader.pages) > budget.limits.pdf_pages:
            raise DocumentError(
                f"{name}: {len(reader.pages):,} pages, more than the {budget.limits.pdf_pages:,} page limit: "
                "split it into smaller files"
            )
        pages = []
        for page in reader.pages:
            pages.append(page.extract_text() or "")
            budget.count(len(pages[-1]))
    except DocumentError:
        raise
    except Exception as exc:  # pypdf raises many exception types on malformed files
        log.debug("pypdf failed on %s", name, exc_info=True)
        raise DocumentError(
            f"{name}: corrupt PDF ({type(exc).__name__}): re-export it from the source"
        ) from exc
    if not any(page.strip() for page in pages):
        raise DocumentError(
            f"{name}: the PDF has no extractable text (a scanned image?): run OCR on it or use a text version"
        )
    return "\n\n".join(page.strip("\n") for page in pages)


def _extract_docx(name: str, data: bytes, budget: _Budget) -> str:
    import docx

    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise DocumentError(f"{name}: not a Word .docx file (not a zip archive): it is corrupt or misnamed")
    _check_archive(name, data, budget.limits)
    try:
        document = docx.Document(io.BytesIO(data))
        lines = []
        for line in _docx_lines(document):
            lines.append(line)
            budget.count(len(line) + 1)
        return "\n".join(lines)
    except DocumentError:
        raise
    except Exception as exc:  # python-docx and lxml raise many exception types on malformed parts
        log.debug("python-docx failed on %s", name, exc_info=True)
        raise DocumentError(
            f"{name}: corrupt Word document ({type(exc).__name__}): re-save it from Word as .docx"
        ) from exc


def _check_archive(name: str, data: bytes, limits: Limits) -> None:
    """Refuse a zip archive with too many parts or parts that inflate too far, before anything is inflated.

    Reading a part never yields more than its declared size (zipfile stops there), so the
    declared sizes bound the work.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DocumentError(f"{name}: corrupt Word document ({exc}): re-save it from Word as .docx") from exc
    if len(entries) > limits.zip_entries:
        raise DocumentError(
            f"{name}: {len(entries):,} parts in the archive, more than the {limits.zip_entries:,} part limit: "
            "re-save it from Word as .docx"
        )
    inflated = sum(entry.file_size for entry in entries)
    if inflated > limits.inflated_bytes:
        raise DocumentError(
            f"{name}: its parts inflate to {inflated / 2**20:,.0f} MB, more than the "
            f"{limits.inflated_bytes / 2**20:g} MB limit: split it into smaller files"
        )


def _docx_lines(document: Any) -> Iterator[str]:
    """Body paragraphs and tables in order: headings and table rows on lines of their own.

    Paragraphs are separated by blank lines, list items by single line breaks
    ("- item", "1. item"), table cells by tabs.
    """
    from docx.table import Table

    numbering = _DocxNumbering(document)
    previous = ""  # kind of the previous block: "", "text", "list" or "table"
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            rows = [row for row in (_docx_row(r) for r in block.rows) if row.strip()]
            if rows:
                if previous:
                    yield ""
                yield from rows
                previous = "table"
            continue
        text = block.text.strip()
        if not text:
            continue
        marker = numbering.marker(block)
        kind = "list" if marker else "text"
        if previous and not (kind == previous == "list"):
            yield ""
        yield marker + text
        previous = kind


def _docx_row(row: Any) -> str:
    cells: list[str] = []
    seen: set[int] = set()
    for cell in row.cells:  # a merged cell is repeated once per grid column it spans
        if id(cell._tc) in seen:
            continue
        seen.add(id(cell._tc))
        cells.append(" ".join(cell.text.split()))
    return "\t".join(cells)


class _DocxNumbering:
    """List markers for Word list paragraphs: "- " for bullets, "1. "/"a. " for numbered items."""

    def __init__(self, document: Any) -> None:
        try:
            self._numbering = document.part.numbering_part.element
        except (KeyError, NotImplementedError):
            self._numbering = None
        self._counters: dict[tuple[str, int], int] = {}

    def marker(self, paragraph: Any) -> str:
        num_pr = _num_pr(paragraph)
        style = paragraph.style.name if paragraph.style is not None else ""
        if num_pr is None:
            return "- " if style.startswith("List") and "Paragraph" not in style else ""
        num_id = str(num_pr.numId.val) if num_pr.numId is not None else ""
        if num_id == "0":  # numbering switched off for this paragraph
            return ""
        level = int(num_pr.ilvl.val) if num_pr.ilvl is not None else 0
        fmt = self._format(num_id, level) or ("decimal" if "Number" in style else "bullet")
        if fmt == "bullet":
            return "- "
        for key in [k for k in self._counters if k[0] == num_id and k[1] > level]:
            del self._counters[key]  # a shallower item restarts the deeper levels
        n = self._counters[(num_id, level)] = self._counters.get((num_id, level), 0) + 1
        return f"{_number_label(n, fmt)} "

    def _format(self, num_id: str, level: int) -> str:
        if self._numbering is None or not num_id:
            return ""
        abstract = self._numbering.xpath(f'./w:num[@w:numId="{num_id}"]/w:abstractNumId/@w:val')
        if not abstract:
            return ""
        formats = self._numbering.xpath(
            f'./w:abstractNum[@w:abstractNumId="{abstract[0]}"]/w:lvl[@w:ilvl="{level}"]/w:numFmt/@w:val'
        )
        return str(formats[0]) if formats else ""


def _num_pr(paragraph: Any) -> Any:
    """The paragraph's own numbering, else its style's (following `basedOn`)."""
    ppr = paragraph._p.pPr
    if ppr is not None and ppr.numPr is not None:
        return ppr.numPr
    style = paragraph.style
    while style is not None:
        ppr = style.element.pPr
        if ppr is not None and ppr.numPr is not None:
            return ppr.numPr
        style = style.base_style
    return None


def _number_label(n: int, fmt: str) -> str:
    """The label of item `n` in a Word number format.

    >>> _number_label(2, "lowerLetter"), _number_label(3, "decimal")
    ('b.', '3.')
    """
    if fmt in ("lowerLetter", "upperLetter") and n <= 26:
        letter = chr(ord("a") + n - 1)
        return f"{letter.upper() if fmt == 'upperLetter' else letter}."
    return f"{n}."


_EXTRACTORS: dict[str, Callable[[str, bytes, _Budget], str]] = {
    "txt": _decode_text,
    "md": _decode_text,
    "html": _decode_text,
    "pdf": _extract_pdf,
    "docx": _extract_docx,
}
