"""A contract-checking fake of the Smile Open API on 127.0.0.1, for tests.

It runs a real threaded HTTP/1.1 server (keep-alive) and answers ``POST /v1/users`` and
``POST /v1/tokens?userId=…`` like Smile, after checking what the client sent against the
Open API document in ``../shared/reference/smile-openapi-v1.yaml``: Basic auth, method, path,
query, body (``UserPostRequest`` plus the documented metadata limits). Anything off is
recorded in ``violations`` (and answered 400 ``INVALID_PARAMETERS``); tests assert it stays
empty. Faults are scripted per request: ``fake.fail_next(...)``.
"""

from __future__ import annotations

import base64
import functools
import json
import ssl
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

SPEC_PATH = Path(__file__).resolve().parents[3] / "shared" / "reference" / "smile-openapi-v1.yaml"
BASE_PATH = "/v1"


@functools.lru_cache(maxsize=1)
def openapi() -> dict[str, Any]:
    """Smile's Open API document (parsed once per test session)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml parses 18k lines fast
    return yaml.load(SPEC_PATH.read_text(encoding="utf-8"), Loader=loader)


def schema_validator(name: str) -> Any:
    """A JSON Schema validator for ``components.schemas[name]`` of Smile's document."""
    import jsonschema_rs

    components = _json_schema(openapi()["components"])
    return jsonschema_rs.Draft7Validator({"$ref": f"#/components/schemas/{name}", "components": components})


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema: ``nullable: true`` becomes a ``null`` type."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _json_schema(value) for key, value in node.items()}
    if out.pop("nullable", False) is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def metadata_problems(metadata: Any) -> list[str]:
    """Smile's documented ``externalMetadata`` limits that the schema cannot express."""
    if not isinstance(metadata, dict):
        return ["externalMetadata is not an object"]
    problems = []
    if len(metadata) > 5:
        problems.append("more than 5 pairs")
    for key, value in metadata.items():
        if len(key) > 50 or not key.isascii():
            problems.append(f"bad key {key!r}")
        if not isinstance(value, str) or len(value) > 500 or not value.isascii():
            problems.append(f"bad value for {key!r}")
    return problems


@dataclass
class Fault:
    """What to do instead of a normal answer, for one request."""

    status: int | None = None
    code: str | None = None
    retry_after: str | None = None
    hang: float | None = None
    body: bytes | None = None


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float
    client_port: int = 0
    json: Any = None


@dataclass
class FakeSmile:
    """Start with ``with FakeSmile() as fake:``; ``fake.url`` is the Open API host."""

    key: str = "test-key-4f1d"
    secret: str = "test-secret-9c2e7b"
    requests: list[Recorded] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    users: dict[str, dict[str, str]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # accessToken -> user id
    # Transfer framing of successful answers: "length", "chunked" or "close".
    framing: str = "length"
    # Serve https with this server-side context.
    tls: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._user_validator = schema_validator("UserPostRequest")
        self.user_response_validator = schema_validator("UserPostResponse")
        self.token_response_validator = schema_validator("TokenPostResponse")

    # -- lifecycle

    def start(self) -> FakeSmile:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = _Server(("127.0.0.1", 0), Handler)
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

    # -- scripting

    def fail_next(
        self,
        status: int | None = None,
        *,
        code: str | None = None,
        retry_after: str | None = None,
        hang: float | None = None,
        body: bytes | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` requests get this fault instead of a normal answer."""
        with self._lock:
            for _ in range(times):
                self._faults.append(Fault(status, code, retry_after, hang, body))

    def next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    def violation(self, message: str) -> None:
        with self._lock:
            self.violations.append(message)

    def of(self, path_suffix: str) -> list[Recorded]:
        """Recorded requests whose path ends with ``path_suffix``."""
        return [r for r in self.requests if r.path.endswith(path_suffix)]

    # -- answers

    def envelope(self, code: str, message: str, data: Any = None) -> dict[str, Any]:
        return {"code": code, "message": message, "requestId": str(uuid.uuid4()), "data": {} if data is None else data}

    def token(self, user_id: str) -> dict[str, Any]:
        access = "at-" + uuid.uuid4().hex
        with self._lock:
            self.tokens[access] = user_id
        return {
            "id": "tk-" + uuid.uuid4().hex,
            "expiresAt": "2030-01-01T05:00:00Z",
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
            "createdAt": "2026-01-01T00:00:00Z",
            # Smile sends "channelId": null, but its schema types it as a string: omitted.
            "providers": [],
            "session": {"userId": user_id, "channel": "Default", "status": "IN_PROGRESS"},
        }
        return {"user": user, "token": self.token(user_id)}


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 drops connections when a pool opens dozens at once.
    request_queue_size = 256
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    owner: FakeSmile
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        fake = self.owner
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        recorded = Recorded(
            self.command,
            parts.path,
            parse_qs(parts.query),
            {k.lower(): v for k, v in self.headers.items()},
            raw,
            time.monotonic(),
            self.client_address[1],
        )
        fake.record(recorded)

        fault = fake.next_fault()
        if fault is not None and fault.hang:
            time.sleep(fault.hang)
        if fault is not None and fault.status is not None:
            if fault.body is not None:
                return self._send(fault.status, fault.body, "length")
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            envelope = fake.envelope(fault.code or "SERVER_ERROR", "scripted fault")
            return self._reply(fault.status, envelope, headers)

        expected = "Basic " + base64.b64encode(f"{fake.key}:{fake.secret}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            return self._reply(401, fake.envelope("INVALID_CREDENTIALS", "Invalid API key"))
        if self.command != "POST":
            return self._reply(501, fake.envelope("UNSUPPORTED_METHOD", "Unsupported method"))
        if parts.path == BASE_PATH + "/users":
            return self._users(recorded)
        if parts.path == BASE_PATH + "/tokens":
            return self._tokens(recorded)
        fake.violation(f"unexpected path {parts.path}")
        return self._reply(404, fake.envelope("MISSING_RESOURCE", "Not found"))

    def _users(self, recorded: Recorded) -> None:
        fake = self.owner
        problems = []
        if recorded.query:
            problems.append(f"POST /users takes no query, got {recorded.query}")
        if recorded.body:
            if not recorded.headers.get("content-type", "").startswith("application/json"):
                problems.append("POST /users body sent without Content-Type: application/json")
            try:
                body = json.loads(recorded.body)
            except ValueError:
                body = None
                problems.append("POST /users body is not JSON")
        else:
            body = {}
        recorded.json = body
        if body is not None:
            problems += [f"UserPostRequest: {e}" for e in fake._user_validator.iter_errors(body)]
            if isinstance(body, dict):
                extra = set(body) - {"externalMetadata"}
                if extra:
                    problems.append(f"UserPostRequest has unknown fields {sorted(extra)}")
                problems += metadata_problems(body.get("externalMetadata", {}))
        if problems:
            for problem in problems:
                fake.violation(problem)
            return self._reply(400, fake.envelope("INVALID_PARAMETERS", "; ".join(problems)))
        metadata = body.get("externalMetadata", {}) if isinstance(body, dict) else {}
        self._reply(201, fake.envelope("OK", "Success", fake.create_user(metadata)))

    def _tokens(self, recorded: Recorded) -> None:
        fake = self.owner
        user_ids = recorded.query.get("userId", [])
        problems = []
        if recorded.body:
            problems.append("POST /tokens takes no body")
        if len(user_ids) != 1 or not 1 <= len(user_ids[0]) <= 200:
            problems.append(f"POST /tokens needs exactly one userId (1-200 chars), got {user_ids}")
        if problems:
            for problem in problems:
                fake.violation(problem)
            return self._reply(400, fake.envelope("INVALID_PARAMETERS", "; ".join(problems)))
        if user_ids[0] not in fake.users:
            return self._reply(404, fake.envelope("MISSING_RESOURCE", "No such user"))
        self._reply(201, fake.envelope("OK", "Success", fake.token(user_ids[0])))

    def _reply(self, status: int, envelope: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        framing = self.owner.framing if status < 300 else "length"
        self._send(status, json.dumps(envelope).encode(), framing, headers)

    def _send(self, status: int, body: bytes, framing: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if framing == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            half = len(body) // 2
            for piece in (body[:half], body[half:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        elif framing == "close":
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
