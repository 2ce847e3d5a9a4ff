"""Cleaning: what a reader of a cleaned document sees, and the promise that cleaning never adds words."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from ingest.cleaning import clean, html_to_text

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
GRADER = Path(__file__).resolve().parents[2] / "shared" / "eval" / "grade.py"


# --- prose ---------------------------------------------------------------------------------------


def test_markdown_bold_markers_are_removed() -> None:
    assert clean("The **three phases** of a **crisis**", "txt") == "The three phases of a crisis\n"


def test_no_break_and_thin_spaces_become_plain_spaces() -> None:
    assert clean("15\u00a0sectors of\u202fassistance", "txt") == "15 sectors of assistance\n"


def test_invisible_characters_and_windows_line_ends_are_removed() -> None:
    assert clean("Line one\r\nsoft\u00adhyphen zero\u200bwidth\r\n", "txt") == "Line one\nsofthyphen zerowidth\n"


def test_inline_footnote_superscripts_are_dropped() -> None:
    text = "this calls for improved coordination and capacities.¹ Migrant-specific vulnerabilities²³ can include"
    assert clean(text, "txt") == (
        "this calls for improved coordination and capacities. Migrant-specific vulnerabilities can include\n"
    )


def test_a_line_leading_footnote_marker_is_kept() -> None:
    text = "Body text.\n\n¹ IOM Member States requested the Administration to present an SCPF paper."
    assert clean(text, "txt") == (
        "Body text.\n\n¹ IOM Member States requested the Administration to present an SCPF paper.\n"
    )


@pytest.mark.parametrize("glyph", ["•", "●", "▪", "◦", "➢", "►", "–"])
def test_bullet_glyphs_become_dash_items(glyph: str) -> None:
    assert clean(f"Cross-cutting issues:\n  {glyph} Protection mainstreaming", "txt") == (
        "Cross-cutting issues:\n- Protection mainstreaming\n"
    )


def test_an_en_dash_inside_a_sentence_is_not_a_bullet() -> None:
    text = "Most crises – including conflicts – have mobility dimensions"
    assert clean(text, "txt") == text + "\n"


def test_web_menu_residue_lines_are_dropped() -> None:
    text = "Header Main Menu\n\nOverview\n\nSkip to main content\nShare this page\nBack to top\nThe MCOF is a plan."
    assert clean(text, "txt") == "Overview\n\nThe MCOF is a plan.\n"


def test_a_sentence_that_starts_like_a_menu_word_is_kept() -> None:
    text = "Search and rescue operations at sea\nMenu planning for shelters"
    assert clean(text, "txt") == text + "\n"


def test_runs_of_blank_lines_collapse_to_one_and_edges_are_trimmed() -> None:
    assert clean("\n\n\nFirst\n\n\n\n\nSecond\n\n\n", "txt") == "First\n\nSecond\n"


def test_text_that_is_only_menu_residue_cleans_to_nothing() -> None:
    assert clean("Header Main Menu\n\nMenu\n", "txt") == ""


# --- tables ------------------------------------------------------------------------------------


def test_tab_separated_table_becomes_pipe_rows_keeping_the_header_row() -> None:
    text = "Score\tRating\n3.51-4.00\tHighly satisfactory\n2.51-3.50\tSatisfactory"
    assert clean(text, "txt") == "Score | Rating\n3.51-4.00 | Highly satisfactory\n2.51-3.50 | Satisfactory\n"


def test_table_rule_rows_are_dropped() -> None:
    text = "Name\tScore\n---\t:---:\nIOM\t4\n===\t===\nUNHCR\t3"
    cleaned = clean(text, "txt")
    assert "---" not in cleaned and "===" not in cleaned
    assert [line for line in cleaned.splitlines() if line] == ["Name | Score", "IOM | 4", "UNHCR | 3"]


def test_empty_trailing_cells_are_not_kept_as_separators() -> None:
    assert clean("MiGOF\tMigration Governance Framework\t\t", "txt") == "MiGOF | Migration Governance Framework\n"


def test_cells_lose_markup_and_bullets_like_prose() -> None:
    assert clean("**KPI 1**\t• Strong\u00a0evidence", "txt") == "KPI 1 | - Strong evidence\n"


# --- HTML ----------------------------------------------------------------------------------------


def test_html_fragment_keeps_paragraph_and_list_breaks() -> None:
    markup = "<p>The sectors:</p><ul><li>Shelter</li><li>Health <b>support</b></li></ul><p>End &amp; more.</p>"
    assert html_to_text(markup) == "The sectors:\n- Shelter\n- Health support\nEnd & more."


def test_html_script_style_and_navigation_content_is_dropped() -> None:
    markup = (
        "<html><head><title>Page title</title><style>p {color: red}</style></head><body>"
        "<nav>Home | About</nav><h1>MCOF</h1><p>Framework text.</p><script>track('visit')</script></body></html>"
    )
    cleaned = clean(markup, "html")
    assert cleaned == "MCOF\nFramework text.\n"


def test_html_table_cells_become_a_pipe_row() -> None:
    markup = "<table><tr><th>Score</th><th>Rating</th></tr><tr><td>4</td><td>Highly satisfactory</td></tr></table>"
    assert html_to_text(markup) == "Score | Rating\n4 | Highly satisfactory"


def test_html_cells_in_a_tab_row_become_paragraphs_and_list_items() -> None:
    row = "KPI 2\t<p>Gender is addressed.</p><p>Progress is uneven:</p><ul><li>policy</li><li>staffing</li></ul>\tHigh"
    assert clean(row, "txt") == (
        "KPI 2\n\nGender is addressed.\n\nProgress is uneven:\n- policy\n- staffing | High\n"
    )


def test_a_short_trailing_evidence_cell_stays_on_the_last_line() -> None:
    row = "<p>The Environment division took part in the pilot.</p> <p>Few evaluations report on it.</p>\t<p>1, 2, 8</p>"
    assert clean(row, "txt") == (
        "The Environment division took part in the pilot.\n\nFew evaluations report on it. | 1, 2, 8\n"
    )


def test_a_long_trailing_cell_gets_its_own_paragraph() -> None:
    long_cell = "Evidence from " + "several country office evaluations and interviews " * 3
    row = f"<p>Finding one.</p>\t<p>{long_cell}</p>"
    assert clean(row, "txt") == f"Finding one.\n\n{long_cell.strip()}\n"


def test_script_content_inside_a_table_cell_is_dropped() -> None:
    assert clean("<p>Visible finding.</p><script>alert('x')</script>\t<p>3</p>", "txt") == "Visible finding. | 3\n"


# --- other kinds ---------------------------------------------------------------------------------


def test_markdown_links_keep_their_text_and_underscore_bold_is_removed() -> None:
    assert clean("See the [MCOF page](https://www.iom.int/mcof) and __Annex__.", "md") == (
        "See the MCOF page and Annex.\n"
    )


def test_pdf_line_breaks_inside_sentences_are_rejoined_and_hyphenation_undone() -> None:
    text = "The Operational Frame-\nwork is organized around\ntwo pillars.\nPillar 1 Phases"
    assert clean(text, "pdf") == "The Operational Framework is organized around two pillars.\nPillar 1 Phases\n"


# --- the corpus: cleaning removes, it never adds or reorders ---------------------------------------


def _grader() -> ModuleType:
    if not GRADER.exists():
        pytest.skip(f"the shared grader is not at {GRADER}")
    spec = importlib.util.spec_from_file_location("mcof_grade_for_cleaning", GRADER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.txt")), ids=lambda p: p.name)
def test_cleaned_corpus_lines_are_in_the_raw_text_in_order(path: Path) -> None:
    """Every cleaned line, normalised as the grader does, is found in the raw text after the line before it."""
    normalize = _grader().normalize
    raw = path.read_text(encoding="utf-8")
    haystack = f" {normalize(raw)} "
    cleaned = clean(raw, "txt")
    position, checked = 0, 0
    for line in cleaned.splitlines():
        needle = normalize(line)
        if not needle:
            continue
        found = haystack.find(f" {needle} ", position)
        assert found >= 0, f"cleaned line not in the raw text (or out of order): {line[:120]!r}"
        position = found + len(needle) + 1
        checked += 1
    assert checked > 20


def test_the_corpus_cleaning_removes_what_it_should() -> None:
    web = clean((CORPUS / "mcof-webpage-2023.txt").read_text(encoding="utf-8"), "txt")
    framework = clean((CORPUS / "mcof-2012-key-elements.txt").read_text(encoding="utf-8"), "txt")
    assert "Header Main Menu" not in web
    assert web.startswith("Migration Crisis Operational Framework (MCOF)\n")
    assert "contact the MCOF Team at mcof@iom.int." in web  # a no-break space in the source
    assert "\n- The MCOF outlines IOM’s comprehensive" in web  # "  • " in the source
    assert "•" not in web
    assert "**" not in framework
    assert "capacities. Migrant-specific vulnerabilities" in framework
    assert "\n¹ IOM Member States requested" in framework
