"""Documents you can trust and conversations you keep, in a real headless Chromium: official sources are
never replaced by an upload, deleted uploads leave the answers, chats survive a reload and a restart, copy
gives clean Markdown, an over-long question is not sent, and the Sources table scrolls on a phone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.servers import free_port
from tests.e2e.conftest import AppServer, BrowserPage, prepared, served
from tests.e2e.test_browser import ANSWER_SECONDS, PHASES_QUESTION, ask, expect

pytestmark = pytest.mark.e2e

OFFICIAL = "mcof-webpage-2023.txt"
CROSS_CUTTING = "What are the cross-cutting issues of the MCOF?"
WATER_NOTE = "The Qasr water point delivered 8765 litres of drinking water to Block D on Tuesday.\n"
WATER_QUESTION = "How many litres of drinking water did the Qasr water point deliver to Block D?"


def answer_text(page: Any, question: str) -> str:
    return str(ask(page, question, 1).inner_text())


def add_document(page: Any, path: Path) -> None:
    page.get_by_role("tab", name="Sources").click()
    page.locator('input[type="file"]').set_input_files(str(path))
    page.get_by_role("button", name="Add and re-index").click()
    expect(page.locator(".mcof-ok")).to_contain_text("1 added", timeout=ANSWER_SECONDS)


def reopen(page: Any, url: str) -> None:
    """Load the app again after its server restarted. The page's own client may be reconnecting to
    the new server at that moment, and its navigation then aborts ours (net::ERR_ABORTED): once, try again."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        page.goto(url)
    except PlaywrightError as exc:
        if "ERR_ABORTED" not in str(exc):
            raise
        page.goto(url)


def fresh_page(browser: Any, server: AppServer, **context: Any) -> Any:
    page = browser.new_context(**{"viewport": {"width": 1366, "height": 768}, **context}).new_page()
    page.goto(server.url)
    return page


def test_a_same_name_upload_leaves_the_official_document_and_its_answers_unchanged(
    app: BrowserPage, app_server: AppServer, browser: Any, tmp_path: Path
) -> None:
    before = answer_text(app.page, CROSS_CUTTING)
    official_bytes = (app_server.corpus_dir / OFFICIAL).read_bytes()
    fake = tmp_path / OFFICIAL
    fake.write_text("MCOF web page\n\nThe MCOF has 99 sectors.\n", encoding="utf-8")

    page = fresh_page(browser, app_server)
    add_document(page, fake)
    sources = page.locator(".mcof-sources")
    expect(sources).to_contain_text("uploads/mcof-webpage-2023-2.txt")
    official_row = sources.locator("tr", has=page.locator("td", has_text=OFFICIAL)).filter(
        has_not_text="uploads/")
    expect(official_row).to_contain_text("official source")
    expect(sources.locator("tr", has_text="uploads/mcof-webpage-2023-2.txt")).to_contain_text("uploaded")
    parsed = page.locator(".mcof-status dt", has_text="MCOF framework parsed").locator("xpath=following-sibling::dd[1]")
    expect(parsed).to_have_text("yes")
    assert (app_server.corpus_dir / OFFICIAL).read_bytes() == official_bytes

    after = fresh_page(browser, app_server)
    assert answer_text(after, CROSS_CUTTING) == before
    for card in after.locator("#mcof-citations .mcof-cite").all():
        if "99 sectors" in card.inner_text():
            expect(card).to_contain_text("uploaded")  # never under the official title


def test_deleting_an_upload_removes_it_from_answers(browser: Any, app_server: AppServer, tmp_path: Path) -> None:
    note = tmp_path / "qasr-water.md"
    note.write_text(f"# Qasr water point log\n\n{WATER_NOTE}", encoding="utf-8")
    page = fresh_page(browser, app_server)
    add_document(page, note)

    asking = fresh_page(browser, app_server)
    ask(asking, WATER_QUESTION, 1)
    card = asking.locator("#cite-a1-1")
    expect(card).to_contain_text("8765")
    expect(card).to_contain_text("uploaded")

    page.get_by_label("Uploaded document").click()
    page.get_by_role("option", name="Qasr water point log (qasr-water.md)").click()
    expect(page.get_by_label("Title", exact=True)).to_have_value("Qasr water point log")
    page.get_by_label("Yes, delete this upload").check()
    page.get_by_role("button", name="Delete upload").click()
    expect(page.locator(".mcof-ok")).to_contain_text("1 removed", timeout=ANSWER_SECONDS)
    expect(page.locator(".mcof-sources")).not_to_contain_text("qasr-water.md")

    again = fresh_page(browser, app_server)
    box = again.get_by_placeholder("Ask a question about the MCOF…")
    box.fill(WATER_QUESTION)
    box.press("Enter")
    expect(again.locator('[data-testid="bot"]').first).not_to_have_text("…", timeout=ANSWER_SECONDS)
    expect(again.locator('[data-testid="bot"]').first).not_to_contain_text("8765")
    expect(again.locator("#mcof-citations")).not_to_contain_text("8765")


def test_copy_yields_markdown_with_references_and_no_html(app: BrowserPage, app_server: AppServer) -> None:
    page = app.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app_server.url.rstrip("/"))
    answer = ask(page, PHASES_QUESTION, 1)
    answer.hover()
    page.get_by_role("button", name="Copy message").last.click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "Phase 1" in copied and "[1]" in copied
    assert "\nReferences:\n\n- [1] " in copied and "International Organization for Migration" in copied
    assert not re.search(r"</?[a-z]|&#\d+;|mcof-", copied)
    label = answer.get_attribute("aria-label")
    assert label.startswith("assistant's message: ") and "Phase 1" in label
    assert "<" not in label and "&#" not in label


def test_an_over_long_question_shows_the_limit_message_and_is_not_sent(app: BrowserPage) -> None:
    page = app.page
    question = ("Please tell me about shelter. " * 400)[:10_000]
    box = page.get_by_placeholder("Ask a question about the MCOF…")
    box.fill(question[:-1])
    box.press_sequentially(question[-1])  # the paste, then the last key typed
    expect(page.get_by_text("10,000 / 4,000 characters: 6,000 over the limit")).to_be_visible()
    box.press("Enter")
    expect(page.locator("#mcof-chat-status")).to_contain_text(
        "Your question is 10,000 characters long; the limit is 4,000. Shorten it and send it again: nothing was sent.")
    assert len(box.input_value()) == 10_000  # nothing cut
    assert page.locator('[data-testid="user"]').count() == 0


def test_every_sources_column_is_reachable_on_a_phone(browser: Any, app_server: AppServer) -> None:
    page = fresh_page(browser, app_server, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.get_by_role("tab", name="Sources").click()
    headers = page.locator(".mcof-sources table th")
    expect(headers).to_have_text(["Title", "Publisher", "Date", "Kind", "Origin", "Chunks", "File"])
    for header in headers.all():
        header.scroll_into_view_if_needed()
        expect(header).to_be_in_viewport()
        box = header.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    scroller = page.locator(".mcof-sources .mcof-scroll").last
    assert scroller.evaluate("el => el.scrollWidth > el.clientWidth && getComputedStyle(el).overflowX === 'auto'")


@pytest.fixture(scope="module")
def own_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A corpus and index of this module's own, for a server it stops and starts."""
    yield prepared(tmp_path_factory.mktemp("restart"))


def test_a_chat_survives_a_reload_and_a_server_restart(browser: Any, own_env: dict[str, str]) -> None:
    port = free_port()
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    with served(own_env, port) as server:
        page.goto(server.url)
        first = ask(page, PHASES_QUESTION, 1).inner_text()
        # the conversation id reaches the browser's storage in the step after the answer: wait for it
        expect(page.get_by_role("radio", name=PHASES_QUESTION)).to_be_checked(timeout=ANSWER_SECONDS)
        page.reload()
        expect(page.locator('[data-testid="bot"]').first).to_have_text(first, timeout=ANSWER_SECONDS)
    with served(own_env, port) as server:
        reopen(page, server.url)
        answer = page.locator('[data-testid="bot"]').first
        expect(answer).to_have_text(first, timeout=ANSWER_SECONDS)
        expect(page.locator("#cite-a1-1")).to_be_attached()
        follow_up = ask(page, "What happens during the second one?", 2)  # the restored chat is the context
        expect(follow_up).to_contain_text("during", ignore_case=True)
        expect(page.get_by_role("radio", name=PHASES_QUESTION)).to_be_checked()  # listed in the sidebar
    context.close()
