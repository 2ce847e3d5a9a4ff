"""The benchmark suite end to end on a tiny corpus with the hashing embedder.

Checks what each benchmark measured and wrote, never how fast anything was.
"""

from __future__ import annotations

import doctest
import importlib
import itertools
import json
import random
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench import BENCHMARKS, BenchOptions, MeteredEmbedder, run_benchmarks
from bench.report import render
from bench.scale import StandInEmbedder
from bench.synth import perturb
from tests.fakes import HashingEmbedder

pytestmark = pytest.mark.integration  # real Chroma, a serving subprocess, a `chroma run` server

CORPUS = {
    "camps.txt": "Camp Management\n\nShelter kits are handed out in camps by the site managers.\n\n"
    "Water and sanitation teams visit every camp each week to test the wells.\n",
    "health.txt": "Health Support\n\nMobile clinics give primary health care to migrants stranded at borders.\n\n"
    "Vaccination campaigns reach migrants waiting in transit centres along the route.\n",
    "transport.txt": "Humanitarian Transport\n\nHumanitarian transport brings stranded migrants home by bus.\n\n"
    "Buses leave the border crossing every day during a crisis, with medical escorts on board.\n",
}
GOLD = [
    {"id": "q1", "question": "Who hands out shelter kits in camps?", "doc": "camps.txt",
     "evidence": ["Shelter kits are handed out in camps by the site managers."], "type": "factoid"},
    {"id": "q2", "question": "Where do mobile clinics give primary health care?", "doc": "health.txt",
     "evidence": ["Mobile clinics give primary health care to migrants stranded at borders."], "type": "factoid"},
    {"id": "q3", "question": "How often do buses leave the border crossing?", "doc": "transport.txt",
     "evidence": ["Buses leave the border crossing every day during a crisis"], "type": "factoid"},
    {"id": "q4", "question": "What is the exchange rate of the euro?", "doc": None, "evidence": [],
     "type": "unanswerable"},
]  # fmt: skip
ASK_METRICS = {
    "n_answerable": 3, "n_unanswerable": 1, "answered_rate": 1.0, "refusal_rate": 1.0, "supported_rate": 0.8125,
    "supported_of_answerable": 0.75, "phantom_citations": 0, "dangling_markers": 2, "mean_answer_words": 41.6,
}  # fmt: skip
HAS_CHROMA_SERVER = Path(sys.executable).with_name("chroma").exists()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every benchmark, run once on the tiny corpus; the results files and the summary."""
    root = tmp_path_factory.mktemp("bench")
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in CORPUS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    gold = root / "qa.jsonl"
    gold.write_text("".join(json.dumps(item) + "\n" for item in GOLD), encoding="utf-8")
    results = root / "results"
    _write_json(results / "eval" / "ask-dev.json", [{"task": "ask", "metrics": ASK_METRICS}])
    options = BenchOptions(
        corpus_dir=corpus,
        gold=gold,
        results_dir=results,
        docs=root / "benchmarks.md",
        quick=True,
        scale_factors=(1, 2),
        scale_server_factor=2 if HAS_CHROMA_SERVER else None,
        scale_budget_minutes=0.0,  # every size after the first is over budget: stand-in vectors
        synthetic_dir=root / "synthetic",
        serve_embedder="tests.fakes:HashingEmbedder",
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MCOF_LLM_BACKEND", "none")  # the ask benchmark's LLM path: "not configured"
        written = run_benchmarks(list(BENCHMARKS), options, MeteredEmbedder(HashingEmbedder()))
    return {
        "written": written,
        "results": {name: json.loads(path.read_text(encoding="utf-8")) for name, path in written.items()},
        "docs": options.docs.read_text(encoding="utf-8") if options.docs else "",
        "corpus": corpus,
        "synthetic": options.synthetic_dir,
    }


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def test_every_benchmark_writes_its_results_file(run) -> None:
    assert set(run["written"]) == set(BENCHMARKS)
    assert run["written"]["ask"].name == "ask_latency.json"  # ask.json was the grader's, once
    for name, result in run["results"].items():
        assert result["benchmark"] == name
        assert result["environment"]["embedding_model"] == "hashing-test-embedder"
        assert result["environment"]["quick"] is True


def test_ingest_reports_the_no_change_and_edited_file_re_ingests(run) -> None:
    ingest = run["results"]["ingest"]
    smallest = min(CORPUS, key=lambda name: len(CORPUS[name].encode()))

    assert ingest["corpus_files"] == 3
    assert ingest["texts_embedded"] >= ingest["chunks"] + ingest["sentences"]  # and the answer step's texts
    assert ingest["texts_encoded"] == ingest["texts_embedded"]  # the pure encode did the ingest's work
    assert ingest["edit_file"] == smallest
    assert ingest["edit_changed"] == [smallest]
    assert 0 < ingest["edit_texts_embedded"] < ingest["texts_embedded"]
    assert ingest["no_change_share"] >= 0 and ingest["ingest_to_encode"] > 0
    # the edit was undone: the workspace copy is back to the original text
    assert (run["corpus"] / smallest).read_text(encoding="utf-8") == CORPUS[smallest]


def test_search_compares_search_with_one_query_embedding(run) -> None:
    search = run["results"]["search"]

    assert search["questions"] == len(GOLD)
    assert search["search"]["n"] == search["query_embedding"]["n"] == len(GOLD)  # quick: one repetition
    assert search["p95_ratio"] == pytest.approx(search["search"]["p95_ms"] / search["query_embedding"]["p95_ms"], 1e-2)
    assert search["texts_embedded_per_search"] >= 1


def test_ablation_grades_three_retrievers_on_the_answerable_questions(run) -> None:
    configs = run["results"]["ablation"]["configs"]

    assert list(configs) == ["dense-only", "bm25-only", "hybrid"]
    for metrics in configs.values():
        assert metrics["n"] == 3  # the unanswerable question is not graded
        assert 0 <= metrics["recall@1"] <= metrics["recall@5"] <= metrics["recall@10"] <= 1
    assert configs["bm25-only"]["recall@1"] == 1.0  # every question shares its words with one passage


def test_naive_pipeline_splits_the_raw_files_and_is_graded_like_ours(run) -> None:
    naive = run["results"]["naive"]

    assert naive["naive"]["chunks"] == 3  # each file is shorter than one 1000-character chunk
    assert naive["naive"]["n"] == naive["ours"]["n"] == 3
    assert naive["naive"]["recall@10"] == 1.0  # three chunks, k=10: every file is returned
    assert naive["ours"]["texts_embedded"] == run["results"]["ingest"]["texts_embedded"]


def test_scale_measures_each_size_then_both_stores_with_a_warm_cache(run) -> None:
    sizes = run["results"]["scale"]["sizes"]
    expected = [(1, "embedded, cold cache"), (2, "embedded, stand-in vectors")]
    if HAS_CHROMA_SERVER:
        expected += [(2, "embedded, warm cache"), (2, "server, warm cache")]

    assert [(row["factor"], row["mode"]) for row in sizes] == expected
    one, two = sizes[0], sizes[1]
    assert two["files"] == 2 * one["files"]
    # perturbed copies: no passage repeats, but a heading line read on its own may
    assert one["texts_embedded"] < two["texts_embedded"] <= 2 * one["texts_embedded"]
    assert sorted(p.name for p in (run["synthetic"] / "2x").iterdir())[:2] == [
        "synth-000-camps.txt",
        "synth-000-health.txt",
    ]
    for row in sizes[2:]:
        assert row["texts_embedded"] == 0  # every vector came from the embedding cache
    for row in sizes:
        assert row["serving"]["search"]["n"] == len(GOLD)
        assert row["serving"]["rss_peak_mb"] >= row["serving"]["rss_model_mb"] > 0
    if HAS_CHROMA_SERVER:
        assert sizes[-1]["server_rss_peak_mb"] > 0


def test_an_over_budget_size_is_projected_from_the_cold_throughput_and_served_by_the_model(run) -> None:
    one, two = run["results"]["scale"]["sizes"][:2]

    assert two["projected_from_factor"] == 1
    assert two["projected_cold_ingest_min"] == round(two["texts_embedded"] / one["texts_per_s"] / 60, 1)
    # the serving process embedded the questions with the configured model (here the hashing one)
    # and accepted the index built with stand-in vectors under that model's name and dimension
    assert two["serving"]["query_embedding"]["n"] == len(GOLD)
    assert "cold ingest with the model projected at" in run["docs"]


def test_stand_in_vectors_are_unit_length_deterministic_and_named_like_the_model() -> None:
    embedder = StandInEmbedder("all-MiniLM-L6-v2", 384)
    vectors = embedder.embed(["Shelter kits.", "Mobile clinics.", "Shelter kits."])

    assert (embedder.name, embedder.dimension, vectors.shape, vectors.dtype) == (
        "all-MiniLM-L6-v2",
        384,
        (3, 384),
        np.float32,
    )
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert (vectors[0] == vectors[2]).all() and not np.allclose(vectors[0], vectors[1])


def test_summary_has_every_table_and_reads_the_ask_results(run) -> None:
    docs = run["docs"]

    for title in (
        "## Answer quality",
        "naive LangChain pipeline",
        "Retrieval ablation",
        "## Ingest",
        "Search latency",
        "## Ask latency",
        "## Align and draft latency, LLM drafts",
        "## Scale",
    ):
        assert title in docs
    if HAS_CHROMA_SERVER:
        assert "Server mode at 2×, against the embedded store at the same size" in docs
    assert "Not measured yet: run `python -m bench --only" not in docs
    ours, naive = run["results"]["naive"]["ours"], run["results"]["naive"]["naive"]
    assert f"| recall@5 | {ours['recall@5']:.2f} | {naive['recall@5']:.2f} |" in docs
    assert "| answer support rate (`mcof ask`) | 0.81 (0.75 of all answerable) |" in docs


def test_ask_times_the_extractive_path_and_says_the_llm_path_is_not_configured(run) -> None:
    ask = run["results"]["ask"]
    extractive = ask["paths"]["extractive"]

    assert (ask["gold"], ask["questions"]) == ("qa.jsonl", 3)  # --gold given, --quick: its first 3 questions
    assert extractive["first_piece"]["n"] == extractive["answer"]["n"] == 3
    assert (extractive["backend"], extractive["fallback"]) == ("none", 0)
    assert 0 <= extractive["refused"] <= 3
    assert ask["paths"]["llm"] == {"configured": False, "backend": "none"}
    assert "| llm | `none` | not configured | not configured |" in run["docs"]


def test_ask_latency_counts_the_answers_an_llm_path_could_not_verify(tmp_path: Path) -> None:
    from langchain_core.language_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    from assistant.config import Settings
    from assistant.service import build_assistant
    from bench.ask_latency import measure
    from ingest.pipeline import run_ingest

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in CORPUS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    settings = Settings.from_env({"MCOF_LLM_BACKEND": "none"}, index_dir=tmp_path / "index", corpus_dir=corpus)
    embedder = HashingEmbedder()
    run_ingest(settings, embedder, progress=False)
    # a reply with a figure no passage states: wherever the LLM is asked, its answer fails verification
    uncited = GenericFakeChatModel(messages=itertools.repeat(AIMessage("Buses leave the border 9 times a day.")))
    assistants = {
        "extractive": build_assistant(settings, embedder=embedder),
        "llm": build_assistant(settings.with_overrides(llm_writes=True), embedder=embedder, chat_model=uncited),
    }
    questions = [str(item["question"]) for item in GOLD]
    try:
        paths = measure(assistants, questions)
    finally:
        for assistant in assistants.values():
            assistant.searcher.current().reader.close()

    for path in paths.values():
        assert path["first_piece"]["n"] == path["answer"]["n"] == len(GOLD)
    # the exchange rate at least is refused (the fitted policy reads a real model's cosines, not the hashing
    # embedder's, so which others are is not this test's business); some are answered, none fell back
    assert 1 <= paths["extractive"]["refused"] < len(GOLD) and paths["extractive"]["fallback"] == 0
    # the judge (asked the same fake reply, so P(yes) 0.5) may refuse more; whatever it answers, the writer fails
    assert paths["llm"]["fallback"] == len(GOLD) - paths["llm"]["refused"]


def test_draft_latency_times_both_paths_and_counts_what_the_checks_dropped(tmp_path: Path) -> None:
    from assistant.config import Settings
    from assistant.service import build_assistant
    from bench.draft_latency import measure, must_mention
    from bench.runner import load_grader
    from ingest.pipeline import run_ingest
    from tests.fakes import ScriptedChatModel
    from tests.mcof_corpus import CORPUS as MCOF_CORPUS
    from tests.mcof_corpus import GRADER, SMALL_DOCS

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in (*SMALL_DOCS, "manifest.json"):
        shutil.copyfile(MCOF_CORPUS / name, corpus / name)
    settings = Settings.from_env({"MCOF_LLM_BACKEND": "none"}, index_dir=tmp_path / "index", corpus_dir=corpus)
    embedder = HashingEmbedder()
    run_ingest(settings, embedder, progress=False)
    # cited, but with a figure and work no description states: both sentences dropped, every LLM draft falls back
    chat = ScriptedChatModel(replies=["The project flies 40 helicopters [1]. It also builds rockets [2]."])
    assistants = {
        "composed": build_assistant(settings, embedder=embedder),
        "llm": build_assistant(settings.with_overrides(llm_writes=True), embedder=embedder, chat_model=chat),
    }
    descriptions = [
        ("d1", "Repair damaged homes and hand out household items to families displaced by floods."),
        ("d2", "Give the border agency registration equipment so that every arrival is registered."),
    ]
    try:
        paths, drafts = measure(assistants, descriptions)
        coverage = must_mention(assistants, load_grader(GRADER), drafts, per_set=1)
    finally:
        for assistant in assistants.values():
            assistant.searcher.current().reader.close()

    composed, llm = paths["composed"], paths["llm"]
    assert composed["align"]["n"] == composed["draft"]["n"] == llm["align"]["n"] == llm["draft"]["n"] == 2
    assert (composed["drafts"], composed["fallback"], composed["dropped_sentences"]) == (2, 0, 0)
    assert (llm["drafts"], llm["fallback"], llm["dropped_sentences"], llm["restored_sentences"]) == (2, 2, 4, 0)
    assert llm["mean_words"] == composed["mean_words"]  # the composed drafts were shown
    assert set(coverage) == {"dev", "dev2", "fresh"}
    for row in coverage.values():
        assert row["n"] == 1 and row["llm"] == row["composed"] and row["llm_fallback"] == 1


def test_eval_grades_each_set_into_its_column_of_the_summary(tmp_path: Path) -> None:
    """A fake CLI that refuses everything, graded by the shared grader; other sets from fake files."""
    from bench.evaluate import GRADER, QA_TASKS, GoldSet, grade_set
    from bench.report import load_results

    if not GRADER.exists():
        pytest.skip(f"no grader at {GRADER}")
    cli = tmp_path / "refuser.py"
    cli.write_text(
        "import json, sys\n"
        "task, batch = sys.argv[1], sys.argv[sys.argv.index('--batch') + 1]\n"
        "for line in open(batch):\n"
        "    item = json.loads(line)\n"
        "    out = {'hits': []} if task == 'search' else {'answer': '', 'refused': True, 'citations': []}\n"
        "    print(json.dumps({'id': item['id'], **out}))\n",
        encoding="utf-8",
    )
    (tmp_path / "qa.dev.jsonl").write_text("".join(json.dumps(item) + "\n" for item in GOLD), encoding="utf-8")
    results = tmp_path / "results"
    _write_json(results / "eval" / "ask-fresh2.json", [{"task": "ask", "metrics": ASK_METRICS}])
    _write_json(results / "eval" / "align-dev2.json", [{"task": "align", "metrics": {"n": 20, "top3": 0.9}}])
    _write_json(results / "eval" / "draft-fresh.json", [])  # the graded command failed: no record
    _write_json(results / "eval" / "runs.json", {"dev": {"date": "D", "commit": "abc1234", "llm_backend": "none"}})
    _write_json(
        results / "answerability.json",
        {
            "features": ["coverage", "best_sentence"],
            "weights": [2.5, 1.25, -1.5],
            "threshold": 0.4567,
            "held_out": {"qa.dev": {"answered_rate": 0.9, "refusal_rate": 0.75, "threshold": 0.41}},
            "fitted_on_all": {"answered_rate": 0.95, "refusal_rate": 0.8},
        },
    )

    ok = grade_set(GoldSet("dev", tmp_path, QA_TASKS), f"{sys.executable} {cli}", results)
    docs = render(load_results(results))

    assert ok
    assert "### search: qa.dev.jsonl (3 items)" in (results / "eval.txt").read_text(encoding="utf-8")
    assert "| search recall@5 | 0.00 | — | — | — |" in docs
    assert "| ask answered_rate | 0.00 | — | — | 1.00 |" in docs
    assert "| ask refusal_rate | 1.00 | — | — | 1.00 |" in docs
    assert "| ask supported_rate | 0.00 | — | — | 0.81 |" in docs
    assert "| ask dangling_markers | 0 | — | — | 2 |" in docs
    assert "| ask mean answer words | 0 | — | — | 42 |" in docs
    assert "| questions (answerable + unanswerable) | 3 + 1 | — | — | 3 + 1 |" in docs
    assert "|  | dev | dev2 | fresh | fresh2 | fresh3 | fresh4 | fresh8 | fresh9 |\n" in docs  # align and draft
    assert "| align top3 | — | 0.90 | — | — | — | — | — |" in docs
    assert "| draft cited_sentence_rate | — | — | — | — | — | — | — |" in docs
    assert "dev on D, commit `abc1234`, LLM backend `none`" in docs
    assert "| dev | 0.90 | 0.75 | 0.410 |" in docs
    assert "| all sets (fitted on all, in-sample) | 0.95 | 0.80 | 0.457 |" in docs
    assert "`coverage` +2.50, `best_sentence` +1.25, constant -1.50" in docs
    assert "| answer support rate (`mcof ask`) |" not in docs  # the naive benchmark has not run


def test_summary_says_how_to_run_a_missing_benchmark() -> None:
    docs = render({})

    assert "Not measured yet: run `python -m bench --only scale`." in docs
    assert "Not measured yet: run `python -m bench --only ask`." in docs
    assert "Not measured yet: run `python -m bench.answerability`." in docs
    assert "| search recall@5 | — | — | — | — |" in docs
    assert "Not graded yet: run `make eval`." in docs
    assert "## Moving to Chroma server mode" in docs


def test_the_embedder_ablation_shows_each_model_both_ways_and_its_cold_ingest() -> None:
    def model(recall: float, dimension: int, **extra: object) -> dict[str, object]:
        env = {"date": "2026-12-06T05:00:00Z", "commit": "abc", "cpus": 2, "load_average": [3.5, 3.0, 2.0],
               "embedding_model": "m", "quick": False}
        scores = {"dev": {"recall@5": recall, "mrr@10": 0.5, "n": 36}, "dev2": {"recall@5": 0.25, "mrr@10": 0.125}}
        return {"environment": env, "dimension": dimension, "configs": {"hybrid": scores, "dense only": scores},
                **extra}

    docs = render({"embedders": {"models": {"nomic": model(0.75, 768, ingest_s=1804.4), "e5": model(0.5, 384)},
                                 "environment": {}}})

    assert "| embedder (retrieval) | dev r@5 / MRR | dev2 r@5 / MRR |" in docs
    assert "| nomic (hybrid) | 0.75 / 0.50 | 0.25 / 0.12 |" in docs and "| e5 (dense only) | 0.50 / 0.50 |" in docs
    assert "| nomic | 768 | 1804 | 2026-12-06T05:00:00Z, load 3.5 |" in docs
    assert "| e5 | 384 | — |" in docs  # no ingest time given
    assert "not selectable" not in docs


def test_synthetic_text_keeps_its_lines_and_changes_every_sentence() -> None:
    text = "Camp Management\nShelter kits are handed out. Teams visit every camp each week.\nSector 1"
    out = perturb(text, random.Random(3), ["borders"])

    assert out.split("\n")[0] == "Camp Management"  # too short to be indexed: kept
    assert out.split("\n")[2] == "Sector 1"
    first, second = out.split("\n")[1].split(". ")
    assert first != "Shelter kits are handed out" and "borders" in first
    assert second != "Teams visit every camp each week." and "borders" in second
    assert perturb(text, random.Random(3), ["borders"]) == out


@pytest.mark.parametrize("name", ["bench.runner", "bench.synth", "bench.ingestion", "bench.scale", "bench.evaluate"])
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_a_server_that_exits_before_answering_fails_with_its_log(tmp_path: Path) -> None:
    from bench.servers import ServerFailed, free_port, running

    command = [sys.executable, "-c", "print('port already taken'); raise SystemExit(3)"]
    server = running(command, f"http://127.0.0.1:{free_port()}/", what="demo server", log_file=tmp_path / "log")
    with pytest.raises(ServerFailed, match=r"(?s)demo server exited with status 3.*port already taken"), server:
        pass


def test_the_yes_no_lead_section_shows_the_shipped_thresholds_on_both_sets() -> None:
    assert "Not measured yet: run `python -m bench.polar`." in render({})
    shipped = {"high": 0.7, "low": 0.1, "answered": 18, "leads": 10, "right": 9, "wrong": 1, "refused_answered_no": 2}
    docs = render({
        "polar": {"gold": "qa.yesno.jsonl", "questions": 40, "shipped": shipped,
                  "leave_one_out": {"leads": 11, "right": 9, "wrong": 2}},
        "polar-yesno2": {"gold": "qa.yesno2.jsonl", "questions": 24, "shipped": {**shipped, "wrong": 3}},
    })
    assert "| chosen on: qa.yesno.jsonl (40) | yes from 0.7, no up to 0.1 | 18 | 10 | 9 | 1 | 2 |" in docs
    assert "| chosen on: qa.yesno.jsonl (40) | leave-one-out |  | 11 | 9 | 2 |  |" in docs
    assert "| held out: qa.yesno2.jsonl (24) | yes from 0.7, no up to 0.1 | 18 | 10 | 9 | 3 | 2 |" in docs
