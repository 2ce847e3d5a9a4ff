"""Cleaning: raw extracted text → the clean text every span points into. Pure functions.

Cleaning only removes or re-spaces characters; it never adds words or reorders them, so
a quote taken from the clean text is still a verbatim excerpt of the source.

>>> clean("Header Main Menu\\n\\n**Bold** text\\u00a0here.¹\\n  • item", "txt")
'Bold text here.\\n- item\\n'
>>> clean("Name\\tScore\\nIOM\\t4", "txt")
'Name | Score\\nIOM | 4\\n'
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import ClassVar

CELL_SEPARATOR = " | "

_SPACES = {"\u00a0": " ", "\u2007": " ", "\u202f": " ", "\u2009": " ", "\u200a": " ", "\u3000": " "}
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\ufeff\u00ad"), None)
_SUPERSCRIPT_DIGITS = "⁰¹²³⁴⁵⁶⁷⁸⁹"
_INLINE_FOOTNOTE_RE = re.compile(rf"(?<=\S)[{_SUPERSCRIPT_DIGITS}]+")
_BULLET_RE = re.compile(r"^(\s*)[•●▪◦‣∙·■□➢➤►–](\s+|$)")
_MENU_LINE_RE = re.compile(
    r"^(header\s+)?(main\s+)?(menu|navigation|skip to (main )?content|breadcrumbs?|footer|"
    r"share( this page)?|search|back to top|print)$",
    re.IGNORECASE,
)
_HTML_TAG_RE = re.compile(r"</?(p|ul|ol|li|div|br|span|table|tr|td|th|h[1-6]|strong|em|b|i|a)\b[^<>]*>", re.I)
_MD_LINK_RE = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_RULE_RE = re.compile(r"^\s*\|?(?:\s*:?-{2,}:?\s*\|)+\s*(?::?-{2,}:?)?\s*$")  # "|---|:--|" under a table header
_SHORT_TRAILING_CELL = 40
_LIST_MARK_RE = re.compile(r"^\(?(?:[a-z]|[ivx]{1,4})[.)]\s")  # "b) Help…", "(ii) …"
_ADDRESS_RE = re.compile(r"@|www\.|://")
_CELL_MARK = "\x1f"


def clean(text: str, kind: str) -> str:
    """Clean text extracted from a file of the given kind ("txt", "md", "html", "pdf", "docx")."""
    if kind == "html":
        text = html_to_text(text)
    elif kind == "pdf":
        text = _join_pdf_lines(text)
    elif kind == "md":
        text = _MD_LINK_RE.sub(r"\1", text).replace("__", "")
    return _clean_lines(text)


def _clean_lines(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_INVISIBLE)
    for odd, space in _SPACES.items():
        text = text.replace(odd, space)
    out: list[str] = []
    for line in text.split("\n"):
        if "\t" in line or _HTML_TAG_RE.search(line):
            out.extend(_clean_row(line))
            continue
        line = _clean_inline(line)
        if _MENU_LINE_RE.match(line.strip()) or _MD_RULE_RE.match(line):
            continue
        out.append(line)
    return _collapse_blank_lines(_join_broken_paragraphs(out))


def _clean_inline(line: str) -> str:
    """One line of prose: markup, bullets, inline footnote markers, trailing space."""
    line = line.replace("**", "")
    line = _INLINE_FOOTNOTE_RE.sub("", line)
    line = _BULLET_RE.sub(r"\1- ", line)
    line = re.sub(r"[ \t]{2,}", " ", line.rstrip())
    return line.lstrip() if not line.lstrip().startswith("- ") else line.strip()


def _clean_row(line: str) -> list[str]:
    """A tab-separated row and/or a line holding HTML fragments → clean lines.

    Plain cells are joined with " | ". Cells holding HTML blocks (paragraphs, lists) become
    their own lines; a short last cell (an evidence-source column) stays on the last line.
    """
    cells = [c.strip() for c in line.split("\t")]
    while cells and not cells[-1]:
        cells.pop()
    if not cells:
        return [""]
    if all(re.fullmatch(r"[-:= ]*", c) for c in cells):
        return [""]  # a table rule such as "--- | ---"
    if not any(_HTML_TAG_RE.search(c) for c in cells):
        return [CELL_SEPARATOR.join(_clean_inline(c) for c in cells)]
    blocks: list[list[str]] = [[_clean_inline(b) for b in html_to_text(c).split("\n") if b.strip()] for c in cells]
    lines: list[str] = []
    for i, cell_lines in enumerate(blocks):
        is_short_tail = i == len(blocks) - 1 and i > 0 and len(" ".join(cell_lines)) <= _SHORT_TRAILING_CELL
        if is_short_tail and lines and cell_lines:
            lines[-1] = lines[-1] + CELL_SEPARATOR + " ".join(cell_lines)
            continue
        if lines and cell_lines:
            lines.append("")
        for j, cell_line in enumerate(cell_lines):
            if j and not cell_line.startswith("- "):
                lines.append("")
            lines.append(cell_line)
    return [*lines, ""]


def _join_broken_paragraphs(lines: list[str]) -> list[str]:
    """Blank lines inside a sentence (a page break of the source) closed up.

    A block that ends with a lowercase word or a comma, followed after blank lines by one that
    starts with a lowercase word, is one sentence; so is a block ending in a word followed by one
    opening with a parenthesis ("…at the Country Office" / "(CO) level, …"). List markers
    ("b) …", "(ii) …"), table rows and addresses ("…org" / "www…") are left apart.

    >>> _join_broken_paragraphs(["a tool in preparedness, response,", "", "transition and recovery."])
    ['a tool in preparedness, response, transition and recovery.']
    >>> _join_broken_paragraphs(["plans, especially at the Country Office", "", "(CO) level, to ensure it."])
    ['plans, especially at the Country Office (CO) level, to ensure it.']
    >>> _join_broken_paragraphs(["goals;", "", "b) Help them"]), _join_broken_paragraphs(["x@y.org", "", "www.y.org"])
    (['goals;', '', 'b) Help them'], ['x@y.org', '', 'www.y.org'])
    """
    out: list[str] = []
    for line in lines:
        gap = len(out) - 1
        while gap >= 0 and not out[gap].strip():
            gap -= 1
        if gap >= 0 and gap < len(out) - 1 and _continues(out[gap], line):
            out[gap:] = [f"{out[gap].rstrip()} {line.strip()}"]
        else:
            out.append(line)
    return out


def _continues(before: str, after: str) -> bool:
    """True when `after` carries on the sentence `before` broke off."""
    head, tail = before.rstrip(), after.strip()
    if not head or not tail or " | " in head or " | " in tail:
        return False
    lowercase = re.search(r"[a-z,]$", head) and re.match(r"[a-z]", tail)
    aside = re.search(r"[a-z]$", head) and re.match(r"\(\w", tail)  # "…Country Office" / "(CO) level"
    if not (lowercase or aside) or _LIST_MARK_RE.match(tail):
        return False
    return not any(_ADDRESS_RE.search(word) for word in (head.split()[-1], tail.split()[0]))


def _collapse_blank_lines(lines: list[str]) -> str:
    out: list[str] = []
    for line in lines:
        if not line.strip():
            if out and out[-1] != "":
                out.append("")
            continue
        out.append(line)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n" if out else ""


def _join_pdf_lines(text: str) -> str:
    """Re-join lines that a PDF broke mid-sentence; undo end-of-line hyphenation."""
    text = re.sub(r"(\w)-\n(\w)", r"\1\2", text)
    return re.sub(r"(?<![.:;!?\n])\n(?=[a-z(])", " ", text)


class _TextExtractor(HTMLParser):
    """HTML → lines: block elements end a line, list items start with "- "."""

    _BLOCK: ClassVar[set[str]] = {"p", "div", "ul", "ol", "table", "tr", "section", "article", "header", "footer",
              "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "dl", "dt", "dd", "main", "nav"}
    _SKIP: ClassVar[set[str]] = {"script", "style", "noscript", "template", "head", "nav"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip_depth += 1
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in ("td", "th"):
            self.parts.append(_CELL_MARK)
        elif tag == "br" or tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in self._BLOCK or tag == "li":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Convert HTML (a page or a fragment) to text lines, keeping paragraph and list breaks.

    >>> html_to_text("<p>One</p><ul><li>a</li><li>b</li></ul><script>x()</script>")
    'One\\n- a\\n- b'
    """
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    text = html.unescape("".join(parser.parts))
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.split("\n")]
    lines = [CELL_SEPARATOR.join(c.strip() for c in line.strip(_CELL_MARK).split(_CELL_MARK)) for line in lines]
    lines = [line for line in lines if line and line != "-"]
    return "\n".join(lines)
