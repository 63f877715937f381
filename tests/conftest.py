from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hub.app import Hub
from hub.testing import RecordingChannel, RecordingSink


@pytest.fixture
def sinks(register_plugin: Callable[[str, object], object]) -> dict[str, RecordingSink]:
    """Two recording sinks, 'alpha' and 'beta', registered for the test."""
    made = {name: RecordingSink() for name in ("alpha", "beta")}
    for name, sink in made.items():
        register_plugin(name, sink)
    return made


@pytest.fixture
def channel(register_plugin: Callable[[str, object], object]) -> RecordingChannel:
    """A recording mail channel registered as plugin 'mail' (a branch enabling it sends its messages there)."""
    mail = RecordingChannel()
    register_plugin("mail", mail)
    return mail


@pytest.fixture
def two_branches(make_hub: Callable[..., Hub], sinks: dict[str, RecordingSink]) -> Hub:
    branches: dict[str, dict[str, Any]] = {
        "bordeaux": {"plugins": ["alpha", "beta"]},
        "lyon": {"plugins": ["alpha"]},
    }
    return make_hub(branches)


# --- misbehaving services on loopback -------------------------------------------------------------------------

class _Hanging:
    """A TCP server that accepts connections and never answers (a frozen service behind a load balancer)."""

    def __init__(self) -> None:
        import socket
        import threading
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)  # kept open, never read from or written to

    def close(self) -> None:
        self._closed.set()
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def hanging_server() -> Any:
    server = _Hanging()
    yield server
    server.close()


@pytest.fixture
def hanging_url(hanging_server: _Hanging) -> str:
    return f"http://127.0.0.1:{hanging_server.port}"


@pytest.fixture
def unreachable_url() -> str:
    from hub.serving import free_port
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


@pytest.fixture
def refusing_url() -> Any:
    """A service that answers every request with 401 (a revoked token)."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from hub.serving import ServerThread

    async def refuse(request: Any) -> JSONResponse:
        return JSONResponse({"title": "Unauthenticated", "message": "The access token is invalid"}, status_code=401)

    app = Starlette(routes=[Route("/{path:path}", refuse, methods=["GET", "POST", "PUT", "DELETE"])])
    with ServerThread(app) as server:
        yield server.url
