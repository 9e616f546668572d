"""flipgen.transport.KeepAliveTransport, fuzzed over real sockets on 127.0.0.1.

A tiny TCP server answers each connection with bytes hypothesis chose. Whatever comes back
(malformed status lines, odd headers, broken chunked framing, early closes), the transport
either returns the answer, with exactly the body that was framed, or raises an
``httpx.TransportError``; nothing else escapes, and it never hangs.
"""

from __future__ import annotations

import asyncio
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flipgen.transport import KeepAliveTransport

TIMEOUTS = {"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0}
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class ScriptedServer:
    """Each accepted connection runs ``script(conn)`` on its own thread; counts connections."""

    def __init__(self, script: Callable[[socket.socket], None]) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self.script = script
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                self.script(conn)
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()


class RawServer(ScriptedServer):
    """Answers each connection's request with the next queued bytes, then closes it."""

    def __init__(self) -> None:
        self.answers: queue.Queue[bytes] = queue.Queue()
        super().__init__(self._answer)

    def _answer(self, conn: socket.socket) -> None:
        conn.recv(65536)
        try:
            conn.sendall(self.answers.get(timeout=2))
        except queue.Empty:
            pass


@pytest.fixture(scope="module")
def server() -> Iterator[RawServer]:
    srv = RawServer()
    yield srv
    srv.close()


def exchange(server: RawServer, answer: bytes) -> httpx.Response | httpx.TransportError:
    server.answers.put(answer)

    async def go() -> httpx.Response | httpx.TransportError:
        transport = KeepAliveTransport()
        request = httpx.Request(
            "POST", f"http://127.0.0.1:{server.port}/v1/users", content=b"{}", extensions={"timeout": TIMEOUTS}
        )
        try:
            response = await transport.handle_async_request(request)
            await response.aread()
            return response
        except httpx.TransportError as exc:
            return exc
        finally:
            await transport.aclose()

    return asyncio.run(asyncio.wait_for(go(), 10))


def chunked(body: bytes, sizes: list[int]) -> bytes:
    out, rest = b"", body
    for size in sizes:
        piece, rest = rest[:size], rest[size:]
        if piece:
            out += b"%x\r\n%s\r\n" % (len(piece), piece)
    if rest:
        out += b"%x\r\n%s\r\n" % (len(rest), rest)
    return out + b"0\r\n\r\n"


@FUZZ
@given(answer=st.binary(max_size=400))
def test_arbitrary_bytes_never_escape_as_anything_but_a_transport_error(server: RawServer, answer: bytes) -> None:
    result = exchange(server, answer)
    assert isinstance(result, httpx.Response | httpx.TransportError)


def no_eol(data: bytes) -> bool:
    return b"\r" not in data and b"\n" not in data


@FUZZ
@given(
    version=st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2", b"HTTP/1.x", b"http/1.1", b"", b"HTTP/1.1 "]),
    status=st.one_of(st.integers(-5, 1200).map(lambda n: str(n).encode()), st.binary(max_size=5).filter(no_eol)),
    # A line break in the reason would end the head early: then the "body" is legitimately different.
    reason=st.binary(max_size=30).filter(no_eol),
)
def test_malformed_status_lines(server: RawServer, version: bytes, status: bytes, reason: bytes) -> None:
    answer = version + b" " + status + b" " + reason + b"\r\nContent-Length: 2\r\n\r\nok"
    result = exchange(server, answer)
    if isinstance(result, httpx.Response):
        # 204 and 304 answers have no body by definition: the two bytes are not theirs.
        assert 200 <= result.status_code <= 999
        assert result.content == (b"" if result.status_code in (204, 304) else b"ok")
    else:
        assert isinstance(result, httpx.TransportError)


header_name = st.binary(min_size=0, max_size=20)
header_value = st.binary(max_size=60)


@FUZZ
@given(headers=st.lists(st.tuples(header_name, header_value), max_size=6), body=st.binary(max_size=100))
def test_odd_header_lines(server: RawServer, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    lines = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    answer = b"HTTP/1.1 200 OK\r\n" + lines + b"Content-Length: %d\r\n\r\n" % len(body) + body
    result = exchange(server, answer)
    assert isinstance(result, httpx.Response | httpx.TransportError)
    if isinstance(result, httpx.Response):
        assert result.status_code == 200


@FUZZ
@given(body=st.binary(max_size=2000), sizes=st.lists(st.integers(1, 300), max_size=10))
def test_chunked_bodies_arrive_whole(server: RawServer, body: bytes, sizes: list[int]) -> None:
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(body, sizes)
    result = exchange(server, answer)
    assert isinstance(result, httpx.Response) and result.content == body


@FUZZ
@given(
    body=st.binary(min_size=1, max_size=500),
    sizes=st.lists(st.integers(1, 100), max_size=5),
    cut=st.integers(0, 600),
    junk=st.binary(max_size=10),
)
def test_broken_chunked_framing_is_an_error_never_a_wrong_body(
    server: RawServer, body: bytes, sizes: list[int], cut: int, junk: bytes
) -> None:
    framed = chunked(body, sizes)
    broken = framed[: cut % len(framed)] + junk
    result = exchange(server, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + broken)
    if not junk:  # a framing cut short, then the connection closed: never a (short) body
        assert isinstance(result, httpx.RemoteProtocolError)
    else:  # junk may happen to complete the framing; either way nothing but these escapes
        assert isinstance(result, httpx.Response | httpx.TransportError)


@FUZZ
@given(body=st.binary(max_size=1000), declared=st.integers(0, 1200))
def test_content_length_shorter_or_longer_than_the_body(server: RawServer, body: bytes, declared: int) -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % declared + body
    result = exchange(server, answer)
    if declared <= len(body):
        assert isinstance(result, httpx.Response) and result.content == body[:declared]
    else:  # the server closed before the declared length arrived
        assert isinstance(result, httpx.RemoteProtocolError)


def test_an_answer_over_the_size_cap_is_refused(server: RawServer) -> None:
    body = b"x" * (1024 * 1024 + 1)
    result = exchange(server, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    assert isinstance(result, httpx.RemoteProtocolError)


# --------------------------------------------------------------------------- the pool itself

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def send_all(port: int, count: int, transport: KeepAliveTransport, timeouts: dict[str, float] = TIMEOUTS) -> list[Any]:
    url = httpx.URL(f"http://127.0.0.1:{port}/v1/users")
    head = ((b"Host", url.netloc), (b"Content-Length", b"2"))

    async def one() -> Any:
        try:
            return await transport.send("POST", url, head, b"{}", timeouts)
        except httpx.TransportError as exc:
            return exc

    async def go() -> list[Any]:
        try:
            return await asyncio.gather(*(one() for _ in range(count)))
        finally:
            await transport.aclose()

    return asyncio.run(asyncio.wait_for(go(), 20))


def keep_answering(conn: socket.socket) -> None:
    while conn.recv(65536):
        conn.sendall(OK)


def test_sequential_requests_share_one_kept_alive_connection() -> None:
    server = ScriptedServer(keep_answering)
    transport = KeepAliveTransport()
    url = httpx.URL(f"http://127.0.0.1:{server.port}/")

    async def go() -> list[bytes]:
        out = [(await transport.send("GET", url, ((b"Host", url.netloc),), b"", TIMEOUTS)).content for _ in range(5)]
        await transport.aclose()
        return out

    try:
        assert asyncio.run(go()) == [b"ok"] * 5
        assert server.accepted == 1
    finally:
        server.close()


def test_a_full_pool_hands_slots_over_in_turn() -> None:
    """One connection allowed, five requests at once: each waits for the slot, all succeed on it."""
    server = ScriptedServer(keep_answering)
    try:
        answers = send_all(server.port, 5, KeepAliveTransport(max_connections=1))
        assert [a.content for a in answers] == [b"ok"] * 5
        assert server.accepted == 1
    finally:
        server.close()


def test_waiting_for_a_slot_past_the_pool_timeout_is_a_pool_timeout() -> None:
    def slow(conn: socket.socket) -> None:
        conn.recv(65536)
        time.sleep(0.6)
        conn.sendall(OK)

    server = ScriptedServer(slow)
    try:
        timeouts = {**TIMEOUTS, "pool": 0.2}
        answers = send_all(server.port, 2, KeepAliveTransport(max_connections=1), timeouts)
        assert sum(isinstance(a, httpx.PoolTimeout) for a in answers) == 1
        assert [a.content for a in answers if not isinstance(a, Exception)] == [b"ok"]
    finally:
        server.close()


def test_no_answer_within_the_read_timeout_is_a_read_timeout() -> None:
    server = ScriptedServer(lambda conn: (conn.recv(65536), time.sleep(2)))
    try:
        started = time.monotonic()
        (answer,) = send_all(server.port, 1, KeepAliveTransport(), {**TIMEOUTS, "read": 0.3})
        assert isinstance(answer, httpx.ReadTimeout)
        assert time.monotonic() - started < 1.5
    finally:
        server.close()


def test_a_server_that_closes_at_once_is_a_transport_error() -> None:
    """Accepted, then closed before the request: an httpx error, never a RuntimeError from the loop."""
    server = ScriptedServer(lambda conn: conn.shutdown(socket.SHUT_RDWR))
    try:
        answers = send_all(server.port, 3, KeepAliveTransport())
        assert all(isinstance(a, httpx.TransportError) for a in answers), answers
    finally:
        server.close()


def test_bytes_nobody_asked_for_retire_the_connection() -> None:
    """A server that sends an extra answer after the real one: that connection is not reused,
    so the stray bytes can never be taken for the next request's answer."""

    def chatty(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(OK)
        time.sleep(0.1)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray")
        keep_answering(conn)

    server = ScriptedServer(chatty)
    transport = KeepAliveTransport()
    url = httpx.URL(f"http://127.0.0.1:{server.port}/")

    async def go() -> list[bytes]:
        first = await transport.send("GET", url, ((b"Host", url.netloc),), b"", TIMEOUTS)
        await asyncio.sleep(0.3)
        second = await transport.send("GET", url, ((b"Host", url.netloc),), b"", TIMEOUTS)
        await transport.aclose()
        return [first.content, second.content]

    try:
        assert asyncio.run(go()) == [b"ok", b"ok"]
        assert server.accepted == 2
    finally:
        server.close()
