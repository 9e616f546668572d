"""The token endpoint (flipgen.token, SPEC §6), served by uvicorn on 127.0.0.1 in a thread,
in front of the contract-checking fake Smile (tests/support/fake_smile.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from flipgen import manifest as manifest_module
from flipgen.errors import UserError
from flipgen.handles import ENV_VAR, HandleSigner
from flipgen.sandbox.emulator import decode_access_token, is_emulator_user_id
from flipgen.server import ErrorCode, TokenApp, create_app, load_credentials
from flipgen.smile import DEFAULT_HOST, Credentials
from flipgen.store import applications as apps
from tests.support.fake_smile import FakeSmile

WINK = {"template_id": "wtpl-acme", "providers": [], "top_providers": ["upwork", "grab"], "enable_upload": True}
GIG = {"template_id": "wtpl-gig", "providers": ["upwork"], "top_providers": [], "enable_upload": False}
MANIFEST: dict[str, Any] = {
    "version": 1,
    "generator": "flipgen test",
    "token_endpoint": "/api/link-token",
    "allowed_origins": ["https://acme.example"],
    "sites": {
        "acme-income": {
            "title": "Acme",
            "token_endpoint": "/api/link-token",
            "metadata_keys": ["email", "ref"],
            "wink": WINK,
            "screens": {"connect-gig": GIG},
        },
        "six-keys": {
            "title": "Six",
            "token_endpoint": "/api/link-token",
            "metadata_keys": ["a", "b", "c", "d", "e", "f"],
            "wink": WINK,
            "screens": {},
        },
        "brochure": {
            "title": "No wink",
            "token_endpoint": "/api/link-token",
            "metadata_keys": [],
            "wink": None,
            "screens": {},
        },
    },
}
APPS_PROJECT = Path(__file__).parent / "fixtures" / "applications"
MINT = "/api/link-token"
REFRESH = "/api/link-token/refresh"
TOKEN_FIELDS = {"userToken", "handle", "expiresAt", "mode", "templateId", "providers", "topProviders", "enableUpload"}
SECRET = "test-secret-key-" + "k" * 32


@contextmanager
def serve(app: TokenApp) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free 127.0.0.1 port; yields the base URL."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", access_log=False, proxy_headers=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


class Live:
    """A running endpoint: ``base`` URL, the ``fake`` upstream, a blocking ``http`` client."""

    def __init__(self, base: str, fake: FakeSmile | None, app: TokenApp) -> None:
        self.base = base
        self.fake = fake
        self.app = app
        self.http = httpx.Client(base_url=base, timeout=30)

    def mint(self, body: Any = None, **kwargs: Any) -> httpx.Response:
        return self.http.post(MINT, json={"site": "acme-income"} if body is None else body, **kwargs)

    def user_of(self, handle: str, site: str = "acme-income") -> str | None:
        """The Smile userId the server stored for the application behind ``handle``."""
        app_id = HandleSigner(SECRET).verify(handle, site)
        assert app_id is not None, "the handle must be signed for the site"
        with self.app.store.read() as conn:
            found = apps.get(conn, app_id)
        assert found is not None
        return found.smile_user_id


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Live]]:
    """``start(**create_app options)``: the endpoint in front of a fresh fake Smile."""
    with ExitStack() as stack:

        def starter(*, upstream: bool = True, **options: Any) -> Live:
            fake = stack.enter_context(FakeSmile()) if upstream else None
            if fake is not None:
                options.setdefault("credentials", Credentials(fake.key, fake.secret, fake.url))
            options.setdefault("manifest", MANIFEST)
            options["environ"] = {ENV_VAR: SECRET, **options.get("environ", {})}
            options.setdefault("database", f"sqlite:///{tmp_path / 'applications.db'}")
            app = create_app(**options)
            live = Live(stack.enter_context(serve(app)), fake, app)
            stack.callback(live.http.close)
            if fake is not None:
                stack.callback(lambda: _no_violations(fake))
            return live

        yield starter


def _no_violations(fake: FakeSmile) -> None:
    assert fake.violations == [], fake.violations


def error_of(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert len(body["error"]["message"]) > 20  # a sentence someone can act on
    return str(body["error"]["code"])


# --------------------------------------------------------------------------- minting


def test_mints_a_token_with_the_sites_widget_settings(start: Callable[..., Live]) -> None:
    live = start()
    response = live.mint({"site": "acme-income", "metadata": {"ref": "abc", "email": "a@b.co"}})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == TOKEN_FIELDS
    assert live.fake is not None
    user = live.user_of(body["handle"])
    assert user is not None and user not in response.text, "the Smile userId stays on the server"
    assert live.fake.tokens[body["userToken"]] == user
    assert live.fake.users[user] == {"ref": "abc", "email": "a@b.co"}
    assert body["expiresAt"] == "2030-01-01T05:00:00Z" and body["mode"] == "SANDBOX"
    assert (body["templateId"], body["providers"], body["topProviders"], body["enableUpload"]) == (
        "wtpl-acme",
        [],
        ["upwork", "grab"],
        True,
    )


def test_the_pages_language_is_accepted_and_logged(
    start: Callable[..., Live], caplog: pytest.LogCaptureFixture
) -> None:
    live = start()
    caplog.set_level(logging.INFO, logger="flipgen.token")
    assert live.mint({"site": "acme-income", "locale": "es-419"}).status_code == 200
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "flipgen.token"]
    assert lines[-1]["locale"] == "es-419"
    for bad in ("english please", 7, "x" * 40):
        response = live.mint({"site": "acme-income", "locale": bad})
        assert response.status_code == 400 and "`locale`" in response.json()["error"]["message"]


def test_a_named_screen_overrides_the_site_settings(start: Callable[..., Live]) -> None:
    live = start()
    body = live.mint({"site": "acme-income", "screen": "connect-gig"}).json()
    assert (body["templateId"], body["providers"], body["topProviders"], body["enableUpload"]) == (
        "wtpl-gig",
        ["upwork"],
        [],
        False,
    )
    response = live.mint({"site": "acme-income", "screen": "nope"})
    assert response.status_code == 400 and error_of(response) == "invalid_request"
    assert "connect-gig" in response.json()["error"]["message"]


def test_refresh_returns_a_new_token_for_the_same_user(start: Callable[..., Live]) -> None:
    live = start()
    first = live.mint().json()
    user = live.user_of(first["handle"])
    response = live.http.post(REFRESH, json={"site": "acme-income", "handle": first["handle"]})
    assert response.status_code == 200
    second = response.json()
    assert set(second) == TOKEN_FIELDS
    assert second["handle"] == first["handle"]
    assert second["userToken"] != first["userToken"]
    assert live.fake is not None
    assert live.fake.tokens[second["userToken"]] == user
    assert live.fake.of("/tokens")[0].query == {"userId": [user]}
    assert len(live.fake.users) == 1  # no second Smile user
    # Minting again with the handle refreshes too: one application, one paid user.
    third = live.mint({"site": "acme-income", "handle": first["handle"]}).json()
    assert live.fake.tokens[third["userToken"]] == user and len(live.fake.users) == 1


def test_refresh_of_a_user_smile_does_not_know_is_404(start: Callable[..., Live]) -> None:
    live = start()
    handle = live.mint().json()["handle"]
    app_id = HandleSigner(SECRET).verify(handle, "acme-income")
    with live.app.store.write() as conn:
        apps.set_smile_user(conn, app_id or "", "tenant-gone")
    response = live.http.post(REFRESH, json={"site": "acme-income", "handle": handle})
    assert response.status_code == 404 and error_of(response) == "not_found"
    assert MINT in response.json()["error"]["message"]
    assert live.fake is not None and len(live.fake.of("/tokens")) == 1


def test_refresh_before_any_mint_is_404_without_asking_smile(start: Callable[..., Live]) -> None:
    live = start(manifest=manifest_module.load(APPS_PROJECT))
    handle = live.http.post("/api/applications", json={"site": "rules", "params": {"ref": "ABC"}}).json()["handle"]
    response = live.http.post(REFRESH, json={"site": "rules", "handle": handle})
    assert response.status_code == 404 and error_of(response) == "not_found"
    assert live.fake is not None and live.fake.of("/tokens") == []


def test_refresh_and_mint_refuse_forged_and_foreign_handles(start: Callable[..., Live]) -> None:
    live = start()
    handle = live.mint().json()["handle"]
    for body in (
        {"site": "six-keys", "handle": handle},  # another site's handle
        {"site": "acme-income", "handle": handle[:-2] + ("AA" if not handle.endswith("AA") else "BB")},
        {"site": "acme-income", "handle": HandleSigner("another-key-" + "x" * 40).sign("x", "acme-income")},
        {"site": "acme-income", "handle": "tenant-1"},
    ):
        for path in (REFRESH, MINT):
            response = live.http.post(path, json=body)
            assert response.status_code == 404 and error_of(response) == "unknown_application", (path, body)
    assert live.fake is not None and len(live.fake.users) == 1, "no user minted for a bad handle"


def test_refresh_needs_a_handle_never_a_user_id(start: Callable[..., Live]) -> None:
    live = start()
    user = live.user_of(live.mint().json()["handle"])
    for body in (
        {"site": "acme-income"},
        {"site": "acme-income", "handle": ""},
        {"site": "acme-income", "handle": 42},
        {"site": "acme-income", "handle": "u" * 257},
        {"site": "acme-income", "userId": user},
    ):
        response = live.http.post(REFRESH, json=body)
        assert response.status_code == 400 and error_of(response) == "invalid_request", body
    assert live.fake is not None and len(live.fake.requests) == 1, "only the mint reached Smile"


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("site", "metadata", "fragment"),
    [
        ("acme-income", {"phone": "123"}, "`phone` is not a field or param"),
        ("acme-income", {"ref": "café"}, "non-ASCII"),
        ("acme-income", {"ref": "x" * 501}, "longer than 500"),
        ("acme-income", {"ref": 12}, "must be text"),
        ("acme-income", ["ref"], "must be an object"),
        ("six-keys", {k: "v" for k in "abcdef"}, "at most 5"),
    ],
    ids=["undeclared", "non-ascii", "too-long", "not-a-string", "not-an-object", "six-keys"],
)
def test_metadata_outside_the_site_or_smile_limits_is_rejected(
    start: Callable[..., Live], site: str, metadata: Any, fragment: str
) -> None:
    live = start()
    response = live.mint({"site": site, "metadata": metadata})
    assert response.status_code == 400 and error_of(response) == "invalid_metadata"
    assert fragment in response.json()["error"]["message"]
    assert live.fake is not None and live.fake.requests == []


def test_metadata_at_the_limits_is_accepted(start: Callable[..., Live]) -> None:
    live = start()
    metadata = {k: "v" * 500 for k in "abcde"}
    assert live.mint({"site": "six-keys", "metadata": metadata}).status_code == 200
    assert live.fake is not None and list(live.fake.users.values()) == [metadata]


def test_unknown_site_is_404_and_never_lists_the_known_ones(start: Callable[..., Live]) -> None:
    live = start()
    response = live.mint({"site": "acme-incme"})
    assert response.status_code == 404 and error_of(response) == "unknown_site"
    # Issue 12 finding 11: neither the answer nor the public OpenAPI enumerates the slugs.
    assert "acme-income" not in response.text and "six-keys" not in response.text
    assert "acme-income" not in live.http.get("/openapi.json").text
    response = live.mint({"site": "brochure"})
    assert response.status_code == 400 and error_of(response) == "invalid_request"


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"content": b"x" * (16 * 1024 + 1), "headers": {"content-type": "application/json"}}, 413, "body_too_large"),
        (
            {"content": b'{"site": "acme-income"}', "headers": {"content-type": "text/plain"}},
            415,
            "unsupported_media_type",
        ),
        ({"content": b'{"site": "acme-income"}'}, 415, "unsupported_media_type"),
        ({"content": b'{"site": ', "headers": {"content-type": "application/json"}}, 400, "invalid_json"),
        ({"content": b"\xff\xfe\xfd", "headers": {"content-type": "application/json"}}, 400, "invalid_json"),
        ({"json": ["acme-income"]}, 400, "invalid_request"),
        ({"json": {}}, 400, "invalid_request"),
        ({"json": {"site": "acme-income", "metdata": {}}}, 400, "invalid_request"),
        ({"json": {"site": 7}}, 400, "invalid_request"),
    ],
    ids=[
        "too-large",
        "text-plain",
        "no-content-type",
        "truncated",
        "not-utf8",
        "array",
        "no-site",
        "typo",
        "site-not-string",
    ],
)
def test_malformed_requests_get_stable_error_codes(
    start: Callable[..., Live], kwargs: dict[str, Any], status: int, code: str
) -> None:
    live = start()
    response = live.http.post(MINT, **kwargs)
    assert response.status_code == status and error_of(response) == code
    assert live.fake is not None and live.fake.requests == []


def test_streamed_body_over_the_limit_is_413_without_content_length(
    start: Callable[..., Live],
) -> None:
    live = start()

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * 1024

    response = live.http.post(MINT, content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413 and error_of(response) == "body_too_large"


def test_wrong_method_is_405_with_allow_and_unknown_path_is_404(
    start: Callable[..., Live],
) -> None:
    live = start()
    response = live.http.get(MINT)
    assert response.status_code == 405 and error_of(response) == "method_not_allowed"
    assert response.headers["allow"] == "POST, OPTIONS"
    response = live.http.delete("/healthz")
    assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD, OPTIONS"
    response = live.http.post("/api/link-tokens", json={"site": "acme-income"})
    assert response.status_code == 404 and error_of(response) == "not_found"


# --------------------------------------------------------------------------- CORS


def test_foreign_origin_is_refused_and_allowed_origin_gets_cors(start: Callable[..., Live]) -> None:
    live = start()
    response = live.mint(headers={"origin": "https://evil.example"})
    assert response.status_code == 403 and error_of(response) == "origin_not_allowed"
    assert "access-control-allow-origin" not in response.headers
    response = live.mint(headers={"origin": "https://acme.example"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://acme.example"
    assert "Origin" in response.headers["vary"]
    assert live.mint().status_code == 200  # no Origin: not a browser, allowed
    same = live.base.replace("http://", "http://")
    assert live.mint(headers={"origin": same}).status_code == 200  # same origin
    assert live.fake is not None and len(live.fake.users) == 3


def test_preflight_for_an_allowed_origin(start: Callable[..., Live]) -> None:
    live = start()
    response = live.http.options(
        MINT,
        headers={
            "origin": "https://acme.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    assert response.status_code == 204 and response.content == b""
    assert response.headers["access-control-allow-origin"] == "https://acme.example"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"].lower() == "content-type"
    response = live.http.options(
        REFRESH, headers={"origin": "https://evil.example", "access-control-request-method": "POST"}
    )
    assert response.status_code == 403 and error_of(response) == "origin_not_allowed"


def test_default_is_same_origin_only(start: Callable[..., Live]) -> None:
    live = start(manifest={**MANIFEST, "allowed_origins": []})
    assert live.mint(headers={"origin": "https://acme.example"}).status_code == 403
    assert live.mint(headers={"origin": live.base}).status_code == 200


# --------------------------------------------------------------------------- rate limiting


def test_rate_limit_answers_429_with_retry_after(start: Callable[..., Live]) -> None:
    live = start(rate_limit=3)
    assert [live.mint().status_code for _ in range(3)] == [200, 200, 200]
    response = live.mint()
    assert response.status_code == 429 and error_of(response) == "rate_limited"
    assert 1 <= int(response.headers["retry-after"]) <= 20
    # Without --trust-proxy, X-Forwarded-For cannot dodge the limit.
    assert live.mint(headers={"x-forwarded-for": "203.0.113.9"}).status_code == 429
    assert live.http.get("/healthz").status_code == 200  # probes are not limited


def test_trust_proxy_limits_per_forwarded_client(start: Callable[..., Live]) -> None:
    live = start(rate_limit=1, trust_proxy=True)
    first = {"x-forwarded-for": "198.51.100.1"}
    assert live.mint(headers=first).status_code == 200
    assert live.mint(headers=first).status_code == 429
    # The right-most hop is the one our proxy wrote; a client-forged left part is ignored.
    assert live.mint(headers={"x-forwarded-for": "198.51.100.1, 198.51.100.2"}).status_code == 200


def test_rate_limit_zero_disables_it(start: Callable[..., Live]) -> None:
    live = start(rate_limit=0)
    assert {live.mint().status_code for _ in range(40)} == {200}


# --------------------------------------------------------------------------- upstream faults


def test_upstream_hang_is_504_within_the_read_timeout(start: Callable[..., Live]) -> None:
    live = start(read_timeout=0.5)
    assert live.fake is not None
    live.fake.fail_next(201, hang=5)
    started = time.monotonic()
    response = live.mint()
    assert time.monotonic() - started < 4
    assert response.status_code == 504 and error_of(response) == "upstream_timeout"


def test_one_upstream_5xx_is_retried(start: Callable[..., Live]) -> None:
    live = start()
    assert live.fake is not None
    live.fake.fail_next(503, code="SERVER_UNAVAILABLE")
    response = live.mint()
    assert response.status_code == 200
    assert len(live.fake.of("/users")) == 2
    assert live.fake.tokens[response.json()["userToken"]] == live.user_of(response.json()["handle"])


def test_upstream_429_is_retried_after_retry_after(start: Callable[..., Live]) -> None:
    live = start()
    assert live.fake is not None
    live.fake.fail_next(429, code="REQUEST_LIMIT_EXCEEDED", retry_after="1")
    assert live.mint().status_code == 200
    first, second = live.fake.requests
    assert second.at - first.at >= 0.9


def test_upstream_keeps_failing_is_502(start: Callable[..., Live]) -> None:
    live = start()
    assert live.fake is not None
    live.fake.fail_next(500, code="SERVER_ERROR", times=2)
    response = live.mint()
    assert response.status_code == 502 and error_of(response) == "upstream_error"
    assert len(live.fake.requests) == 2


def test_refused_credentials_are_502_and_never_leak(
    start: Callable[..., Live], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    live = start()
    assert live.fake is not None
    key, secret = live.fake.key, live.fake.secret
    live.fake.key = "rotated-key"  # the server's pair no longer matches
    response = live.mint({"site": "acme-income", "metadata": {"email": "jane@example.com"}})
    assert response.status_code == 502 and error_of(response) == "upstream_error"
    assert "SMILE_API_KEY" in response.json()["error"]["message"]
    for text in (response.text, str(response.headers), caplog.text):
        assert key not in text and secret not in text
    assert "jane@example.com" not in caplog.text
    (line,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "flipgen.token"]
    assert line["status"] == 502 and line["upstream"]["code"] == "INVALID_CREDENTIALS"
    assert line["requestId"]


def test_unreachable_upstream_is_502(start: Callable[..., Live]) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    live = start(upstream=False, credentials=Credentials("k", "s", f"http://127.0.0.1:{port}/v1"))
    response = live.mint()
    assert response.status_code == 502 and error_of(response) == "upstream_error"
    assert "reach Smile" in response.json()["error"]["message"]


# --------------------------------------------------------------------------- logs, health, docs


def test_one_json_log_line_per_request_without_personal_data(
    start: Callable[..., Live], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="flipgen.token")
    live = start()
    live.mint({"site": "acme-income", "metadata": {"email": "jane@example.com", "ref": "r-77"}})
    live.mint({"site": "nowhere"})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "flipgen.token"]
    assert len(lines) == 2
    ok, missing = lines
    assert {"method", "path", "status", "ms", "site", "requestId"} <= set(ok)
    assert (ok["method"], ok["path"], ok["status"], ok["site"]) == ("POST", MINT, 200, "acme-income")
    assert ok["requestId"] and isinstance(ok["ms"], float)
    assert (missing["status"], missing["error"]) == (404, "unknown_site")
    assert "jane@example.com" not in caplog.text and "r-77" not in caplog.text


def test_healthz_names_the_upstream(start: Callable[..., Live]) -> None:
    assert start().http.get("/healthz").json() == {"status": "ok", "upstream": "smile"}
    sandbox = start(upstream=False, sandbox=True)
    assert sandbox.http.get("/healthz").json() == {"status": "ok", "upstream": "emulator"}


def test_openapi_describes_the_endpoint_and_its_errors(start: Callable[..., Live]) -> None:
    document = start().http.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    post = document["paths"][MINT]["post"]
    assert {"200", "400", "403", "404", "413", "415", "429", "502", "504"} <= set(post["responses"])
    assert REFRESH in document["paths"] and "/healthz" in document["paths"]
    schemas = document["components"]["schemas"]
    assert post["responses"]["429"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    # Generated from the one ErrorCode enum, not written by hand.
    assert set(schemas["ErrorCode"]["enum"]) == {code.value for code in ErrorCode}
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/MintRequest")
    assert set(schemas["MintRequest"]["properties"]) == {"site", "screen", "metadata", "locale", "turnstile", "handle"}


def test_update_manifest_serves_the_new_build(start: Callable[..., Live]) -> None:
    live = start()
    assert live.mint({"site": "fresh"}).status_code == 404
    sites = {**MANIFEST["sites"], "fresh": MANIFEST["sites"]["acme-income"]}
    live.app.update_manifest({**MANIFEST, "sites": sites, "allowed_origins": ["https://new.example"]})
    assert live.mint({"site": "fresh"}).status_code == 200
    assert live.mint(headers={"origin": "https://acme.example"}).status_code == 403
    assert live.mint(headers={"origin": "https://new.example"}).status_code == 200


# --------------------------------------------------------------------------- sandbox


def test_sandbox_without_credentials_uses_the_emulator(start: Callable[..., Live]) -> None:
    live = start(upstream=False, sandbox=True, token_ttl=60)
    body = live.mint({"site": "acme-income", "metadata": {"ref": "abc"}}).json()
    user = live.user_of(body["handle"])
    assert body["mode"] == "SANDBOX" and user is not None and is_emulator_user_id(user)
    payload = decode_access_token(body["userToken"])
    assert payload is not None and payload["u"] == user
    assert payload["exp"] <= time.time() + 61
    again = live.http.post(REFRESH, json={"site": "acme-income", "handle": body["handle"]})
    assert again.status_code == 200 and again.json()["handle"] == body["handle"]
    assert decode_access_token(again.json()["userToken"])["u"] == user  # type: ignore[index]
    foreign = live.http.post(REFRESH, json={"site": "acme-income", "handle": "tenant-1"})
    assert foreign.status_code == 404 and error_of(foreign) == "unknown_application"
    refused = live.mint({"site": "acme-income", "metadata": {"ref": "ü"}})
    assert refused.status_code == 400


# --------------------------------------------------------------------------- credentials


def test_missing_credentials_raise_a_user_error_naming_the_fix(tmp_path: Path) -> None:
    with pytest.raises(UserError) as caught:
        create_app(tmp_path, manifest=MANIFEST, environ={})
    message = caught.value.message
    assert "SMILE_API_KEY" in message and "SMILE_API_SECRET" in message
    assert "--sandbox" in message


def test_half_a_key_pair_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="SMILE_API_SECRET"):
        load_credentials(tmp_path, {"SMILE_API_KEY": "k"})


def test_credentials_come_from_the_project_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "SMILE_API_KEY=file-key\nSMILE_API_SECRET=file-secret\nSMILE_API_HOST=https://open.smileapi.io/v1\n"
    )
    creds = load_credentials(tmp_path, {})
    assert creds == Credentials("file-key", "file-secret", "https://open.smileapi.io/v1")
    app = create_app(tmp_path, manifest=MANIFEST, environ={ENV_VAR: SECRET})
    assert app.upstream_name == "smile" and app.smile.host == "https://open.smileapi.io/v1"
    # The environment wins, variable by variable.
    creds = load_credentials(tmp_path, {"SMILE_API_SECRET": "env-secret"})
    assert creds is not None and (creds.key, creds.secret) == ("file-key", "env-secret")


def test_quickstart_names_are_fallbacks(tmp_path: Path) -> None:
    creds = load_credentials(tmp_path, {"API_KEY": "qk", "API_SECRET": "qs", "OPEN_API_HOST": "http://127.0.0.1:9/v1"})
    assert creds == Credentials("qk", "qs", "http://127.0.0.1:9/v1")
    creds = load_credentials(
        tmp_path, {"API_KEY": "qk", "API_SECRET": "qs", "SMILE_API_KEY": "sk", "SMILE_API_SECRET": "ss"}
    )
    assert creds is not None and (creds.key, creds.secret, creds.host) == ("sk", "ss", DEFAULT_HOST)


def test_manifest_can_be_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "flipgen-manifest.json"
    path.write_text(json.dumps(MANIFEST))
    app = create_app(tmp_path, manifest=path, sandbox=True, environ={})
    assert set(app.sites) == set(MANIFEST["sites"])
    with pytest.raises(UserError, match="not valid JSON"):
        path.write_text("{")
        create_app(tmp_path, manifest=path, sandbox=True, environ={})


# --------------------------------------------------------------------------- concurrency


def test_200_concurrent_requests_each_get_their_own_user(start: Callable[..., Live]) -> None:
    live = start(rate_limit=0)

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=live.base, limits=limits, timeout=60) as client:
            return await asyncio.gather(
                *[client.post(MINT, json={"site": "acme-income", "metadata": {"ref": f"r{i}"}}) for i in range(200)]
            )

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [200] * 200
    assert live.fake is not None
    for i, response in enumerate(responses):
        body = response.json()
        # The user minted for this request carries this request's metadata and this token.
        user = live.user_of(body["handle"])
        assert user is not None and live.fake.users[user] == {"ref": f"r{i}"}
        assert live.fake.tokens[body["userToken"]] == user
    assert len({live.user_of(r.json()["handle"]) for r in responses}) == 200


# --------------------------------------------------------------------------- schemathesis


def test_schemathesis_finds_no_server_error_or_schema_mismatch(start: Callable[..., Live], tmp_path: Path) -> None:
    live = start(upstream=False, sandbox=True, rate_limit=0)
    checks = (
        "not_a_server_error,status_code_conformance,content_type_conformance,"
        "response_headers_conformance,response_schema_conformance"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{live.base}/openapi.json",
            "--checks",
            checks,
            "--max-examples",
            "40",
            "--seed",
            "1",
            "--no-color",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "passed" in result.stdout.lower()
