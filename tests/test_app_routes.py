"""The served app (real Gradio server, fake assistant): it fetches no URL on a request, the routes Gradio
leaves open need a login when one is set, and a port in use is one line."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.config import Settings
from assistant.errors import ConfigError
from assistant.ui import serve
from bench.servers import free_port
from tests.test_ui import FakeAssistant

LOCAL = {"127.0.0.1", "localhost", "::1"}
REMOTE_FILES = [
    "/gradio_api/file=http://example.com/secret.txt",
    "/gradio_api/file=https://example.com/a.png",
    "/gradio_api/file=HTTP://EXAMPLE.COM/a",
    "/gradio_api/file=http%3A%2F%2Fexample.com%2Fa",
    "/gradio_api/file/http://example.com/a",
    "/gradio_api/file=ftp://example.com/a",
    "/gradio_api/file= http://example.com/a",
]
OPEN_ROUTES = [("POST", "/gradio_api/reset"), ("POST", "/gradio_api/cancel"),
               ("GET", "/gradio_api/heartbeat/abc123"), ("GET", "/openapi.json")]


def _served(tmp_path: Path, fake: FakeAssistant | None = None, **settings: Any) -> Iterator[str]:
    values: dict[str, Any] = {"feedback_db": tmp_path / "f.sqlite3", "port": free_port(), **settings}
    app = serve(fake or FakeAssistant(), Settings(**values), block=False)  # type: ignore[arg-type]
    try:
        yield f"http://127.0.0.1:{values['port']}"
    finally:
        app.close()


@pytest.fixture(scope="module")
def open_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _served(tmp_path_factory.mktemp("open"))


@pytest.fixture(scope="module")
def login_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _served(tmp_path_factory.mktemp("login"), auth="editor:s3cret-pass")


@pytest.fixture(scope="module")
def admin_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FakeAssistant]]:
    """Two logins, one of them an admin."""
    root = tmp_path_factory.mktemp("admins")
    logins = root / "logins.txt"
    logins.write_text("editor:editor-pass\nboss:boss-pass\n", encoding="utf-8")
    fake = FakeAssistant()
    for url in _served(root, fake, auth_file=str(logins), admins="boss"):
        yield url, fake


@pytest.fixture()
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every host name looked up while the test runs (the server runs in this process).

    Python's resolver is recorded, and so is safehttpx's `async_validate_url`, where Gradio's
    remote-file fetch starts: it resolves through the event loop, which under uvloop does not
    go through `socket.getaddrinfo`. The recorder refuses, so nothing leaves even on failure.
    """
    import safehttpx

    seen: list[str] = []
    real = socket.getaddrinfo

    def recording(host: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(str(host))
        return real(host, *args, **kwargs)

    async def refusing(hostname: str) -> str:
        seen.append(hostname)
        raise ValueError(f"{hostname}: no lookups in this test")

    monkeypatch.setattr(socket, "getaddrinfo", recording)
    monkeypatch.setattr(safehttpx, "async_validate_url", refusing)
    return seen


@pytest.mark.parametrize("path", REMOTE_FILES)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_url_in_the_file_route_is_refused_without_a_name_lookup(open_app: str, lookups: list[str],
                                                                  method: str, path: str) -> None:
    response = httpx.request(method, open_app + path, timeout=10)
    assert response.status_code == 403
    assert [host for host in lookups if host not in LOCAL] == []


def test_the_app_still_serves_its_page(open_app: str) -> None:
    response = httpx.get(open_app + "/", timeout=10)
    assert response.status_code == 200 and "MCOF assistant" in response.text


@pytest.mark.parametrize("method,path", OPEN_ROUTES)
def test_routes_gradio_leaves_open_need_the_login(login_app: str, method: str, path: str) -> None:
    assert httpx.request(method, login_app + path, json={}, timeout=10).status_code == 401
    with httpx.Client(base_url=login_app, timeout=10) as client:
        signed_in = client.post("/login", data={"username": "editor", "password": "s3cret-pass"})
        assert signed_in.status_code == 200
        body = {"session_hash": "abc123", "fn_index": 0, "event_id": "e"}
        with client.stream(method, path, json=body) as response:  # the heartbeat streams: read the status only
            assert response.status_code != 401


@pytest.mark.parametrize("method,path", OPEN_ROUTES[:2] + OPEN_ROUTES[3:])
def test_without_a_login_setting_those_routes_stay_open(open_app: str, method: str, path: str) -> None:
    response = httpx.request(method, open_app + path, json={"session_hash": "abc", "fn_index": 0}, timeout=10)
    assert response.status_code != 401


def test_a_port_in_use_is_one_config_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as caught:
            serve(FakeAssistant(), Settings(feedback_db=tmp_path / "f.sqlite3", port=port), block=False)  # type: ignore[arg-type]
    assert str(caught.value) == (
        f"cannot listen on 127.0.0.1:{port} (the port is in use): stop what uses it, or set --port / MCOF_PORT"
    )


def test_the_document_endpoints_refuse_a_signed_in_user_who_is_not_an_admin(
    admin_app: tuple[str, FakeAssistant], tmp_path: Path
) -> None:
    from gradio_client import Client, handle_file

    url, fake = admin_app
    note = tmp_path / "note.md"
    note.write_text("# Note\n\nHygiene kits for 300 families.\n", encoding="utf-8")
    editor = Client(url, auth=("editor", "editor-pass"), verbose=False)
    message, _ = editor.predict([handle_file(str(note))], False, api_name="/add_documents")
    assert "Only an admin may add, edit or delete documents" in message
    message, _ = editor.predict(True, api_name="/reindex")
    assert "Only an admin may add, edit or delete documents" in message
    assert fake.uploaded == [] and fake.ingested == []

    boss = Client(url, auth=("boss", "boss-pass"), verbose=False)
    message, _ = boss.predict([handle_file(str(note))], False, api_name="/add_documents")
    assert "1 added" in message
    assert [(paths[0].name, user) for paths, user, _ in fake.uploaded] == [("note.md", "boss")]
