"""Benchmark `align` and `draft`: how long a user waits with the configured LLM and without, and what
the LLM's drafts keep.

    python -m bench --only draft          # in the run's fresh workspace index (cold ingest first)
    python -m bench.draft_latency [--quick] [--out FILE]   # over the configured index (MCOF_INDEX_DIR)

The project descriptions of `draft.dev2.jsonl` and `align.dev2.jsonl` (the first 8 with --quick) go
in-process through `Assistant.align` and `Assistant.draft` (standard length), as the app calls them.
Two assistants over the same index take turns description by description: "composed" (LLM backend
"none") and "llm" (the configured backend, e.g. MCOF_LLM_BACKEND=local, writing: MCOF_LLM_WRITES=1;
"not configured" when the settings name none). `draft` aligns again inside, so its time is the
whole wait for a paragraph. For each: align and draft latency (p50, p95), the drafts that fell back
to the composed one, the sentences the checks dropped and the composed ones put back, and the mean
words. A warm-up description per assistant (it opens the index and starts a local LLM server) is
timed apart.

Then the must-mention coverage of the draft sets dev, dev2 and fresh (the shared grader's `normalize`
and `contains_tokens`, as `grade.py draft` scores it), for the LLM's drafts and for the composed ones;
dev2's drafts are the ones timed above.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from assistant.errors import McofError
from assistant.service import Assistant, build_assistant
from assistant.types import Draft

from .runner import (
    REPO,
    SHARED_EVAL,
    BenchContext,
    close_indexes,
    latency_summary,
    load_grader,
    standalone,
)

log = logging.getLogger(__name__)

LATENCY_SETS = (SHARED_EVAL / "draft.dev2.jsonl", SHARED_EVAL / "align.dev2.jsonl")
COVERAGE_SETS = {
    "dev": SHARED_EVAL / "draft.dev.jsonl",
    "dev2": SHARED_EVAL / "draft.dev2.jsonl",
    "fresh": REPO / "bench" / "gold" / "draft.fresh.jsonl",
}
QUICK_DESCRIPTIONS = 8
QUICK_COVERAGE = 2  # items per draft set with --quick
# not a gold description: nothing cached for one
WARM_UP = "Distribute hygiene kits and blankets to families displaced by an earthquake, living in collective centres."


def run(ctx: BenchContext) -> dict[str, Any]:
    ctx.ensure_index()
    return measure_settings(ctx.settings, ctx.embedder, ctx.grader(), ctx.options.quick)


def measure_settings(settings: Any, embedder: Any, grader: ModuleType, quick: bool) -> dict[str, Any]:
    """Both assistants over the index `settings` name: latency on the dev2 descriptions, then coverage."""
    descriptions = [(item["id"], description) for item, description in _items(LATENCY_SETS)]
    descriptions = descriptions[:QUICK_DESCRIPTIONS] if quick else descriptions
    llm = settings.llm_backend
    assistants = {"composed": build_assistant(settings.with_overrides(llm_backend="none"), embedder=embedder)}
    if llm != "none":
        assistants["llm"] = build_assistant(settings.with_overrides(llm_writes=True), embedder=embedder)
    try:
        paths, drafts = measure(assistants, descriptions)
        coverage = must_mention(assistants, grader, drafts, QUICK_COVERAGE if quick else None)
    finally:
        close_indexes(assistants)
    paths["composed"]["backend"] = "none"
    if llm == "none":
        paths["llm"] = {"configured": False, "backend": "none"}
    else:
        paths["llm"].update(backend=llm, model=settings.llm_model, notice=assistants["llm"].llm_notice,
                            timeout_s=settings.llm_timeout, threads=settings.llm_threads)
    from assistant.draft import rewrite_support

    return {
        "gold": [path.name for path in LATENCY_SETS],
        "descriptions": len(descriptions),
        "min_support": rewrite_support(embedder.name),
        "paths": paths,
        "coverage": coverage,
        "example": _example(drafts.get("llm", {}), dict(descriptions)),
    }


def measure(
    assistants: Mapping[str, Assistant], descriptions: Sequence[tuple[str, str]]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Draft]]]:
    """Per assistant: align and draft latency, fall-backs, dropped and restored sentences and mean words,
    each description going to every assistant in turn; and the drafts, by assistant and item id."""
    warm = {name: sum(_timed_pair(assistant, WARM_UP)[:2]) for name, assistant in assistants.items()}
    align_s: dict[str, list[float]] = {name: [] for name in assistants}
    draft_s: dict[str, list[float]] = {name: [] for name in assistants}
    drafts: dict[str, dict[str, Draft]] = {name: {} for name in assistants}
    failed = dict.fromkeys(assistants, 0)
    for item_id, description in descriptions:
        for name, assistant in assistants.items():
            aligned, drafted, draft = _timed_pair(assistant, description)
            align_s[name].append(aligned)
            draft_s[name].append(drafted)
            if draft is None:
                failed[name] += 1
            else:
                drafts[name][item_id] = draft
            log.info("%s %s: align %.1f s, draft %.1f s", item_id, name, aligned, drafted)
    return {
        name: {
            "configured": True,
            "warm_up_s": round(warm[name], 3),
            "align": latency_summary(align_s[name]),
            "draft": latency_summary(draft_s[name]),
            **_draft_counts(drafts[name].values()),
            "no_draft": failed[name],
        }
        for name in assistants
    }, drafts


def must_mention(
    assistants: Mapping[str, Assistant], grader: ModuleType, drafted: Mapping[str, Mapping[str, Draft]],
    per_set: int | None,
) -> dict[str, dict[str, Any]]:
    """Per draft set: the mean share of each item's must-mention phrases its paragraph contains, per
    assistant, plus how many of the LLM's drafts fell back. Drafts already made are reused."""
    out: dict[str, dict[str, Any]] = {}
    for set_name, path in COVERAGE_SETS.items():
        items = [item for item, _ in _items([path])][:per_set]
        row: dict[str, Any] = {"n": len(items)}
        for name, assistant in assistants.items():
            shares, drafts = [], []
            for item in items:
                draft = drafted.get(name, {}).get(item["id"]) or _draft(assistant, item["project"])
                paragraph = grader.normalize(draft.paragraph if draft else "")
                phrases = [grader.normalize(p) for p in item["must_mention"]]
                shares.append(sum(grader.contains_tokens(p, paragraph) for p in phrases) / len(phrases))
                drafts.extend([draft] if draft else [])
            row[name] = round(sum(shares) / len(shares), 4) if shares else None
            row[f"{name}_fallback"] = sum(d.fallback for d in drafts)
        out[set_name] = row
        log.info("coverage %s: %s", set_name, row)
    return out


def _timed_pair(assistant: Assistant, description: str) -> tuple[float, float, Draft | None]:
    """(seconds to align, seconds to draft, the draft or None when the assistant declined or failed)."""
    started = time.perf_counter()
    try:
        assistant.align(description)
    except McofError as exc:
        log.warning("align failed: %s", exc)
    aligned = time.perf_counter() - started
    started = time.perf_counter()
    draft = _draft(assistant, description)
    return aligned, time.perf_counter() - started, draft


def _draft(assistant: Assistant, description: str) -> Draft | None:
    try:
        return assistant.draft(description)
    except McofError as exc:  # declined as off-topic, or no framework in the index
        log.warning("draft failed: %s", exc)
        return None


def _draft_counts(drafts: Any) -> dict[str, Any]:
    drafts = list(drafts)
    words = [len(d.paragraph.split()) for d in drafts]
    return {
        "drafts": len(drafts),
        "fallback": sum(d.fallback for d in drafts),
        "dropped_sentences": sum(d.dropped for d in drafts),
        "restored_sentences": sum(d.restored for d in drafts),
        "mean_words": round(sum(words) / len(words), 1) if words else None,
    }


def _example(drafts: Mapping[str, Draft], descriptions: Mapping[str, str]) -> dict[str, str] | None:
    """The first LLM draft that was kept, nothing dropped from it."""
    for item_id, draft in drafts.items():
        if not draft.fallback and not draft.dropped:
            return {"id": item_id, "project": descriptions[item_id], "paragraph": draft.paragraph}
    return None


def _items(paths: Sequence[Path]) -> list[tuple[dict[str, Any], str]]:
    """(item, its project description) of every line of the gold files, in order."""
    out = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                out.append((item, str(item.get("project") or item.get("description"))))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    return standalone(
        "draft",
        __doc__ or "",
        f"the first {QUICK_DESCRIPTIONS} descriptions only",
        lambda settings, embedder, options: measure_settings(
            settings, embedder, load_grader(options.grader), options.quick
        ),
        argv,
    )


if __name__ == "__main__":
    sys.exit(main())
