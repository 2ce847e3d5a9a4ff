"""The local LLM server (backend "local"): started, shared, health-checked, restarted and stopped by the assistant.

One llama.cpp server (`xllamacpp`, OpenAI-compatible, 127.0.0.1) per index folder, described by
`<index_dir>/llm-server.json`. Every start, stop and idle exit holds `llm-server.lock`, so the app
and `mcof ask` (or two CLI runs) never start two servers: the second one reuses the first's. The
server's output goes to `llm-server.log`, and it exits by itself after `llm_idle_minutes` without
requests, so a forgotten server does not hold its memory forever.

    base_url = ensure_server(settings)  # "http://127.0.0.1:41237/v1": the running server, or a new one

The served process is `python -m assistant.llm_server serve ...`; no LangChain here (see `llm.py`).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .config import DEFAULT_LOCAL_LLM_MODEL, Settings
from .errors import ConfigError, LLMError, McofError
from .files import replace_text
from .llamacpp import HOST, chat_server

log = logging.getLogger("assistant.llm_server")  # also when run as __main__

STATE_NAME = "llm-server.json"
LOCK_NAME = "llm-server.lock"
LOG_NAME = "llm-server.log"
START_WITHIN_S = 180.0  # a model of 1 GB loads in seconds; a busy 2-core machine may need much longer
STOP_WITHIN_S = 30.0
_MODULE = "assistant.llm_server"  # in the served process's command line: how a pid is known to be ours
_children: dict[int, subprocess.Popen[bytes]] = {}  # servers this process spawned (reaped through poll)


@dataclass(frozen=True)
class ServerState:
    """What `llm-server.json` records about the running server."""

    pid: int
    port: int
    model: str  # the name the server answers to (`/v1/models`), e.g. "qwen2.5-coder-1.5b-instruct"
    model_path: str
    ctx: int
    idle_minutes: float
    started_at: float  # time.time()

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    @property
    def uptime_s(self) -> float:
        return max(0.0, time.time() - self.started_at)


@dataclass(frozen=True)
class ServerFiles:
    """The state, lock and log files of an index folder's server.

    >>> ServerFiles.of(Path("/srv/index")).state.as_posix()
    '/srv/index/llm-server.json'
    """

    state: Path
    lock: Path
    log: Path

    @classmethod
    def of(cls, index_dir: Path) -> ServerFiles:
        return cls(index_dir / STATE_NAME, index_dir / LOCK_NAME, index_dir / LOG_NAME)


# --- the model -----------------------------------------------------------------------------


def model_name(settings: Settings) -> str:
    """The name the local server answers to: a registry name as given, or a .gguf file's stem.

    >>> model_name(Settings(llm_backend="local", llm_model="/models/tiny.Q4.gguf"))
    'tiny.Q4'
    """
    name = settings.llm_model or DEFAULT_LOCAL_LLM_MODEL
    return Path(name).stem if _is_file_name(name) else name


def resolve_model(settings: Settings) -> tuple[str, Path]:
    """(served name, GGUF file) of the configured model; raises a one-line `McofError` if it is not usable."""
    name = settings.llm_model or DEFAULT_LOCAL_LLM_MODEL
    if _is_file_name(name):
        path = Path(name).expanduser()
        if not path.is_file():
            raise ConfigError(f"model file not found: {path} (MCOF_LLM_MODEL): give a .gguf file or a model name")
        return path.stem, path.resolve()
    from .models import installed_path

    return name, installed_path(name, settings.models_dir).resolve()


def _is_file_name(name: str) -> bool:
    return name.lower().endswith(".gguf") or "/" in name or os.sep in name


# --- the shared server -------------------------------------------------------------------------

Launch = Callable[[Settings, str, Path, ServerFiles, float], ServerState]


def ensure_server(settings: Settings, *, within_s: float = START_WITHIN_S, launch: Launch | None = None) -> str:
    """The base URL of the index folder's server for the configured model, started or restarted if needed.

    A live server that answers `/health` with the same model and context size is reused (and
    marked as used, which holds off its idle exit); a dead, unhealthy or differently configured
    one is stopped and replaced. `launch` starts a server (a seam for tests).
    """
    name, path = resolve_model(settings)
    files = ServerFiles.of(settings.index_dir)
    with _locked(files.lock, within_s + STOP_WITHIN_S):
        state = read_state(files.state)
        if state is not None:
            same = (state.model, state.model_path, state.ctx) == (name, str(path), settings.llm_ctx)
            if same and healthy(state):
                _mark_used(files.state)
                return state.base_url
            if not same:
                why = "serves another model or context size"
            else:
                why = "does not answer" if _alive(state.pid) else "is gone"
            log.warning("local LLM server pid %d (%s) %s: starting a new one", state.pid, state.model, why)
            _terminate(state.pid)
            files.state.unlink(missing_ok=True)
        state = (launch or _launch)(settings, name, path, files, within_s)
        _write_state(files.state, state)
        return state.base_url


def server_status(settings: Settings) -> ServerState | None:
    """The index folder's server if it is running and healthy, else None."""
    state = read_state(ServerFiles.of(settings.index_dir).state)
    return state if state is not None and healthy(state) else None


def stop_server(settings: Settings, *, within_s: float = STOP_WITHIN_S) -> ServerState | None:
    """Stop the index folder's server (SIGTERM, then SIGKILL after `within_s`) and remove its state.

    Returns the state of the server that was stopped, None when none was running.
    """
    files = ServerFiles.of(settings.index_dir)
    with _locked(files.lock, START_WITHIN_S + within_s):  # a start in progress may hold the lock that long
        state = read_state(files.state)
        if state is None:
            return None
        running = _alive(state.pid) and _is_ours(state.pid)
        _terminate(state.pid, within_s)
        files.state.unlink(missing_ok=True)
        return state if running else None


def read_state(path: Path) -> ServerState | None:
    """The recorded server, or None when there is no state file or it is unreadable."""
    try:
        return ServerState(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def healthy(state: ServerState, timeout_s: float = 5.0) -> bool:
    """Is `state.pid` alive, and does its port answer `/health` and serve `state.model`?"""
    if not _alive(state.pid):
        return False
    try:
        with urllib.request.urlopen(f"http://{HOST}:{state.port}/health", timeout=timeout_s) as response:
            if response.status != 200:
                return False
        with urllib.request.urlopen(f"{state.base_url}/models", timeout=timeout_s) as response:
            served = json.loads(response.read())
    except (OSError, ValueError):
        return False
    return any(m.get("id") == state.model for m in served.get("data", ()))


def _write_state(path: Path, state: ServerState) -> None:
    replace_text(path, json.dumps(asdict(state), indent=1))


def _mark_used(state_file: Path) -> None:
    """Touch the state file: the served process counts its mtime as a request."""
    with suppress(OSError):
        os.utime(state_file)


@contextmanager
def _locked(lock_file: Path, within_s: float) -> Iterator[None]:
    """Hold the index folder's server lock, waiting at most `within_s` for another process to let go.

    An fcntl lock dies with its process, so a killed CLI run never blocks the next one.
    """
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + within_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LLMError(
                        f"another process held {lock_file} for {within_s:.0f} s (starting the local LLM server?): "
                        "try again, or run `mcof llm stop`"
                    ) from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)


def _launch(settings: Settings, name: str, path: Path, files: ServerFiles, within_s: float) -> ServerState:
    """Spawn the served process detached (own session, output to the log) and wait until it is healthy."""
    port = _free_port()
    command = [
        sys.executable, "-m", _MODULE, "serve", "--model", str(path), "--name", name, "--port", str(port),
        "--ctx", str(settings.llm_ctx), "--threads", str(settings.llm_threads),
        "--idle-minutes", str(settings.llm_idle_minutes), "--index-dir", str(settings.index_dir),
    ]
    if files.log.exists():
        files.log.replace(files.log.with_name(LOG_NAME + ".1"))  # the previous server's log, kept for a post-mortem
    with files.log.open("wb") as out:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    _children[process.pid] = process
    state = ServerState(process.pid, port, name, str(path), settings.llm_ctx, settings.llm_idle_minutes, time.time())
    log.info("starting the local LLM server for %s (pid %d, port %d)", name, process.pid, port)
    deadline = time.monotonic() + within_s
    try:
        while not healthy(state, timeout_s=2.0):
            if process.poll() is not None:
                raise LLMError(f"the local LLM server for {name} exited with status {process.returncode}"
                               f"{_tail(files.log)}")
            if time.monotonic() > deadline:
                raise LLMError(f"the local LLM server for {name} did not answer within {within_s:.0f} s"
                               f"{_tail(files.log)}")
            time.sleep(0.2)
    except BaseException:  # a failed start (or Ctrl-C while waiting) must not leave the process behind
        _terminate(process.pid)
        raise
    log.info("local LLM server for %s ready at %s in %.1f s", name, state.base_url, time.time() - state.started_at)
    return state


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _tail(log_file: Path, lines: int = 3) -> str:
    """The last lines of the server's log as one line, for an error message."""
    try:
        text = log_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    last = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return f" (see {log_file}: {' | '.join(last)[-400:]})" if last else f" (see {log_file})"


def _alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) is dead for us
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _is_ours(pid: int) -> bool:
    """Is `pid` a served process of this module (not an unrelated process that got its pid)?"""
    if pid in _children:
        return True
    try:
        return _MODULE.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return not Path("/proc/self").exists()  # no /proc to ask: trust the state file


def _terminate(pid: int, within_s: float = STOP_WITHIN_S) -> None:
    """SIGTERM a served process, SIGKILL it if still alive after `within_s`; leaves other processes alone."""
    if _alive(pid) and _is_ours(pid):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + within_s
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            log.warning("local LLM server pid %d ignored SIGTERM for %.0f s: killing it", pid, within_s)
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            while _alive(pid) and time.monotonic() < deadline + 10:
                time.sleep(0.1)
    _children.pop(pid, None)


# --- the served process ------------------------------------------------------------------------


def start_gguf_server(
    model_path: Path,
    host: str = HOST,
    port: int = 8089,
    n_ctx: int = 4096,
    threads: int = 2,
    alias: str | None = None,
) -> Any:
    """Start llama.cpp's OpenAI-compatible server for a GGUF file in background threads.

    Returns the `xllamacpp.Server` (model loaded; see `assistant.llamacpp`); it serves `/v1/chat/completions`
    (with streaming), `/v1/models` (as `alias`, else the file's path), `/health` and, in-process,
    `handle_metrics()` until the process exits.
    """
    model_path = Path(model_path)
    if not model_path.is_file():
        raise ConfigError(f"model file not found: {model_path}")
    server = chat_server(model_path, host, port, n_ctx, threads, alias)
    log.info("serving %s at http://%s:%d/v1", model_path.name, host, port)
    return server


def serve_gguf(
    model_path: Path,
    host: str = HOST,
    port: int = 8089,
    n_ctx: int = 4096,
    threads: int = 2,
    *,
    alias: str | None = None,
    idle_minutes: float | None = None,
    index_dir: Path | None = None,
) -> None:
    """Serve a GGUF file until SIGTERM or Ctrl-C, or `idle_minutes` without requests: `mcof llm serve`.

    With `index_dir`, this is that index folder's managed server: its state file's mtime
    counts as a request, and an idle exit removes the state under the lock. A server started
    by hand is used through the "openai" backend: MCOF_LLM_BACKEND=openai
    MCOF_LLM_BASE_URL=http://HOST:PORT/v1 MCOF_LLM_MODEL=<any name>.
    """
    server = start_gguf_server(model_path, host, port, n_ctx, threads, alias)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    watch = None
    if idle_minutes:
        files = ServerFiles.of(index_dir) if index_dir is not None else None
        watch = threading.Thread(target=watch_idle, args=(server, idle_minutes * 60, files, stop),
                                 name="idle-watch", daemon=True)
        watch.start()
    try:
        until = f"; exits after {idle_minutes:g} min without requests" if idle_minutes else ""
        print(f"OpenAI-compatible server for {Path(model_path).name} at http://{host}:{port}/v1 "
              f"(Ctrl-C stops{until})", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        stop.set()
    finally:
        signal.signal(signal.SIGTERM, previous)
        if watch is not None:
            watch.join()
        del server


def request_activity(metrics: str) -> tuple[float, float]:
    """(tokens processed so far, requests in flight) from llama.cpp's Prometheus metrics text.

    >>> request_activity("# TYPE llamacpp:prompt_tokens_total counter\\nllamacpp:prompt_tokens_total 31\\n"
    ...                  "llamacpp:tokens_predicted_total 8\\nllamacpp:requests_processing 1\\n")
    (39.0, 1.0)
    """
    tokens = in_flight = 0.0
    for line in metrics.splitlines():
        key, _, value = line.partition(" ")
        if key in ("llamacpp:prompt_tokens_total", "llamacpp:prompt_tokens_cached_total",
                   "llamacpp:tokens_predicted_total"):
            tokens += float(value)
        elif key in ("llamacpp:requests_processing", "llamacpp:requests_deferred"):
            in_flight += float(value)
    return tokens, in_flight


def watch_idle(server: Any, idle_s: float, files: ServerFiles | None, stop: threading.Event) -> None:
    """Set `stop` once no request came for `idle_s` seconds: the served process's watchdog thread.

    A request is a change in the token counters of `server.handle_metrics()`, one in flight,
    or (for a managed server) a touch of the state file by `ensure_server`. A managed server
    removes its state under the lock before it stops, so `ensure_server` never hands out a
    server that is about to exit: it either touched the state first (and the exit is called
    off) or finds no state and starts a new server.
    """
    last_active = time.time()
    last_tokens = -1.0
    poll_s = min(30.0, max(0.5, idle_s / 6))
    while not stop.wait(poll_s):
        try:
            tokens, in_flight = request_activity(str(server.handle_metrics()))
        except Exception:  # a failed poll is no reason to exit (nor to stay forever)
            log.exception("reading the server's metrics failed")
            tokens, in_flight = last_tokens, 0.0
        now = time.time()
        if tokens != last_tokens or in_flight:
            last_active, last_tokens = now, tokens
        if now - max(last_active, _mtime(files)) < idle_s:
            continue
        if files is None:
            log.warning("no request for %.0f s: exiting", idle_s)
            stop.set()
            return
        try:
            with _locked(files.lock, 0.0):
                if time.time() - _mtime(files) < idle_s:  # a client touched the state meanwhile
                    continue
                state = read_state(files.state)
                if state is not None and state.pid == os.getpid():
                    files.state.unlink()
        except LLMError:  # a client is checking or replacing the server right now: look again later
            continue
        log.warning("no request for %.0f s: exiting", idle_s)
        stop.set()
        return


def _mtime(files: ServerFiles | None) -> float:
    if files is None:
        return 0.0
    try:
        return files.state.stat().st_mtime
    except OSError:
        return 0.0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m assistant.llm_server serve ...`: the process `ensure_server` spawns."""
    parser = argparse.ArgumentParser(prog="python -m assistant.llm_server")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve a GGUF file on 127.0.0.1 until idle, SIGTERM or Ctrl-C")
    serve.add_argument("--model", type=Path, required=True)
    serve.add_argument("--name", help="the name it answers to (/v1/models)")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--ctx", type=int, default=4096)
    serve.add_argument("--threads", type=int, default=2)
    serve.add_argument("--idle-minutes", type=float)
    serve.add_argument("--index-dir", type=Path, help="the index folder whose server this is")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        serve_gguf(args.model, HOST, args.port, args.ctx, args.threads,
                   alias=args.name, idle_minutes=args.idle_minutes, index_dir=args.index_dir)
    except McofError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
