"""A lean HTTP/1.1 keep-alive pool behind httpx's transport interface (http and https).

httpcore's pool rescans every connection, with socket syscalls, several times per request
(encode/httpx#3215); under 32 concurrent requests that capped a token-server worker near
600 req/s. This pool keeps a LIFO stack of idle connections per origin behind a semaphore:
O(1) per request. HTTP itself is spoken by **h11** (framing, chunked bodies, keep-alive
rules); this module only moves bytes, applies the timeouts and recycles connections.

A reused connection that fails before any byte of the answer arrived was closed by the
server while idle; the request is then sent once more on a fresh connection.

`KeepAliveTransport.send` is the core: method, URL, raw headers and body in, an `Answer` (status,
raw headers, body) out, errors as httpx's exceptions. `handle_async_request` wraps it for httpx.
The Smile client calls `send` directly: building and reading httpx's Request and Response
objects cost a quarter of a token mint's upstream call (benchmarks/token_bench.py).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Mapping
from typing import NamedTuple

import h11
import httpx

__all__ = ["Answer", "KeepAliveTransport", "RawHeaders"]

READ_SIZE = 65536
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


class _Connection:
    __slots__ = ("reader", "writer", "protocol", "idle_until")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.protocol = h11.Connection(our_role=h11.CLIENT, max_incomplete_event_size=16 * 1024)
        self.idle_until = 0.0

    def close(self) -> None:
        self.writer.close()


class _StaleConnection(Exception):
    """A kept-alive connection died before the server sent a single byte back."""


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
        self._slots: asyncio.Semaphore | None = None
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
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_connections)
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                await self._slots.acquire()
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
            if conn.idle_until > now and not conn.reader.at_eof():
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
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=tls, server_hostname=host if tls else None
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # Head and body go out in one write, but never let Nagle hold back a request.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _Connection(reader, writer)

    async def _exchange(
        self, conn: _Connection, origin: Origin, head: h11.Request, body: bytes, timeouts: Mapping[str, float | None]
    ) -> Answer:
        reusable = False
        received = False
        try:
            conn.writer.write(_request_bytes(conn.protocol, head, body))
            transport = conn.writer.transport
            # A few hundred bytes usually go to the kernel at once: wait only for what did not.
            if transport.get_write_buffer_size() or transport.is_closing():
                async with asyncio.timeout(timeouts.get("write")):
                    await conn.writer.drain()
            async with asyncio.timeout(timeouts.get("read")):
                status, headers, content, received = await _read_response(conn)
            protocol = conn.protocol
            reusable = protocol.our_state is h11.DONE and protocol.their_state is h11.DONE
            if reusable:
                protocol.start_next_cycle()
            return Answer(status, headers, content)
        except _StaleConnection:
            raise
        except TimeoutError:
            raise httpx.ReadTimeout("no answer in time") from None
        except (h11.ProtocolError, ValueError) as exc:
            raise httpx.RemoteProtocolError(f"malformed HTTP answer: {exc}") from None
        except OSError as exc:  # resets, broken pipes, TLS errors
            if not received and isinstance(exc, ConnectionResetError | BrokenPipeError):
                raise _StaleConnection from None
            raise httpx.ReadError(f"connection lost: {type(exc).__name__}") from None
        finally:
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


async def _read_response(conn: _Connection) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
    """Status, headers and body of the next answer; whether any byte of it arrived."""
    protocol = conn.protocol
    received = False
    status = 0
    headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []
    size = 0
    while True:
        event = protocol.next_event()
        if event is h11.NEED_DATA:
            data = await conn.reader.read(READ_SIZE)
            if not data and not received:
                raise _StaleConnection
            received = received or bool(data)
            protocol.receive_data(data)
        elif isinstance(event, h11.InformationalResponse):
            continue
        elif isinstance(event, h11.Response):
            status, headers = event.status_code, list(event.headers)
        elif isinstance(event, h11.Data):
            size += len(event.data)
            if size > MAX_RESPONSE:
                raise ValueError(f"answer body over {MAX_RESPONSE} bytes")
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            return status, headers, b"".join(chunks), received
        else:  # ConnectionClosed or PAUSED: the answer did not complete
            raise h11.RemoteProtocolError(f"connection ended mid-answer ({type(event).__name__})")


def _certifi_where() -> str | None:
    try:
        import certifi
    except ImportError:  # pragma: no cover - httpx depends on certifi
        return None
    return str(certifi.where())
