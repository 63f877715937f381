"""A server on a port the hub picked starts even when another process takes that port between the pick and the
bind (free_port cannot reserve it); a port given explicitly is never swapped for another."""

from __future__ import annotations

import socket

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from hub import serving
from hub.serving import ServerThread


def app() -> Starlette:
    async def hello(request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")
    return Starlette(routes=[Route("/", hello)])


@pytest.fixture
def taken() -> object:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_picked_port_taken_meanwhile_is_replaced(taken: int, monkeypatch: pytest.MonkeyPatch) -> None:
    picks = iter([taken])
    real = serving.free_port
    monkeypatch.setattr(serving, "free_port", lambda host="127.0.0.1": next(picks, None) or real(host))
    with ServerThread(app()) as server:
        assert server.port != taken
        assert httpx.get(server.url).text == "ok"


def test_a_given_port_that_is_busy_is_an_error(taken: int) -> None:
    with pytest.raises(RuntimeError, match="port busy"):
        ServerThread(app(), port=taken).start()
