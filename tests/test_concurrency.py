"""Twenty simultaneous users on the running app, then an ingest while searches go on.

The app is `python app.py` over the small corpus of the browser tests (tests/e2e/conftest.py),
driven through its HTTP API with gradio_client. Latencies are printed (run with -s), not asserted.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.e2e.conftest import REPO, AppServer, app_server  # noqa: F401 (the fixture, reused)

pytestmark = pytest.mark.integration

USERS = 20
QUESTIONS = (
    "What are the sectors of assistance of the MCOF?",
    "How many new arrivals did the displacement tracking team count at Zarqa camp?",
    "What does the MCOF say about humanitarian border management?",
)
PROJECT = "Emergency shelter and camp coordination for families displaced by floods, with health referrals."


@pytest.fixture(scope="module")
def client_factory(app_server: AppServer) -> Callable[[], Any]:  # noqa: F811 (the fixture above)
    gradio_client = pytest.importorskip("gradio_client")
    return lambda: gradio_client.Client(app_server.url, verbose=False)


def _chat(client: Any, i: int) -> str:
    messages, panel, _box, _status = client.predict(QUESTIONS[i % len(QUESTIONS)], api_name="/chat")
    assert messages[-1]["role"] == "assistant"
    answer = str(messages[-1]["content"])
    cited = re.search(r'href="#(cite-a\d+-1)"', answer)
    assert cited, answer
    assert f'id="{cited.group(1)}"' in str(panel)  # the newest answer's cards are always in the panel
    return answer


def _draft(client: Any, i: int) -> str:
    shown = str(client.predict(PROJECT, "short", api_name="/run_draft")[0])
    assert "cite-d1" in shown, shown[:500]
    return shown


def _align(client: Any, i: int) -> str:
    shown = str(client.predict(PROJECT, api_name="/align"))
    assert "Sector" in shown, shown[:500]
    return shown


def _timed(call: Callable[[Any, int], str], client: Any, i: int) -> float:
    started = time.perf_counter()
    call(client, i)
    return time.perf_counter() - started


def _percentiles(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):.2f} s, p95 {p95:.2f} s over {len(ordered)} requests"


def test_twenty_simultaneous_users_all_get_cited_answers(client_factory: Callable[[], Any]) -> None:
    calls = [_chat, _draft, _align]
    clients = [client_factory() for _ in range(USERS)]
    warm_up = [_timed(call, clients[0], 0) for call in calls]  # the first requests load the model
    print("\nfirst request of each kind, one at a time: " + ", ".join(f"{t:.2f} s" for t in warm_up))
    with ThreadPoolExecutor(max_workers=USERS) as pool:
        futures = [pool.submit(_timed, calls[i % len(calls)], clients[i], i) for i in range(USERS)]
        seconds = [f.result(timeout=300) for f in futures]  # any error or missing citation raises here
    print(f"{USERS} simultaneous users (chat, draft, align): {_percentiles(seconds)}")
    for k, call in enumerate(calls):
        print(f"  {call.__name__[1:]}: {_percentiles(seconds[k::len(calls)])}")


def test_searches_keep_working_while_an_ingest_runs(app_server: AppServer,  # noqa: F811
                                                    client_factory: Callable[[], Any]) -> None:
    (app_server.corpus_dir / "added-note.txt").write_text(
        "Added note\n\nThe mobile clinic in the northern district vaccinated 300 displaced children.\n",
        encoding="utf-8",
    )
    env = {**os.environ, "MCOF_CORPUS_DIR": str(app_server.corpus_dir),
           "MCOF_INDEX_DIR": str(app_server.corpus_dir.parent / "index"), "MCOF_LLM_BACKEND": "none"}
    ingest = subprocess.Popen([sys.executable, "-m", "assistant", "ingest", "--no-progress"], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    client = client_factory()
    seconds: list[float] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def search_loop() -> None:
        i = 0
        while not stop.is_set() or i < 2:
            try:
                seconds.append(_timed(_chat, client, i))
            except BaseException as exc:  # recorded, asserted below
                errors.append(exc)
            i += 1

    searcher = threading.Thread(target=search_loop)
    searcher.start()
    try:
        out, err = ingest.communicate(timeout=300)
    finally:
        stop.set()
        searcher.join(timeout=300)
    assert ingest.returncode == 0, err
    assert "1 added" in out, out
    assert not errors, errors
    print(f"\nchat during ingest: {_percentiles(seconds)}")
    messages, _, _, _ = client.predict("How many children did the mobile clinic vaccinate?", api_name="/chat")
    assert "300" in str(messages[-1]["content"])
