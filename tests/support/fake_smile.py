"""A contract-checking fake of the Smile Open API on 127.0.0.1, for tests.

A real threaded HTTP/1.1 server (keep-alive) that answers the endpoints listed in
``tests/support/smile_contract.py`` like Smile: users and link tokens, invites, invite
templates and webhooks, with in-memory state, Basic auth, Smile's envelope and realistic ids.
Every request is checked against that contract (auth, method, path, query, Content-Type,
body); anything off is recorded in ``violations`` and answered 400 ``INVALID_PARAMETERS``,
and tests assert the list stays empty. The fake also checks its own answers against the
contract, so it cannot drift into answering what Smile never would.

Scripting: ``fail_next(...)`` replaces the next answers (optionally only on one path) with a
fault: a status and code, a ``Retry-After``, a delay or a raw body. ``limit_per_second``
turns on Smile's rate limit (429 ``REQUEST_LIMIT_EXCEEDED`` with ``Retry-After: 1``).
``requests`` logs every request with a monotonic timestamp; ``of(path)`` and ``times(path)``
read it per path (e.g. to measure the rate at which invites were sent).
"""

from __future__ import annotations

import datetime as dt
import ssl
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from tests.support import fake_smile_http
from tests.support import smile_contract as contract
from tests.support.fake_smile_http import BASE_PATH, Recorded

__all__ = ["FakeSmile", "Fault", "Recorded", "BASE_PATH", "SAMPLE_TEMPLATE"]


@dataclass
class Fault:
    """What to do instead of a normal answer, for one request (on ``path`` only, when set)."""

    status: int | None = None
    code: str | None = None
    retry_after: str | None = None
    hang: float | None = None  # seconds to wait first; with no status, then answer normally
    body: bytes | None = None
    path: str | None = None


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FakeSmile:
    """Start with ``with FakeSmile() as fake:``; ``fake.url`` is the Open API host (``…/v1``)."""

    key: str = "test-key-4f1d"
    secret: str = "test-secret-9c2e7b"
    requests: list[Recorded] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    users: dict[str, dict[str, str]] = field(default_factory=dict)  # user id -> externalMetadata
    tokens: dict[str, str] = field(default_factory=dict)  # accessToken -> user id
    invites: dict[str, dict[str, Any]] = field(default_factory=dict)
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Transfer framing of successful answers: "length", "chunked" or "close".
    framing: str = "length"
    # Serve https with this server-side context.
    tls: ssl.SSLContext | None = None
    # Smile's documented limit is 20 requests a second per client; None = unlimited.
    limit_per_second: int | None = None
    # What every minted token says (a fixed instant, so tests can compare it).
    expires_at: str = "2030-01-01T05:00:00Z"

    def __post_init__(self) -> None:
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._window: deque[float] = deque()

    # -- lifecycle

    def start(self) -> FakeSmile:
        fake = self

        class Handler(fake_smile_http.Handler):
            owner = fake

        self._server = fake_smile_http.Server(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeSmile:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}{BASE_PATH}"

    # -- scripting and inspection

    def fail_next(
        self,
        status: int | None = None,
        *,
        code: str | None = None,
        retry_after: str | None = None,
        hang: float | None = None,
        body: bytes | None = None,
        times: int = 1,
        path: str | None = None,
    ) -> None:
        """The next ``times`` requests (to paths ending with ``path``, if given) get this fault."""
        with self._lock:
            for _ in range(times):
                self._faults.append(Fault(status, code, retry_after, hang, body, path))

    def next_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path is None or path.endswith(fault.path):
                    self._faults.remove(fault)
                    return fault
            return None

    def record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    def violation(self, message: str) -> None:
        with self._lock:
            self.violations.append(message)

    def of(self, path_suffix: str, method: str | None = None) -> list[Recorded]:
        """Recorded requests whose path ends with ``path_suffix`` (and of ``method``, if given)."""
        return [r for r in self.requests if r.path.endswith(path_suffix) and method in (None, r.method)]

    def times(self, path_suffix: str, method: str = "POST") -> list[float]:
        """When each such request arrived (time.monotonic()), in order: for rate assertions."""
        return [r.at for r in self.of(path_suffix, method)]

    def over_limit(self) -> bool:
        """Count one request against ``limit_per_second``; True when it is over the limit."""
        if self.limit_per_second is None:
            return False
        with self._lock:
            moment = time.monotonic()
            while self._window and moment - self._window[0] >= 1.0:
                self._window.popleft()
            if len(self._window) >= self.limit_per_second:
                return True
            self._window.append(moment)
            return False

    # -- state (also usable directly by tests to seed the fake)

    def envelope(self, code: str, message: str, data: Any = None) -> dict[str, Any]:
        return {"code": code, "message": message, "requestId": str(uuid.uuid4()), "data": {} if data is None else data}

    def token(self, user_id: str) -> dict[str, Any]:
        access = "at-" + uuid.uuid4().hex
        with self._lock:
            self.tokens[access] = user_id
        return {
            "id": "tk-" + uuid.uuid4().hex,
            "expiresAt": self.expires_at,
            "mode": "SANDBOX",
            "accessToken": access,
        }

    def create_user(self, metadata: dict[str, str]) -> dict[str, Any]:
        user_id = "tenant-" + uuid.uuid4().hex
        with self._lock:
            self.users[user_id] = metadata
        user = {
            "id": user_id,
            "externalMetadata": metadata,
            "createdAt": now(),
            # Smile sends "channelId": null here; the contract allows both.
            "providers": [],
            "session": {"userId": user_id, "channel": "Default", "status": "IN_PROGRESS"},
        }
        return {"user": user, "token": self.token(user_id)}

    def create_template(self, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Store an invite template (``body`` as POST /inviteTemplates takes it, or a sample)."""
        template = {"id": "tpl-" + str(uuid.uuid4()), **(body or SAMPLE_TEMPLATE)}
        with self._lock:
            self.templates[template["id"]] = template
        return template

    def create_invite(self, body: dict[str, Any]) -> dict[str, Any]:
        stamp = now()
        user_id = self.create_user({})["user"]["id"]
        invite_id = "inv-" + str(uuid.uuid4())
        invite = {
            "id": invite_id,
            **body,
            "userId": user_id,
            "status": "INVITED",
            "createdAt": stamp,
            "updatedAt": stamp,
            "invitedAt": stamp,
            "linkedAt": stamp,
            "inviteLandingPageUrl": f"https://user.getsmileapi.com/invite-user/{invite_id}?token={uuid.uuid4().hex}",
        }
        with self._lock:
            self.invites[invite_id] = invite
        return invite

    def set_invite_status(self, invite_id: str, status: str) -> None:
        """Move an invite on (as the invitee would): `LINKED`, `REVOKED`…"""
        assert status in contract.INVITE_STATUSES, status
        with self._lock:
            self.invites[invite_id].update(status=status, updatedAt=now())

    def create_webhook(self, body: dict[str, Any]) -> dict[str, Any]:
        stamp = now()
        webhook = {"id": uuid.uuid4().hex, "includePayload": False, **body, "createdAt": stamp, "updatedAt": stamp}
        with self._lock:
            self.webhooks[webhook["id"]] = webhook
        return webhook


SAMPLE_TEMPLATE: dict[str, Any] = {
    "name": "Email v1",
    "company": {"name": "Acme Lending", "logoUrl": "https://acme.example/logo.png"},
    "email": {
        "sendEmail": True,
        "senderName": "Acme Lending",
        "replyAddress": "replies@acme.example",
        "subject": "Connect your work account",
        "body": "Hello ${firstName}, please share your income with ${companyName}.",
    },
    "landingPage": {
        "header": "Share your data with ${companyName}",
        "description": "It takes a minute.",
        "button": "START",
    },
    "successPage": {"header": "Thank you", "description": "We will be in touch.", "button": "Done"},
}
