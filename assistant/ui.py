"""The browser app: Chat, Draft, Align and Sources tabs over one `Assistant` (Gradio).

The only module that imports gradio. The renderers and `Handlers` below are plain
Python (HTML strings, lists, paths), unit-tested without a browser. Everything that
comes from a document or a model is escaped before it reaches the page, so a `<script>`
in a source shows as text; the only markup is what this module writes around it.

>>> cited_html("Three phases [1].", "cite-a1", {1}, html.escape)
'Three phases <a class="mcof-ref" href="#cite-a1-1">[1]</a>.'
>>> passage_html("Intro. The key sentence. Outro.", 7, 24)
'Intro. <mark>The key sentence.</mark> Outro.'
"""

from __future__ import annotations

import html
import ipaddress
import logging
import re
import tempfile
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

# Gradio reads the event-data annotations (gr.LikeData, gr.SelectData) of the handlers
# through this module's globals, so it is imported here rather than inside build_app.
import gradio as gr

from ingest.manifest import SUPPORTED_SUFFIXES

from .citations import MARKER_RE, make_citation, marker_numbers
from .config import Settings
from .conversations import ConversationStore, Exchange, Saved, Summary, new_id
from .errors import ConfigError, McofError
from .export import (
    alignment_rows,
    answer_to_markdown,
    conversation_to_markdown,
    draft_copy_markdown,
    draft_to_markdown,
    provenance,
    write_docx,
)
from .feedback import FeedbackStore
from .textutil import content_hash
from .types import Alignment, Answer, Citation, Document, DocumentMeta, Draft, Feedback, Hit, IngestReport, Turn

if TYPE_CHECKING:
    from .service import Assistant

log = logging.getLogger(__name__)

EXAMPLE_QUESTIONS = (
    "What are the three phases of a migration crisis?",
    "What are the 15 sectors of assistance?",
    "What are the cross-cutting issues of the MCOF?",
    "What did the 2019 evaluation recommend about project proposals?",
)
EXAMPLE_PROJECT = (
    "Emergency shelter and camp management for families displaced by floods, "
    "with health care and protection of unaccompanied children."
)
_CONTEXT_CHARS = 600  # surrounding text shown on each side of a cited passage
_EMPTY_PANEL = (
    '<div class="mcof-empty">Sources of each answer appear here. Click a <b>[n]</b> marker in an '
    "answer to jump to the passage it quotes; the supporting sentence is highlighted.</div>"
)
_INTERNAL = "internal error: {name} (see the app's log for details)"

# Markdown and HTML characters, written as character references so the chat's Markdown renderer
# shows them literally: no tags, emphasis, links, headings, tables or LaTeX from a document.
_MD_ESCAPES = {ch: f"&#{ord(ch)};" for ch in "&<>\"'\\`*_{}[]()#+!|~$="}


# --- escaping and citation rendering (pure) ---------------------------------------------------


def escape_md(text: str) -> str:
    """Text for the chat (Markdown + HTML): every special character shown literally.

    >>> escape_md("<b>*x*</b> [9]")
    '&#60;b&#62;&#42;x&#42;&#60;/b&#62; &#91;9&#93;'
    """
    return "".join(_MD_ESCAPES.get(ch, ch) for ch in text)


def cited_html(text: str, prefix: str, numbers: Collection[int], escape: Callable[[str], str]) -> str:
    """`text` escaped, with each [n] naming a known citation turned into a link to card `prefix-n`.

    A marker naming no citation stays plain text.
    """
    out: list[str] = []
    at = 0
    for m in MARKER_RE.finditer(text):
        out.append(escape(text[at : m.start()]))
        cited = marker_numbers(m.group(0))
        if cited and all(n in numbers for n in cited):
            out.append("".join(f'<a class="mcof-ref" href="#{prefix}-{n}">[{n}]</a>' for n in cited))
        else:
            out.append(escape(m.group(0)))
        at = m.end()
    out.append(escape(text[at:]))
    return "".join(out)


def passage_html(text: str, quote_start: int, quote_end: int) -> str:
    """The passage escaped, its supporting sentence in <mark> (the whole passage when no span is given);
    a Markdown heading shows without its `#` marks.

    >>> passage_html("# Kits\\nDone.", 7, 12)
    'Kits\\n<mark>Done.</mark>'
    """
    if not 0 <= quote_start < quote_end <= len(text):
        quote_start, quote_end = 0, len(text)
    return _unhashed(
        html.escape(text[:quote_start])
        + f"<mark>{html.escape(text[quote_start:quote_end])}</mark>"
        + html.escape(text[quote_end:])
    )


_HEADING_MARKS = re.compile(r"(?m)^(<mark>)?#{1,6}[ \t]+")
# "Copy as Markdown" on the Draft tab: the current draft's paragraph and references (kept in a
# hidden textarea of the draft's HTML), not its markup
_COPY_DRAFT_JS = """() => {
  var copy = document.querySelector('.mcof-draft-copy textarea');
  if (copy && navigator.clipboard) navigator.clipboard.writeText(copy.value);
}"""


def _unhashed(shown: str) -> str:
    """Escaped text with the `#` marks of Markdown headings dropped at line starts (display only)."""
    return _HEADING_MARKS.sub(r"\1", shown)


def surrounding(text: str, start: int, end: int, chars: int = _CONTEXT_CHARS) -> tuple[str, str]:
    """About `chars` characters of `text` before `start` and after `end`, cut at spaces.

    >>> surrounding("one two three four five", 8, 13, chars=3)
    ('… two ', ' four …')
    """
    cut = text.rfind(" ", 0, start - chars) if start > chars else -1
    before = "… " + text[cut + 1 : start] if cut >= 0 else text[:start]
    cut = text.find(" ", end + chars)
    after = text[end:cut] + " …" if cut >= 0 else text[end:]
    return before, after


def citation_card(
    c: Citation, prefix: str, context: tuple[str, str] | None = None, label: str = "", origin: str = ""
) -> str:
    """One cited passage: number, title (`label`, a short title, when given), section, date, publisher,
    where the document comes from (`origin`), and the passage with its supporting sentence highlighted;
    `context` adds the surrounding text."""
    meta = " · ".join(html.escape(x) for x in (c.section, c.date, c.publisher, origin) if x)
    passage = passage_html(c.text, c.quote_start, c.quote_end)
    title = c.title or c.doc
    parts = [
        f'<div class="mcof-cite" id="{prefix}-{c.n}">',
        f'<div class="mcof-cite-head"><span class="mcof-n">[{c.n}]</span> '
        f'<span class="mcof-title" title="{html.escape(title)}">{html.escape(label or title)}</span></div>',
        f'<div class="mcof-cite-meta">{meta}</div>' if meta else "",
        f'<blockquote class="mcof-passage">{passage}</blockquote>',
    ]
    if context is not None:
        before, after = (_unhashed(html.escape(x)) for x in context)
        parts.append(
            '<details class="mcof-context"><summary>Surrounding text</summary>'
            f'<div class="mcof-context-text">{before}<span class="mcof-in">{passage}</span>{after}</div></details>'
        )
    parts.append("</div>")
    return "".join(parts)


Context = Callable[[Citation], tuple[str, str] | None]


def _no_context(_: Citation) -> None:
    return None


def cards_html(
    citations: Sequence[Citation], prefix: str, catalog: Mapping[str, DocumentMeta], context: Context
) -> str:
    """The cards of `citations`, each titled with its document's short title and marked official or uploaded."""
    return "".join(
        citation_card(c, prefix, context(c), meta.label if meta else "", origin(meta))
        for c, meta in ((c, catalog.get(c.doc)) for c in citations)
    )


def origin(meta: DocumentMeta | None) -> str:
    """ "official source", or who uploaded the document and when ("" when unknown).

    >>> origin(DocumentMeta("uploads/n.md", "Notes", uploaded_by="ana", uploaded="2026-01-05T10:00:00+00:00"))
    'uploaded by ana on 2026-01-05'
    """
    if meta is None:
        return ""
    return "official source" if meta.official else provenance(meta)


def sources_group(
    answer: Answer, prefix: str, title: str, catalog: Mapping[str, DocumentMeta], context: Context, expanded: bool
) -> str:
    """The citation cards of one answer in a collapsible group; for a refusal, its closest passages."""
    if answer.refused:
        cards = [closest_citation(i, hit, catalog) for i, hit in enumerate(answer.closest, 1)]
        lead = "Not answered. The closest passages on this topic, for you to judge:" if cards else "Not answered."
    else:
        cards = list(answer.citations)
        lead = "" if cards else "This answer cites no passage."
    body = cards_html(cards, prefix, catalog, context)
    lead_html = f'<p class="mcof-lead">{lead}</p>' if lead else ""
    return (
        f'<details class="mcof-group"{" open" if expanded else ""}>'
        f"<summary>{html.escape(title)}</summary>{lead_html}{body}</details>"
    )


def collapsed_group(answer: Answer, title: str) -> str:
    """An older answer's group: its title and how many passages it cited, without the cards."""
    count = len(answer.closest if answer.refused else answer.citations)
    what = "closest passage" if answer.refused else "cited passage"
    return (
        f'<details class="mcof-group"><summary>{html.escape(title)}</summary>'
        f'<p class="mcof-lead">{count} {what}{"s" if count != 1 else ""}; ask again to see them.</p></details>'
    )


def closest_citation(n: int, hit: Hit, catalog: Mapping[str, DocumentMeta]) -> Citation:
    """A refusal's near miss shown like a citation, its best sentence highlighted."""
    quote = (0, 0)
    if hit.best_sentence:
        quote = (hit.best_sentence[0] - hit.chunk.start, hit.best_sentence[1] - hit.chunk.start)
    return make_citation(n, hit.chunk, catalog, quote)


def answer_markdown(answer: Answer, prefix: str, number: int = 0) -> str:
    """The chat bubble of an answer: its text with linked [n] markers, then any notice (a refusal's
    technical reasons stay in the log). It ends with an empty marker naming the answer, which the
    page's copy handler uses to copy the answer's clean Markdown instead of this markup."""
    body = cited_html(answer.text, prefix, {c.n for c in answer.citations}, escape_md)
    if answer.notice and not answer.refused:
        body += f'\n\n<span class="mcof-notice">Note: {escape_md(answer.notice)}</span>'
    return body + f'<span class="mcof-answer-end" data-answer="{number}"></span>'


def copies_html(answers: Sequence[tuple[int, str]]) -> str:
    """Hidden clean Markdown of each (answer number, markdown), read by the copy handler.

    >>> copies_html([(2, "Yes <b>[1]</b>.")])
    '<div class="mcof-copies" hidden><textarea data-answer="2">Yes &lt;b&gt;[1]&lt;/b&gt;.</textarea></div>'
    """
    items = "".join(f'<textarea data-answer="{n}">{html.escape(md, quote=False)}</textarea>' for n, md in answers)
    return f'<div class="mcof-copies" hidden>{items}</div>' if items else ""


def limit_message(length: int, limit: int, what: str = "question") -> str:
    """What the user sees when a text is over the limit: nothing is cut, nothing is sent.

    >>> limit_message(10000, 4000)
    'Your question is 10,000 characters long; the limit is 4,000. Shorten it and send it again: nothing was sent.'
    """
    return (
        f"Your {what} is {length:,} characters long; the limit is {limit:,}. "
        "Shorten it and send it again: nothing was sent."
    )


def error_markdown(message: str) -> str:
    return f'<span class="mcof-error">⚠ {escape_md(message)}</span>'


def error_html(message: str) -> str:
    return f'<div class="mcof-error" role="alert">⚠ {html.escape(message)}</div>'


def _list(items: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>" if items else "<p>none</p>"


def alignment_html(alignment: Alignment, catalog: Mapping[str, DocumentMeta]) -> str:
    """The Align tab: ranked sectors table, then phases, objectives, cross-cutting issues, modalities."""
    if alignment.declined:
        return f'<div class="mcof-align"><p class="mcof-notice">{html.escape(alignment.declined)}</p></div>'
    rows = "".join(
        f"<tr><td>{number}</td><td>{html.escape(name)}</td><td>{score}</td><td>{html.escape(evidence)}</td></tr>"
        for number, name, score, evidence in alignment_rows(alignment, catalog)
    )
    likely = set(alignment.likely_phases)
    # phases, objectives and items are listed best first; their raw scores have no unit worth showing
    phases = [
        f"<b>{html.escape(m.phase.title)}</b>{' (likely)' if m.phase.phase in likely else ''}"
        for m in alignment.phases
    ]
    objectives = [
        f"({html.escape(m.objective.letter)}) {html.escape(m.objective.text)} "
        f"<span class=\"mcof-dim\">{m.objective.year} wording</span>"
        for m in alignment.objectives
    ]
    cross = [html.escape(item.name) for item, _ in alignment.cross_cutting]
    modalities = [html.escape(item.name) for item, _ in alignment.modalities]
    parts = [
        '<div class="mcof-align"><h3>Sectors, best first (probability that the sector fits)</h3>',
        '<div class="mcof-scroll"><table class="mcof-table"><thead><tr><th>Number</th><th>Sector</th>'
        f"<th>Probability</th><th>Evidence</th></tr></thead><tbody>{rows}</tbody></table></div>",
        f"<h3>Phases</h3>{_list(phases)}",
        f"<h3>Objectives, closest first</h3>{_list(objectives)}",
        f"<h3>Cross-cutting issues, closest first</h3>{_list(cross)}",
        f"<h3>Operational modalities, closest first</h3>{_list(modalities)}",
    ]
    if alignment.rationale:
        parts.append(f"<h3>Rationale</h3><p>{html.escape(alignment.rationale)}</p>")
    parts.append("</div>")
    return "".join(parts)


def draft_html(
    draft: Draft, prefix: str, catalog: Mapping[str, DocumentMeta] | None = None, context: Context = _no_context
) -> str:
    """The Draft tab: the paragraph with linked [n], an alignment summary, then the cited passages."""
    numbers = {c.n for c in draft.citations}
    alignment = draft.alignment
    sectors = [
        f"Sector {m.sector.number} {html.escape(m.sector.name)} — {m.score:.0%}" for m in alignment.sectors[:3]
    ]
    summary = [
        f"<b>Sectors:</b> {'; '.join(sectors) or 'none'}",
        f"<b>Likely phases:</b> {html.escape(', '.join(alignment.likely_phases) or 'none')}",
        "<b>Objectives:</b> "
        + html.escape("; ".join(f"({m.objective.letter}) {m.objective.text}" for m in alignment.objectives[:2])),
        "<b>Cross-cutting issues to consider:</b> "
        + html.escape(", ".join(item.name for item, _ in alignment.cross_cutting[:3])),
        "<b>Operational modalities to consider:</b> "
        + html.escape(", ".join(item.name for item, _ in alignment.modalities[:3])),
    ]
    notice = f'<p class="mcof-notice">Note: {html.escape(draft.notice)}</p>' if draft.notice else ""
    cards = cards_html(draft.citations, prefix, catalog or {}, context)
    copy = html.escape(draft_copy_markdown(draft, catalog or {}), quote=False)
    return (
        f'<div class="mcof-draft">{notice}'
        f'<p class="mcof-paragraph">{cited_html(draft.paragraph, prefix, numbers, html.escape)}</p>'
        f"<h3>Alignment summary</h3>{_list(summary)}<h3>Cited passages</h3>{cards}"
        f'<div class="mcof-draft-copy" hidden><textarea>{copy}</textarea></div></div>'
    )


def sources_html(status: Mapping[str, Any]) -> str:
    """The Sources tab: index status, then the indexed documents, each marked official or uploaded.

    Both scroll sideways on a narrow screen rather than being clipped."""
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(value))}</td>" for value in (
            d.get("title", ""), d.get("publisher", ""), d.get("date", ""), d.get("kind", ""),
            origin(DocumentMeta(str(d.get("doc", "")), "", uploaded_by=d.get("uploaded_by", ""),
                                uploaded=d.get("uploaded", ""))),
            d.get("chunks", ""), d.get("doc", ""))) + "</tr>"
        for d in status.get("documents", ())
    )
    facts = [
        ("Index generation", status.get("generation", "")),
        ("Created", status.get("created", "")),
        ("Embedding model", f"{status.get('embedding_model', '')} ({status.get('dimension', '')} dimensions)"),
        ("Chunks", status.get("chunks", "")),
        ("MCOF framework parsed", "yes" if status.get("framework") else "no: Draft and Align need the 2012 text"),
        ("LLM backend", status.get("llm_backend", "")),
        ("Store", status.get("store", "")),
    ]
    dl = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in facts)
    return (
        f'<div class="mcof-sources"><div class="mcof-scroll"><dl class="mcof-status">{dl}</dl></div>'
        '<div class="mcof-scroll"><table class="mcof-table"><thead><tr><th>Title</th><th>Publisher</th><th>Date</th>'
        f"<th>Kind</th><th>Origin</th><th>Chunks</th><th>File</th></tr></thead><tbody>{rows}</tbody></table></div></div>"
    )


def ingest_html(report: IngestReport) -> str:
    """What a re-index did, in one line, then skipped files and warnings."""
    if report.changed_anything:
        head = (
            f"Index {report.generation}: {len(report.added)} added, {len(report.changed)} changed, "
            f"{len(report.removed)} removed, {len(report.unchanged)} unchanged; {report.chunks} chunks, "
            f"{report.embedded} texts embedded in {report.seconds:.1f} s."
        )
    else:
        head = f"Index {report.generation} is up to date ({report.chunks} chunks)."
    notes = [f"skipped {name}: {reason}" for name, reason in report.skipped] + list(report.warnings)
    lines = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return f'<div class="mcof-ok" role="status">{html.escape(head)}{f"<ul>{lines}</ul>" if lines else ""}</div>'


def footer_html(settings: Settings) -> str:
    """The footer: which LLM backend writes the answers, and the embedding model."""
    if settings.llm_backend == "none":
        llm = "LLM backend: none (extractive answers quoted from the documents)"
    else:
        llm = f"LLM backend: {settings.llm_backend} · model {settings.llm_model}"
    return (
        f'<div class="mcof-footer">{html.escape(llm)} · embedding model '
        f"{html.escape(settings.embedding_model)} · runs offline</div>"
    )


# --- access (pure) -----------------------------------------------------------------------------


def credentials(settings: Settings) -> list[tuple[str, str]]:
    """Logins from MCOF_AUTH ("user:password") and MCOF_AUTH_FILE (one per line; # comments)."""
    lines = [("MCOF_AUTH", settings.auth)] if settings.auth else []
    if settings.auth_file:
        try:
            text = Path(settings.auth_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read MCOF_AUTH_FILE {settings.auth_file}: {exc}") from exc
        lines += [
            (f"{settings.auth_file} line {i}", line.strip())
            for i, line in enumerate(text.splitlines(), 1)
            if line.strip() and not line.lstrip().startswith("#")
        ]
    pairs = []
    for where, line in lines:
        user, sep, password = line.partition(":")
        if not sep or not user.strip() or not password:
            raise ConfigError(f"{where} must be user:password")
        pairs.append((user.strip(), password))
    return pairs


def exposure_warning(host: str, has_login: bool) -> str:
    """A warning when the app listens beyond this machine without a login, else "".

    >>> exposure_warning("127.0.0.1", False)
    ''
    """
    if has_login or host == "localhost":
        return ""
    try:
        if ipaddress.ip_address(host).is_loopback:
            return ""
    except ValueError:
        pass
    return (
        f"serving on {host} without a login: anyone who can reach this machine can use the app; "
        "set MCOF_AUTH or MCOF_AUTH_FILE"
    )


@dataclass(frozen=True)
class Access:
    """Who may add, edit and delete documents: anyone when there is no login; with one, the admins only."""

    login: bool = False
    admins: frozenset[str] = frozenset()

    def may_manage(self, user: str | None) -> bool:
        return not self.login or (user or "") in self.admins


ADMINS_ONLY = "Only an admin may add, edit or delete documents (ask one, or see MCOF_ADMINS)."


# --- per-session state and the handlers the widgets call ------------------------------------------


MAX_EXCHANGES = 20  # exchanges a session keeps and sends back to the browser; older ones are dropped
CARDS_SHOWN = 3  # newest answers whose citation cards are in the panel; older ones collapse to one line


@dataclass(frozen=True)
class ChatState:
    """The last `MAX_EXCHANGES` exchanges of a conversation: its memory and each reply stay bounded."""

    exchanges: tuple[Exchange, ...] = ()
    asked: int = 0  # questions asked in the conversation, dropped ones included
    last_rated: str | None = None  # the answer id a comment goes to
    conversation_id: str = ""  # where it is saved; given at its first question

    @property
    def history(self) -> list[Turn]:
        """The answered exchanges, for follow-up questions."""
        return [Turn(e.question, e.answer.text) for e in self.exchanges if e.answer is not None]

    @property
    def dropped(self) -> int:
        return self.asked - len(self.exchanges)

    def added(self, question: str, answer: Answer | None, error: str = "") -> ChatState:
        """The state with one more exchange, the oldest dropped past `MAX_EXCHANGES`."""
        exchange = Exchange(question, answer, error, number=self.asked + 1)
        return replace(self, exchanges=(*self.exchanges, exchange)[-MAX_EXCHANGES:], asked=self.asked + 1)

    def find(self, answer_id: str | None) -> Exchange | None:
        return next((e for e in self.exchanges if e.answer_id == answer_id), None)

    def without_last(self) -> ChatState:
        """The state before its last question (to ask it again)."""
        return replace(self, exchanges=self.exchanges[:-1], asked=self.asked - 1)

    @classmethod
    def restored(cls, saved: Saved) -> ChatState:
        asked = max((e.number for e in saved.exchanges), default=0)
        return cls(saved.exchanges, asked, conversation_id=saved.id)


@dataclass(frozen=True)
class DraftState:
    draft: Draft | None = None
    number: int = 0  # drafts made in this session, for unique citation anchors
    draft_id: str = ""  # what feedback on the current draft is stored against


Message = dict[str, str]
ChatUpdate = tuple[list[Message], str, str, ChatState, str]  # chatbot messages, sources panel, input box, state,
# status line (the input limit)


class Handlers:
    """What each widget does, over an `Assistant`; returns plain values (HTML, lists, paths)."""

    def __init__(
        self,
        assistant: Assistant,
        feedback: FeedbackStore,
        downloads: Path,
        conversations: ConversationStore | None = None,
        access: Access = Access(),
        max_chars: int = 4000,
    ) -> None:
        self.assistant = assistant
        self.feedback = feedback
        self.downloads = downloads
        self.conversations = conversations or ConversationStore(feedback.path.with_name("conversations.sqlite3"))
        self.access = access
        self.max_chars = max_chars

    # chat

    def chat(self, message: str, state: ChatState, user: str = "") -> Iterator[ChatUpdate]:
        """Stream the answer into the chat, then show it with linked [n] and its citation cards; save the chat.

        A question over the limit is not sent: it stays in the box and a message says so."""
        question = message.strip()
        if not question:
            yield self.messages(state), self.panel(state), "", state, ""
            return
        if len(question) > self.max_chars:
            yield self.messages(state), self.panel(state), message, state, error_html(
                limit_message(len(message), self.max_chars))
            return
        if not state.conversation_id:
            state = replace(state, conversation_id=new_id())
        pending = [{"role": "user", "content": escape_md(question)}, {"role": "assistant", "content": "…"}]
        shown, panel = self.messages(state), self.panel(state)  # unchanged while the answer streams
        yield shown + pending, panel, "", state, ""
        text = ""
        try:
            final: Answer | None = None
            for piece in self.assistant.answerer().stream(question, state.history):
                if isinstance(piece, Answer):
                    final = piece
                    continue
                text += piece
                pending[1] = {"role": "assistant", "content": escape_md(text)}
                yield shown + pending, panel, "", state, ""
            final = self.assistant.noted(final) if final else None
            state = state.added(question, final, error="" if final else "no answer was produced")
        except McofError as exc:
            state = state.added(question, None, error=str(exc))
        except Exception as exc:  # a bug: the message on screen, the traceback in the log
            log.exception("answering %r failed", question)
            state = state.added(question, None, error=_INTERNAL.format(name=type(exc).__name__))
        notice = ""
        try:
            self.conversations.save(user, state.conversation_id, state.exchanges)
        except McofError as exc:
            notice = error_html(f"This conversation was not saved: {exc}")
        yield self.messages(state), self.panel(state), "", state, notice

    def regenerate(self, state: ChatState, user: str = "") -> Iterator[ChatUpdate]:
        """Ask the last question again (a new answer replaces the last one)."""
        if not state.exchanges:
            yield self.messages(state), self.panel(state), "", state, "Ask a question first."
            return
        yield from self.chat(state.exchanges[-1].question, state.without_last(), user)

    def messages(self, state: ChatState) -> list[Message]:
        """The kept exchanges as chat messages: message 2i is question i, 2i + 1 its answer."""
        out: list[Message] = []
        for e in state.exchanges:
            out.append({"role": "user", "content": escape_md(e.question)})
            content = answer_markdown(e.answer, f"cite-a{e.number}", e.number) if e.answer else error_markdown(e.error)
            out.append({"role": "assistant", "content": content})
        return out

    def panel(self, state: ChatState) -> str:
        """Citation groups, newest first; only the newest is expanded, and only the newest
        `CARDS_SHOWN` answers carry their cards (older ones are one line: the reply stays small)."""
        answered = [e for e in state.exchanges if e.answer is not None]
        catalog = self._catalog() if answered else {}
        groups = []
        for age, e in enumerate(reversed(answered)):
            assert e.answer is not None
            title = f"Answer {e.number}: {e.question}"
            if age < CARDS_SHOWN:
                groups.append(sources_group(e.answer, f"cite-a{e.number}", title, catalog, self.context, age == 0))
            else:
                groups.append(collapsed_group(e.answer, title))
        if state.dropped:
            groups.append(f'<p class="mcof-lead">{state.dropped} earlier question{"s" if state.dropped > 1 else ""} '
                          f"no longer shown (a conversation keeps its last {MAX_EXCHANGES}).</p>")
        if not groups:
            return _EMPTY_PANEL
        copies = copies_html([(e.number, answer_to_markdown(e.answer, catalog)) for e in answered if e.answer])
        return "".join(groups) + copies

    def clear(self) -> tuple[list[Message], str, str, ChatState, str]:
        """A new, empty conversation (the one before stays saved)."""
        return [], _EMPTY_PANEL, "", ChatState(), ""

    # saved conversations

    def saved(self, user: str = "") -> list[Summary]:
        try:
            return self.conversations.list(user)
        except McofError as exc:
            log.warning("cannot list conversations: %s", exc)
            return []

    def open(self, conversation_id: str | None, user: str = "") -> tuple[list[Message], str, str, ChatState, str]:
        """Show a saved conversation of `user` (a new one when it is gone or not theirs)."""
        try:
            found = self.conversations.load(user, conversation_id) if conversation_id else None
        except McofError as exc:
            return (*self.clear()[:4], error_html(str(exc)))
        if found is None:
            return self.clear()
        state = ChatState.restored(found)
        return self.messages(state), self.panel(state), "", state, ""

    def rename(self, state: ChatState, title: str, user: str = "") -> str:
        try:
            self.conversations.rename(user, state.conversation_id, title)
        except McofError as exc:
            return error_html(str(exc) if state.exchanges else "Ask a question first: empty chats are not saved.")
        return "Conversation renamed."

    def delete(self, state: ChatState, user: str = "") -> tuple[list[Message], str, str, ChatState, str]:
        """Delete the shown conversation and start a new one."""
        try:
            self.conversations.delete(user, state.conversation_id)
        except McofError as exc:
            return (*self.clear()[:4], error_html(str(exc)))
        return (*self.clear()[:4], "Conversation deleted.")

    def export(self, state: ChatState, user: str = "") -> Path | None:
        """The shown conversation as a Markdown file with its references (None when it is empty)."""
        if not state.exchanges:
            return None
        title = next((s.title for s in self.saved(user) if s.id == state.conversation_id),
                     state.exchanges[0].question[:80])
        text = conversation_to_markdown(title, [(e.question, e.answer, e.error) for e in state.exchanges],
                                        self._catalog())
        path = self.downloads / f"mcof-chat-{state.conversation_id[:8]}.md"
        path.write_text(text, encoding="utf-8")
        return path

    def rate_answer(self, state: ChatState, index: int, liked: bool | str) -> tuple[ChatState, str]:
        """Store a thumbs up (liked True) or down (False) for the answer at chat message `index`."""
        position = index // 2
        if not 0 <= position < len(state.exchanges) or state.exchanges[position].answer is None:
            return state, "Only answers can be rated."
        rating = 1 if liked is True else -1 if liked is False else 0
        exchange = state.exchanges[position]
        try:
            self._store_answer_feedback(exchange, rating=rating)
        except McofError as exc:
            return state, error_html(str(exc))
        word = {1: "helpful", -1: "not helpful", 0: "rating removed"}[rating]
        return (replace(state, last_rated=exchange.answer_id),
                f"Feedback saved for answer {exchange.number}: {word}. Add a comment below if you like.")

    def comment_answer(self, state: ChatState, comment: str) -> tuple[ChatState, str, str]:
        """Attach `comment` to the last rated answer, else to the latest answer; clears the comment box."""
        comment = comment.strip()
        answered = [e for e in state.exchanges if e.answer is not None]
        if not comment:
            return state, "Write a comment first.", ""
        if not answered:
            return state, "Ask a question first: comments belong to an answer.", comment
        exchange = state.find(state.last_rated) or answered[-1]
        try:
            self._store_answer_feedback(exchange, comment=comment)
        except McofError as exc:
            return state, error_html(str(exc)), comment
        return (replace(state, last_rated=exchange.answer_id),
                f"Comment saved for answer {exchange.number}. Thank you.", "")

    def _store_answer_feedback(self, exchange: Exchange, rating: int | None = None, comment: str | None = None) -> None:
        answer = exchange.answer
        assert answer is not None
        about = Feedback("answer", answer.question, answer.text, answer.citations)
        self.feedback.save(exchange.answer_id, about, rating=rating, comment=comment)

    # draft

    def draft(self, project: str, length: str, state: DraftState) -> tuple[str, Path | None, Path | None, DraftState]:
        """Draft the paragraph; returns its HTML, the .docx and .md files, and the new state."""
        try:
            draft = self.assistant.draft(project, _length(length))
            catalog = self._catalog()
            stem = self.downloads / f"mcof-draft-{content_hash(draft.project, draft.paragraph, length=10)}"
            docx_path = write_docx(draft, catalog, stem.with_suffix(".docx"))
            md_path = stem.with_suffix(".md")
            md_path.write_text(draft_to_markdown(draft, catalog), encoding="utf-8")
        except McofError as exc:
            return error_html(str(exc)), None, None, state
        except Exception as exc:
            log.exception("drafting failed")
            return error_html(_INTERNAL.format(name=type(exc).__name__)), None, None, state
        number = state.number + 1
        shown = draft_html(draft, f"cite-d{number}", catalog, self.context)
        return shown, docx_path, md_path, DraftState(draft, number, uuid.uuid4().hex)

    def rate_draft(self, state: DraftState, rating: int, comment: str) -> tuple[DraftState, str]:
        """Store a rating (and the optional comment) for the current draft; a second click updates it."""
        if state.draft is None:
            return state, "Draft a paragraph first."
        comment = comment.strip()
        d = state.draft
        try:
            self.feedback.save(state.draft_id, Feedback("draft", d.project, d.paragraph, d.citations),
                               rating=rating, comment=comment or None)
        except McofError as exc:
            return state, error_html(str(exc))
        return state, f"Feedback saved for this draft: {'helpful' if rating > 0 else 'not helpful'}. Thank you."

    # align

    def align(self, description: str) -> str:
        try:
            return alignment_html(self.assistant.align(description), self._catalog())
        except McofError as exc:
            return error_html(str(exc))
        except Exception as exc:
            log.exception("alignment failed")
            return error_html(_INTERNAL.format(name=type(exc).__name__))

    # sources

    def sources(self) -> str:
        try:
            return sources_html(self.assistant.status())
        except McofError as exc:
            return error_html(f"{exc}. Use “Re-index” below to build it from the corpus folder.")

    def add_documents(self, files: Sequence[str] | None, replace_own: bool, user: str = "") -> tuple[str, str]:
        """Store uploaded files as uploads (never over an official source) and re-index."""
        paths = [Path(f) for f in files or ()]
        if not paths:
            return error_html("Choose one or more files first."), self.sources()
        return self._indexing(user, lambda: self.assistant.upload(paths, user, replace_own))

    def reindex(self, rebuild: bool, user: str = "") -> tuple[str, str]:
        """Bring the index up to date with the corpus and upload folders (progress tracked by the caller)."""
        return self._indexing(user, lambda: self.assistant.ingest(rebuild=rebuild, progress=True))

    def edit_document(self, doc: str | None, title: str, publisher: str, date: str, user: str = "") -> tuple[str, str]:
        """Change an upload's title, publisher and date (official sources are read-only)."""
        if not doc:
            return error_html("Choose an uploaded document first."), self.sources()
        return self._indexing(user, lambda: self.assistant.edit_upload(doc, title, publisher, date))

    def delete_document(self, doc: str | None, user: str = "") -> tuple[str, str]:
        """Delete an upload and re-index without it (official sources are read-only)."""
        if not doc:
            return error_html("Choose an uploaded document first."), self.sources()
        return self._indexing(user, lambda: self.assistant.delete_upload(doc))

    def uploads(self) -> list[tuple[str, str]]:
        """(label, document id) of every uploaded document in the index."""
        return [(f"{meta.title} ({doc.removeprefix('uploads/')})", doc)
                for doc, meta in sorted(self._catalog().items()) if not meta.official]

    def details(self, doc: str | None) -> tuple[str, str, str]:
        """An upload's (title, publisher, date), for editing."""
        meta = self._catalog().get(doc or "")
        return (meta.title, meta.publisher, meta.date) if meta else ("", "", "")

    def _indexing(self, user: str, work: Callable[[], IngestReport]) -> tuple[str, str]:
        """Run an index change for an admin; the report (or the error) and the refreshed Sources table."""
        if not self.access.may_manage(user):
            return error_html(ADMINS_ONLY), self.sources()
        try:
            report = work()
        except McofError as exc:
            return error_html(str(exc)), self.sources()
        except Exception as exc:
            log.exception("index change failed")
            return error_html(_INTERNAL.format(name=type(exc).__name__)), self.sources()
        return ingest_html(report), self.sources()

    # documents

    def _catalog(self) -> Mapping[str, DocumentMeta]:
        """Document metadata of the current index (empty when there is none yet)."""
        try:
            return self.assistant.searcher.catalog
        except McofError:
            return {}

    def _documents(self) -> Mapping[str, Document]:
        return self.assistant.searcher.current().retriever.documents

    def context(self, c: Citation) -> tuple[str, str] | None:
        """The text around a cited passage, when its document still holds it at the same place."""
        try:
            document = self._documents().get(c.doc)
        except McofError:
            return None
        if document is None or document.text[c.start : c.end] != c.text:
            return None
        return surrounding(document.text, c.start, c.end)


def _length(value: str) -> Literal["short", "standard", "long"]:
    return "short" if value == "short" else "long" if value == "long" else "standard"


# --- the Gradio app ----------------------------------------------------------------------------

CSS = """
a[href^="#cite-"] { color: var(--color-accent); font-weight: 600; text-decoration: none; padding: 0 1px; }
.mcof-cite { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 12px; margin: 8px 0;
  background: var(--background-fill-secondary); scroll-margin: 80px; }
.mcof-cite.mcof-flash { animation: mcof-flash 1.6s ease-out; }
@keyframes mcof-flash { 0% { box-shadow: 0 0 0 3px #f59e0b; } 100% { box-shadow: 0 0 0 0 transparent; } }
.mcof-cite-head { font-weight: 600; }
.mcof-n { color: var(--color-accent); }
.mcof-cite-meta, .mcof-dim, .mcof-notice { color: var(--body-text-color-subdued); font-size: 0.9em; }
.mcof-passage { margin: 6px 0; padding-left: 10px; border-left: 3px solid var(--color-accent);
  white-space: pre-wrap; }
.mcof-cite mark { background: #fde68a; color: #111827; padding: 0 1px; }
.mcof-context summary, .mcof-group > summary { cursor: pointer; }
.mcof-context-text { white-space: pre-wrap; font-size: 0.9em; max-height: 320px; overflow: auto; }
.mcof-in { background: var(--background-fill-primary); outline: 1px dashed var(--border-color-primary); }
.mcof-group { margin-bottom: 10px; }
.mcof-group > summary { font-weight: 600; padding: 4px 0; }
.mcof-error { color: #b91c1c; font-weight: 600; }
.mcof-table { border-collapse: collapse; width: 100%; font-size: 0.92em; }
.mcof-table th, .mcof-table td { border: 1px solid var(--border-color-primary); padding: 4px 6px;
  text-align: left; vertical-align: top; }
.mcof-status { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; }
.mcof-status dt { font-weight: 600; }
.mcof-paragraph { font-size: 1.05em; line-height: 1.6; }
.mcof-footer { text-align: center; font-size: 0.9em; padding: 8px; border-top: 1px solid var(--border-color-primary); }
.mcof-scroll { overflow-x: auto; max-width: 100%; -webkit-overflow-scrolling: touch; }
.mcof-scroll .mcof-table { min-width: 640px; }
.mcof-counter { color: var(--body-text-color-subdued); font-size: 0.85em; }
.mcof-over { color: #b91c1c; font-weight: 600; }
"""

# A click on an [n] marker opens and scrolls to its card wherever it sits (chat panel or draft).
HEAD = """<script>
document.addEventListener("click", function (event) {
  var link = event.target.closest ? event.target.closest('a[href^="#cite-"]') : null;
  if (!link) return;
  var card = document.getElementById(link.getAttribute("href").slice(1));
  if (!card) return;
  event.preventDefault();
  for (var el = card; el; el = el.parentElement) { if (el.tagName === "DETAILS") el.open = true; }
  card.scrollIntoView({behavior: "smooth", block: "center"});
  card.classList.remove("mcof-flash"); void card.offsetWidth; card.classList.add("mcof-flash");
});
// "Copy" on an answer gives its clean Markdown (text, [n] markers, references), not the bubble's markup.
(function () {
  var clip = navigator.clipboard;
  if (!clip || !clip.writeText) return;
  var write = clip.writeText.bind(clip);
  clip.writeText = function (text) {
    var found = /class="mcof-answer-end" data-answer="(\\d+)"/.exec(text || "");
    var copy = found && document.querySelector('.mcof-copies textarea[data-answer="' + found[1] + '"]');
    if (copy) return write(copy.value);
    if (/<[a-z][^>]*>|&#\\d+;/i.test(text || "")) {  // other markup: the text the reader sees
      var box = document.createElement("div"); box.innerHTML = text; return write(box.textContent || "");
    }
    return write(text);
  };
})();
// Screen readers get each message's visible text, not its markup (Gradio labels a message with its source).
new MutationObserver(function () {
  document.querySelectorAll('[data-testid="bot"], [data-testid="user"]').forEach(function (el) {
    var label = el.getAttribute("aria-label") || "";
    if (!/[<>]|&#\\d+;/.test(label)) return;
    var who = el.getAttribute("data-testid") === "bot" ? "assistant" : "user";
    var wanted = who + "'s message: " + (el.innerText || "").trim();
    if (label !== wanted) el.setAttribute("aria-label", wanted);
  });
}).observe(document.documentElement, {subtree: true, childList: true, attributes: true,
                                      attributeFilter: ["aria-label"]});
</script>"""


def build_app(assistant: Assistant, settings: Settings, downloads: Path | None = None) -> gr.Blocks:
    """The four tabs and the saved-chats sidebar wired to `Handlers`; files go to `downloads` (a temp folder)."""
    conversations = ConversationStore(settings.conversations_db)
    handlers = Handlers(
        assistant,
        FeedbackStore(settings.feedback_db),
        downloads or Path(tempfile.mkdtemp(prefix="mcof-app-")),
        conversations,
        Access(bool(credentials(settings)), settings.admin_names),
        settings.max_query_chars,
    )
    upload_types = list(SUPPORTED_SUFFIXES)
    limit = settings.max_query_chars

    def project_box() -> gr.Textbox:
        """The project-description input of the Draft and Align tabs, with its example under it."""
        box = gr.Textbox(label="Project description", lines=6, placeholder=EXAMPLE_PROJECT)
        counter(box)
        gr.Examples([[EXAMPLE_PROJECT]], [box], label="Example")
        return box

    def counter(box: gr.Textbox) -> None:
        """A live "n / limit characters" line under `box`, flagged when over: nothing is cut silently."""
        shown = gr.HTML(counter_html(0, limit), elem_classes=["mcof-counter-box"])
        box.change(None, [box], [shown], js=f"(text) => {COUNTER_JS % limit}", queue=False, show_progress="hidden")

    app = gr.Blocks(title="MCOF assistant", analytics_enabled=False)
    with app:
        chat_state = gr.State(ChatState())
        current = gr.BrowserState("", storage_key="mcof-conversation", secret=conversations.secret())
        with gr.Sidebar(label="Conversations", open=False):
            gr.Markdown("### Conversations")
            new_chat = gr.Button("New conversation", variant="primary")
            saved = gr.Radio([], label="Saved conversations", elem_id="mcof-saved")
            title = gr.Textbox(label="Name of this conversation", max_length=200)
            with gr.Row():
                rename = gr.Button("Rename", size="sm")
                delete = gr.Button("Delete", size="sm", variant="stop")
            export = gr.DownloadButton("Export as Markdown", size="sm")
            chat_status = gr.HTML()
        gr.Markdown(
            "## MCOF assistant\nQuestions, sector alignment and proposal paragraphs from the IOM Migration Crisis "
            "Operational Framework documents. Every claim cites the passage it comes from."
        )
        with gr.Tab("Chat"):
            with gr.Row():
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(
                        label="Conversation",
                        height=520,
                        latex_delimiters=[],
                        sanitize_html=True,
                        buttons=["copy"],
                        feedback_options=("Like", "Dislike"),
                        examples=[{"text": q} for q in EXAMPLE_QUESTIONS],
                        placeholder="Ask about the MCOF documents, or pick an example.",
                    )
                    with gr.Row():
                        question = gr.Textbox(
                            placeholder="Ask a question about the MCOF…",
                            show_label=False,
                            scale=5,
                            elem_id="mcof-question",
                        )
                        ask = gr.Button("Ask", variant="primary", scale=1, min_width=80)
                    with gr.Row(equal_height=True):
                        counter(question)
                        limit_status = gr.HTML(elem_id="mcof-chat-status")
                    with gr.Row():
                        stop = gr.Button("Stop", size="sm")
                        regenerate = gr.Button("Regenerate last answer", size="sm")
                        clear = gr.Button("New conversation", variant="secondary", size="sm")
                    with gr.Row(visible=False) as comment_row:
                        comment = gr.Textbox(
                            placeholder="Optional comment on the answer you rated (or the latest answer)",
                            show_label=False,
                            max_length=2000,
                            scale=5,
                        )
                        send_comment = gr.Button("Comment", scale=1, min_width=80)
                    feedback_status = gr.Markdown()
                with gr.Column(scale=2):
                    gr.Markdown("### Sources")
                    panel = gr.HTML(_EMPTY_PANEL, elem_id="mcof-citations", max_height=640)

            chat_outputs = [chatbot, panel, question, chat_state, limit_status]

            def chat(message: str, state: ChatState, request: gr.Request) -> Iterator[ChatUpdate]:
                yield from handlers.chat(message, state, _user(request))

            def again(state: ChatState, request: gr.Request) -> Iterator[ChatUpdate]:
                yield from handlers.regenerate(state, _user(request))

            def ask_example(state: ChatState, event: gr.SelectData, request: gr.Request) -> Iterator[ChatUpdate]:
                yield from handlers.chat(str(event.value.get("text", "")), state, _user(request))

            def after_chat(state: ChatState, request: gr.Request) -> tuple[Any, ...]:
                """The sidebar, the kept conversation id, the export file and the comment row follow the chat."""
                summaries = handlers.saved(_user(request))
                chosen = state.conversation_id if any(s.id == state.conversation_id for s in summaries) else None
                name = next((s.title for s in summaries if s.id == chosen), "")
                return (
                    gr.Radio(choices=[(s.title, s.id) for s in summaries], value=chosen),
                    state.conversation_id if chosen else "",
                    name,
                    handlers.export(state, _user(request)),
                    gr.Row(visible=any(e.answer is not None for e in state.exchanges)),
                )

            follow = [saved, current, title, export, comment_row]
            running: list[Any] = [
                ask.click(chat, [question, chat_state], chat_outputs, show_progress="hidden"),
                question.submit(chat, [question, chat_state], chat_outputs, show_progress="hidden"),
                chatbot.example_select(ask_example, [chat_state], chat_outputs, show_progress="hidden"),
                regenerate.click(again, [chat_state], chat_outputs, show_progress="hidden"),
            ]
            for event in running:
                event.then(after_chat, [chat_state], follow, show_progress="hidden")
            stop.click(None, None, None, cancels=running, queue=False)

            def open_chat(conversation_id: str | None, request: gr.Request) -> tuple[Any, ...]:
                if not conversation_id:  # nothing kept in this browser: leave the page (and a question typed) alone
                    return gr.skip(), gr.skip(), gr.skip(), gr.skip()
                return _but_box(handlers.open(conversation_id, _user(request)))

            def fresh() -> tuple[Any, ...]:
                return _but_box(handlers.clear())

            def remove(state: ChatState, request: gr.Request) -> tuple[Any, ...]:
                return _but_box(handlers.delete(state, _user(request)))

            def renamed(state: ChatState, name: str, request: gr.Request) -> str:
                return handlers.rename(state, name, _user(request))

            shown = [chatbot, panel, chat_state, chat_status]
            saved.input(open_chat, [saved], shown).then(after_chat, [chat_state], follow)
            for button in (new_chat, clear):
                button.click(fresh, None, shown, queue=False).then(after_chat, [chat_state], follow)
            chatbot.clear(fresh, None, shown, queue=False).then(after_chat, [chat_state], follow)
            delete.click(remove, [chat_state], shown).then(after_chat, [chat_state], follow)
            rename.click(renamed, [chat_state, title], [chat_status]).then(after_chat, [chat_state], follow)
            app.load(open_chat, [current], shown).then(after_chat, [chat_state], follow)

            def rate(state: ChatState, event: gr.LikeData) -> tuple[ChatState, str]:
                index = event.index if isinstance(event.index, int) else event.index[0]
                return handlers.rate_answer(state, index, event.liked)

            chatbot.like(rate, [chat_state], [chat_state, feedback_status])
            send_comment.click(handlers.comment_answer, [chat_state, comment], [chat_state, feedback_status, comment])

        with gr.Tab("Draft"):
            draft_state = gr.State(DraftState())
            with gr.Row():
                with gr.Column(scale=2):
                    project = project_box()
                    length = gr.Radio(["short", "standard", "long"], value="standard", label="Length")
                    make_draft = gr.Button("Draft paragraph", variant="primary")
                    with gr.Row():
                        docx_button = gr.DownloadButton("Download .docx", visible=False)
                        md_button = gr.DownloadButton("Download .md", visible=False)
                        copy_draft = gr.Button("Copy as Markdown", visible=False)
                    draft_comment = gr.Textbox(label="Comment on this draft (optional)", max_length=2000, lines=2)
                    with gr.Row():
                        draft_up = gr.Button("Helpful")
                        draft_down = gr.Button("Not helpful")
                    draft_status = gr.Markdown()
                with gr.Column(scale=3):
                    draft_out = gr.HTML('<div class="mcof-empty">The drafted paragraph appears here.</div>')

            def run_draft(text: str, size: str, state: DraftState) -> tuple[Any, ...]:
                out, docx_path, md_path, state = handlers.draft(text, size, state)
                return (
                    out,
                    gr.DownloadButton(value=docx_path, visible=docx_path is not None),
                    gr.DownloadButton(value=md_path, visible=md_path is not None),
                    gr.Button(visible=md_path is not None),
                    state,
                    "",
                )

            draft_outputs = [draft_out, docx_button, md_button, copy_draft, draft_state, draft_status]
            make_draft.click(run_draft, [project, length, draft_state], draft_outputs)
            copy_draft.click(None, js=_COPY_DRAFT_JS)
            draft_up.click(lambda s, c: handlers.rate_draft(s, 1, c), [draft_state, draft_comment],
                           [draft_state, draft_status])
            draft_down.click(lambda s, c: handlers.rate_draft(s, -1, c), [draft_state, draft_comment],
                             [draft_state, draft_status])

        with gr.Tab("Align"):
            with gr.Row():
                with gr.Column(scale=2):
                    description = project_box()
                    align = gr.Button("Align with the MCOF", variant="primary")
                with gr.Column(scale=3):
                    align_out = gr.HTML('<div class="mcof-empty">Ranked sectors, phases and objectives appear here.'
                                        "</div>")
            align.click(handlers.align, [description], [align_out])

        with gr.Tab("Sources"):
            sources_out = gr.HTML()
            with gr.Column() as manage:
                gr.Markdown(
                    f"**Add documents** ({', '.join(upload_types)}; at most {settings.max_upload_mb} MB each). "
                    "They are kept apart from the official sources, which cannot be replaced: a file with a name "
                    "already in use gets a new one. A file that cannot be read is not stored."
                )
                files = gr.File(label="Documents", file_count="multiple", file_types=upload_types)
                replace_own = gr.Checkbox(label="Replace my upload of the same name (a new version)", value=False)
                add = gr.Button("Add and re-index", variant="primary")
                gr.Markdown("**Uploaded documents**: correct their details, or delete them.")
                chosen = gr.Dropdown([], label="Uploaded document", value=None)
                with gr.Row():
                    doc_title = gr.Textbox(label="Title", max_length=300)
                    doc_publisher = gr.Textbox(label="Publisher", max_length=300)
                    doc_date = gr.Textbox(label="Date", max_length=40)
                with gr.Row():
                    save_details = gr.Button("Save details")
                    confirm = gr.Checkbox(label="Yes, delete this upload", value=False)
                    remove_doc = gr.Button("Delete upload", variant="stop")
                rebuild = gr.Checkbox(label="Rebuild the whole index", value=False)
                reindex = gr.Button("Re-index")
            not_admin = gr.Markdown(ADMINS_ONLY, visible=False)
            ingest_out = gr.HTML()

            def after_index() -> tuple[Any, ...]:
                return gr.Dropdown(choices=handlers.uploads(), value=None), "", "", "", False, None

            refreshed = [chosen, doc_title, doc_publisher, doc_date, confirm, files]

            def add_files(
                paths: list[str] | None, own: bool, request: gr.Request,
                progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
            ) -> tuple[str, str]:
                return handlers.add_documents(paths, own, _user(request))

            def run_reindex(
                full: bool, request: gr.Request, progress: gr.Progress = gr.Progress(track_tqdm=True)  # noqa: B008
            ) -> tuple[str, str]:
                return handlers.reindex(full, _user(request))

            def save_doc(doc: str | None, t: str, p: str, d: str, request: gr.Request) -> tuple[str, str]:
                return handlers.edit_document(doc, t, p, d, _user(request))

            def delete_doc(doc: str | None, sure: bool, request: gr.Request) -> tuple[str, str]:
                if not sure:
                    return error_html("Tick “Yes, delete this upload” first."), handlers.sources()
                return handlers.delete_document(doc, _user(request))

            indexed = [ingest_out, sources_out]
            add.click(add_files, [files, replace_own], indexed, concurrency_limit=1, api_name="add_documents"
                      ).then(after_index, None, refreshed)
            reindex.click(run_reindex, [rebuild], indexed, concurrency_limit=1, api_name="reindex"
                          ).then(after_index, None, refreshed)
            save_details.click(save_doc, [chosen, doc_title, doc_publisher, doc_date], indexed, concurrency_limit=1,
                               api_name="edit_document").then(after_index, None, refreshed)
            remove_doc.click(delete_doc, [chosen, confirm], indexed, concurrency_limit=1, api_name="delete_document"
                             ).then(after_index, None, refreshed)
            chosen.input(handlers.details, [chosen], [doc_title, doc_publisher, doc_date])

            def access(request: gr.Request) -> tuple[Any, ...]:
                allowed = handlers.access.may_manage(_user(request))
                return gr.Column(visible=allowed), gr.Markdown(visible=not allowed)

            app.load(access, None, [manage, not_admin])
            app.load(after_index, None, refreshed)

        gr.HTML(footer_html(settings))
        app.load(handlers.sources, None, sources_out)
    return app


def _but_box(update: tuple[Any, ...]) -> tuple[Any, ...]:
    """A conversation update without its input-box value: opening a chat keeps what the user is typing."""
    messages, panel, _, state, status = update
    return messages, panel, state, status


def _user(request: gr.Request | None) -> str:
    """The signed-in user's name ("" without a login)."""
    return str(getattr(request, "username", None) or "")


def counter_html(length: int, limit: int) -> str:
    """The character count under an input box; over the limit it says that nothing will be sent.

    >>> counter_html(12, 4000)
    '<span class="mcof-counter">12 / 4,000 characters</span>'
    """
    if length > limit:
        return (f'<span class="mcof-counter mcof-over" role="status">{length:,} / {limit:,} characters: '
                f"{length - limit:,} over the limit, shorten it before sending</span>")
    return f'<span class="mcof-counter">{length:,} / {limit:,} characters</span>'


# The same text as `counter_html`, computed in the browser as the user types (%d: the limit).
COUNTER_JS = """{
  const limit = %d, n = [...(text || "")].length, f = (x) => x.toLocaleString("en-US");
  const count = `${f(n)} / ${f(limit)} characters`;
  return n > limit
    ? `<span class="mcof-counter mcof-over" role="status">${count}: ${f(n - limit)} over the limit, `
      + "shorten it before sending</span>"
    : `<span class="mcof-counter">${count}</span>`;
}"""


# --- what the server answers (ASGI, in front of Gradio's routes) ---------------------------------

# Gradio's file route fetches a URL given in place of a path (`/gradio_api/file=http://...`);
# an offline tool must not fetch anything on a request, so any scheme there is refused.
_REMOTE_FILE = re.compile(r"/file[=/]+\s*[a-z][a-z0-9+.-]*:", re.IGNORECASE)
# Routes Gradio answers without a login even when one is set.
_LOGIN_ONLY = re.compile(r"^(/gradio_api/(reset|cancel)/?|/gradio_api/heartbeat/.*|/openapi\.json|/docs.*|/redoc.*)$")


class RouteGuard:
    """Refuses remote-file fetches (403) and, when a login is set, the routes Gradio leaves open (401).

    Passed to the FastAPI app Gradio builds (`launch(app_kwargs=...)`), so it sees every request first.
    """

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "http":
            path = scope.get("path", "")
            if _REMOTE_FILE.search(path):
                await _refuse(send, 403, "remote files are not fetched by this app")
                return
            if _LOGIN_ONLY.match(path) and not _logged_in(scope):
                await _refuse(send, 401, "sign in first")
                return
        await self.app(scope, receive, send)


def _logged_in(scope: dict[str, Any]) -> bool:
    """True when the app has no login, or the request carries the session cookie of a signed-in user."""
    from starlette.requests import Request

    app = scope.get("app")
    if getattr(app, "auth", None) is None:
        return True
    cookie_id = getattr(app, "cookie_id", "")
    cookies = Request(scope).cookies
    token = cookies.get(f"access-token-{cookie_id}") or cookies.get(f"access-token-unsecure-{cookie_id}")
    return token is not None and token in getattr(app, "tokens", {})


async def _refuse(send: Callable[..., Any], status: int, message: str) -> None:
    body = message.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def launch_options(settings: Settings, logins: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The keyword arguments of `Blocks.launch`: no share link, optional login, the route guard."""
    from starlette.middleware import Middleware

    return {
        "server_name": settings.host,
        "server_port": settings.port,
        "share": False,
        "auth": list(logins) or None,
        "auth_message": "Sign in to the MCOF assistant." if logins else None,
        "max_file_size": f"{settings.max_upload_mb}mb",
        "show_error": False,
        "ssr_mode": False,
        "pwa": False,
        "mcp_server": False,
        "enable_monitoring": False,
        "css": CSS,
        "head": HEAD,
        "app_kwargs": {"middleware": [Middleware(RouteGuard)]},
    }


def serve(assistant: Assistant, settings: Settings, *, block: bool = True) -> gr.Blocks:
    """Serve the app on settings.host:port: until interrupted, or in the background with `block=False`."""
    logins = credentials(settings)
    warning = exposure_warning(settings.host, bool(logins))
    if warning:
        log.warning(warning)
    app = build_app(assistant, settings)
    app.queue(default_concurrency_limit=settings.concurrency)
    try:
        app.launch(**launch_options(settings, logins), prevent_thread_lock=not block)
    except OSError as exc:  # Gradio says "Cannot find empty port in range" for a port in use
        raise ConfigError(listen_problem(settings.host, settings.port, "the port is in use")) from exc
    return app


def listen_problem(host: str, port: int, reason: str) -> str:
    """The one line shown when the app cannot listen where it was told to.

    >>> listen_problem("127.0.0.1", 7860, "the port is in use")
    'cannot listen on 127.0.0.1:7860 (the port is in use): stop what uses it, or set --port / MCOF_PORT'
    """
    return f"cannot listen on {host}:{port} ({reason}): stop what uses it, or set --port / MCOF_PORT"
