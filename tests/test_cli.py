"""The real `mcof` command on a small corpus (the 2023 web page and a short Markdown note).

Every run is a subprocess; the ones that search load the model (~10 s), so the corpus is ingested
once per module and each command runs once.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingest.loaders import load_document

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
MCOF = REPO / ".venv" / "bin" / "mcof"
WEB_PAGE = "mcof-webpage-2023.txt"
NOTE = "notes.md"
NOTE_TEXT = (
    "# Field notes\n\n"
    "The consular team issued emergency travel documents to stranded migrants in the border town, "
    "working with embassies to identify people who had lost their passports while fleeing the fighting.\n"
)
MANIFEST = {
    "documents": [
        {
            "doc": WEB_PAGE,
            "title": "Migration Crisis Operational Framework (MCOF), IOM web page",
            "short_title": "MCOF web page (2023)",
            "publisher": "International Organization for Migration (IOM)",
            "date": "2023-03-15",
            "kind": "web page",
            "aliases": ["web page"],
        }
    ]
}
HIT_FIELDS = {"rank", "doc", "section", "text", "score"}


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def json_lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.stdout.splitlines()]


@dataclass(frozen=True)
class Workspace:
    root: Path
    corpus: Path
    env: dict[str, str]

    def mcof(self, *args: str) -> Run:
        done = subprocess.run(
            [str(MCOF), *args], cwd=self.root, env=self.env, capture_output=True, text=True, timeout=600
        )
        return Run(done.returncode, done.stdout, done.stderr)


def assert_one_error_line(run: Run, fragment: str) -> None:
    assert run.code == 1
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    assert fragment in lines[0]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("cli")
    corpus = root / "corpus"
    corpus.mkdir()
    shutil.copy(REPO / "corpus" / WEB_PAGE, corpus / WEB_PAGE)
    (corpus / NOTE).write_text(NOTE_TEXT, encoding="utf-8")
    (corpus / "manifest.json").write_text(json.dumps(MANIFEST), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCOF_") and k != "OPENAI_API_KEY"}
    env.update(MCOF_INDEX_DIR=str(root / "index"), MCOF_CORPUS_DIR=str(corpus),
               MCOF_EMBEDDING_MODEL=os.environ["MCOF_EMBEDDING_MODEL"],
               MCOF_FEEDBACK_DB=str(root / "feedback.sqlite3"))
    return Workspace(root, corpus, env)


@pytest.fixture(scope="module")
def ingests(workspace: Workspace) -> dict[str, Run]:
    """First ingest, a second one on the unchanged corpus, then a binary file dropped in as .txt."""
    first = workspace.mcof("ingest", "--no-progress")
    assert first.code == 0, first.stderr
    again = workspace.mcof("ingest", "--no-progress")
    blob = workspace.root / "blob.txt"
    blob.write_bytes(bytes(range(256)) * 8)
    binary = workspace.mcof("ingest", "--no-progress", str(blob))
    return {"first": first, "again": again, "binary": binary}


@pytest.fixture(scope="module")
def indexed(workspace: Workspace, ingests: dict[str, Run]) -> Workspace:
    return workspace


# --- no index needed -----------------------------------------------------------------------------------


def test_help_exits_0_and_lists_the_commands() -> None:
    done = subprocess.run([str(MCOF), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    for command in ("ingest", "search", "ask", "align", "draft", "status"):
        assert command in done.stdout


def test_help_imports_neither_torch_nor_chromadb_nor_gradio() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "assistant", "--help"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0 and "usage: mcof" in done.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "assistant.cli" in imported
    heavy = ("torch", "chromadb", "gradio", "sentence_transformers")
    assert {name for name in imported if name.split(".")[0] in heavy} == set()


def test_an_unsupported_file_type_is_refused_in_one_line(workspace: Workspace) -> None:
    tool = workspace.root / "tool.exe"
    tool.write_bytes(b"MZ\x90\x00")
    run = workspace.mcof("ingest", str(tool))
    assert_one_error_line(run, "tool.exe: unsupported file type")
    assert not (workspace.corpus / "tool.exe").exists()


def test_k_0_is_refused_in_one_line(workspace: Workspace) -> None:
    assert_one_error_line(workspace.mcof("search", "shelter", "--k", "0"), "--k must be between 1 and 100")


# --- ingest --------------------------------------------------------------------------------------------


def test_first_ingest_adds_both_files(ingests: dict[str, Run]) -> None:
    assert "2 added, 0 changed, 0 removed, 0 unchanged" in ingests["first"].stdout


def test_second_ingest_is_up_to_date(ingests: dict[str, Run]) -> None:
    run = ingests["again"]
    assert run.code == 0
    assert "is up to date" in run.stdout and "added" not in run.stdout


def test_a_binary_file_given_to_ingest_is_refused_and_never_copied(workspace: Workspace,
                                                                   ingests: dict[str, Run]) -> None:
    run = ingests["binary"]
    assert run.code == 1
    assert run.stderr == (
        "error: blob.txt: looks like a binary file, not text: give it its real file type (nothing was added)\n"
    )
    assert not (workspace.corpus / "blob.txt").exists()


def test_status_lists_the_documents(indexed: Workspace) -> None:
    run = indexed.mcof("status", "--json")
    assert run.code == 0, run.stderr
    status = json.loads(run.stdout)
    documents = {d["doc"]: d for d in status["documents"]}
    assert set(documents) == {WEB_PAGE, NOTE}
    assert documents[WEB_PAGE]["title"] == MANIFEST["documents"][0]["title"]
    assert documents[WEB_PAGE]["date"] == "2023-03-15"
    assert documents[NOTE]["title"] == "Field notes"
    assert status["chunks"] == sum(d["chunks"] for d in documents.values()) and documents[NOTE]["chunks"] == 1


# --- search ----------------------------------------------------------------------------------------------


def test_search_json_returns_ranked_hits_quoting_the_documents(indexed: Workspace) -> None:
    run = indexed.mcof("search", "emergency travel documents for stranded migrants", "--json", "--k", "3")
    assert run.code == 0, run.stderr
    (result,) = run.json_lines
    hits = result["hits"]
    assert isinstance(hits, list) and 1 <= len(hits) <= 3
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    assert all(set(h) >= HIT_FIELDS for h in hits)
    assert all(a["score"] >= b["score"] for a, b in itertools.pairwise(hits))
    assert hits[0]["doc"] == NOTE
    texts = {name: load_document(indexed.corpus / name).text for name in (WEB_PAGE, NOTE)}
    for hit in hits:
        assert hit["text"] in texts[hit["doc"]]
        assert texts[hit["doc"]][hit["start"] : hit["end"]] == hit["text"]


def test_ask_prints_the_answer_as_it_is_written_then_its_sources(indexed: Workspace) -> None:
    run = indexed.mcof("ask", "What are the cross-cutting issues of the MCOF?")
    assert run.code == 0, run.stderr
    answer, _, sources = run.stdout.partition("\n\n")
    assert "[1]" in answer and "Verified answer" not in run.stdout  # extractive: written once, as verified
    assert sources.startswith("[1] ") and "MCOF" in sources


def test_search_batch_answers_every_line_in_order(indexed: Workspace) -> None:
    batch = indexed.root / "queries.jsonl"
    batch.write_text(
        "\n".join(
            [
                json.dumps({"id": "q1", "query": "What are the five cross-cutting issues?"}),
                "this line is not JSON",
                json.dumps({"id": "q3", "query": "   "}),
                json.dumps({"id": 42, "query": "travel documents for stranded migrants"}),
                json.dumps(["a", "list"]),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    run = indexed.mcof("search", "--batch", str(batch), "--json", "--k", "3")
    assert run.code == 0, run.stderr
    lines = run.json_lines  # every stdout line is JSON: nothing else is printed there
    assert [line["id"] for line in lines] == ["q1", "line-2", "q3", 42, "line-5"]
    good = [lines[0], lines[3]]
    bad = [lines[1], lines[2], lines[4]]
    assert all("error" not in line and 1 <= len(line["hits"]) <= 3 for line in good)  # type: ignore[arg-type]
    assert all(line["error"] and line["hits"] == [] for line in bad)
    assert "not JSON" in str(lines[1]["error"]) and '"query"' in str(lines[2]["error"])
    assert "Protection mainstreaming" in lines[0]["hits"][0]["text"]  # type: ignore[index]
    assert lines[3]["hits"][0]["doc"] == NOTE  # type: ignore[index]


def test_missing_batch_file_is_one_error_line(indexed: Workspace) -> None:
    run = indexed.mcof("search", "--batch", str(indexed.root / "nope.jsonl"), "--json")
    assert_one_error_line(run, "batch file not found")


@pytest.fixture(scope="module")
def empty_query(indexed: Workspace) -> Run:
    return indexed.mcof("search", "  ")


def test_an_empty_query_exits_1_with_an_error_line_and_no_traceback(empty_query: Run) -> None:
    assert empty_query.code == 1 and empty_query.stdout == ""
    assert "Traceback" not in empty_query.stderr
    assert "error: the query is empty" in empty_query.stderr


def test_an_empty_query_error_is_the_only_stderr_line(empty_query: Run) -> None:
    assert_one_error_line(empty_query, "the query is empty")


@pytest.mark.parametrize(
    ("command", "fragment"),
    [("search", "the query is empty"), ("ask", "the question is empty"), ("draft", "the project description")],
)
def test_an_empty_text_is_refused_before_a_missing_index_is_built(
    workspace: Workspace, tmp_path: Path, command: str, fragment: str
) -> None:
    fresh = Workspace(workspace.root, workspace.corpus, {**workspace.env, "MCOF_INDEX_DIR": str(tmp_path / "index")})
    assert_one_error_line(fresh.mcof(command, " \t "), fragment)
    assert not (tmp_path / "index").exists()
