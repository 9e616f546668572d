"""Async client for the two Smile Open API calls the token endpoint needs.

``POST {host}/users`` creates a Smile user and returns its first link token;
``POST {host}/tokens?userId=…`` mints a fresh token for a known user. Shapes follow
``smile-openapi-v1.yaml`` (``UserPostResponse``, ``TokenPostResponse``).

Success is judged by the HTTP status, never by the envelope's ``code`` (Smile's 201 examples
say ``OK``). Failures become :class:`SmileError` subclasses that carry Smile's ``code`` and
``requestId`` for the logs; nothing here ever puts the API secret in an exception or a log.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = [
    "DEFAULT_HOST",
    "Credentials",
    "MintedToken",
    "SmileClient",
    "SmileError",
    "SmileTimeout",
    "SmileUpstreamError",
]

DEFAULT_HOST = "https://sandbox.smileapi.io/v1"


@dataclass(frozen=True)
class Credentials:
    """An API key pair and the Open API host it belongs to."""

    key: str
    secret: str = field(repr=False)
    host: str = DEFAULT_HOST

    def __post_init__(self) -> None:
        object.__setattr__(self, "host", self.host.rstrip("/"))


@dataclass(frozen=True)
class MintedToken:
    """A link token for one Smile user (``accessToken`` is what the widget calls ``userToken``)."""

    user_id: str
    access_token: str
    expires_at: str
    mode: str
    request_id: str | None = None


class SmileError(Exception):
    """Smile could not give us a token. ``code``/``request_id`` come from Smile's envelope."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after


class SmileUpstreamError(SmileError):
    """Smile answered with an error status, an unusable body, or could not be reached."""


class SmileTimeout(SmileError):
    """Smile did not answer within the configured timeouts."""


class RetryBudget:
    """Caps retries at a fraction of recent traffic so an ailing Smile is not hit twice as hard.

    Each request deposits ``ratio`` tokens (up to ``cap``); each retry withdraws one. With the
    defaults at most ~20 % extra requests reach Smile during an outage, plus a small floor so a
    quiet server still retries its occasional failure.
    """

    def __init__(self, ratio: float = 0.2, cap: float = 10.0) -> None:
        self.ratio = ratio
        self.cap = cap
        self.tokens = cap

    def deposit(self) -> None:
        self.tokens = min(self.cap, self.tokens + self.ratio)

    def withdraw(self) -> bool:
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), else None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class SmileClient:
    """One pooled :class:`httpx.AsyncClient` for the Smile Open API.

    Timeouts are explicit; a request is retried at most once (connection errors, 5xx, 429),
    after a short jittered backoff or Smile's ``Retry-After`` when it is at most
    ``max_retry_after`` seconds (a longer one is honoured by not retrying at all). Read
    timeouts are not retried: ``POST /users`` is not idempotent and the visitor is waiting.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        retries: int = 1,
        backoff: float = 0.2,
        max_retry_after: float = 5.0,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.credentials = credentials
        self.retries = retries
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self.budget = RetryBudget()
        self._timeout = httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
        )
        self._limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    @property
    def host(self) -> str:
        return self.credentials.host

    def _http(self) -> httpx.AsyncClient:
        # Created on first use so it binds to the event loop of the worker that serves requests.
        if self._client is None:
            self._client = httpx.AsyncClient(
                auth=httpx.BasicAuth(self.credentials.key, self.credentials.secret),
                timeout=self._timeout,
                limits=self._limits,
                transport=self._transport,
                headers={"Accept": "application/json", "User-Agent": "flipgen-token-server"},
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def create_user(self, metadata: Mapping[str, str] | None = None) -> MintedToken:
        """``POST /users`` with ``externalMetadata``; returns the new user's first token."""
        body = {"externalMetadata": dict(metadata or {})}
        envelope = await self._post("/users", json=body)
        data = envelope.get("data")
        user = data.get("user") if isinstance(data, dict) else None
        token = data.get("token") if isinstance(data, dict) else None
        user_id = user.get("id") if isinstance(user, dict) else None
        if not isinstance(user_id, str) or not user_id:
            raise self._bad_body(envelope, "the created user has no id")
        return self._token(envelope, token, user_id)

    async def refresh_token(self, user_id: str) -> MintedToken:
        """``POST /tokens?userId=…`` (no body); returns a fresh token for that user."""
        envelope = await self._post("/tokens", params={"userId": user_id})
        return self._token(envelope, envelope.get("data"), user_id)

    def _token(self, envelope: dict[str, Any], token: Any, user_id: str) -> MintedToken:
        if not isinstance(token, dict):
            raise self._bad_body(envelope, "no token in the answer")
        access, expires, mode = (token.get(k) for k in ("accessToken", "expiresAt", "mode"))
        if not (isinstance(access, str) and access and isinstance(expires, str)):
            raise self._bad_body(envelope, "the token lacks accessToken or expiresAt")
        return MintedToken(
            user_id=user_id,
            access_token=access,
            expires_at=expires,
            mode=mode if isinstance(mode, str) else "",
            request_id=_str_or_none(envelope.get("requestId")),
        )

    def _bad_body(self, envelope: dict[str, Any], what: str) -> SmileUpstreamError:
        return SmileUpstreamError(
            f"Smile's answer was not usable: {what}",
            code="INVALID_RESPONSE",
            request_id=_str_or_none(envelope.get("requestId")),
        )

    async def _post(self, path: str, **kwargs: Any) -> dict[str, Any]:
        client = self._http()
        url = self.credentials.host + path
        self.budget.deposit()
        attempt = 0
        while True:
            try:
                response = await client.post(url, **kwargs)
            except httpx.TimeoutException as exc:
                if isinstance(exc, httpx.ConnectTimeout) and await self._may_retry(attempt, None):
                    attempt += 1
                    continue
                raise SmileTimeout(f"Smile did not answer in time ({type(exc).__name__})") from None
            except httpx.TransportError as exc:
                if await self._may_retry(attempt, None):
                    attempt += 1
                    continue
                raise SmileUpstreamError(
                    f"could not reach Smile ({type(exc).__name__})", code="CONNECTION_ERROR"
                ) from None
            if response.status_code in (200, 201):
                envelope = _json_object(response)
                if envelope is None:
                    raise SmileUpstreamError(
                        "Smile's answer was not a JSON object", status=response.status_code,
                        code="INVALID_RESPONSE",
                    )
                return envelope
            error = _error_from(response)
            if response.status_code == 429 or response.status_code >= 500:
                wait = error.retry_after
                if wait is None and response.status_code == 429:
                    wait = 1.0  # Smile's limit is per second; an instant retry would fail too
                if await self._may_retry(attempt, wait):
                    attempt += 1
                    continue
            raise error

    async def _may_retry(self, attempt: int, wait: float | None) -> bool:
        if attempt >= self.retries:
            return False
        if wait is not None and wait > self.max_retry_after:
            return False
        if not self.budget.withdraw():
            return False
        if wait is None:
            wait = self.backoff * random.uniform(0.5, 1.5)
        await asyncio.sleep(wait)
        return True


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        value = response.json()
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _error_from(response: httpx.Response) -> SmileUpstreamError:
    envelope = _json_object(response) or {}
    code = _str_or_none(envelope.get("code"))
    return SmileUpstreamError(
        f"Smile answered HTTP {response.status_code}" + (f" {code}" if code else ""),
        status=response.status_code,
        code=code,
        request_id=_str_or_none(envelope.get("requestId")),
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
