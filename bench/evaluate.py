"""`python -m bench.evaluate`: grade the CLI on every labelled set, side by side (what `make eval` runs).

For each gold set and each of its tasks it runs the shared grader,
`grade.py TASK --gold FILE --cmd .venv/bin/mcof --json-out bench/results/eval/<task>-<set>.json`,
keeps the grader's text in `bench/results/eval.txt` (dev) or `bench/results/eval-<set>.txt`,
records when, on which commit and with which LLM backend each set was graded
(`bench/results/eval/runs.json`), then re-renders `docs/benchmarks.md`. A set whose descriptions
are among the aligner's worked examples (`assistant/sector_examples.jsonl`) is graded on align and
draft with its own examples left out (`MCOF_SECTOR_EXAMPLES` names a copy without them), so no
description is ranked by its own labelled copy.

>>> [s.name for s in SETS]
['dev', 'dev2', 'fresh', 'fresh2', 'fresh3', 'fresh4', 'fresh5', 'fresh6', 'fresh7', 'fresh8', 'fresh9']
>>> SETS[-3].gold("ask").name, SETS[-1].gold("draft").name
('qa.fresh7.jsonl', 'draft.fresh9.jsonl')
>>> SETS[0].json_out(Path("r"), "align").as_posix(), SETS[1].text_out(Path("r")).as_posix()
('r/eval/align-dev.json', 'r/eval-dev2.txt')
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assistant.config import SECTOR_EXAMPLES_FILE

from .runner import REPO, SHARED_EVAL, measured_commit

log = logging.getLogger(__name__)

GRADER = SHARED_EVAL / "grade.py"
TASKS = ("search", "ask", "align", "draft")
QA_TASKS = ("search", "ask")
ALIGN_TASKS = ("align", "draft")


@dataclass(frozen=True)
class GoldSet:
    """One labelled set: `qa.<name>.jsonl` (and `align.`/`draft.<name>.jsonl`) in `folder`."""

    name: str
    folder: Path
    tasks: tuple[str, ...] = TASKS

    def gold(self, task: str) -> Path:
        return self.folder / f"{'qa' if task in QA_TASKS else task}.{self.name}.jsonl"

    def json_out(self, results_dir: Path, task: str) -> Path:
        return results_dir / "eval" / f"{task}-{self.name}.json"

    def text_out(self, results_dir: Path) -> Path:
        return results_dir / ("eval.txt" if self.name == "dev" else f"eval-{self.name}.txt")


SETS = (
    GoldSet("dev", SHARED_EVAL),
    GoldSet("dev2", SHARED_EVAL),
    GoldSet("fresh", REPO / "bench" / "gold"),
    GoldSet("fresh2", REPO / "bench" / "gold"),
    GoldSet("fresh3", REPO / "bench" / "gold"),
    GoldSet("fresh4", REPO / "bench" / "gold"),
    GoldSet("fresh5", REPO / "bench" / "gold", QA_TASKS),
    GoldSet("fresh6", REPO / "bench" / "gold", QA_TASKS),
    GoldSet("fresh7", REPO / "bench" / "gold", QA_TASKS),
    GoldSet("fresh8", REPO / "bench" / "gold", ALIGN_TASKS),
    GoldSet("fresh9", REPO / "bench" / "gold", ALIGN_TASKS),
)


def grade_set(gold_set: GoldSet, cmd: str, results_dir: Path, grader: Path = GRADER) -> bool:
    """Grade every task of one set whose gold file exists; False when a grader run failed.

    The grader's text goes to stdout and to the set's text file, one task after the other.
    """
    text_path = gold_set.text_out(results_dir)
    text_path.parent.mkdir(parents=True, exist_ok=True)
    ok = True
    with text_path.open("w", encoding="utf-8") as text:
        for task in gold_set.tasks:
            gold, json_out = gold_set.gold(task), gold_set.json_out(results_dir, task)
            if not gold.exists():
                log.warning("no %s: %s not graded", gold, task)
                json_out.unlink(missing_ok=True)  # the table shows "—", not an older run
                continue
            json_out.parent.mkdir(parents=True, exist_ok=True)
            command = [sys.executable, str(grader), task, "--gold", str(gold), "--cmd", cmd]
            command += ["--json-out", str(json_out)]
            log.info("grading %s on %s", task, gold.name)
            env = dict(os.environ)
            if task not in QA_TASKS and (unseen := examples_without(gold_set.name, json_out.parent)) is not None:
                env["MCOF_SECTOR_EXAMPLES"] = str(unseen)
            done = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, text=True, check=False, env=env)
            sys.stdout.write(done.stdout)
            sys.stdout.flush()
            text.write(done.stdout)
            if done.returncode != 0:
                log.error("grade.py %s on %s exited with status %d", task, gold.name, done.returncode)
                ok = False
    return ok


def examples_without(set_name: str, folder: Path, examples: Path = SECTOR_EXAMPLES_FILE) -> Path | None:
    """A copy of the worked examples without those taken from the set `set_name` (align.<name> or
    draft.<name>), written to `folder`; None when none of them comes from it.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> shipped = folder / "examples.jsonl"
    >>> _ = shipped.write_text('{"sector": 1, "description": "a", "source": "bench/gold/align.fresh.jsonl#x"}\\n'
    ...                        '{"sector": 2, "description": "b", "source": "bench/gold/draft.fresh2.jsonl#y"}\\n')
    >>> examples_without("fresh", folder, shipped).read_text().count("sector"), examples_without("dev", folder, shipped)
    (1, None)
    """
    if not examples.exists():
        return None
    lines = [line for line in examples.read_text(encoding="utf-8").splitlines() if line.strip()]
    own = {f"align.{set_name}.jsonl", f"draft.{set_name}.jsonl"}
    kept = [line for line in lines if json.loads(line).get("source", "").split("#")[0].rsplit("/", 1)[-1] not in own]
    if len(kept) == len(lines):
        return None
    out = folder / f"sector-examples-without-{set_name}.jsonl"
    out.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    return out


def provenance(llm_backend: str, cmd: str) -> dict[str, Any]:
    """When, on what commit and with which answer writer a set was graded."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": measured_commit(),
        "llm_backend": llm_backend,
        "cmd": cmd,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cmd", default=".venv/bin/mcof", help="the CLI to grade (default .venv/bin/mcof)")
    parser.add_argument("--grader", type=Path, default=GRADER, help="grade.py (default ../shared/eval/grade.py)")
    parser.add_argument(
        "--set", action="append", choices=[s.name for s in SETS], help="grade only this set (repeatable)"
    )
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results", help="results folder")
    parser.add_argument("--docs", type=Path, default=REPO / "docs" / "benchmarks.md", help="page to re-render")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    from assistant.config import Settings

    from .report import write_report  # the report reads `SETS` from here: imported late, no cycle

    backend = Settings.from_env().llm_backend  # the CLI graded reads the same environment
    runs_path = args.results / "eval" / "runs.json"
    runs = json.loads(runs_path.read_text(encoding="utf-8")) if runs_path.exists() else {}
    ok = True
    for gold_set in (s for s in SETS if not args.set or s.name in args.set):
        run = provenance(backend, args.cmd)
        ok &= grade_set(gold_set, args.cmd, args.results, args.grader)
        runs[gold_set.name] = run
        runs_path.parent.mkdir(parents=True, exist_ok=True)
        runs_path.write_text(json.dumps(runs, indent=2) + "\n", encoding="utf-8")
    write_report(args.results, args.docs)
    print(f"summary: {args.docs}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
