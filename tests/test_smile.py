"""The Smile client (flipgen.smile) and the in-process emulator, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Awaitable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, TypeVar

import httpx
import pytest

from flipgen.sandbox.emulator import (
    SmileEmulator,
    decode_access_token,
    is_emulator_user_id,
)
from flipgen.smile import (
    Credentials,
    KeepAliveTransport,
    RetryBudget,
    SmileClient,
    SmileTimeout,
    SmileUpstreamError,
    parse_retry_after,
)
from tests.support.fake_smile import FakeSmile

T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


@pytest.fixture
def fake() -> Iterator[FakeSmile]:
    with FakeSmile() as server:
        yield server
    assert server.violations == []


def client_for(fake: FakeSmile, **options: Any) -> SmileClient:
    options.setdefault("backoff", 0.01)
    return SmileClient(Credentials(fake.key, fake.secret, fake.url), **options)


async def using(client: SmileClient, coro: Awaitable[T]) -> T:
    try:
        return await coro
    finally:
        await client.aclose()


# --------------------------------------------------------------------------- happy paths


def test_create_user_sends_metadata_with_basic_auth_and_reads_the_token(fake: FakeSmile) -> None:
    client = client_for(fake)
    token = run(using(client, client.create_user({"ref": "abc", "email": "a@b.co"})))

    (request,) = fake.requests
    assert request.method == "POST" and request.path == "/v1/users"
    assert request.json == {"externalMetadata": {"ref": "abc", "email": "a@b.co"}}
    expected = base64.b64encode(f"{fake.key}:{fake.secret}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert token.user_id in fake.users
    assert fake.users[token.user_id] == {"ref": "abc", "email": "a@b.co"}
    assert fake.tokens[token.access_token] == token.user_id
    assert token.expires_at == "2030-01-01T05:00:00Z" and token.mode == "SANDBOX"
    assert token.request_id


def test_refresh_posts_tokens_with_user_id_query_and_no_body(fake: FakeSmile) -> None:
    client = client_for(fake)

    async def scenario() -> tuple[Any, Any]:
        first = await client.create_user({})
        return first, await client.refresh_token(first.user_id)

    first, second = run(using(client, scenario()))
    refresh = fake.of("/tokens")[0]
    assert refresh.query == {"userId": [first.user_id]} and refresh.body == b""
    assert second.user_id == first.user_id
    assert second.access_token != first.access_token
    assert fake.tokens[second.access_token] == first.user_id


@pytest.mark.parametrize("framing", ["chunked", "close"])
def test_reads_chunked_and_close_delimited_answers(fake: FakeSmile, framing: str) -> None:
    fake.framing = framing
    client = client_for(fake)

    async def scenario() -> list[str]:
        return [(await client.create_user({"n": str(i)})).user_id for i in range(3)]

    user_ids = run(using(client, scenario()))
    assert len(set(user_ids)) == 3 and set(user_ids) == set(fake.users)


def test_keep_alive_connection_is_reused(fake: FakeSmile) -> None:
    client = client_for(fake)

    async def scenario() -> None:
        for _ in range(3):
            await client.create_user({})

    run(using(client, scenario()))
    # All three requests arrived on one TCP connection: the server saw one client port.
    assert len(fake.requests) == 3
    assert len({r.client_port for r in fake.requests}) == 1


def test_https_with_certificate_verification(tmp_path: Any) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert, key)
    with FakeSmile(tls=server_side) as fake:
        trusting = ssl.create_default_context(cafile=str(cert))
        client = SmileClient(
            Credentials(fake.key, fake.secret, fake.url), transport=KeepAliveTransport(ssl_context=trusting)
        )
        token = run(using(client, client.create_user({"ref": "tls"})))
        assert fake.url.startswith("https://") and fake.users[token.user_id] == {"ref": "tls"}
        # The default context trusts public CAs only: a self-signed server is refused.
        strict = SmileClient(Credentials(fake.key, fake.secret, fake.url), retries=0)
        with pytest.raises(SmileUpstreamError) as caught:
            run(using(strict, strict.create_user({})))
        assert caught.value.code == "CONNECTION_ERROR"
        assert len(fake.requests) == 1
        assert fake.violations == []


# --------------------------------------------------------------------------- errors


def test_error_carries_smile_code_and_request_id_but_never_the_secret(fake: FakeSmile) -> None:
    client = SmileClient(Credentials(fake.key, "wrong-secret-value", fake.url))
    with pytest.raises(SmileUpstreamError) as caught:
        run(using(client, client.create_user({})))
    err = caught.value
    assert (err.status, err.code) == (401, "INVALID_CREDENTIALS")
    assert err.request_id
    text = f"{err} {err!r} {err.message} {client.credentials!r}"
    assert "wrong-secret-value" not in text
    assert len(fake.requests) == 1  # a 401 is not retried


def test_one_5xx_is_retried_once(fake: FakeSmile) -> None:
    fake.fail_next(503, code="SERVER_UNAVAILABLE")
    client = client_for(fake)
    token = run(using(client, client.create_user({})))
    assert len(fake.of("/users")) == 2 and token.user_id in fake.users


def test_two_5xx_give_up_after_one_retry(fake: FakeSmile) -> None:
    fake.fail_next(500, code="SERVER_ERROR", times=2)
    client = client_for(fake)
    with pytest.raises(SmileUpstreamError) as caught:
        run(using(client, client.create_user({})))
    assert (caught.value.status, caught.value.code) == (500, "SERVER_ERROR")
    assert len(fake.requests) == 2


def test_429_waits_for_retry_after_then_retries(fake: FakeSmile) -> None:
    fake.fail_next(429, code="REQUEST_LIMIT_EXCEEDED", retry_after="1")
    client = client_for(fake)
    run(using(client, client.create_user({})))
    first, second = fake.requests
    assert second.at - first.at >= 0.9


def test_retry_after_beyond_the_cap_is_honoured_by_not_retrying(fake: FakeSmile) -> None:
    fake.fail_next(429, code="REQUEST_LIMIT_EXCEEDED", retry_after="30")
    client = client_for(fake, max_retry_after=5.0)
    with pytest.raises(SmileUpstreamError) as caught:
        run(using(client, client.create_user({})))
    assert caught.value.status == 429 and caught.value.retry_after == 30.0
    assert len(fake.requests) == 1


def test_read_timeout_raises_smile_timeout_without_retrying(fake: FakeSmile) -> None:
    fake.fail_next(201, hang=2.0)
    client = client_for(fake, read_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(SmileTimeout):
        run(using(client, client.create_user({})))
    assert time.monotonic() - started < 1.9
    assert len(fake.requests) == 1


def test_unusable_success_body_is_an_upstream_error(fake: FakeSmile) -> None:
    fake.fail_next(201, body=b'{"code": "OK", "data": {"user": {}}}')
    client = client_for(fake)
    with pytest.raises(SmileUpstreamError) as caught:
        run(using(client, client.create_user({})))
    assert caught.value.code == "INVALID_RESPONSE"


def test_refused_connection_is_retried_once_then_reported() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens on this port any more
    client = SmileClient(Credentials("k", "s", f"http://127.0.0.1:{port}/v1"), backoff=0.01)
    before = client.budget.tokens
    with pytest.raises(SmileUpstreamError) as caught:
        run(using(client, client.create_user({})))
    assert caught.value.code == "CONNECTION_ERROR"
    assert client.budget.tokens == pytest.approx(min(client.budget.cap, before + 0.2) - 1.0)


def test_stale_keep_alive_connection_is_replaced_transparently() -> None:
    """A server that drops an idle connection: the request goes out again on a new one."""
    body = json.dumps(
        {
            "code": "OK",
            "requestId": "r",
            "data": {"user": {"id": "u-1"}, "token": {"accessToken": "at", "expiresAt": "x", "mode": "SANDBOX"}},
        }
    )
    answer = (
        f"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
    ).encode()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    connections = []

    def serve() -> None:
        for index in range(2):
            conn, _ = listener.accept()
            connections.append(conn)
            conn.recv(65536)
            conn.sendall(answer)
            if index == 0:
                conn.recv(65536)  # the second request on the kept-alive connection...
                conn.close()  # ...is dropped without an answer
            else:
                conn.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    client = SmileClient(Credentials("k", "s", f"http://127.0.0.1:{port}/v1"), retries=0)

    async def scenario() -> list[str]:
        return [(await client.create_user({})).user_id for _ in range(2)]

    try:
        assert run(using(client, scenario())) == ["u-1", "u-1"]
    finally:
        listener.close()
    assert len(connections) == 2


# --------------------------------------------------------------------------- helpers


def test_parse_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp()) == pytest.approx(7.0)


def test_retry_budget_caps_retries_at_a_fraction_of_traffic() -> None:
    budget = RetryBudget(ratio=0.2, cap=2.0)
    assert budget.withdraw() and budget.withdraw()
    assert not budget.withdraw()
    for _ in range(5):
        budget.deposit()
    assert budget.withdraw() and not budget.withdraw()


def test_credentials_repr_hides_the_secret() -> None:
    creds = Credentials("key-1", "very-secret", "https://open.smileapi.io/v1/")
    assert "very-secret" not in repr(creds)
    assert creds.host == "https://open.smileapi.io/v1"


# --------------------------------------------------------------------------- emulator


def emulator_client(emulator: SmileEmulator) -> SmileClient:
    return SmileClient(Credentials("x", "y", "http://emulator.invalid/v1"), transport=emulator.transport())


def test_emulator_tokens_follow_the_widget_contract() -> None:
    emulator = SmileEmulator(token_ttl=120)
    client = emulator_client(emulator)
    before = int(time.time())
    token = run(using(client, client.create_user({"ref": "abc"})))
    assert is_emulator_user_id(token.user_id)
    assert token.mode == "SANDBOX"
    prefix, middle, suffix = token.access_token.split(".")
    assert (prefix, suffix) == ("sbx", "emulator") and "=" not in middle
    payload = decode_access_token(token.access_token)
    assert payload is not None and payload["u"] == token.user_id
    assert before + 120 <= payload["exp"] <= int(time.time()) + 120
    assert isinstance(payload["n"], str) and payload["n"]
    expires = datetime.strptime(token.expires_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert int(expires.timestamp()) == payload["exp"]


def test_emulator_refresh_is_stateless_and_rejects_foreign_ids() -> None:
    # A second instance refreshes a user the first one created.
    token = run(using(c := emulator_client(SmileEmulator()), c.create_user({})))
    other = emulator_client(SmileEmulator())
    fresh = run(using(other, other.refresh_token(token.user_id)))
    assert fresh.user_id == token.user_id and fresh.access_token != token.access_token
    other = emulator_client(SmileEmulator())
    with pytest.raises(SmileUpstreamError) as caught:
        run(using(other, other.refresh_token("tenant-123")))
    assert (caught.value.status, caught.value.code) == (404, "MISSING_RESOURCE")


def test_emulator_enforces_smile_metadata_limits() -> None:
    client = emulator_client(SmileEmulator())
    with pytest.raises(SmileUpstreamError) as caught:
        run(using(client, client.create_user({"name": "Zoë"})))
    assert (caught.value.status, caught.value.code) == (400, "INVALID_PARAMETERS")


def test_emulator_token_ttl_defaults_to_five_hours_and_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FLIPGEN_EMULATOR_TOKEN_TTL", raising=False)
    assert SmileEmulator().token_ttl == 5 * 3600
    monkeypatch.setenv("FLIPGEN_EMULATOR_TOKEN_TTL", "90")
    assert SmileEmulator().token_ttl == 90
    exp = decode_access_token(SmileEmulator().token("sbx-user-" + "0" * 24)["accessToken"])
    assert exp is not None and exp["exp"] <= time.time() + 90


def test_emulator_answers_like_smile_over_a_sync_client_too() -> None:
    with httpx.Client(transport=SmileEmulator().transport()) as http:
        created = http.post("http://emulator.invalid/v1/users", json={"externalMetadata": {}})
        assert created.status_code == 201
        envelope = created.json()
        assert envelope["code"] == "OK" and envelope["requestId"]
        user_id = envelope["data"]["user"]["id"]
        refreshed = http.post("http://emulator.invalid/v1/tokens", params={"userId": user_id})
        assert refreshed.status_code == 201
        assert set(refreshed.json()["data"]) >= {"expiresAt", "mode", "accessToken"}
