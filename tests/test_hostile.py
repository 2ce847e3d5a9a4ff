"""Hostile and careless input to the CLI, the ingester, the app launcher and the app's handlers.

Every case ends in a one-line `error:` (exit 1), or a warning and going on (exit 0); never an
"internal error", never a traceback. The CLI runs in this process (`assistant.cli.main`) except
the app launcher (`app.py`, a subprocess). One small index is built once with the real model;
cases that damage it work on a copy.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.config import Settings
from assistant.feedback import FeedbackStore
from assistant.service import build_assistant
from assistant.ui import ChatState, DraftState, Handlers
from tests.fakes import HashingEmbedder

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
NOTE = ("# Field notes\n\nThe consular team issued emergency travel documents to stranded migrants in the "
        "border town, working with embassies to identify people who had lost their passports.\n")
DEEP = "[" * 100_000


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def assert_clean(outcome: Outcome) -> None:
    assert "internal error" not in outcome.text, outcome.text
    assert "Traceback" not in outcome.text, outcome.text


def assert_one_error_line(outcome: Outcome, fragment: str) -> None:
    assert_clean(outcome)
    assert outcome.code == 1, outcome.text
    lines = outcome.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), outcome.err
    assert fragment in lines[0], lines[0]


def _make_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "notes.md").write_text(NOTE, encoding="utf-8")
    shutil.copy(REPO / "corpus" / "mcof-webpage-2023.txt", folder / "mcof-webpage-2023.txt")
    return folder


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A corpus and its index, built once by `mcof ingest` with the real model."""
    root = tmp_path_factory.mktemp("hostile")
    _make_corpus(root / "corpus")
    with pytest.MonkeyPatch.context() as mp:
        _environment(mp, root)
        assert main(["ingest", "--no-progress"]) == 0
    return root


def _environment(mp: pytest.MonkeyPatch, root: Path) -> None:
    for key in [k for k in os.environ if k.startswith("MCOF_") and k != "MCOF_EMBEDDING_MODEL"]:
        mp.delenv(key)
    mp.setenv("MCOF_CORPUS_DIR", str(root / "corpus"))
    mp.setenv("MCOF_INDEX_DIR", str(root / "index"))
    mp.setenv("MCOF_FEEDBACK_DB", str(root / "feedback.sqlite3"))


@pytest.fixture()
def world(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the built corpus and index, the environment pointing at it, cwd inside it."""
    shutil.copytree(built / "corpus", tmp_path / "corpus", symlinks=True)
    shutil.copytree(built / "index", tmp_path / "index", symlinks=True)
    _environment(monkeypatch, tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    (tmp_path / "folder").mkdir()
    return tmp_path


@pytest.fixture()
def run(world: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., Outcome]:
    def run_cli(*args: str) -> Outcome:
        code = main(list(args))
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run_cli


def _lines(path: Path, *lines: str) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


# --- CLI: one error line, exit 1 -----------------------------------------------------------------------

Setup = Callable[[Path], None]


def _nothing(_: Path) -> None:
    return None


def _write(name: str, data: bytes) -> Setup:
    def setup(root: Path) -> None:
        (root / name).write_bytes(data)

    return setup


ONE_LINE: dict[str, tuple[tuple[str, ...], dict[str, str], Setup, str]] = {
    "batch is a folder": (("search", "--batch", "folder", "--json"), {}, _nothing, "is a folder, not a file"),
    "batch is a device": (("search", "--batch", "/dev/zero", "--json"), {}, _nothing, "not a regular file"),
    "batch is missing": (("ask", "--batch", "none.jsonl", "--json"), {}, _nothing, "batch file not found"),
    "batch is not UTF-8": (("align", "--batch", "latin1.jsonl", "--json"), {},
                           _write("latin1.jsonl", b'{"description": "caf\xe9"}\n'), "not UTF-8"),
    "batch without --json": (("search", "--batch", "x.jsonl"), {}, _nothing, "--batch needs --json"),
    "draft --out a folder": (("draft", "shelter for families", "--out", "folder"), {}, _nothing, "is a folder"),
    "draft --out in a missing folder": (("draft", "shelter for families", "--out", "missing/folder/x.md"), {},
                                        _nothing, "the folder missing/folder does not exist"),
    "draft --out under a file": (("draft", "shelter for families", "--out", "a-file/x.md"), {}, _nothing,
                                 "is a file, not a folder"),
    "draft --out wrong extension": (("draft", "shelter for families", "--out", "x.pdf"), {}, _nothing,
                                    "--out must end in .docx or .md, not .pdf"),
    "draft --out no extension": (("draft", "shelter for families", "--out", "x"), {}, _nothing, "not nothing"),
    "--k 0": (("search", "--k", "0", "aid"), {}, _nothing, "--k must be between 1 and 100"),
    "--k 1000": (("search", "--k", "1000", "aid"), {}, _nothing, "--k must be between 1 and 100"),
    "empty query": (("search", ""), {}, _nothing, "the query is empty"),
    "control-character question": (("ask", "\x00\x1b\x7f"), {}, _nothing, "the question is empty"),
    "100 KB query": (("search", "aid " * 25_000), {}, _nothing, "keep it under"),
    "MCOF_MAX_QUERY_CHARS=-5": (("search", "aid"), {"MCOF_MAX_QUERY_CHARS": "-5"}, _nothing,
                                "MCOF_MAX_QUERY_CHARS must be at least 1, not -5"),
    "MCOF_PORT not a number": (("status",), {"MCOF_PORT": "eighty"}, _nothing, "MCOF_PORT='eighty' is not"),
    "MCOF_MAX_UPLOAD_MB=0": (("ingest",), {"MCOF_MAX_UPLOAD_MB": "0"}, _nothing, "MCOF_MAX_UPLOAD_MB must be"),
    "MCOF_CONCURRENCY=-2": (("status",), {"MCOF_CONCURRENCY": "-2"}, _nothing, "MCOF_CONCURRENCY must be"),
    "MCOF_LLM_TIMEOUT=nan": (("status",), {"MCOF_LLM_TIMEOUT": "nan"}, _nothing, "MCOF_LLM_TIMEOUT must be"),
    "MCOF_LOG_LEVEL unknown": (("status",), {"MCOF_LOG_LEVEL": "loud"}, _nothing, "MCOF_LOG_LEVEL must be"),
    "MCOF_LLM_BACKEND unknown": (("status",), {"MCOF_LLM_BACKEND": "gpt"}, _nothing, "MCOF_LLM_BACKEND must be"),
    "ingest a missing file": (("ingest", "--no-progress", "none.txt"), {}, _nothing, "none.txt: no such file"),
    "ingest a folder": (("ingest", "--no-progress", "folder"), {}, _nothing, "folder: no such file"),
    "ingest an .exe": (("ingest", "--no-progress", "tool.exe"), {}, _write("tool.exe", b"MZ"),
                       "unsupported file type"),
    "ingest a hidden file": (("ingest", "--no-progress", ".secret.txt"), {}, _write(".secret.txt", b"x"),
                             "hidden files are not ingested"),
    "corpus is a file": (("ingest", "--no-progress"), {"MCOF_CORPUS_DIR": "a-file"}, _nothing,
                         "corpus folder not found"),
    "manifest is garbage": (("ingest", "--no-progress"), {}, _write("corpus/manifest.json", b"{not json"),
                            "is not a valid manifest"),
    "manifest nested too deeply": (("ingest", "--no-progress"), {},
                                   _write("corpus/manifest.json", DEEP.encode()), "is not a valid manifest"),
    "index pointer is garbage": (("search", "aid"), {}, _write("index/CURRENT", b"\x00garbage"), "is damaged"),
    "index folder under a file": (("status",), {"MCOF_INDEX_DIR": "a-file/index"}, _nothing,
                                  "is a file, not a folder"),
    "feedback db is a folder": (("feedback", "export"), {"MCOF_FEEDBACK_DB": "folder"}, _nothing,
                                "set MCOF_FEEDBACK_DB"),
    "feedback db is garbage": (("feedback", "export"), {"MCOF_FEEDBACK_DB": "junk.sqlite3"},
                               _write("junk.sqlite3", b"junk" * 1000), "is not a SQLite file"),
    "feedback export to a folder": (("feedback", "export", "--out", "folder"), {}, _nothing, "cannot write"),
}


@pytest.mark.parametrize("case", list(ONE_LINE), ids=list(ONE_LINE))
def test_cli_hostile_input_is_one_error_line(run: Callable[..., Outcome], world: Path,
                                             monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    args, env, setup, fragment = ONE_LINE[case]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    setup(world)
    assert_one_error_line(run(*args), fragment)


def test_a_damaged_index_is_reported_by_a_plain_ingest(run: Callable[..., Outcome], world: Path) -> None:
    [generation] = (world / "index" / "generations").iterdir()
    (generation / "chroma" / "chroma.sqlite3").write_bytes(b"garbage" * 1000)
    assert_one_error_line(run("ingest", "--no-progress"), "run `mcof ingest --rebuild`")
    assert_one_error_line(run("search", "consular"), "run `mcof ingest --rebuild`")


# --- CLI: a warning, and the rest goes on ---------------------------------------------------------------


def test_batch_lines_that_break_the_json_module_are_skipped_and_the_rest_answered(
    run: Callable[..., Outcome], world: Path
) -> None:
    batch = _lines(world / "batch.jsonl",
                   json.dumps({"id": "q1", "query": "emergency travel documents"}),
                   DEEP,
                   '{"a":' * 50_000,
                   '{"id": "big", "query": ' + "9" * 5000 + "}",
                   '{"id": "\\ud800", "query": 5}',
                   json.dumps({"id": "q6", "query": "consular team passports"}))
    outcome = run("search", "--batch", batch, "--json")
    assert_clean(outcome)
    assert outcome.code == 0
    rows = [json.loads(line) for line in outcome.out.splitlines()]
    assert [r["id"] for r in rows] == ["q1", "line-2", "line-3", "line-4", "\ud800", "q6"]
    assert rows[0]["hits"] and rows[5]["hits"] and "error" not in rows[0] and "error" not in rows[5]
    assert "nested too deeply" in rows[1]["error"] and "nested too deeply" in rows[2]["error"]
    assert "not usable JSON" in rows[3]["error"] and 'has no "query" text' in rows[4]["error"]
    assert outcome.err.count("warning: skipped line") == 4


def test_a_garbage_ingest_cache_is_rebuilt_with_a_warning(run: Callable[..., Outcome], world: Path) -> None:
    (world / "index" / "ingest-cache.sqlite3").write_bytes(b"not sqlite " * 500)
    outcome = run("ingest", "--no-progress")
    assert_clean(outcome)
    assert outcome.code == 0 and "up to date" in outcome.out
    assert "warning: the ingest cache was damaged" in outcome.err


@pytest.mark.parametrize("name,make,reason", [
    ("passwd.txt", lambda root: (root / "corpus" / "passwd.txt").symlink_to("/etc/passwd"),
     "a link to a file outside the corpus folder"),
    ("bomb.docx", lambda root: _docx_bomb(root / "corpus" / "bomb.docx"), "more than the 64 MB limit"),
    ("blob.txt", lambda root: (root / "corpus" / "blob.txt").write_bytes(bytes(range(256)) * 8), "binary"),
    ("empty.pdf", lambda root: (root / "corpus" / "empty.pdf").write_bytes(b""), "empty"),
], ids=["link out of the corpus", "docx bomb", "binary .txt", "empty .pdf"])
def test_a_bad_corpus_file_is_skipped_with_its_reason(run: Callable[..., Outcome], world: Path, name: str,
                                                      make: Callable[[Path], object], reason: str) -> None:
    make(world)
    outcome = run("ingest", "--no-progress")
    assert_clean(outcome)
    assert outcome.code == 0
    [line] = [line for line in outcome.err.splitlines() if line.startswith(f"skipped {name}")]
    assert reason in line


def _docx_bomb(path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as part:
            for _ in range(100):
                part.write(b"a" * 2**20)


# --- the app launcher ----------------------------------------------------------------------------------


def _app(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MCOF_")}
    environment.update(MCOF_CORPUS_DIR=str(root / "no-corpus"), MCOF_INDEX_DIR=str(root / "index"), **env)
    return subprocess.run([sys.executable, str(REPO / "app.py"), *args], env=environment, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture()
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


APP_CASES = {
    "port 0": ((), {"MCOF_PORT": "0"}, "MCOF_PORT must be between 1 and 65535, not 0"),
    "port 99999": (("--port", "99999"), {}, "MCOF_PORT must be between 1 and 65535, not 99999"),
    "login without a colon": ((), {"MCOF_AUTH": "admin"}, "MCOF_AUTH must be user:password"),
    "missing login file": ((), {"MCOF_AUTH_FILE": "/nonexistent/logins"}, "cannot read MCOF_AUTH_FILE"),
    "negative query limit": ((), {"MCOF_MAX_QUERY_CHARS": "-5"}, "MCOF_MAX_QUERY_CHARS must be at least 1"),
}


@pytest.mark.parametrize("case", list(APP_CASES), ids=list(APP_CASES))
def test_the_app_refuses_bad_settings_in_one_line(tmp_path: Path, case: str) -> None:
    args, env, fragment = APP_CASES[case]
    done = _app(tmp_path, *args, **env)
    assert_one_error_line(Outcome(done.returncode, done.stdout, done.stderr), fragment)


def test_the_app_on_a_port_in_use_is_one_line(tmp_path: Path, taken_port: int) -> None:
    done = _app(tmp_path, "--port", str(taken_port))
    assert_one_error_line(Outcome(done.returncode, done.stdout, done.stderr),
                          f"cannot listen on 127.0.0.1:{taken_port} (Address already in use)")


# --- the app's handlers ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def handlers(tmp_path_factory: pytest.TempPathFactory) -> Handlers:
    root = tmp_path_factory.mktemp("hostile-app")
    settings = Settings.from_env({"MCOF_LLM_BACKEND": "none"}, corpus_dir=_make_corpus(root / "corpus"),
                                 index_dir=root / "index", feedback_db=root / "feedback.sqlite3")
    assistant = build_assistant(settings, embedder=HashingEmbedder())
    assistant.ingest(progress=False)
    (root / "downloads").mkdir()
    return Handlers(assistant, FeedbackStore(settings.feedback_db), root / "downloads")


def _shown(value: object) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def test_app_handlers_show_hostile_input_as_messages(handlers: Handlers) -> None:
    *_, state, _ = list(handlers.chat("What did the consular team issue?", ChatState()))[-1]
    outputs = [
        list(handlers.chat("aid " * 25_000, state))[-1],
        list(handlers.chat("\x00\x1b", state))[-1],
        list(handlers.chat(DEEP, state))[-1],
        handlers.rate_answer(state, -1, True),
        handlers.rate_answer(state, 999, True),
        handlers.rate_answer(state, 1, "maybe"),
        handlers.comment_answer(state, "x" * 5000),
        handlers.comment_answer(ChatState(), "orphan comment"),
        handlers.rate_draft(DraftState(), 1, "no draft yet"),
        handlers.draft("", "standard", DraftState())[0],
        handlers.align("\x00" * 10),
        handlers.add_documents(["/nonexistent/file.txt"], False)[0],
        handlers.add_documents(["/etc"], False)[0],
    ]
    for output in outputs:
        text = _shown(output)
        assert "internal error" not in text and "Traceback" not in text, text
    assert "characters long; the limit is 4,000" in _shown(outputs[0])
    assert "longer than 2000 characters" in _shown(outputs[6])
