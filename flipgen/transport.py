"""A lean HTTP/1.1 keep-alive pool behind httpx's transport interface (http and https).

httpcore's pool rescans every connection, with socket syscalls, several times per request
(encode/httpx#3215); under 32 concurrent requests that capped a token-server worker near
600 req/s. This pool keeps a LIFO stack of idle connections per origin behind a semaphore:
O(1) per request. HTTP itself is spoken by **h11** (framing, chunked bodies, keep-alive
rules); this module only moves bytes, applies the timeouts and recycles connections.

Each connection is an `asyncio.Protocol` that feeds h11 as bytes arrive and resolves one future
per answer, under one timer: asyncio's streams, `asyncio.timeout` contexts and a Semaphore cost
a token-server worker about 7 % of its CPU per mint (one worker under wrk). Bytes that arrive when no
request is waiting retire the connection, so they can never pass for the next answer.

A reused connection that fails before any byte of the answer arrived was closed by the
server while idle; the request is then sent once more on a fresh connection.

`KeepAliveTransport.send` is the core: method, URL, raw headers and body in, an `Answer` (status,
raw headers, body) out, errors as httpx's exceptions. `handle_async_request` wraps it for httpx.
The Smile client calls `send` directly: building and reading httpx's Request and Response
objects cost a quarter of a token mint's upstream call (benchmarks/token_bench.py).
"""

from __future__ import annotations

import asyncio
import collections
import socket
import ssl
import time
from collections.abc import Mapping
from typing import NamedTuple, cast

import h11
import httpx

__all__ = ["Answer", "KeepAliveTransport", "RawHeaders"]

# Smile answers a few hundred bytes; anything this large is not an answer we can use.
MAX_RESPONSE = 1024 * 1024

Origin = tuple[str, str, int]
RawHeaders = tuple[tuple[bytes, bytes], ...]


class Answer(NamedTuple):
    """A whole HTTP answer: status, raw headers and body."""

    status: int
    headers: list[tuple[bytes, bytes]]
    content: bytes

    def header(self, name: bytes) -> str | None:
        """The first value of header ``name`` (lowercase), or None."""
        for key, value in self.headers:
            if key.lower() == name:
                return value.decode("latin-1")
        return None


class _Connection(asyncio.Protocol):
    """One connection: h11 parses the answer as its bytes arrive (`data_received`), and the
    exchange waiting on ``waiter`` gets the whole `Answer` or the error."""

    __slots__ = ("transport", "protocol", "idle_until", "waiter", "received", "status", "headers", "chunks", "size")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.protocol = h11.Connection(our_role=h11.CLIENT, max_incomplete_event_size=16 * 1024)
        self.idle_until = 0.0
        self.waiter: asyncio.Future[Answer] | None = None
        self.received = False  # a byte of the current answer arrived
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.size = 0

    @property
    def usable(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def expect(self, waiter: asyncio.Future[Answer]) -> None:
        """The next bytes are the answer ``waiter`` waits for."""
        self.waiter, self.received, self.status, self.headers, self.chunks, self.size = waiter, False, 0, [], [], 0

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        self.received = True
        self.protocol.receive_data(data)
        self._parse()

    def eof_received(self) -> bool:
        if not self.received:
            self._fail(_StaleConnection())
        else:
            self.protocol.receive_data(b"")
            self._parse()  # completes a close-delimited body, else the answer ended early
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.received:
            self._fail(_StaleConnection())
        else:
            self._fail(httpx.ReadError(f"connection lost: {type(exc).__name__ if exc else 'closed'}"))

    def _fail(self, exc: Exception) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _parse(self) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():  # bytes nobody asked for: never reuse this connection
            self.close()
            return
        protocol = self.protocol
        try:
            while True:
                event = protocol.next_event()
                if event is h11.NEED_DATA:
                    return
                if isinstance(event, h11.Response):
                    self.status, self.headers = event.status_code, list(event.headers)
                elif isinstance(event, h11.Data):
                    self.size += len(event.data)
                    if self.size > MAX_RESPONSE:
                        raise ValueError(f"answer body over {MAX_RESPONSE} bytes")
                    self.chunks.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    waiter.set_result(Answer(self.status, self.headers, b"".join(self.chunks)))
                    return
                elif not isinstance(event, h11.InformationalResponse):  # ConnectionClosed, PAUSED
                    raise h11.RemoteProtocolError(f"connection ended mid-answer ({type(event).__name__})")
        except (h11.ProtocolError, ValueError) as exc:
            waiter.set_exception(httpx.RemoteProtocolError(f"malformed HTTP answer: {exc}"))
            self.close()


class _StaleConnection(Exception):
    """A kept-alive connection died before the server sent a single byte back."""


class _Slots:
    """At most ``limit`` exchanges at once, first come first served. asyncio.Semaphore does the
    same, but its `locked()` builds a generator on every acquire; here a free slot costs an
    integer comparison, and only a full pool pays for a future."""

    def __init__(self, limit: int) -> None:
        self.free = limit
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def acquire(self, timeout: float | None) -> None:
        if self.free > 0 and not self.waiters:
            self.free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter  # `release` handed its slot over
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot just as we gave up: pass it on
            else:
                waiter.cancel()
            raise

    def release(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1


class KeepAliveTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 keep-alive pool: one request per connection at a time, idle ones reused LIFO."""

    def __init__(
        self,
        *,
        max_connections: int = 100,
        keepalive_expiry: float = 4.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.max_connections = max_connections
        self.keepalive_expiry = keepalive_expiry
        self._idle: dict[Origin, list[_Connection]] = {}
        self._slots = _Slots(max_connections)
        self._ssl = ssl_context

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        try:
            answer = await self.send(request.method, request.url, tuple(request.headers.raw), request.content, timeouts)
        except httpx.RequestError as exc:
            exc.request = request
            raise
        # Built with its body already read: callers' `aread()` costs nothing.
        return httpx.Response(answer.status, headers=answer.headers, content=answer.content, request=request)

    async def send(
        self, method: str, url: httpx.URL, headers: RawHeaders, body: bytes, timeouts: Mapping[str, float | None]
    ) -> Answer:
        """One exchange: ``headers`` must hold Host (and Content-Length when there is a body);
        ``timeouts`` as httpx's: connect, read, write, pool (seconds, or None for no limit)."""
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        head = _request_head(method, url.raw_path, headers)
        try:
            await self._slots.acquire(timeouts.get("pool"))
        except TimeoutError:
            raise httpx.PoolTimeout("no free connection in the pool") from None
        try:
            conn = self._reuse(origin)
            if conn is not None:
                try:
                    return await self._exchange(conn, origin, head, body, timeouts)
                except _StaleConnection:
                    pass
            conn = await self._connect(origin, timeouts.get("connect"))
            try:
                return await self._exchange(conn, origin, head, body, timeouts)
            except _StaleConnection:
                raise httpx.RemoteProtocolError("server disconnected without sending a response") from None
        finally:
            self._slots.release()

    def _reuse(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if conn.idle_until > now and conn.usable:
                return conn
            conn.close()
        return None

    async def _connect(self, origin: Origin, timeout: float | None) -> _Connection:
        scheme, host, port = origin
        tls: ssl.SSLContext | None = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context(cafile=_certifi_where())
            tls = self._ssl
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(
                    _Connection, host, port, ssl=tls, server_hostname=host if tls else None
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
        assert conn.transport is not None
        sock = conn.transport.get_extra_info("socket")
        if sock is not None:
            # Head and body go out in one write, but never let Nagle hold back a request.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    async def _exchange(
        self, conn: _Connection, origin: Origin, head: h11.Request, body: bytes, timeouts: Mapping[str, float | None]
    ) -> Answer:
        """Send on ``conn`` and wait for the answer, within the read timeout (plus the write
        timeout if the request could not all go to the kernel at once): one timer, not two."""
        transport = conn.transport
        if transport is None or transport.is_closing():  # closed by the server since it was opened
            raise _StaleConnection
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Answer] = loop.create_future()
        conn.expect(waiter)
        reusable = False
        try:
            transport.write(_request_bytes(conn.protocol, head, body))
            limit = timeouts.get("read")
            if limit is not None and transport.get_write_buffer_size():
                limit += timeouts.get("write") or 0.0
            timer = None if limit is None else loop.call_later(limit, _expire, waiter)
            try:
                answer = await waiter
            finally:
                if timer is not None:
                    timer.cancel()
            protocol = conn.protocol
            reusable = protocol.our_state is h11.DONE and protocol.their_state is h11.DONE and conn.usable
            if reusable:
                protocol.start_next_cycle()
            return answer
        except (h11.ProtocolError, ValueError) as exc:  # our own request did not fit HTTP
            raise httpx.RemoteProtocolError(f"malformed HTTP exchange: {exc}") from None
        finally:
            conn.waiter = None
            if reusable:
                conn.idle_until = time.monotonic() + self.keepalive_expiry
                self._idle.setdefault(origin, []).append(conn)
            else:
                conn.close()

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()


def _expire(waiter: asyncio.Future[Answer]) -> None:
    if not waiter.done():
        waiter.set_exception(httpx.ReadTimeout("no answer in time"))


# h11 validates every header of an event when it is built (a regex per header, a third of the
# cost of a request). The Smile client sends the same few heads over and over (only the
# Content-Length varies), and an event is immutable: build each distinct head once.
_HEADS: dict[tuple[str, bytes, RawHeaders], h11.Request] = {}
MAX_HEADS = 256


def _request_head(method: str, target: bytes, headers: RawHeaders) -> h11.Request:
    key = (method, target, headers)
    event = _HEADS.get(key)
    if event is None:
        if len(_HEADS) >= MAX_HEADS:
            _HEADS.clear()
        event = _HEADS[key] = h11.Request(method=method, target=target, headers=list(headers))
    return event


def _request_bytes(protocol: h11.Connection, event: h11.Request, body: bytes) -> bytes:
    head = protocol.send(event)
    data = protocol.send(h11.Data(data=body)) if body else b""
    end = protocol.send(h11.EndOfMessage())
    return (head or b"") + (data or b"") + (end or b"")


def _certifi_where() -> str | None:
    try:
        import certifi
    except ImportError:  # pragma: no cover - httpx depends on certifi
        return None
    return str(certifi.where())
