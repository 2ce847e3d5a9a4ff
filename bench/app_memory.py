"""App memory over a long session: RSS of the served app (`app.py`) under mixed requests from many users.

Indexes a copy of the corpus, starts `app.py` on a free port, then `--users` threads, each one
browser session (a `gradio_client.Client`), send `--requests` requests in all, round-robin over
asking a question (follow-ups pile up in the session), rating and commenting on an answer,
aligning and drafting a project, and opening the Sources tab. The app's resident memory is read
from /proc after the warm-up (the first `--warm-up` requests) and at the end:

    python -m bench.app_memory --requests 1000 --users 20
    → bench/results/app_memory.json  {"rss_after_warm_up_mb": ..., "rss_end_mb": ..., "growth_mb": ...}
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from assistant.config import Settings, set_offline_env

from .runner import REPO, copy_corpus
from .servers import free_port, running

log = logging.getLogger("bench.app_memory")

QUESTIONS = (
    "What are the three phases of a migration crisis?",
    "What are the 15 sectors of assistance?",
    "Which of them concern health?",
    "What are the cross-cutting issues of the MCOF?",
    "What did the 2019 evaluation recommend about project proposals?",
    "And what about the second one?",
)
PROJECT = ("Emergency shelter and camp management for families displaced by floods, "
           "with health care and protection of unaccompanied children.")


def rss_mb(pid: int) -> float:
    """Resident memory of process `pid` now (VmRSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class User:
    """One browser session: its own client, so the app keeps one conversation per user."""

    def __init__(self, url: str, number: int) -> None:
        from gradio_client import Client

        self.client = Client(url, verbose=False)
        self.number = number
        self.asked = 0

    def request(self, kind: str) -> None:
        if kind == "ask":
            self.client.predict(QUESTIONS[(self.number + self.asked) % len(QUESTIONS)], api_name="/chat")
            self.asked += 1
        elif kind == "comment":
            self.client.predict(f"comment from user {self.number}", api_name="/comment_answer")
        elif kind == "align":
            self.client.predict(PROJECT, api_name="/align")
        elif kind == "draft":
            self.client.predict(PROJECT, "short", api_name="/run_draft")
        else:
            self.client.predict(api_name="/sources")


MIX = ("ask", "ask", "comment", "align", "ask", "sources", "draft", "ask")


def drive(users: Sequence[User], total: int, on_done: Callable[[int], None]) -> list[str]:
    """Send `total` requests, spread over the users' threads; returns the errors met (as text)."""
    counter = itertools.count()
    lock = threading.Lock()
    errors: list[str] = []

    def work(user: User) -> None:
        while True:
            with lock:
                n = next(counter)
            if n >= total:
                return
            try:
                user.request(MIX[n % len(MIX)])
            except Exception as exc:  # a failed request is counted and reported, the run goes on
                errors.append(f"{MIX[n % len(MIX)]}: {type(exc).__name__}: {exc}"[:300])
            on_done(n + 1)

    threads = [threading.Thread(target=work, args=(u,)) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def run(corpus: Path, requests: int, users: int, warm_up: int, embedding_model: str) -> dict[str, Any]:
    from assistant.service import build_assistant

    work = Path(tempfile.mkdtemp(prefix="mcof-app-memory-"))
    copy_corpus(corpus, work / "corpus")
    settings = Settings.from_env({}, corpus_dir=work / "corpus", index_dir=work / "index",
                                 feedback_db=work / "feedback.sqlite3", embedding_model=embedding_model)
    build_assistant(settings).ingest(progress=False)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCOF_")}
    env.update(MCOF_CORPUS_DIR=str(settings.corpus_dir), MCOF_INDEX_DIR=str(settings.index_dir),
               MCOF_FEEDBACK_DB=str(settings.feedback_db), MCOF_EMBEDDING_MODEL=embedding_model,
               MCOF_PORT=str(port), MCOF_CONCURRENCY="2")
    command = [sys.executable, str(REPO / "app.py")]
    samples: list[tuple[int, float]] = []
    with running(command, f"http://127.0.0.1:{port}/", what="app.py", log_file=work / "app.log",
                 within_s=300, env=env) as process:
        started = time.perf_counter()
        clients = [User(f"http://127.0.0.1:{port}/", i) for i in range(users)]
        rss_start = rss_mb(process.pid)

        def sample(done: int) -> None:
            if done % 50 == 0 or done == warm_up:
                samples.append((done, round(rss_mb(process.pid), 1)))

        errors = drive(clients, requests, sample)
        seconds = time.perf_counter() - started
        rss_end = rss_mb(process.pid)
    shutil.rmtree(work, ignore_errors=True)
    after_warm_up = next((mb for done, mb in samples if done == warm_up), rss_start)
    return {
        "requests": requests,
        "users": users,
        "warm_up_requests": warm_up,
        "mix": list(MIX),
        "embedding_model": embedding_model,
        "seconds": round(seconds, 1),
        "errors": len(errors),
        "first_errors": errors[:5],
        "rss_start_mb": round(rss_start, 1),
        "rss_after_warm_up_mb": after_warm_up,
        "rss_end_mb": round(rss_end, 1),
        "rss_max_mb": max([mb for _, mb in samples] + [rss_end]),
        "growth_mb": round(rss_end - after_warm_up, 1),
        "samples": samples,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.app_memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=REPO / "corpus")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--warm-up", type=int, default=200, help="requests before the reference RSS is read")
    parser.add_argument("--embedding-model", default="all-MiniLM-L6-v2")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "app_memory.json")
    args = parser.parse_args(argv)
    set_offline_env()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    result = run(args.corpus, args.requests, args.users, args.warm_up, args.embedding_model)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
