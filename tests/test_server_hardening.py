"""Issue 12, the token endpoint under abuse: one regression test per finding, over real HTTP
on 127.0.0.1 (the endpoint in a uvicorn thread, in front of the fake Smile)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from flipgen.errors import UserError
from flipgen.server import load_credentials
from flipgen.server.clients import ProxyTrust
from flipgen.server.ratelimit import MemoryLimiter, client_key
from tests.test_token import MANIFEST, MINT, Live, error_of, start  # noqa: F401 - `start` is a fixture

PATTERNED: dict[str, Any] = {
    **MANIFEST,
    "sites": {
        **MANIFEST["sites"],
        "patterned": {
            **MANIFEST["sites"]["acme-income"],
            "metadata_keys": ["ref", "email"],
            "metadata_patterns": {"ref": "[A-Z]{2}-[0-9]{4}"},
        },
    },
}


# --------------------------------------------------------------------------- 2: the limiter at scale


def test_the_limiter_evicts_the_least_recent_client_in_place_with_a_size_cap() -> None:
    limiter = MemoryLimiter(1, max_keys=3, clock=lambda: 0.0)
    table = limiter.buckets
    for key in ("a", "b", "c", "d"):
        assert limiter.take(key) == 0
    # O(1): the same table, one entry out (the oldest), never a rebuild of the whole table.
    assert limiter.buckets is table and list(table) == ["b", "c", "d"]
    assert limiter.take("d") > 0  # still limited: recently seen clients keep their bucket
    for i in range(20_000):
        limiter.take(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter.buckets) == 3 and limiter.buckets is table


def test_ipv6_clients_are_counted_per_64(start: Callable[..., Live]) -> None:
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_key("::ffff:198.51.100.7") == "198.51.100.7"
    live = start(rate_limit=1, trust_proxy=True)
    assert live.mint(headers={"x-forwarded-for": "2001:db8:1:2::1"}).status_code == 200
    # Another address of the same /64 is the same client.
    assert live.mint(headers={"x-forwarded-for": "2001:db8:1:2::abcd"}).status_code == 429
    assert live.mint(headers={"x-forwarded-for": "2001:db8:1:3::1"}).status_code == 200


# --------------------------------------------------------------------------- 4: proxies


def test_forwarded_for_is_ignored_unless_the_peer_is_a_configured_proxy(start: Callable[..., Live]) -> None:
    live = start(rate_limit=1, trust_proxy=["10.0.0.0/8"])  # our peer, 127.0.0.1, is not a proxy
    assert live.mint(headers={"x-forwarded-for": "198.51.100.1"}).status_code == 200
    # Forged client addresses do not buy new buckets: everyone here is 127.0.0.1.
    assert live.mint(headers={"x-forwarded-for": "198.51.100.2"}).status_code == 429


def test_proxy_hops_walk_the_header_from_the_right() -> None:
    one = ProxyTrust(["127.0.0.1", "10.0.0.0/8"], hops=1)
    assert one.client("127.0.0.1", "203.0.113.5") == "203.0.113.5"
    assert one.client("127.0.0.1", "6.6.6.6, 203.0.113.5") == "203.0.113.5"  # the client wrote 6.6.6.6
    assert one.client("192.0.2.1", "203.0.113.5") == "192.0.2.1"  # not a proxy: header ignored
    two = ProxyTrust(["127.0.0.1", "10.0.0.0/8"], hops=2)
    assert two.client("127.0.0.1", "6.6.6.6, 203.0.113.5, 10.1.2.3") == "203.0.113.5"
    # A hop that is not a trusted proxy ends the walk: it is the client as far as we know.
    assert two.client("127.0.0.1", "203.0.113.5, 192.0.2.9") == "192.0.2.9"
    with pytest.raises(UserError, match="--trust-proxy"):
        ProxyTrust(["not-an-address"])


# --------------------------------------------------------------------------- 5: metadata


def test_declared_patterns_and_control_characters_are_enforced(start: Callable[..., Live]) -> None:
    live = start(manifest=PATTERNED)
    ok = live.mint({"site": "patterned", "metadata": {"ref": "AB-1234"}})
    assert ok.status_code == 200
    for metadata, fragment in (
        ({"ref": "AB-12345"}, "does not match the pattern"),
        ({"ref": "ab-1234"}, "does not match the pattern"),
        ({"email": "a@b.co\r\nX-Injected: 1"}, "control characters"),
        ({"email": "tab\there"}, "control characters"),
    ):
        response = live.mint({"site": "patterned", "metadata": metadata})
        assert response.status_code == 400 and error_of(response) == "invalid_metadata", metadata
        assert fragment in response.json()["error"]["message"]
    assert live.fake is not None and len(live.fake.users) == 1


# --------------------------------------------------------------------------- 6: slow requests


def test_a_stalled_body_is_timed_out(start: Callable[..., Live]) -> None:
    live = start(body_timeout=0.5)
    port = int(live.base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(
            b"POST /api/link-token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"site": '
        )
        started = time.monotonic()
        answer = conn.recv(65536)
        assert time.monotonic() - started < 5
    assert answer.startswith(b"HTTP/1.1 408") and b"request_timeout" in answer


# --------------------------------------------------------------------------- 7: hostile JSON


def test_deeply_nested_json_is_invalid_json_not_a_server_error(
    start: Callable[..., Live], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="flipgen.token")
    live = start()
    response = live.http.post(MINT, content=b"[" * 15000, headers={"content-type": "application/json"})
    assert response.status_code == 400 and error_of(response) == "invalid_json"
    assert "Traceback" not in caplog.text


# --------------------------------------------------------------------------- 8: origins


def test_same_origin_compares_the_scheme_too(start: Callable[..., Live]) -> None:
    live = start(manifest={**MANIFEST, "allowed_origins": []})
    assert live.mint(headers={"origin": live.base}).status_code == 200
    https = live.base.replace("http://", "https://")
    assert live.mint(headers={"origin": https}).status_code == 403


def test_configured_public_origins_are_not_overridden_by_the_host_header(start: Callable[..., Live]) -> None:
    live = start(manifest={**MANIFEST, "allowed_origins": []}, public_origins=["https://tokens.acme.example"])
    ok = live.mint(headers={"origin": "https://tokens.acme.example"})
    assert ok.status_code == 200
    # A rebound name: Host and Origin agree, but that origin is not ours.
    spoofed = live.mint(headers={"origin": "http://evil.example", "host": "evil.example"})
    assert spoofed.status_code == 403 and error_of(spoofed) == "origin_not_allowed"


# --------------------------------------------------------------------------- 10: credentials in clear


def test_smile_host_must_be_https_except_on_loopback(tmp_path: Path) -> None:
    pair = {"SMILE_API_KEY": "k", "SMILE_API_SECRET": "secret-value"}
    with pytest.raises(UserError, match="must use https") as caught:
        load_credentials(tmp_path, {**pair, "SMILE_API_HOST": "http://open.smileapi.io/v1"})
    assert "secret-value" not in caught.value.message
    for host in ("http://127.0.0.1:9/v1", "http://localhost:9/v1", "http://[::1]:9/v1", "https://open.smileapi.io/v1"):
        creds = load_credentials(tmp_path, {**pair, "SMILE_API_HOST": host})
        assert creds is not None and creds.host == host


# --------------------------------------------------------------------------- budget (in process)


def test_the_daily_budget_refuses_past_the_limit_and_warns_once(
    start: Callable[..., Live], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.INFO, logger="flipgen.token")
    budgeted = {**MANIFEST, "sites": {"acme-income": {**MANIFEST["sites"]["acme-income"], "max_users_per_day": 2}}}
    live = start(manifest=budgeted, rate_limit=0, database=f"sqlite:///{tmp_path / 'fresh.db'}")
    assert [live.mint().status_code for _ in range(2)] == [200, 200]
    for _ in range(3):
        refused = live.mint()
        assert refused.status_code == 429 and error_of(refused) == "budget_exhausted"
        assert int(refused.headers["retry-after"]) >= 1
    assert live.fake is not None and len(live.fake.users) == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "budget_exhausted" in r.getMessage()]
    assert len(warnings) == 1 and json.loads(warnings[0].getMessage())["site"] == "acme-income"


def test_the_budget_is_counted_in_the_application_store(start: Callable[..., Live], tmp_path: Path) -> None:
    from flipgen.store.engine import open_store

    budgeted = {**MANIFEST, "sites": {"acme-income": {**MANIFEST["sites"]["acme-income"], "max_users_per_day": 3}}}
    store = open_store(None, tmp_path)
    first = start(manifest=budgeted, rate_limit=0, store=store)
    assert [first.mint().status_code for _ in range(2)] == [200, 200]
    # A second server (another worker or host) on the same database shares the count.
    second = start(manifest=budgeted, rate_limit=0, store=open_store(None, tmp_path))
    assert [second.mint().status_code for _ in range(2)] == [200, 429]
    assert first.mint().status_code == 429


def test_concurrent_mints_never_overspend_the_budget(start: Callable[..., Live], tmp_path: Path) -> None:
    budgeted = {**MANIFEST, "sites": {"acme-income": {**MANIFEST["sites"]["acme-income"], "max_users_per_day": 5}}}
    live = start(manifest=budgeted, rate_limit=0, database=f"sqlite:///{tmp_path / 'fresh.db'}")

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=live.base, timeout=30) as client:
            answers = await asyncio.gather(*[client.post(MINT, json={"site": "acme-income"}) for _ in range(30)])
        return [a.status_code for a in answers]

    codes = asyncio.run(burst())
    assert codes.count(200) == 5 and codes.count(429) == 25
