"""A fast stand-in for Smile's Open API, for benchmarks only (correctness tests use the
contract-checking fake in ``tests/support/fake_smile.py``).

It must never be the bottleneck, so it does the least a real upstream does: parse HTTP/1.1
with httptools (keep-alive, pipelining-safe), check Basic auth, and answer canned envelopes:
``POST …/users`` → 201 ``{user, token}``, ``POST …/tokens`` → 201 token; anything else 404.

    python benchmarks/fast_upstream.py PORT [KEY SECRET]
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import typing
from typing import Any

import httptools
import uvloop

TOKEN = {"id": "tk-bench", "expiresAt": "2030-01-01T00:00:00Z", "mode": "SANDBOX", "accessToken": "at-bench"}
USER = {
    "id": "tenant-bench",
    "externalMetadata": {},
    "createdAt": "2026-01-01T00:00:00Z",
    "providers": [],
    "session": {"userId": "tenant-bench", "channel": "Default", "status": "IN_PROGRESS"},
}


def answer(status: str, code: str, data: Any) -> bytes:
    body = json.dumps({"code": code, "message": "Success", "requestId": "req-bench", "data": data}).encode()
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


USERS = answer("201 Created", "OK", {"user": USER, "token": TOKEN})
TOKENS = answer("201 Created", "OK", TOKEN)
DENIED = answer("401 Unauthorized", "INVALID_CREDENTIALS", {})
MISSING = answer("404 Not Found", "MISSING_RESOURCE", {})


class Upstream(asyncio.Protocol):
    def __init__(self, auth: bytes) -> None:
        self.auth = auth
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.authorized = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url, self.authorized = b"", False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"authorization":
            self.authorized = value == self.auth

    def on_message_complete(self) -> None:
        assert self.transport is not None
        path = self.url.split(b"?", 1)[0]
        if not self.authorized:
            self.transport.write(DENIED)
        elif self.parser.get_method() == b"POST" and path.endswith(b"/users"):
            self.transport.write(USERS)
        elif self.parser.get_method() == b"POST" and path.endswith(b"/tokens"):
            self.transport.write(TOKENS)
        else:
            self.transport.write(MISSING)
        if not self.parser.should_keep_alive():
            self.transport.close()


async def serve(port: int, key: str, secret: str) -> None:
    auth = b"Basic " + base64.b64encode(f"{key}:{secret}".encode())
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Upstream(auth), "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9001
    key, secret = (sys.argv[2], sys.argv[3]) if len(sys.argv) > 3 else ("key", "secret")
    uvloop.run(serve(port, key, secret))
