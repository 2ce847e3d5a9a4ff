"""Benchmark `ask`: how long a user waits for the first words of an answer, and for all of it.

    python -m bench --only ask          # in the run's fresh workspace index (cold ingest first)
    python -m bench.ask_latency [--quick] [--out FILE]   # over the configured index (MCOF_INDEX_DIR)

`Assistant.answerer().stream(question)` runs in-process, as the app runs it, for the first
questions of a gold file (12 of `qa.dev2.jsonl` by default, 3 with --quick; `--gold` picks
another file). The configurations over the same index take turns question by question: the
extractive path (LLM backend "none") and, when the settings name a backend (e.g.
MCOF_LLM_BACKEND=local), the LLM judging answerability only and the LLM also writing the answer
("not configured" when they name none). For each: the latency to the first streamed piece and to
the final `Answer` (p50, p95), and how many answers were refusals and how many fell back to the
extractive answer. A warm-up question per path loads the index generation (and starts a local LLM
server) and is reported apart.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from assistant.config import Settings
from assistant.embeddings import Embedder
from assistant.service import Assistant, build_assistant
from assistant.types import Answer

from .runner import SHARED_EVAL, BenchContext, BenchOptions, close_indexes, latency_summary, standalone

GOLD = SHARED_EVAL / "qa.dev2.jsonl"
QUESTIONS = 12
QUICK_QUESTIONS = 3
WARM_UP = "What does the framework say about coordination?"  # not a gold question: no answer cached for one


def run(ctx: BenchContext) -> dict[str, Any]:
    ctx.ensure_index()
    return measure_settings(ctx.settings, ctx.embedder, ctx.options)


def measure_settings(settings: Settings, embedder: Embedder, options: BenchOptions) -> dict[str, Any]:
    """The paths over the index `settings` name, taking turns question by question.

    "extractive" (LLM backend "none"); with a configured backend also "llm judges" (the model only
    decides answer-or-refuse, the default with an LLM) and "llm writes" (it also writes the answer,
    `MCOF_LLM_WRITES=1`), both sharing one server.
    """
    # `--gold` when given; by default the paraphrased dev2 questions rather than the run's dev set
    gold = GOLD if options.gold == BenchOptions().gold else options.gold
    items = [json.loads(line) for line in gold.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = [str(item["question"]) for item in items][: QUICK_QUESTIONS if options.quick else QUESTIONS]
    llm = settings.llm_backend
    assistants = {"extractive": build_assistant(settings.with_overrides(llm_backend="none"), embedder=embedder)}
    if llm != "none":
        assistants["llm judges"] = build_assistant(settings.with_overrides(llm_writes=False), embedder=embedder)
        assistants["llm writes"] = build_assistant(settings.with_overrides(llm_writes=True), embedder=embedder)
    try:
        paths = measure(assistants, questions)
    finally:
        close_indexes(assistants)
    paths["extractive"]["backend"] = "none"
    if llm == "none":
        paths["llm"] = {"configured": False, "backend": "none"}
    else:
        for name in ("llm judges", "llm writes"):
            paths[name].update(backend=llm, model=settings.llm_model, notice=assistants[name].llm_notice)
    return {"gold": gold.name, "questions": len(questions), "paths": paths}


def measure(assistants: Mapping[str, Assistant], questions: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per assistant: first-piece and full-answer latency, refusals and fallbacks over `questions`.

    A warm-up question each first, timed apart (`first_answer_s`); then every question goes to
    each assistant in turn, so both see the same moments of a shared machine.
    """
    warm = {name: stream_timed(assistant, WARM_UP)[1] for name, assistant in assistants.items()}
    first: dict[str, list[float]] = {name: [] for name in assistants}
    full: dict[str, list[float]] = {name: [] for name in assistants}
    answers: dict[str, list[Answer]] = {name: [] for name in assistants}
    for question in questions:
        for name, assistant in assistants.items():
            to_first, to_answer, answer = stream_timed(assistant, question)
            first[name].append(to_first)
            full[name].append(to_answer)
            answers[name].append(answer)
    return {
        name: {
            "configured": True,
            "first_answer_s": round(warm[name], 3),
            "first_piece": latency_summary(first[name]),
            "answer": latency_summary(full[name]),
            "refused": sum(a.refused for a in answers[name]),
            "fallback": sum(a.fallback for a in answers[name]),
        }
        for name in assistants
    }


def stream_timed(assistant: Assistant, question: str) -> tuple[float, float, Answer]:
    """Ask as the app does: (seconds to the first streamed piece, seconds to the final `Answer`, the answer)."""
    started = time.perf_counter()
    to_first: float | None = None
    for piece in assistant.answerer().stream(question):
        elapsed = time.perf_counter() - started
        to_first = elapsed if to_first is None else to_first
        if isinstance(piece, Answer):
            return to_first, elapsed, piece
    raise RuntimeError(f"the answer stream for {question!r} ended without an Answer")


def main(argv: Sequence[str] | None = None) -> int:
    return standalone("ask", __doc__ or "", f"the first {QUICK_QUESTIONS} questions only", measure_settings, argv)


if __name__ == "__main__":
    sys.exit(main())
