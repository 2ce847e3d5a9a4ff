"""What every benchmark shares: options, the run context (workspace, model, gold, index), timing.

A run works in a temporary workspace: a copy of the corpus and a fresh index folder, so the
user's `.mcof/index` is never touched and the first ingest is cold (no embedding cache).
The embedding model is loaded once and shared by every benchmark of the run.

>>> latency_summary([0.010, 0.020, 0.030, 0.040])
{'n': 4, 'p50_ms': 25.0, 'p95_ms': 38.5, 'mean_ms': 25.0}
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import numpy as np

from assistant.config import Settings
from assistant.embeddings import Embedder
from assistant.service import Assistant, build_assistant
from assistant.store import open_store
from assistant.types import Hit, IngestReport
from ingest.manifest import corpus_files
from ingest.pipeline import run_ingest

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
SHARED_EVAL = REPO.parent / "shared" / "eval"
T = TypeVar("T")
OUTPUTS = (":!bench/results", ":!docs/benchmarks.md")  # git pathspecs of what a run writes


@dataclass(frozen=True)
class BenchOptions:
    """What to run on, where results go, and how much work to do."""

    corpus_dir: Path = REPO / "corpus"
    gold: Path = SHARED_EVAL / "qa.dev.jsonl"
    grader: Path = SHARED_EVAL / "grade.py"
    results_dir: Path = REPO / "bench" / "results"
    docs: Path | None = REPO / "docs" / "benchmarks.md"
    quick: bool = False
    k: int = 10
    scale_factors: tuple[int, ...] = (1, 10, 100)
    scale_server_factor: int | None = 10  # size measured again against a `chroma run` server
    scale_budget_minutes: float = 60.0  # a size whose projected ingest takes longer is skipped
    synthetic_dir: Path = REPO / "bench" / "synthetic"
    # "module:callable" building the serving subprocess's embedder; "" = the configured model
    serve_embedder: str = ""

    @property
    def repetitions(self) -> int:
        return 1 if self.quick else 3

    @property
    def max_questions(self) -> int | None:
        return 10 if self.quick else None


@dataclass
class ColdIngest:
    """The first ingest of the run: fresh index folder, empty embedding cache."""

    report: IngestReport
    seconds: float
    encode_seconds: float  # of `seconds`, spent inside the model
    chunks: int
    sentences: int


@dataclass
class BenchContext:
    """One benchmark run: the workspace, the shared model, the gold questions, the index."""

    options: BenchOptions
    embedder: MeteredEmbedder
    workspace: Path
    settings: Settings = field(init=False)
    gold: list[dict[str, Any]] = field(init=False)
    cold: ColdIngest | None = field(init=False, default=None)
    _assistant: Assistant | None = field(init=False, default=None)
    _grader: ModuleType | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        corpus = self.workspace / "corpus"
        copy_corpus(self.options.corpus_dir, corpus)
        # an explicit empty chroma_host: the benchmark index is always embedded and private
        self.settings = Settings.from_env(index_dir=self.workspace / "index", corpus_dir=corpus, chroma_host="")
        self.gold = [json.loads(line) for line in self.options.gold.read_text(encoding="utf-8").splitlines() if line]

    @property
    def questions(self) -> list[str]:
        """The dev questions used for latency (answerable or not), fewer with --quick."""
        questions = [str(item["question"]) for item in self.gold]
        return questions[: self.options.max_questions]

    def ensure_index(self) -> ColdIngest:
        """Ingest the workspace corpus once, cold, and remember how long it took."""
        if self.cold is None:
            self.embedder.reset()
            report, seconds = timed(lambda: run_ingest(self.settings, self.embedder, progress=False))
            reader = open_store(self.settings).open_current()
            try:
                chunks, sentences = len(reader.chunks()), len(reader.sentences())
                self.cold = ColdIngest(report, seconds, self.embedder.seconds, chunks, sentences)
            finally:
                reader.close()
            log.info("cold ingest: %d chunks, %d sentences in %.1f s", self.cold.chunks, self.cold.sentences, seconds)
        return self.cold

    def assistant(self) -> Assistant:
        """The real assistant over the workspace index, sharing the run's embedder."""
        if self._assistant is None:
            self._assistant = build_assistant(self.settings, embedder=self.embedder)
        return self._assistant

    @property
    def eval_items(self) -> list[dict[str, Any]]:
        """The answerable gold items that retrieval quality is measured on, fewer with --quick."""
        grader = self.grader()
        return [item for item in self.gold if grader.is_answerable(item)][: self.options.max_questions]

    def grade(self, hits: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, float]:
        """Search metrics of `eval_items`, from hits per gold id, by the shared grader's `grade_search`."""
        grader = self.grader()
        corpus = grader.Corpus(str(self.settings.corpus_dir))
        outputs = {item_id: {"hits": list(item_hits)} for item_id, item_hits in hits.items()}
        metrics, _, _, _ = grader.grade_search(self.eval_items, outputs, corpus, self.options.k, 0.0, [])
        keep = ("n", "recall@1", "recall@5", "recall@10", "recall_all_docs@5", "mrr@10", "mean_hit_chars")
        return {key: metrics[key] if key == "n" else round(float(metrics[key]), 4) for key in keep if key in metrics}

    def close(self) -> None:
        """Close the index generation the assistant holds open (the workspace goes next)."""
        if self._assistant is not None and self._assistant.has_index():
            self._assistant.searcher.current().reader.close()

    def grader(self) -> ModuleType:
        if self._grader is None:
            self._grader = load_grader(self.options.grader)
        return self._grader


def load_grader(path: Path) -> ModuleType:
    """The shared grader `grade.py`, imported from its path."""
    spec = importlib.util.spec_from_file_location("mcof_grade", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"grader not found at {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class MeteredEmbedder:
    """Wraps an embedder and counts what it does (implements `Embedder`).

    Tells how much of an ingest or a search is spent in the model.
    """

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.texts = 0
        self.calls = 0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._metered(self.inner.embed, texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._metered(self.inner.embed_queries, texts)

    def _metered(self, encode: Callable[[Sequence[str]], np.ndarray], texts: Sequence[str]) -> np.ndarray:
        started = time.perf_counter()
        vectors = encode(texts)
        self.seconds += time.perf_counter() - started
        self.texts += len(texts)
        self.calls += 1
        return vectors

    def reset(self) -> None:
        self.seconds, self.texts, self.calls = 0.0, 0, 0


def copy_corpus(source: Path, target: Path) -> None:
    """Copy the ingestible files and the manifest of a corpus folder."""
    target.mkdir(parents=True, exist_ok=True)
    for path in corpus_files(source):
        shutil.copyfile(path, target / path.name)
    manifest = source / "manifest.json"
    if manifest.exists():
        shutil.copyfile(manifest, target / manifest.name)


def hit_record(hit: Hit) -> dict[str, Any]:
    """A hit as the grader reads it (the `mcof search --json` fields it uses)."""
    return {"rank": hit.rank, "doc": hit.doc, "section": hit.chunk.section, "text": hit.text}


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """Run `fn` once: (its result, wall seconds)."""
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def interleaved_latency(
    fns: Mapping[str, Callable[[str], object]], queries: Sequence[str], repetitions: int
) -> dict[str, list[float]]:
    """Seconds per call of each function on each query, the functions taking turns per query.

    Taking turns exposes every function to the same moments of a noisy, shared machine.
    """
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repetitions):
        for query in queries:
            for name, fn in fns.items():
                started = time.perf_counter()
                fn(query)
                samples[name].append(time.perf_counter() - started)
    return samples


def search_latency(
    search: Callable[[str], object], embed: Callable[[str], object], questions: Sequence[str], repetitions: int
) -> dict[str, Any]:
    """Warm search latency against one query embedding, on the same questions, turn about.

    The first search (it opens the index generation) is reported apart; a pass over every
    question warms caches before anything is timed.
    """
    _, first = timed(lambda: search(questions[0]))
    for question in questions:
        search(question)
    samples = interleaved_latency({"search": search, "embed": embed}, questions, repetitions)
    searched = latency_summary(samples["search"])
    embedded = latency_summary(samples["embed"])
    # each search and the embedding after it ran back to back: their ratio shrugs off slow minutes
    paired = np.asarray(samples["search"]) / np.maximum(np.asarray(samples["embed"]), 1e-9)
    return {
        "questions": len(questions),
        "repetitions": repetitions,
        "first_search_s": round(first, 3),
        "search": searched,
        "query_embedding": embedded,
        "p50_ratio": ratio(searched["p50_ms"], embedded["p50_ms"]),
        "p95_ratio": ratio(searched["p95_ms"], embedded["p95_ms"]),
        "paired_ratio_p50": round(float(np.percentile(paired, 50)), 3),
    }


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p95 and mean of latency samples, in milliseconds."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    return {
        "n": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "mean_ms": round(float(ms.mean()), 2),
    }


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """Peak resident set size of a process in MB (Linux `VmHWM`), None when unknown.

    Not `getrusage`: its `ru_maxrss` survives exec, so a subprocess started by a big parent
    reports the parent's peak until it outgrows it.
    """
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError):
        return None
    return None


def ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else float("nan")


def measured_commit() -> str:
    """The short commit measured, marked "+uncommitted changes" when the code differs from it.

    The results files themselves are committed: rewriting them is not a change to the code measured.
    """

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()
        except OSError:
            return ""

    commit = git("rev-parse", "--short", "HEAD")
    if commit and git("status", "--porcelain", "--untracked-files=no", "--", ".", *OUTPUTS):
        commit += "+uncommitted changes"
    return commit


def environment(options: BenchOptions, embedder: Embedder) -> dict[str, Any]:
    """Where and with what a result was measured (attached to every results file)."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": measured_commit(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "embedding_model": embedder.name,
        "quick": options.quick,
    }


def write_result(options: BenchOptions, name: str, data: Mapping[str, Any]) -> Path:
    options.results_dir.mkdir(parents=True, exist_ok=True)
    path = options.results_dir / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    log.info("wrote %s", path)
    return path


def close_indexes(assistants: Mapping[str, Assistant]) -> None:
    """Close the index generation each assistant opened (those that opened none are left alone)."""
    for assistant in assistants.values():
        if assistant.has_index():
            assistant.searcher.current().reader.close()


def standalone(
    benchmark: str,
    doc: str,
    quick_help: str,
    measure: Callable[[Settings, Embedder, BenchOptions], dict[str, Any]],
    argv: Sequence[str] | None = None,
) -> int:
    """`python -m bench.<module>` over the configured index (MCOF_INDEX_DIR), no cold ingest of its own.

    The result goes to bench/results/<benchmark>_latency.json (bench/results/tmp with --quick, or --out)
    with the environment it was measured in, the same record `python -m bench --only <benchmark>` writes.
    """
    import argparse
    import sys

    from assistant.config import set_offline_env

    name = f"{benchmark}_latency"
    parser = argparse.ArgumentParser(prog=f"python -m bench.{name}", description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--out", type=Path, help=f"results file (default bench/results/{name}.json; "
                        f"with --quick bench/results/tmp/{name}.json)")
    args = parser.parse_args(argv)
    set_offline_env()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("httpx", "chromadb", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from assistant.embeddings import build_embedder

    settings = Settings.from_env()
    embedder = build_embedder(settings.embedding_model, settings.models_dir, settings.embed_batch_size)
    options = BenchOptions(quick=args.quick)
    env = environment(options, embedder)
    data = measure(settings, embedder, options)
    results = args.out.parent if args.out else REPO / "bench" / "results" / ("tmp" if args.quick else "")
    record = {"benchmark": benchmark, "environment": env, "index": "configured (MCOF_INDEX_DIR)", **data}
    out = write_result(BenchOptions(results_dir=results), args.out.stem if args.out else name, record)
    print(f"{benchmark}: {out}")
    return 0
