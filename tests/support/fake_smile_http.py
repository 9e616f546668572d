"""The HTTP side of the fake Smile (see ``fake_smile.py``): request parsing, the contract
checks shared by every endpoint, one method per endpoint, and the answer framing."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel

from tests.support import smile_contract as contract

if TYPE_CHECKING:
    from tests.support.fake_smile import FakeSmile

BASE_PATH = "/v1"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when the request arrived
    client_port: int = 0
    json: Any = None


class Reply(Exception):
    """Raised by a route to answer ``status`` with Smile's envelope (an error, usually)."""

    def __init__(
        self, status: int, code: str, message: str, data: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.data, self.headers = status, code, message, data, headers or {}


class Server(ThreadingHTTPServer):
    # The default backlog of 5 drops connections when a pool opens dozens at once.
    request_queue_size = 256
    daemon_threads = True


Route = Callable[["Handler", Recorded, str], tuple[int, Any]]


class Handler(BaseHTTPRequestHandler):
    owner: FakeSmile
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        fake = self.owner
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        recorded = Recorded(
            self.command,
            parts.path,
            parse_qs(parts.query, keep_blank_values=True),
            {k.lower(): v for k, v in self.headers.items()},
            raw,
            time.monotonic(),
            self.client_address[1],
        )
        fake.record(recorded)
        fault = fake.next_fault(parts.path)
        if fault is not None and fault.hang:
            time.sleep(fault.hang)
        if fault is not None and fault.status is not None:
            if fault.body is not None:
                return self._send(fault.status, fault.body, "length")
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return self._reply(fault.status, fake.envelope(fault.code or "SERVER_ERROR", "scripted fault"), headers)
        try:
            status, data = self._route(recorded)
        except Reply as reply:
            return self._reply(reply.status, fake.envelope(reply.code, reply.message, reply.data), reply.headers)
        self._reply(status, fake.envelope("OK", "Success", data))

    def _route(self, recorded: Recorded) -> tuple[int, Any]:
        fake = self.owner
        if fake.over_limit():
            raise Reply(429, "REQUEST_LIMIT_EXCEEDED", "Too many requests", headers={"Retry-After": "1"})
        expected = "Basic " + base64.b64encode(f"{fake.key}:{fake.secret}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            raise Reply(401, "INVALID_CREDENTIALS", "Invalid API key")
        path = recorded.path.removeprefix(BASE_PATH)
        for pattern, methods in ROUTES:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            route = methods.get(recorded.method)
            if route is None:
                self._refuse([f"{recorded.method} {recorded.path} is not an endpoint Smile has"], status=501)
            return route(self, recorded, match.group("id") if "id" in pattern.groupindex else "")
        fake.violation(f"unexpected path {recorded.method} {recorded.path}")
        raise Reply(404, "MISSING_RESOURCE", "Not found")

    # -- checks shared by the routes

    def _refuse(self, problems: list[str], status: int = 400) -> NoReturn:
        for problem in problems:
            self.owner.violation(problem)
        code = "INVALID_PARAMETERS" if status == 400 else "UNSUPPORTED_METHOD"
        raise Reply(status, code, "; ".join(problems))

    def _body(self, recorded: Recorded, model: type[BaseModel] | None, *, optional: bool = False) -> Any:
        """The JSON body checked against ``model`` (None: the endpoint takes no body)."""
        what = f"{recorded.method} {recorded.path.removeprefix(BASE_PATH)}"
        if model is None:
            if recorded.body:
                self._refuse([f"{what} takes no body"])
            return None
        if not recorded.body and optional:
            recorded.json = {}
            return {}
        if not recorded.headers.get("content-type", "").startswith("application/json"):
            self._refuse([f"{what} body sent without Content-Type: application/json"])
        try:
            body = json.loads(recorded.body)
        except ValueError:
            self._refuse([f"{what} body is not JSON"])
        recorded.json = body
        self._refuse_if(contract.problems(model, body))
        return body

    def _refuse_if(self, problems: list[str]) -> None:
        if problems:
            self._refuse(problems)

    def _query(self, recorded: Recorded, allowed: set[str]) -> dict[str, str]:
        extra = set(recorded.query) - allowed
        repeated = [k for k, v in recorded.query.items() if len(v) > 1]
        self._refuse_if([f"{recorded.path} takes no query parameter {k!r}" for k in sorted(extra)])
        self._refuse_if([f"{recorded.path}: {k!r} given more than once" for k in repeated])
        return {k: v[0] for k, v in recorded.query.items()}

    def _page(self, recorded: Recorded, items: list[dict[str, Any]]) -> dict[str, Any]:
        query = self._query(recorded, {"size", "cursor"})
        size_text = query.get("size", "10")
        if not size_text.isdigit() or not 1 <= int(size_text) <= 150:
            self._refuse([f"size must be 1..150, got {size_text!r}"])
        start = int(query["cursor"]) if query.get("cursor", "").isdigit() else 0
        size = int(size_text)
        more = start + size < len(items)
        return {"nextCursor": str(start + size) if more else None, "items": items[start : start + size]}

    def _found(self, table: dict[str, dict[str, Any]], key: str) -> dict[str, Any]:
        if key not in table:
            raise Reply(404, "MISSING_RESOURCE", "No such resource")
        return table[key]

    # -- routes

    def users_post(self, recorded: Recorded, _id: str) -> tuple[int, Any]:
        self._query(recorded, set())
        body = self._body(recorded, contract.UserRequest, optional=True)
        return 201, self._checked(contract.UserCreated, self.owner.create_user(body.get("externalMetadata", {})))

    def tokens_post(self, recorded: Recorded, _id: str) -> tuple[int, Any]:
        user_ids = recorded.query.get("userId", [])
        self._query(recorded, {"userId"})
        self._body(recorded, None)
        if len(user_ids) != 1 or not 1 <= len(user_ids[0]) <= 200:
            self._refuse([f"POST /tokens needs exactly one userId (1-200 chars), got {user_ids}"])
        self._found(self.owner.users, user_ids[0])
        return 201, self._checked(contract.Token, self.owner.token(user_ids[0]))

    def invites_post(self, recorded: Recorded, _id: str) -> tuple[int, Any]:
        self._query(recorded, set())
        body = self._body(recorded, contract.InviteRequest)
        self._found(self.owner.templates, body["templateId"])
        return 201, self._checked(contract.Invite, self.owner.create_invite(body))

    def invites_get(self, recorded: Recorded, invite_id: str) -> tuple[int, Any]:
        if invite_id:
            self._query(recorded, set())
            return 200, self._checked(contract.Invite, self._found(self.owner.invites, invite_id))
        return 200, self._checked_page(contract.Invite, self._page(recorded, list(self.owner.invites.values())))

    def templates_post(self, recorded: Recorded, _id: str) -> tuple[int, Any]:
        self._query(recorded, set())
        body = self._body(recorded, contract.TemplateRequest)
        return 201, self._checked(contract.Template, self.owner.create_template(body))

    def templates_get(self, recorded: Recorded, template_id: str) -> tuple[int, Any]:
        if template_id:
            self._query(recorded, set())
            return 200, self._checked(contract.Template, self._found(self.owner.templates, template_id))
        return 200, self._checked_page(contract.Template, self._page(recorded, list(self.owner.templates.values())))

    def templates_put(self, recorded: Recorded, template_id: str) -> tuple[int, Any]:
        self._query(recorded, set())
        body = self._body(recorded, contract.TemplateRequest)
        self._found(self.owner.templates, template_id)
        with self.owner._lock:
            self.owner.templates[template_id] = {"id": template_id, **body}
        return 200, self._checked(contract.Template, self.owner.templates[template_id])

    def templates_delete(self, recorded: Recorded, template_id: str) -> tuple[int, Any]:
        self._query(recorded, set())
        self._body(recorded, None)
        self._found(self.owner.templates, template_id)
        with self.owner._lock:
            del self.owner.templates[template_id]
        return 200, None

    def webhooks_post(self, recorded: Recorded, _id: str) -> tuple[int, Any]:
        self._query(recorded, set())
        body = self._body(recorded, contract.WebhookRequest)
        return 200, self._checked(contract.Webhook, self.owner.create_webhook(body))  # 200, not 201

    def webhooks_get(self, recorded: Recorded, webhook_id: str) -> tuple[int, Any]:
        if webhook_id:
            self._query(recorded, set())
            return 200, self._checked(contract.Webhook, self._found(self.owner.webhooks, webhook_id))
        return 200, self._checked_page(contract.Webhook, self._page(recorded, list(self.owner.webhooks.values())))

    def webhooks_delete(self, recorded: Recorded, webhook_id: str) -> tuple[int, Any]:
        self._query(recorded, set())
        self._body(recorded, None)
        self._found(self.owner.webhooks, webhook_id)
        with self.owner._lock:
            del self.owner.webhooks[webhook_id]
        return 200, None

    # -- answers

    def _checked(self, model: type[BaseModel], data: Any) -> Any:
        for problem in contract.problems(model, data):
            self.owner.violation(f"the fake itself answered off-contract: {problem}")
        return data

    def _checked_page(self, model: type[BaseModel], data: Any) -> Any:
        for problem in contract.page_problems(model, data):
            self.owner.violation(f"the fake itself answered off-contract: {problem}")
        return data

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


_ID = r"(?:/(?P<id>[^/]{1,200}))"
ROUTES: list[tuple[re.Pattern[str], dict[str, Route]]] = [
    (re.compile(r"/users"), {"POST": Handler.users_post}),
    (re.compile(r"/tokens"), {"POST": Handler.tokens_post}),
    (re.compile(r"/invites"), {"POST": Handler.invites_post, "GET": Handler.invites_get}),
    (re.compile(r"/invites" + _ID), {"GET": Handler.invites_get}),
    (re.compile(r"/inviteTemplates"), {"POST": Handler.templates_post, "GET": Handler.templates_get}),
    (
        re.compile(r"/inviteTemplates" + _ID),
        {"GET": Handler.templates_get, "PUT": Handler.templates_put, "DELETE": Handler.templates_delete},
    ),
    (re.compile(r"/webhooks"), {"POST": Handler.webhooks_post, "GET": Handler.webhooks_get}),
    (re.compile(r"/webhooks" + _ID), {"GET": Handler.webhooks_get, "DELETE": Handler.webhooks_delete}),
]
