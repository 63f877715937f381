"""The webhook receiver holds under hostile traffic: stalled sockets, trickled bodies and headers, floods.

The stalled sockets are held by a child process, so this process's open files are the receiver's own.
Timing is checked only against deadlines, by loops bounded by a timeout; latencies are printed (pytest -s).
"""

from __future__ import annotations

import logging
import os
import queue
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hub.app import Hub
from hub.config import load_config
from hub.events import EventKind
from hub.hookspecs import hookimpl
from hub.serving import ServerThread
from hub.sources import WebhookReply, WebhookRequest, WebhookRoute
from hub.testing import make_candidate, make_event
from hub.web_limits import WebLimits
from hub.webhooks import build_app

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 0.5

# Opens COUNT connections one after the other, each sending half a request's headers, and keeps them; on
# "watch S" on stdin, waits up to S seconds for the server to close them all (EOF or reset) and says how many
# are still open and after how long.
HOLDER = r"""
import resource, selectors, socket, sys, time

host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
held = []
started = time.monotonic()
for number in range(count):
    sock = socket.create_connection((host, port), timeout=10)
    try:
        sock.sendall(b"POST /webhooks/bordeaux/recv HTTP/1.1\r\nHost: hub\r\nX-Signa")
    except OSError:
        pass  # already closed by the server to make room
    held.append(sock)
    if number % 250 == 249:
        print("opened", number + 1, flush=True)
opened = time.monotonic()
print("held", count, round(opened - started, 3), flush=True)
seconds = float(sys.stdin.readline().split()[1])
selector = selectors.DefaultSelector()
for sock in held:
    sock.setblocking(False)
    selector.register(sock, selectors.EVENT_READ)
still_open, last = len(held), opened
while still_open and time.monotonic() < opened + seconds:
    for key, _ in selector.select(timeout=0.1):
        try:
            data = key.fileobj.recv(4096)
        except BlockingIOError:
            continue
        except OSError:
            data = b""
        if not data:
            selector.unregister(key.fileobj)
            key.fileobj.close()
            still_open, last = still_open - 1, time.monotonic()
print("open", still_open, round(last - opened, 3), flush=True)
sys.stdin.readline()
"""


class Receiver:
    def __init__(self) -> None:
        self.blocked: list[bytes] = []
        self.release = threading.Event()

    def handle(self, request: WebhookRequest) -> WebhookReply:
        if request.body.startswith(b"block"):  # a webhook still being handled
            self.blocked.append(request.body)
            self.release.wait(timeout=30)
        if request.headers.get("x-signature") != "good":
            return WebhookReply(status=401, body=b"bad signature")
        event = make_event(EventKind.CANDIDATE_REGISTERED, candidate=make_candidate(ref="p1"),
                           source_id=request.body.decode())
        return WebhookReply(status=200, body=b"ok", events=[event])

    @hookimpl
    def register_webhooks(self, hub, register):  # type: ignore[no-untyped-def]
        register(WebhookRoute(self.handle))


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def _stall_count() -> int:
    """As many as the child may open quickly: 5,000, or fewer under a low hard limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 5000 if hard == resource.RLIM_INFINITY else max(200, min(5000, hard - 100))


@pytest.fixture
def receiver(register_plugin: Callable[[str, object], object]) -> Iterator[Receiver]:
    made = Receiver()
    register_plugin("recv", made)
    yield made
    made.release.set()


@pytest.fixture
def receiving(make_hub: Callable[..., Hub], receiver: Receiver,
              request: pytest.FixtureRequest) -> Iterator[tuple[ServerThread, Hub]]:
    webhooks = {"header_timeout": HEADER_TIMEOUT, "body_timeout": BODY_TIMEOUT, "keep_alive": 1,
                "max_connections": 64, "max_requests_per_connection": 3, **getattr(request, "param", {})}
    hub = make_hub({"bordeaux": {"plugins": ["recv"]}}, hub={"webhooks": webhooks})
    with ServerThread(build_app(hub), limits=WebLimits.of(hub.config.hub.webhooks)) as server:
        yield server, hub


def _connect(server: ServerThread) -> socket.socket:
    return socket.create_connection((server.host, server.port), timeout=5)


def _read_until_closed(sock: socket.socket, within: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed it (monotonic)."""
    sock.settimeout(0.1)
    received, deadline = b"", time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return received, time.monotonic()
        if not chunk:
            return received, time.monotonic()
        received += chunk
    raise AssertionError(f"the server kept the connection open for {within} s; it sent {received[:200]!r}")


def _read_response(sock: socket.socket) -> bytes:
    """One whole response on a kept-alive connection (its head, then content-length bytes)."""
    sock.settimeout(5)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a whole response: {received!r}"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                  if line.startswith(b"content-length:"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a whole response: {received!r}"
        body += chunk
    return head + b"\r\n\r\n" + body


def _get_healthz(server: ServerThread) -> tuple[bytes, float]:
    started = time.monotonic()
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n")
        answer, _ = _read_until_closed(sock, 10)
    return answer, time.monotonic() - started


def _post_webhook(server: ServerThread, body: bytes) -> tuple[bytes, float]:
    started = time.monotonic()
    with _connect(server) as sock:
        sock.sendall(b"POST /webhooks/bordeaux/recv HTTP/1.1\r\nHost: hub\r\nX-Signature: good\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        answer, _ = _read_until_closed(sock, 10)
    return answer, time.monotonic() - started


def _lines(stream: object) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:  # type: ignore[attr-defined]
            lines.put(line.strip())
        lines.put("eof")
    threading.Thread(target=pump, daemon=True).start()
    return lines


STALL = {"max_connections": 512, "header_timeout": 3.0}  # the deadline outlasts the flood: the cap stays full


@pytest.mark.parametrize("receiving", [STALL], indirect=True)
def test_stalled_sockets_neither_starve_a_webhook_nor_exhaust_open_files(receiving: tuple[ServerThread, Hub],
                                                                         ) -> None:
    server, hub = receiving
    cap, header_timeout = STALL["max_connections"], STALL["header_timeout"]
    count = _stall_count()
    assert count >= 2 * cap
    connections = server.server.server_state.connections
    answer, calm = _post_webhook(server, b"calm")  # the same request before the flood (sets the lane up)
    assert answer.startswith(b"HTTP/1.1 200"), answer
    before = peak = _open_files()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, server.host, str(server.port), str(count)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = _lines(holder.stdout)
    during: list[float] = []
    try:
        deadline = time.monotonic() + 120
        while True:  # valid requests all through the flood, the open files sampled in between
            peak = max(peak, _open_files())
            try:
                line = lines.get(timeout=0.02)  # paced: the flood, not this loop, should load the receiver
            except queue.Empty:
                line = ""
            if line.startswith("held") or line == "eof":
                break
            assert time.monotonic() < deadline, "the holder did not open its sockets in 120 s"
            answer, elapsed = _get_healthz(server)
            assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'{"ok":true}'), answer  # never shed
            during.append(elapsed)
        assert line.startswith("held"), holder.stderr.read() if holder.stderr else ""
        flood_seconds = float(line.split()[2])
        # the cap is full of stalled sockets now: valid requests are answered at once, a signed webhook stored
        full = len(connections)
        assert full >= cap * 9 // 10
        held: list[float] = []
        for _ in range(20):
            answer, elapsed = _get_healthz(server)
            assert answer.startswith(b"HTTP/1.1 200"), answer
            held.append(elapsed)
            peak = max(peak, _open_files())
        answer, webhook = _post_webhook(server, b"valid")
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"ok"), answer
        assert sorted(e.source_id for e in hub.store.list_events()) == ["calm", "valid"]
        settled = _open_files()

        assert holder.stdin is not None
        holder.stdin.write(f"watch {header_timeout + 10}\n")
        holder.stdin.flush()
        line = lines.get(timeout=header_timeout + 30)
        still_open, closed_after = int(line.split()[1]), float(line.split()[2])
    finally:
        holder.kill()
        holder.wait(timeout=10)
    held.sort()
    backlog = WebLimits(max_connections=cap).backlog()
    print(f"\n{count} stalled sockets opened in {flood_seconds} s, cap {cap}, backlog {backlog}; "
          f"{len(during)} /healthz during the flood: median {sorted(during)[len(during) // 2] * 1000:.1f} ms, "
          f"max {max(during) * 1000:.1f} ms; with {full} stalled connections held: /healthz median "
          f"{held[10] * 1000:.1f} ms, max {held[-1] * 1000:.1f} ms, signed webhook stored {webhook * 1000:.1f} ms "
          f"(before the flood: {calm * 1000:.1f} ms); "
          f"open files {before} -> peak {peak}, settled {settled}; "
          f"stalled sockets all closed {closed_after} s after the last was opened ({still_open} left)")
    assert held[-1] < 1.0 and webhook < 2.0  # the goal is 100 ms: generous for a loaded CI machine (printed)
    assert settled - before <= cap + 16
    assert peak - before <= cap + 4 * backlog + 32
    assert still_open == 0 and closed_after < header_timeout + 5


def test_a_trickled_body_gets_408_and_nothing_is_stored(receiving: tuple[ServerThread, Hub],
                                                         caplog: pytest.LogCaptureFixture) -> None:
    server, hub = receiving
    caplog.set_level(logging.INFO)
    with _connect(server) as sock:
        sock.sendall(b"POST /webhooks/bordeaux/recv HTTP/1.1\r\nHost: hub\r\nX-Signature: good\r\n"
                     b"Content-Length: 1000\r\n\r\n")
        started, answer = time.monotonic(), b""
        sock.settimeout(0.1)
        while not answer and time.monotonic() < started + BODY_TIMEOUT + 10:  # one byte a tenth of a second
            try:
                sock.sendall(b"x")
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert BODY_TIMEOUT * 0.9 <= waited < BODY_TIMEOUT + 5  # the trickle did not push the deadline back
    assert hub.store.list_events() == []
    deadline = time.monotonic() + 5
    while not any(r.getMessage() == "webhook refused" for r in caplog.records):  # the handler's side ends
        assert time.monotonic() < deadline
        time.sleep(0.02)
    refused = next(r for r in caplog.records if r.getMessage() == "webhook refused")
    assert (refused.status, refused.client) == (408, "127.0.0.1")  # type: ignore[attr-defined]
    assert not [r for r in caplog.records if r.exc_info], "no traceback for a slow client"


def test_headers_trickled_on_a_kept_alive_connection_are_cut_at_the_deadline(
        receiving: tuple[ServerThread, Hub]) -> None:
    server, _ = receiving
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
        assert _read_response(sock).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        sock.settimeout(0.1)
        closed = False
        for byte in b"GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Slow: " + b"a" * 1000:  # a byte a tenth of a second
            try:
                sock.sendall(bytes([byte]))
                closed = sock.recv(65536) == b""
            except TimeoutError:
                continue
            except OSError:
                closed = True
            if closed or time.monotonic() > started + HEADER_TIMEOUT + 5:
                break
        waited = time.monotonic() - started
    assert closed, "uvicorn alone disarms its keep-alive timer at the first byte and waits for ever"
    assert HEADER_TIMEOUT * 0.9 <= waited < HEADER_TIMEOUT + 5


def test_keep_alive_is_bounded_in_time_and_in_requests(receiving: tuple[ServerThread, Hub]) -> None:
    server, hub = receiving
    keep_alive = hub.config.hub.webhooks.keep_alive
    with _connect(server) as sock:  # idle after one answer: closed after keep_alive
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
        started = time.monotonic()
        answer, closed_at = _read_until_closed(sock, keep_alive + 5)
        assert answer.startswith(b"HTTP/1.1 200") and b"connection: close" not in answer.lower()
        assert keep_alive * 0.9 <= closed_at - started < keep_alive + 5
    with _connect(server) as sock:  # busy: the third answer says close, and closes
        answers = []
        for _ in range(3):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
            answers.append(_read_response(sock))
        assert [a.startswith(b"HTTP/1.1 200") for a in answers] == [True, True, True], answers
        assert [b"connection: close" in a.lower() for a in answers] == [False, False, True]
        sock.settimeout(5)
        assert sock.recv(65536) == b""


@pytest.mark.parametrize("receiving", [{"max_connections": 8}], indirect=True)
def test_webhooks_in_progress_are_never_shed_a_newcomer_beyond_them_gets_503(receiving: tuple[ServerThread, Hub],
                                                                             receiver: Receiver) -> None:
    server, hub = receiving
    busy = [_connect(server) for _ in range(8)]
    try:
        for number, sock in enumerate(busy):
            body = b"block-%d" % number
            sock.sendall(b"POST /webhooks/bordeaux/recv HTTP/1.1\r\nHost: hub\r\nX-Signature: good\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        deadline = time.monotonic() + 10
        while len(receiver.blocked) < 8:
            assert time.monotonic() < deadline, receiver.blocked
            time.sleep(0.01)
        with _connect(server) as sock:
            answer, _ = _read_until_closed(sock, 5)
        assert answer.startswith(b"HTTP/1.1 503"), answer
    finally:
        receiver.release.set()
    for sock in busy:
        with sock:
            answer, _ = _read_until_closed(sock, 10)
            assert answer.startswith(b"HTTP/1.1 200"), answer
    assert len(hub.store.list_events()) == 8


def test_refused_webhooks_are_logged_with_reason_and_sender(receiving: tuple[ServerThread, Hub],
                                                            caplog: pytest.LogCaptureFixture) -> None:
    server, _ = receiving
    caplog.set_level(logging.INFO, logger="hub.webhooks")
    for path, headers in (("/webhooks/nowhere/recv", b""), ("/webhooks/bordeaux/recv", b"X-Signature: forged\r\n")):
        with _connect(server) as sock:
            sock.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: hub\r\nContent-Length: 6\r\n" + headers
                         + b"Connection: close\r\n\r\nsecret")
            _read_until_closed(sock, 10)
    refused = [r for r in caplog.records if r.getMessage() == "webhook refused"]
    seen = [(r.levelno, r.status, r.reason, r.client) for r in refused]  # type: ignore[attr-defined]
    assert seen == [(logging.INFO, 404, "no such branch or plugin", "127.0.0.1"),
                    (logging.WARNING, 401, "refused by the plugin's handler", "127.0.0.1")]
    assert not any("secret" in str(vars(r)) or "forged" in str(vars(r)) or "nowhere" in str(vars(r))
                   for r in refused)


def test_limits_are_checked_like_any_setting(tmp_path: Path) -> None:
    (tmp_path / "branches").mkdir()
    (tmp_path / "branches" / "lyon.toml").write_text('name = "Lyon"\n', encoding="utf-8")
    (tmp_path / "hub.toml").write_text('[webhooks]\nheader_timeout = "soon"\nmax_connections = 2\n',
                                       encoding="utf-8")
    problems = load_config(tmp_path, {}, environ={}, strict=False).problems
    assert sorted((Path(p.file).name, p.key) for p in problems) == [
        ("hub.toml", "webhooks.header_timeout"), ("hub.toml", "webhooks.max_connections")]
    assert all("\n" not in p.render() for p in problems)


def test_the_open_files_limit_is_raised_within_the_hard_limit_and_never_lowered() -> None:
    script = ("import resource\nfrom hub.web_limits import raise_open_files_limit\n"
              "_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
              "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
              "print(raise_open_files_limit(1024)[0], raise_open_files_limit(512)[0],"
              " resource.getrlimit(resource.RLIMIT_NOFILE)[0], hard)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    raised, again, now, hard = (int(n) for n in done.stdout.split())
    assert raised == again == now == (1024 if hard == resource.RLIM_INFINITY else min(1024, hard)), done.stderr
