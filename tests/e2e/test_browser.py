"""The app in a real headless Chromium: cited answers, highlighted passages, follow-ups, escaping of a
hostile document, feedback in SQLite, the Draft tab's DOCX download, Align and Sources."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import docx
import pytest

from tests.e2e.conftest import HOSTILE_DOC, HOSTILE_TITLE, AppServer, BrowserPage, save_screenshot

pytestmark = pytest.mark.e2e

ANSWER_SECONDS = 120_000  # ms; the first question loads the embedding model in the app
PHASES_QUESTION = "What are the three phases of a migration crisis?"
PROJECT = (
    "Emergency shelter and camp management for families displaced by floods, "
    "with health care and protection of unaccompanied children."
)


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def ask(page: Any, question: str, answer_number: int) -> Any:
    """Type a question, press Enter, and return the answer's chat bubble once it cites passage 1."""
    box = page.get_by_placeholder("Ask a question about the MCOF…")
    box.fill(question)
    box.press("Enter")
    answer = page.locator('[data-testid="bot"]').nth(answer_number - 1)
    expect(answer.locator(f'a[href="#cite-a{answer_number}-1"]').first).to_be_visible(timeout=ANSWER_SECONDS)
    return answer


def feedback_rows(db: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM feedback ORDER BY id")]


def test_chat_answer_cites_highlighted_passages_and_follow_up_keeps_context(app: BrowserPage) -> None:
    page = app.page
    expect(page.get_by_role("tab")).to_have_text(["Chat", "Draft", "Align", "Sources"])
    expect(page.get_by_text("LLM backend: none")).to_be_visible()

    answer = ask(page, PHASES_QUESTION, 1)
    expect(answer).to_contain_text("[1]")
    answer.locator('a[href="#cite-a1-1"]').first.click()
    card = page.locator("#cite-a1-1")
    expect(card).to_be_in_viewport()
    expect(card.locator(".mcof-title")).to_have_text("MCOF Key Elements (2012)")
    expect(card).to_contain_text("2012-09-20")
    highlight = card.locator(".mcof-passage mark")
    expect(highlight).to_be_visible()
    assert highlight.inner_text().strip() in card.locator(".mcof-passage").inner_text()
    card.get_by_text("Surrounding text").click()
    expect(card.locator(".mcof-context-text mark")).to_be_visible()
    save_screenshot(page, "chat")

    # Alone, this question is refused (it names nothing); with the first exchange as context it is answered.
    follow_up = ask(page, "What happens during the second one?", 2)
    expect(follow_up).to_contain_text("during", ignore_case=True)
    expect(page.locator("#cite-a2-1 .mcof-passage mark")).to_be_visible()
    assert app.dialogs == []


def test_hostile_document_is_shown_as_text_never_run(app: BrowserPage) -> None:
    page = app.page
    ask(page, "How many new arrivals did the displacement tracking team count at Zarqa camp?", 1)
    panel = page.locator("#mcof-citations")
    expect(panel).to_contain_text("<script>alert(1)</script>")
    expect(panel).to_contain_text("cite [9]")
    expect(panel).to_contain_text(HOSTILE_TITLE)
    assert panel.locator("script, img").count() == 0
    assert page.locator('a[href$="-9"]').count() == 0  # the document's "[9]" never becomes a citation link

    page.get_by_role("tab", name="Sources").click()
    sources = page.locator(".mcof-sources")
    expect(sources).to_contain_text(HOSTILE_DOC)
    expect(sources).to_contain_text("<b>Field team</b>")
    assert app.dialogs == [], f"a script from the corpus ran: {app.dialogs}"


def test_thumbs_up_and_comment_are_stored_in_sqlite(app: BrowserPage, app_server: AppServer) -> None:
    page = app.page
    answer = ask(page, PHASES_QUESTION, 1)
    answer.hover()
    page.get_by_role("button", name="Like", exact=True).click()
    expect(page.get_by_text("Feedback saved for answer 1: helpful")).to_be_visible()
    page.get_by_placeholder("Optional comment on the answer you rated").fill("Clear, with the right passages.")
    page.get_by_role("button", name="Comment", exact=True).click()
    expect(page.get_by_text("Comment saved for answer 1")).to_be_visible()

    rows = [r for r in feedback_rows(app_server.feedback_db) if r["comment"] == "Clear, with the right passages."]
    assert len(rows) == 1
    row = rows[0]
    assert (row["kind"], row["question"], row["rating"]) == ("answer", PHASES_QUESTION, 1)
    assert answer.inner_text().strip()[:40] in row["answer"] and "[1]" in row["answer"]
    cited = json.loads(row["citations"])
    assert cited[0]["n"] == 1 and cited[0]["doc"] == "mcof-2012-key-elements.txt"
    assert row["created"][:2] == "20"


def test_draft_tab_drafts_a_cited_paragraph_and_downloads_the_docx(
    app: BrowserPage, app_server: AppServer, tmp_path: Path
) -> None:
    page = app.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app_server.url.rstrip("/"))
    page.get_by_role("tab", name="Draft").click()
    page.get_by_label("Project description").fill(PROJECT)
    page.get_by_role("button", name="Draft paragraph").click()
    paragraph = page.locator(".mcof-paragraph")
    expect(paragraph.locator('a[href="#cite-d1-1"]').first).to_be_visible(timeout=ANSWER_SECONDS)
    expect(page.locator(".mcof-draft")).to_contain_text("Alignment summary")
    expect(page.locator("#cite-d1-1 .mcof-passage mark")).to_be_visible()
    save_screenshot(page, "draft")

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download .docx").click()
    path = tmp_path / "draft.docx"
    download_info.value.save_as(path)
    document = docx.Document(str(path))
    assert paragraph.inner_text().strip() in [p.text.strip() for p in document.paragraphs]

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download .md").click()
    markdown = tmp_path / "draft.md"
    download_info.value.save_as(markdown)
    assert "[^1]:" in markdown.read_text(encoding="utf-8")

    page.get_by_role("button", name="Copy as Markdown").click()
    copied = ""
    for _ in range(50):  # the copy runs in the page after the click returns
        copied = page.evaluate("navigator.clipboard.readText()")
        if copied:
            break
        page.wait_for_timeout(100)
    assert copied.startswith(paragraph.inner_text().strip()[:60]) and "[1]" in copied
    assert "\nReferences:\n\n- [1] " in copied and not re.search(r"</?[a-z]|&#\d+;|mcof-", copied)
    assert app.dialogs == []


def test_align_tab_ranks_all_fifteen_sectors(app: BrowserPage) -> None:
    page = app.page
    page.get_by_role("tab", name="Align").click()
    page.get_by_label("Project description").fill(PROJECT)
    page.get_by_role("button", name="Align with the MCOF").click()
    rows = page.locator(".mcof-align table tbody tr")
    expect(rows).to_have_count(15, timeout=ANSWER_SECONDS)
    for heading in ("Phases", "Objectives", "Cross-cutting issues", "Operational modalities"):
        expect(page.locator(".mcof-align h3", has_text=heading)).to_be_visible()


def test_uploaded_document_is_indexed_and_listed(app: BrowserPage, tmp_path: Path) -> None:
    page = app.page
    page.get_by_role("tab", name="Sources").click()
    note = tmp_path / "kits-note.md"
    note.write_text("# Hygiene kit note\n\nHygiene kits were distributed to 300 families in Block C.\n")
    page.locator('input[type="file"]').set_input_files(str(note))
    page.get_by_role("button", name="Add and re-index").click()
    expect(page.locator(".mcof-ok")).to_contain_text("1 added", timeout=ANSWER_SECONDS)
    expect(page.locator(".mcof-sources")).to_contain_text("kits-note.md")
