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
import base64
import email.utils
import json
import random
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from .transport import Answer, KeepAliveTransport, RawHeaders

__all__ = [
    "DEFAULT_HOST",
    "Credentials",
    "KeepAliveTransport",
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
    """A pooled HTTP client for the Smile Open API, on httpx's transport interface.

    Requests go straight to one pooled :class:`httpx.AsyncBaseTransport` (by default
    :class:`KeepAliveTransport`): ``httpx.AsyncClient``'s per-request machinery (auth flow,
    redirects, cookies, URL merging) cost more CPU than the rest of the endpoint together,
    and none of it is needed for two fixed POSTs.

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
        self._timeouts = {
            "connect": connect_timeout,
            "read": read_timeout,
            "write": read_timeout,
            "pool": connect_timeout,
        }
        if transport is None:
            proxy = _proxy_for(credentials.host)
            if proxy is None:
                transport = KeepAliveTransport(max_connections=max_connections)
            else:
                limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
                transport = httpx.AsyncHTTPTransport(proxy=proxy, limits=limits)
        self._transport = transport
        # The pool's own `send` skips building httpx's Request and Response for every call.
        self._send = transport.send if isinstance(transport, KeepAliveTransport) else self._send_via_httpx
        basic = base64.b64encode(f"{credentials.key}:{credentials.secret}".encode())
        self._headers: RawHeaders = (
            (b"Authorization", b"Basic " + basic),
            (b"Accept", b"application/json"),
            (b"User-Agent", b"flipgen-token-server"),
        )
        self._json_headers = (*self._headers, (b"Content-Type", b"application/json"))
        self._users_url = httpx.URL(credentials.host + "/users")
        self._tokens_url = httpx.URL(credentials.host + "/tokens")

    @property
    def host(self) -> str:
        return self.credentials.host

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def create_user(self, metadata: Mapping[str, str] | None = None) -> MintedToken:
        """``POST /users`` with ``externalMetadata``; returns the new user's first token."""
        body = json.dumps({"externalMetadata": dict(metadata)}).encode() if metadata else _NO_METADATA
        envelope = await self._post(self._users_url, body)
        data = envelope.get("data")
        user = data.get("user") if isinstance(data, dict) else None
        token = data.get("token") if isinstance(data, dict) else None
        user_id = user.get("id") if isinstance(user, dict) else None
        if not isinstance(user_id, str) or not user_id:
            raise self._bad_body(envelope, "the created user has no id")
        return self._token(envelope, token, user_id)

    async def refresh_token(self, user_id: str) -> MintedToken:
        """``POST /tokens?userId=…`` (no body); returns a fresh token for that user."""
        envelope = await self._post(self._tokens_url.copy_merge_params({"userId": user_id}), None)
        return self._token(envelope, envelope.get("data"), user_id)

    # -- invites (smile-openapi-v1.yaml: InvitePostRequest, InviteTemplatePostRequest)

    async def create_invite(self, invite: Mapping[str, str]) -> dict[str, Any]:
        """``POST /invites``: Smile creates a user and emails the invitation; returns the Invite."""
        envelope = await self._request("POST", self._url("/invites"), json.dumps(dict(invite)).encode())
        return self._data_object(envelope, "the invite")

    async def list_invites(self, cursor: str | None = None, size: int = 150) -> tuple[list[dict[str, Any]], str | None]:
        """One page of ``GET /invites``: (items, next cursor or None on the last page)."""
        return await self._page("/invites", cursor, size)

    async def list_invite_templates(
        self, cursor: str | None = None, size: int = 150
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of ``GET /inviteTemplates``."""
        return await self._page("/inviteTemplates", cursor, size)

    async def create_invite_template(self, template: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /inviteTemplates``; returns the created InviteTemplate (with its id)."""
        body = json.dumps(dict(template)).encode()
        return self._data_object(await self._request("POST", self._url("/inviteTemplates"), body), "the template")

    async def update_invite_template(self, template_id: str, template: Mapping[str, Any]) -> dict[str, Any]:
        """``PUT /inviteTemplates/{id}`` with the whole template; returns it as Smile now has it."""
        url = self._url("/inviteTemplates/" + quote(template_id, safe=""))
        body = json.dumps(dict(template)).encode()
        return self._data_object(await self._request("PUT", url, body), "the template")

    # -- webhook subscriptions (smile-openapi-v1.yaml: WebhookPostRequest, Webhook)

    async def create_webhook(self, subscription: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /webhooks`` (Smile answers 200); returns the Webhook, its secret included."""
        body = json.dumps(dict(subscription)).encode()
        return self._data_object(await self._request("POST", self._url("/webhooks"), body), "the webhook")

    async def list_webhooks(
        self, cursor: str | None = None, size: int = 150
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of ``GET /webhooks``."""
        return await self._page("/webhooks", cursor, size)

    async def delete_webhook(self, webhook_id: str) -> None:
        """``DELETE /webhooks/{id}``."""
        await self._request("DELETE", self._url("/webhooks/" + quote(webhook_id, safe="")), None)

    def _url(self, path: str) -> httpx.URL:
        return httpx.URL(self.credentials.host + path)

    async def _page(self, path: str, cursor: str | None, size: int) -> tuple[list[dict[str, Any]], str | None]:
        params = {"size": str(size), **({"cursor": cursor} if cursor else {})}
        envelope = await self._request("GET", self._url(path).copy_merge_params(params), None)
        data = envelope.get("data")
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise self._bad_body(envelope, "the list has no items")
        assert isinstance(data, dict)
        return items, _str_or_none(data.get("nextCursor"))

    def _data_object(self, envelope: dict[str, Any], what: str) -> dict[str, Any]:
        data = envelope.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise self._bad_body(envelope, f"{what} has no id")
        return data

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

    async def _post(self, url: httpx.URL, body: bytes | None) -> dict[str, Any]:
        return await self._request("POST", url, body)

    async def _send_via_httpx(
        self, method: str, url: httpx.URL, headers: RawHeaders, body: bytes, timeouts: Mapping[str, float | None]
    ) -> Answer:
        request = httpx.Request(method, url, headers=list(headers), content=body, extensions={"timeout": timeouts})
        response = await self._transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return Answer(response.status_code, response.headers.raw, response.content)

    async def _request(self, method: str, url: httpx.URL, body: bytes | None) -> dict[str, Any]:
        headers = (b"Host", url.netloc), *(self._headers if body is None else self._json_headers)
        if body or method in ("POST", "PUT", "PATCH"):
            headers = (*headers, (b"Content-Length", str(len(body or b"")).encode()))
        self.budget.deposit()
        attempt = 0
        while True:
            try:
                response = await self._send(method, url, headers, body or b"", self._timeouts)
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
            if response.status in (200, 201):
                envelope = _json_object(response)
                if envelope is None:
                    raise SmileUpstreamError(
                        "Smile's answer was not a JSON object",
                        status=response.status,
                        code="INVALID_RESPONSE",
                    )
                return envelope
            error = _error_from(response)
            if response.status == 429 or response.status >= 500:
                wait = error.retry_after
                if wait is None and response.status == 429:
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


_NO_METADATA = json.dumps({"externalMetadata": {}}).encode()


def _json_object(response: Answer) -> dict[str, Any] | None:
    try:
        value = json.loads(response.content)  # bytes: json detects UTF-8/16/32 as response.json() does
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _error_from(response: Answer) -> SmileUpstreamError:
    envelope = _json_object(response) or {}
    code = _str_or_none(envelope.get("code"))
    return SmileUpstreamError(
        f"Smile answered HTTP {response.status}" + (f" {code}" if code else ""),
        status=response.status,
        code=code,
        request_id=_str_or_none(envelope.get("requestId")),
        retry_after=parse_retry_after(response.header(b"retry-after")),
    )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _proxy_for(url: str) -> str | None:
    """The proxy the environment (``HTTPS_PROXY``…) routes ``url`` through, if any."""
    parts = httpx.URL(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(parts.host):
        return None
    return proxy
