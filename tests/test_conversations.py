"""Saved conversations: per user, kept across restarts, renamed, deleted; answers come back whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.conversations import ConversationStore, Exchange
from assistant.errors import InputError
from assistant.export import conversation_to_markdown
from assistant.types import Answer, Citation

CITATION = Citation(1, "a.txt", "MCOF Key Elements", "Phases", "Before, during and after.", 0, 25,
                    publisher="IOM", date="2012")


def exchange(n: int, question: str = "What are the phases?") -> Exchange:
    return Exchange(question, Answer(question, "Before, during and after [1].", (CITATION,)), number=n)


def test_a_conversation_survives_a_new_store_on_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "conversations.sqlite3"
    ConversationStore(path).save("ana", "c1", (exchange(1), Exchange("Why?", None, "index not found", 2)))
    restarted = ConversationStore(path)
    saved = restarted.load("ana", "c1")
    assert saved is not None and saved.title == "What are the phases?"
    first = saved.exchanges[0]
    assert (first.question, first.answer, first.number) == ("What are the phases?", exchange(1).answer, 1)
    assert (saved.exchanges[1].answer, saved.exchanges[1].error) == (None, "index not found")
    assert restarted.secret() == ConversationStore(path).secret() and len(restarted.secret()) == 64


def test_each_user_sees_renames_and_deletes_only_their_own(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.sqlite3")
    store.save("ana", "c1", (exchange(1),))
    store.save("ana", "c2", (exchange(1, "What are the sectors?"),))
    store.save("bo", "c1", (exchange(1, "Hijack?"),))  # someone else's id: not taken over
    assert [s.id for s in store.list("ana")] == ["c2", "c1"] and store.list("bo") == []
    assert store.load("bo", "c1") is None
    store.rename("ana", "c1", "  Phases   chat ")
    assert [s.title for s in store.list("ana")] == ["What are the sectors?", "Phases chat"]
    with pytest.raises(InputError):
        store.rename("bo", "c1", "mine now")
    with pytest.raises(InputError):
        store.delete("bo", "c1")
    store.delete("ana", "c1")
    assert [s.id for s in store.list("ana")] == ["c2"]


def test_an_exported_conversation_is_markdown_with_references() -> None:
    text = conversation_to_markdown("Phases chat", [("What are the phases?", exchange(1).answer, ""),
                                                    ("Why?", None, "index not found")], {})
    assert text.startswith("# Phases chat\n\n## 1. What are the phases?\n\nBefore, during and after [1].")
    assert "- [1] MCOF Key Elements. IOM, 2012. Phases. “Before, during and after.”" in text
    assert "## 2. Why?\n\n(not answered: index not found)" in text and "<" not in text
