"""Prompts are files in `prompts/`, loaded by name and rendered with LangChain's ChatPromptTemplate.

A prompt file is Markdown split into messages by role markers on their own line:

    <!-- system -->
    You answer from the passages…
    <!-- human -->
    Question: {question}

Text before the first marker is a note for maintainers and is not sent. `{name}`
fields are filled at render time; a literal brace is written `{{` or `}}`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate

from .errors import ConfigError

PROMPTS_DIR = Path(__file__).resolve().parents[1] / "prompts"
_ROLE_RE = re.compile(r"^<!--\s*(system|human|ai)\s*-->\s*$", re.MULTILINE)


@lru_cache(maxsize=32)
def load_prompt(name: str, directory: Path = PROMPTS_DIR) -> ChatPromptTemplate:
    """The prompt `directory/name.md` as a chat template (cached; prompt files do not change at run time)."""
    path = directory / f"{name}.md"
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"prompt file {path} is missing: restore it from the repository") from exc
    parts = _ROLE_RE.split(source)
    messages = [(role, body.strip("\n")) for role, body in zip(parts[1::2], parts[2::2], strict=True)]
    if not messages:
        raise ConfigError(f"prompt file {path} has no <!-- system --> or <!-- human --> section")
    return ChatPromptTemplate.from_messages(messages)


def render_prompt(name: str, directory: Path = PROMPTS_DIR, **values: str) -> list[BaseMessage]:
    """The messages of prompt `name` with `values` filled in."""
    return load_prompt(name, directory).format_messages(**values)


def messages_as_text(messages: Sequence[BaseMessage]) -> str:
    """Messages as one readable text, for golden files and debug logs.

    >>> from langchain_core.messages import HumanMessage
    >>> print(messages_as_text([HumanMessage("Hi")]))
    ### human
    Hi
    """
    return "\n\n".join(f"### {m.type}\n{m.text}" for m in messages)
