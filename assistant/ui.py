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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

# Gradio reads the event-data annotations (gr.LikeData, gr.SelectData) of the handlers
# through this module's globals, so it is imported here rather than inside build_app.
import gradio as gr

from ingest.manifest import SUPPORTED_SUFFIXES

from .citations import MARKER_RE, make_citation, marker_numbers
from .config import Settings
from .errors import ConfigError, McofError
from .export import alignment_rows, draft_to_markdown, write_docx
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
    """The passage escaped, its supporting sentence in <mark> (the whole passage when no span is given)."""
    if not 0 <= quote_start < quote_end <= len(text):
        quote_start, quote_end = 0, len(text)
    return (
        html.escape(text[:quote_start])
        + f"<mark>{html.escape(text[quote_start:quote_end])}</mark>"
        + html.escape(text[quote_end:])
    )


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


def citation_card(c: Citation, prefix: str, context: tuple[str, str] | None = None, label: str = "") -> str:
    """One cited passage: number, title (`label`, a short title, when given), section, date, publisher,
    and the passage with its supporting sentence highlighted; `context` adds the surrounding text."""
    meta = " · ".join(html.escape(x) for x in (c.section, c.date, c.publisher) if x)
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
        before, after = (html.escape(x) for x in context)
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
    """The cards of `citations`, each titled with its document's short title when the catalog has one."""
    return "".join(
        citation_card(c, prefix, context(c), catalog[c.doc].label if c.doc in catalog else "") for c in citations
    )


def sources_group(
    answer: Answer, prefix: str, title: str, catalog: Mapping[str, DocumentMeta], context: Context, expanded: bool
) -> str:
    """The citation cards of one answer in a collapsible group; for a refusal, its closest passages."""
    if answer.refused:
        cards = [closest_citation(i, hit, catalog) for i, hit in enumerate(answer.closest, 1)]
        lead = "Not answered: the closest passages, for you to judge." if cards else "Not answered."
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


def answer_markdown(answer: Answer, prefix: str) -> str:
    """The chat bubble of an answer: its text with linked [n] markers, then any notice."""
    body = cited_html(answer.text, prefix, {c.n for c in answer.citations}, escape_md)
    if answer.notice:
        label = "Why" if answer.refused else "Note"
        body += f'\n\n<span class="mcof-notice">{label}: {escape_md(answer.notice)}</span>'
    return body


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
        '<table class="mcof-table"><thead><tr><th>Number</th><th>Sector</th><th>Probability</th><th>Evidence</th></tr>'
        f"</thead><tbody>{rows}</tbody></table>",
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
    return (
        f'<div class="mcof-draft">{notice}'
        f'<p class="mcof-paragraph">{cited_html(draft.paragraph, prefix, numbers, html.escape)}</p>'
        f"<h3>Alignment summary</h3>{_list(summary)}<h3>Cited passages</h3>{cards}</div>"
    )


def sources_html(status: Mapping[str, Any]) -> str:
    """The Sources tab: index status, then the manifest of indexed documents."""
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(d.get(key, '')))}</td>" for key in
                         ("title", "publisher", "date", "kind", "chunks", "doc")) + "</tr>"
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
        f'<div class="mcof-sources"><dl class="mcof-status">{dl}</dl>'
        '<table class="mcof-table"><thead><tr><th>Title</th><th>Publisher</th><th>Date</th><th>Kind</th>'
        f"<th>Chunks</th><th>File</th></tr></thead><tbody>{rows}</tbody></table></div>"
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


# --- per-session state and the handlers the widgets call ------------------------------------------


MAX_EXCHANGES = 20  # exchanges a session keeps and sends back to the browser; older ones are dropped
CARDS_SHOWN = 3  # newest answers whose citation cards are in the panel; older ones collapse to one line


@dataclass(frozen=True)
class Exchange:
    """One question of a chat and what was shown for it: an answer, or an error message.

    `number` counts the session's questions (1, 2, ...) and stays when older exchanges are
    dropped; `answer_id` is what feedback on this answer is stored against.
    """

    question: str
    answer: Answer | None
    error: str = ""
    number: int = 0
    answer_id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class ChatState:
    """The last `MAX_EXCHANGES` exchanges of a session: its memory and each reply stay bounded."""

    exchanges: tuple[Exchange, ...] = ()
    asked: int = 0  # questions asked in the session, dropped ones included
    last_rated: str | None = None  # the answer id a comment goes to

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


@dataclass(frozen=True)
class DraftState:
    draft: Draft | None = None
    number: int = 0  # drafts made in this session, for unique citation anchors
    draft_id: str = ""  # what feedback on the current draft is stored against


Message = dict[str, str]
ChatUpdate = tuple[list[Message], str, str, ChatState]  # chatbot messages, sources panel, input box, state


class Handlers:
    """What each widget does, over an `Assistant`; returns plain values (HTML, lists, paths)."""

    def __init__(self, assistant: Assistant, feedback: FeedbackStore, downloads: Path) -> None:
        self.assistant = assistant
        self.feedback = feedback
        self.downloads = downloads

    # chat

    def chat(self, message: str, state: ChatState) -> Iterator[ChatUpdate]:
        """Stream the answer into the chat, then show it with linked [n] and its citation cards."""
        question = message.strip()
        if not question:
            yield self.messages(state), self.panel(state), "", state
            return
        pending = [{"role": "user", "content": escape_md(question)}, {"role": "assistant", "content": "…"}]
        shown, panel = self.messages(state), self.panel(state)  # unchanged while the answer streams
        yield shown + pending, panel, "", state
        text = ""
        try:
            final: Answer | None = None
            for piece in self.assistant.answerer().stream(question, state.history):
                if isinstance(piece, Answer):
                    final = piece
                    continue
                text += piece
                pending[1] = {"role": "assistant", "content": escape_md(text)}
                yield shown + pending, panel, "", state
            final = self.assistant.noted(final) if final else None
            state = state.added(question, final, error="" if final else "no answer was produced")
        except McofError as exc:
            state = state.added(question, None, error=str(exc))
        except Exception as exc:  # a bug: the message on screen, the traceback in the log
            log.exception("answering %r failed", question)
            state = state.added(question, None, error=_INTERNAL.format(name=type(exc).__name__))
        yield self.messages(state), self.panel(state), "", state

    def messages(self, state: ChatState) -> list[Message]:
        """The kept exchanges as chat messages: message 2i is question i, 2i + 1 its answer."""
        out: list[Message] = []
        for e in state.exchanges:
            out.append({"role": "user", "content": escape_md(e.question)})
            content = answer_markdown(e.answer, f"cite-a{e.number}") if e.answer else error_markdown(e.error)
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
        return "".join(groups) or _EMPTY_PANEL

    def clear(self) -> tuple[list[Message], str, str, ChatState, str]:
        return [], _EMPTY_PANEL, "", ChatState(), ""

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

    def ingest(self, files: Sequence[str] | None, rebuild: bool) -> tuple[str, str]:
        """Copy uploaded files into the corpus and re-index (progress bars are tracked by the caller)."""
        paths = [Path(f) for f in files or ()]
        try:
            report = self.assistant.ingest(paths, rebuild=rebuild, progress=True)
        except McofError as exc:
            return error_html(str(exc)), self.sources()
        except Exception as exc:
            log.exception("ingest failed")
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
</script>"""


def build_app(assistant: Assistant, settings: Settings, downloads: Path | None = None) -> gr.Blocks:
    """The four tabs wired to `Handlers`; draft files go to `downloads` (a new temp folder by default)."""
    handlers = Handlers(
        assistant, FeedbackStore(settings.feedback_db), downloads or Path(tempfile.mkdtemp(prefix="mcof-app-"))
    )
    upload_types = list(SUPPORTED_SUFFIXES)

    def project_box() -> gr.Textbox:
        """The project-description input of the Draft and Align tabs, with its example under it."""
        box = gr.Textbox(label="Project description", lines=6, max_length=settings.max_query_chars,
                         placeholder=EXAMPLE_PROJECT)
        gr.Examples([[EXAMPLE_PROJECT]], [box], label="Example")
        return box

    app = gr.Blocks(title="MCOF assistant", analytics_enabled=False)
    with app:
        gr.Markdown(
            "## MCOF assistant\nQuestions, sector alignment and proposal paragraphs from the IOM Migration Crisis "
            "Operational Framework documents. Every claim cites the passage it comes from."
        )
        with gr.Tab("Chat"):
            chat_state = gr.State(ChatState())
            with gr.Row():
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(
                        label="Conversation",
                        height=520,
                        latex_delimiters=[],
                        sanitize_html=True,
                        feedback_options=("Like", "Dislike"),
                        examples=[{"text": q} for q in EXAMPLE_QUESTIONS],
                        placeholder="Ask about the MCOF documents, or pick an example.",
                    )
                    with gr.Row():
                        question = gr.Textbox(
                            placeholder="Ask a question about the MCOF…",
                            show_label=False,
                            max_length=settings.max_query_chars,
                            scale=5,
                            elem_id="mcof-question",
                        )
                        ask = gr.Button("Ask", variant="primary", scale=1, min_width=80)
                    with gr.Row():
                        comment = gr.Textbox(
                            placeholder="Optional comment on the answer you rated (or the latest answer)",
                            show_label=False,
                            max_length=2000,
                            scale=5,
                        )
                        send_comment = gr.Button("Comment", scale=1, min_width=80)
                    feedback_status = gr.Markdown()
                    clear = gr.Button("Clear conversation", variant="secondary")
                with gr.Column(scale=2):
                    gr.Markdown("### Sources")
                    panel = gr.HTML(_EMPTY_PANEL, elem_id="mcof-citations", max_height=640)

            chat_outputs = [chatbot, panel, question, chat_state]
            ask.click(handlers.chat, [question, chat_state], chat_outputs)
            question.submit(handlers.chat, [question, chat_state], chat_outputs)

            def ask_example(state: ChatState, event: gr.SelectData) -> Iterator[ChatUpdate]:
                yield from handlers.chat(str(event.value.get("text", "")), state)

            chatbot.example_select(ask_example, [chat_state], chat_outputs)
            clear_outputs = [chatbot, panel, question, chat_state, feedback_status]
            clear.click(handlers.clear, None, clear_outputs, queue=False)
            chatbot.clear(handlers.clear, None, clear_outputs, queue=False)

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
                    state,
                    "",
                )

            draft_outputs = [draft_out, docx_button, md_button, draft_state, draft_status]
            make_draft.click(run_draft, [project, length, draft_state], draft_outputs)
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
            gr.Markdown(
                f"**Add documents** ({', '.join(upload_types)}; at most {settings.max_upload_mb} MB each). "
                "They are copied into the corpus folder and indexed; unchanged files cost nothing."
            )
            uploads = gr.File(label="Documents", file_count="multiple", file_types=upload_types)
            rebuild = gr.Checkbox(label="Rebuild the whole index", value=False)
            reindex = gr.Button("Add and re-index", variant="primary")
            ingest_out = gr.HTML()

            def run_ingest(
                files: list[str] | None, full: bool, progress: gr.Progress = gr.Progress(track_tqdm=True)  # noqa: B008
            ) -> tuple[str, str, None]:
                message, sources = handlers.ingest(files, full)
                return message, sources, None

            reindex.click(run_ingest, [uploads, rebuild], [ingest_out, sources_out, uploads], concurrency_limit=1)

        gr.HTML(footer_html(settings))
        app.load(handlers.sources, None, sources_out)
    return app


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
