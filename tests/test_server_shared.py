"""Limits that hold across workers and hosts (Redis at 127.0.0.1:6379, random key prefixes,
cleaned up), and the Turnstile bot check against a local fake of Cloudflare's siteverify."""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import redis

from flipgen.build import build
from flipgen.errors import UserError
from flipgen.server import create_app
from tests.conftest import free_port
from tests.support.fake_smile import FakeSmile
from tests.test_token import MANIFEST, MINT, Live, error_of, start  # noqa: F401 - `start` is a fixture
from tests.test_token_production import environment, stop
from tests.test_token_production import start as start_process

REDIS = "redis://127.0.0.1:6379/0"
# Cloudflare's documented Turnstile test secrets.
ALWAYS_PASSES = "1x0000000000000000000000000000000AA"
ALWAYS_FAILS = "2x0000000000000000000000000000000AA"
DUMMY_TOKEN = "XXXX.DUMMY.TOKEN.XXXX"


@pytest.fixture
def prefix() -> Iterator[str]:
    """A fresh key prefix; every key under it is deleted afterwards."""
    value = f"flipgen-test-{secrets.token_hex(6)}:"
    yield value
    client = redis.Redis.from_url(REDIS)
    for key in client.scan_iter(match=value + "*"):
        client.delete(key)
    client.close()


def closed_port() -> int:
    return free_port()  # nothing listens there


def budgeted(limit: int) -> dict[str, Any]:
    return {**MANIFEST, "sites": {"acme-income": {**MANIFEST["sites"]["acme-income"], "max_users_per_day": limit}}}


# --------------------------------------------------------------------------- Redis


def test_two_worker_processes_share_one_limit_through_redis(tmp_path: Path, prefix: str) -> None:
    manifest = tmp_path / "flipgen-manifest.json"
    manifest.write_text(json.dumps(MANIFEST))
    port = free_port()
    with FakeSmile() as fake:
        env = environment(
            fake,
            FLIPGEN_TOKEN_MANIFEST=str(manifest),
            FLIPGEN_TOKEN_RATE_LIMIT="5",
            FLIPGEN_REDIS_URL=REDIS,
            FLIPGEN_REDIS_PREFIX=prefix,
        )
        command = [sys.executable, "-m", "uvicorn", "--factory", "flipgen.server:app_from_env", "--port", str(port)]
        process = start_process([*command, "--workers", "2", "--no-proxy-headers"], env, port, tmp_path)
        try:
            codes = []
            for _ in range(16):  # a fresh connection each: both workers answer
                with httpx.Client(timeout=30) as client:
                    codes.append(
                        client.post(f"http://127.0.0.1:{port}{MINT}", json={"site": "acme-income"}).status_code
                    )
        finally:
            stop(process)
    # Each worker alone would have allowed 5: together they allowed 5.
    assert codes.count(200) == 5 and codes.count(429) == 11
    assert len(fake.users) == 5


def test_redis_down_fails_open_to_this_workers_own_limit(
    start: Callable[..., Live], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="flipgen.token")
    live = start(rate_limit=2, redis_url=f"redis://127.0.0.1:{closed_port()}/0")
    assert [live.mint().status_code for _ in range(3)] == [200, 200, 429]
    assert "Redis unavailable" in caplog.text and "counting in this worker" in caplog.text


def test_redis_down_fails_closed_when_configured(start: Callable[..., Live]) -> None:
    live = start(rate_limit=2, redis_url=f"redis://127.0.0.1:{closed_port()}/0", redis_fail_open=False)
    response = live.mint()
    assert response.status_code == 503 and error_of(response) == "service_unavailable"
    assert response.headers["retry-after"] == "30"
    assert live.fake is not None and live.fake.users == {}


def test_the_budget_is_shared_through_redis(start: Callable[..., Live], prefix: str) -> None:
    one = start(manifest=budgeted(3), rate_limit=0, redis_url=REDIS, redis_prefix=prefix)
    two = start(manifest=budgeted(3), rate_limit=0, redis_url=REDIS, redis_prefix=prefix)
    assert [one.mint().status_code, two.mint().status_code, one.mint().status_code] == [200, 200, 200]
    refused = two.mint()
    assert refused.status_code == 429 and error_of(refused) == "budget_exhausted"


# --------------------------------------------------------------------------- Turnstile


class FakeSiteverify:
    """Cloudflare's siteverify on 127.0.0.1, answering as its test secrets are documented to."""

    def __init__(self) -> None:
        self.requests: list[dict[str, list[str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                outer.requests.append(form)
                secret, token = form.get("secret", [""])[0], form.get("response", [""])[0]
                if not token:
                    answer = {"success": False, "error-codes": ["missing-input-response"]}
                elif secret == ALWAYS_PASSES:
                    answer = {"success": True, "hostname": "example.com", "error-codes": []}
                elif secret == ALWAYS_FAILS:
                    answer = {"success": False, "error-codes": ["invalid-input-response"]}
                else:
                    answer = {"success": False, "error-codes": ["invalid-input-secret"]}
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/turnstile/v0/siteverify"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def siteverify() -> Iterator[FakeSiteverify]:
    fake = FakeSiteverify()
    yield fake
    fake.close()


PROTECTED = {
    **MANIFEST,
    "sites": {
        "acme-income": {
            **MANIFEST["sites"]["acme-income"],
            "bot_protection": {"provider": "turnstile", "site_key": "1x00000000000000000000AA"},
        },
        "open": MANIFEST["sites"]["acme-income"],
    },
}


def test_turnstile_is_verified_before_minting(
    start: Callable[..., Live], siteverify: FakeSiteverify, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    env = {"TURNSTILE_SECRET": ALWAYS_PASSES, "FLIPGEN_TURNSTILE_VERIFY_URL": siteverify.url}
    live = start(manifest=PROTECTED, environ=env)
    ok = live.mint({"site": "acme-income", "turnstile": DUMMY_TOKEN})
    assert ok.status_code == 200
    assert siteverify.requests[-1]["response"] == [DUMMY_TOKEN]
    assert siteverify.requests[-1]["remoteip"] == ["127.0.0.1"]
    missing = live.mint({"site": "acme-income"})
    assert missing.status_code == 403 and error_of(missing) == "bot_check_failed"
    assert live.mint({"site": "open"}).status_code == 200  # a site without bot_protection
    assert live.fake is not None and len(live.fake.users) == 2
    assert ALWAYS_PASSES not in caplog.text


def test_a_refused_turnstile_token_mints_nothing(start: Callable[..., Live], siteverify: FakeSiteverify) -> None:
    env = {"TURNSTILE_SECRET": ALWAYS_FAILS, "FLIPGEN_TURNSTILE_VERIFY_URL": siteverify.url}
    live = start(manifest=PROTECTED, environ=env)
    refused = live.mint({"site": "acme-income", "turnstile": DUMMY_TOKEN})
    assert refused.status_code == 403 and error_of(refused) == "bot_check_failed"
    assert ALWAYS_FAILS not in refused.text
    assert live.fake is not None and live.fake.users == {}


def test_siteverify_unreachable_fails_closed(start: Callable[..., Live]) -> None:
    env = {"TURNSTILE_SECRET": ALWAYS_PASSES, "FLIPGEN_TURNSTILE_VERIFY_URL": f"http://127.0.0.1:{closed_port()}/v"}
    live = start(manifest=PROTECTED, environ=env)
    response = live.mint({"site": "acme-income", "turnstile": DUMMY_TOKEN})
    assert response.status_code == 503 and error_of(response) == "service_unavailable"
    assert live.fake is not None and live.fake.users == {}


def test_bot_protection_without_a_secret_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="TURNSTILE_SECRET"):
        create_app(
            tmp_path,
            manifest=PROTECTED,
            credentials=None,
            sandbox=False,
            environ={"SMILE_API_KEY": "k", "SMILE_API_SECRET": "s", "FLIPGEN_SECRET_KEY": "k" * 40},
        )


def test_pages_of_a_protected_site_allow_turnstile_in_their_csp(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[1]
    shutil.copytree(repo / "sites", tmp_path / "sites")
    site = tmp_path / "sites" / "acme-income.yaml"
    site.write_text(
        site.read_text(encoding="utf-8")
        + "\nbot_protection:\n  provider: turnstile\n  site_key: 0x4AAAAAAAA-test-key\ntoken:\n  max_users_per_day: 50\n",
        encoding="utf-8",
    )
    build(tmp_path)
    manifest = json.loads((tmp_path / "dist" / "flipgen-manifest.json").read_text())
    entry = manifest["sites"]["acme-income"]
    assert entry["bot_protection"] == {"provider": "turnstile", "site_key": "0x4AAAAAAAA-test-key"}
    assert entry["max_users_per_day"] == 50 and entry["journey"]["bot_protection"]["site_key"]
    policy = dict(part.strip().split(" ", 1) for part in entry["csp"].split(";"))
    for directive in ("script-src", "frame-src", "connect-src"):
        assert "https://challenges.cloudflare.com" in policy[directive].split()
    other = manifest["sites"]["brightpath-onboarding"]["csp"]
    assert "challenges.cloudflare.com" not in other
