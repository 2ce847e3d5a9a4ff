"""Local server processes for benchmarks and tests: start on a free port of 127.0.0.1, wait until
ready, always stop.

    with chroma_server(tmp / "chroma") as (port, process):
        ...  # a real `chroma run`, answering on http://127.0.0.1:{port}
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

CHROMA = Path(sys.executable).with_name("chroma")  # the `chroma` script of this venv


class ServerFailed(RuntimeError):
    """A server process exited or did not answer in time; the message ends with its log's tail."""


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(
    command: Sequence[str],
    ready_url: str,
    *,
    what: str,
    log_file: Path | None = None,
    within_s: float = 60.0,
    stop_s: float = 30.0,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` until the block ends; enter once `ready_url` answers with a 2xx status.

    Output goes to `log_file` (or nowhere). Raises `ServerFailed` if the process exits first
    or `within_s` passes (a start-up deadline, not a timing assertion). On exit the process
    is terminated, then killed if still alive after `stop_s`.
    """
    if log_file is None:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        with log_file.open("wb") as out:
            process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_ready(ready_url, process, what, log_file, within_s)
        log.info("%s pid %d ready at %s", what, process.pid, ready_url)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=stop_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def chroma_server(data: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """A `chroma run` server holding `data`, on a free port: yields (port, process)."""
    if not CHROMA.exists():
        raise ServerFailed(f"no Chroma server binary at {CHROMA}: run `make install`")
    port = free_port()
    command = [str(CHROMA), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)]
    with running(command, f"http://127.0.0.1:{port}/api/v2/heartbeat", what="chroma run", stop_s=15) as process:
        yield port, process


def _wait_ready(url: str, process: subprocess.Popen[bytes], what: str, log_file: Path | None, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerFailed(f"{what} exited with status {process.returncode}{_tail(log_file)}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:  # not listening yet, or not ready (HTTPError is an OSError too)
            time.sleep(0.2)
    raise ServerFailed(f"{what} did not answer {url} within {within_s:.0f} s{_tail(log_file)}")


def _tail(log_file: Path | None, chars: int = 3000) -> str:
    if log_file is None or not log_file.exists():
        return ""
    return ":\n" + log_file.read_text(errors="replace")[-chars:]
