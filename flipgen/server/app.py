"""The token endpoint as a Starlette application (SPEC §6).

:class:`TokenApp` holds what every request reads (the manifest, the pooled Smile client, the
limiters) and serves the routes of :data:`ROUTE_GROUPS`; adding a group of routes to the
server is one line there. Around Starlette it adds, for every request, the CORS decision,
``Cache-Control: no-store`` and one JSON log line.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive, Scope, Send

from flipgen import manifest as manifest_module
from flipgen.errors import UserError
from flipgen.handles import HandleSigner, load_secret_key
from flipgen.manifest import Manifest, SiteEntry
from flipgen.smile import Credentials, SmileClient
from flipgen.store import Store, open_store

from . import applications, tokens, webhooks
from .api import ClientGone, Endpoint, Operation, RouteGroup, json_response, operation, retry_after
from .botcheck import Turnstile, VerifyUnavailable
from .budget import StoreBudget, Unavailable
from .config import load_credentials, log, missing_credentials
from .guards import Guards, build_guards
from .models import ApiError, ErrorCode, Health, error_body
from .openapi import openapi_document
from .origins import OriginPolicy
from .ratelimit import client_key

__all__ = ["ROUTE_GROUPS", "TokenApp", "create_app"]

_LOG_JSON = json.JSONEncoder(separators=(",", ":"))  # the request log's lines (ASCII, as json.dumps)


def service_routes(app: TokenApp) -> RouteGroup:
    """``/healthz`` and ``/openapi.json``: never rate limited, never origin checked."""

    async def health(request: Request) -> Response:
        return json_response({"status": "ok", "upstream": app.upstream_name})

    async def openapi(request: Request) -> Response:
        return Response(app.openapi, media_type="application/json")

    allowed = "GET, HEAD, OPTIONS"
    return RouteGroup(
        routes=[
            Route("/healthz", operation(app, allowed, health, limited=False)),
            Route("/openapi.json", operation(app, allowed, openapi, limited=False)),
        ],
        operations=[
            Operation("/healthz", "get", "Liveness", response=Health),
            Operation("/openapi.json", "get", "This document"),
        ],
    )


# The server's routes, group by group: a new module adds its `routes` function here.
ROUTE_GROUPS: list[Callable[[TokenApp], RouteGroup]] = [
    tokens.routes,
    applications.routes,
    webhooks.routes,
    service_routes,
]


class TokenApp:
    """The ASGI application. Build it with :func:`create_app`."""

    def __init__(
        self,
        manifest: Manifest | Mapping[str, Any],
        *,
        smile: SmileClient,
        store: Store,
        handles: HandleSigner,
        upstream_name: str,
        guards: Guards,
        webhook_settings: webhooks.WebhookSettings | None = None,
    ) -> None:
        self.smile = smile
        self.store = store
        self.webhooks = webhook_settings or webhooks.WebhookSettings()
        self.handles = handles
        self.upstream_name = upstream_name
        self.guards = guards
        self.limiter = guards.limiter
        self.body_timeout = guards.body_timeout
        self.starlette = Starlette(
            exception_handlers={
                ApiError: self._api_error,
                HTTPException: self._http_error,
                ClientGone: self._client_gone,
                Exception: self._internal_error,
            },
            lifespan=self._lifespan,
        )
        # `/api/link-token/` is not `/api/link-token`: answer 404, not a redirect.
        self.starlette.router.redirect_slashes = False
        self.update_manifest(manifest)

    # -- the build it serves

    def update_manifest(self, manifest: Manifest | Mapping[str, Any]) -> None:
        """Serve the sites of a new build (the preview server calls this after a rebuild)."""
        self.manifest = manifest_module.parse(manifest)
        self.token_paths = _token_paths(self.manifest)
        self.refresh_paths = frozenset(p + "/refresh" for p in self.token_paths)
        self.origins = OriginPolicy(self.manifest.allowed_origins, self.guards.public_origins)
        groups = [group(self) for group in ROUTE_GROUPS]
        routes: list[BaseRoute] = [route for group in groups for route in group.routes]
        self.operations: list[Operation] = [op for group in groups for op in group.operations]
        self.openapi = json.dumps(openapi_document(self.operations), separators=(",", ":")).encode()
        self.starlette.router.routes[:] = routes
        # POSTs to these paths skip Starlette's middleware and router (see `__call__`).
        hot = self.token_paths | self.refresh_paths
        self.fast_posts: dict[str, Endpoint] = {
            r.path: r.app for r in routes if isinstance(r, Route) and r.path in hot and isinstance(r.app, Endpoint)
        }

    @property
    def sites(self) -> Mapping[str, SiteEntry]:
        return self.manifest.sites

    # -- per request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.starlette(scope, receive, send)
            return
        started = time.perf_counter()
        origin = host = proto = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value.decode("latin-1")
            elif name == b"host":
                host = value.decode("latin-1")
            elif name == b"x-forwarded-proto":
                proto = value.decode("latin-1")
        peer = scope["client"][0] if scope.get("client") else ""
        scheme = self.guards.proxies.scheme(peer, scope.get("scheme", "http"), proto)
        own = f"{scheme}://{host}" if host else None
        origin_ok = origin is None or self.origins.allows(origin, own)
        record: dict[str, Any] = {"method": scope["method"], "path": scope["path"][:200], "site": None}
        scope.setdefault("state", {}).update(record=record, origin_ok=origin_ok)
        extra = [(b"cache-control", b"no-store"), (b"vary", b"Origin")]
        if origin is not None and origin_ok:
            extra.append((b"access-control-allow-origin", origin.encode("latin-1")))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
                record["status"] = message["status"]
            await send(message)

        endpoint = self.fast_posts.get(scope["path"]) if scope["method"] == "POST" else None
        try:
            if endpoint is None:
                await self.starlette(scope, receive, send_with_headers)
            else:
                await self._answer(endpoint, scope, receive, send_with_headers)
        except Exception:  # answered 500 already; this is the one log line with the traceback
            log.exception("unexpected error while answering %s %s", scope["method"], scope["path"][:200])
        status = record.get("status", 500)
        level = logging.WARNING if status >= 500 else logging.INFO
        if log.isEnabledFor(level):
            record["ms"] = round((time.perf_counter() - started) * 1000, 2)
            log.log(level, _LOG_JSON.encode(record))

    async def _answer(self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
        """The hot path (mint, refresh): the endpoint's handler called directly, its exceptions
        answered by the same handlers Starlette's middleware would call, at a third of the cost."""
        scope["app"] = self.starlette
        request = Request(scope, receive, send)
        try:
            response = await endpoint.handler(request)
        except ApiError as exc:
            response = await self._api_error(request, exc)
        except ClientGone as exc:
            response = await self._client_gone(request, exc)
        except Exception as exc:
            # As Starlette's ServerErrorMiddleware: answer 500, then re-raise for the log line.
            await (await self._internal_error(request, exc))(scope, receive, send)
            raise
        await response(scope, receive, send)

    def client_address(self, request: Request) -> str:
        peer = request.client.host if request.client else "unknown"
        return self.guards.proxies.client(peer, request.headers.get("x-forwarded-for"))

    async def rate_limit(self, request: Request) -> None:
        if self.limiter is None:
            return
        try:
            wait = await self.limiter.check(client_key(self.client_address(request)))
        except Unavailable:
            raise _unavailable("the rate limiter") from None
        if wait > 0:
            headers = retry_after(wait)
            raise ApiError(
                ErrorCode.rate_limited,
                f"Too many requests from this address. Please wait {headers['retry-after']} second(s) and try again.",
                headers,
            )

    async def guard_mint(self, request: Request, slug: str, site: SiteEntry, turnstile: str | None) -> None:
        """Checks that run right before a mint creates a (paid) Smile user: the bot check,
        then the site's daily budget (so bots never spend it)."""
        guards = self.guards
        if site.bot_protection is not None and guards.turnstile is not None:
            await self._bot_check(request, guards.turnstile, turnstile)
        limit = site.max_users_per_day
        if limit is None:
            return
        try:
            allowed = await guards.budget.spend(slug, limit)
            warn = not allowed and await guards.budget.first_warning(slug)
        except Unavailable:
            raise _unavailable("the mint budget") from None
        if warn:
            log.warning('{"warning":"budget_exhausted","site":%s,"max_users_per_day":%d}', json.dumps(slug), limit)
        if not allowed:
            raise ApiError(
                ErrorCode.budget_exhausted,
                "This journey has reached its limit of new sign-ups for today. Please try again tomorrow.",
                {"retry-after": str(_seconds_to_midnight())},
            )

    async def _bot_check(self, request: Request, turnstile: Turnstile, token: str | None) -> None:
        if not token:
            raise ApiError(
                ErrorCode.bot_check_failed,
                "This site checks that visitors are not bots: send the Turnstile widget's token as `turnstile`.",
            )
        try:
            passed = await turnstile.verify(token, self.client_address(request))
        except VerifyUnavailable:
            raise _unavailable("the bot check") from None
        if not passed:
            raise ApiError(
                ErrorCode.bot_check_failed, "The bot check did not pass. Please reload the page and try again."
            )

    # -- exception handlers

    async def _api_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        request.scope["state"]["record"]["error"] = exc.code.value
        return json_response(error_body(exc.code, exc.message, exc.extra), exc.status, exc.headers)

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        # Only "no route matched" reaches here: every route takes every method.
        return await self._api_error(
            request,
            ApiError(
                ErrorCode.not_found,
                f"Nothing here at {request.url.path[:200]}. The token endpoint answers "
                f"POST {tokens.DEFAULT_PATH} and POST {tokens.DEFAULT_PATH}/refresh.",
            ),
        )

    async def _client_gone(self, request: Request, exc: Exception) -> Response:
        return Response(status_code=400)

    async def _internal_error(self, request: Request, exc: Exception) -> Response:
        request.scope["state"]["record"]["error"] = ErrorCode.internal_error.value
        message = "Something went wrong in the token server. Please try again in a moment."
        return json_response(error_body(ErrorCode.internal_error, message), 500)

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        async with webhooks.delivery_task(self):
            yield
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pooled upstream client, the guards and the store (servers do it in the lifespan)."""
        await self.smile.aclose()
        await self.guards.aclose()
        self.store.close()


def _unavailable(what: str) -> ApiError:
    return ApiError(
        ErrorCode.service_unavailable,
        f"The token server cannot reach {what} right now. Please try again in a minute.",
        {"retry-after": "30"},
    )


def _seconds_to_midnight() -> int:
    now = datetime.now(UTC)
    return max(
        1, int((now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1) - now).total_seconds())
    )


def _token_paths(manifest: Manifest) -> frozenset[str]:
    """``/api/link-token`` plus the path of every token endpoint the manifest declares."""
    from urllib.parse import urlsplit

    declared: Iterable[str | None] = [manifest.token_endpoint, *(s.token_endpoint for s in manifest.sites.values())]
    paths = {tokens.DEFAULT_PATH}
    for url in declared:
        if url:
            path = urlsplit(url).path.rstrip("/")
            if path.startswith("/"):
                paths.add(path)
    return frozenset(paths)


def create_app(
    project: str | os.PathLike[str] | None = None,
    *,
    manifest: Manifest | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    sandbox: bool = False,
    emulator: bool = False,
    rate_limit: int = 30,
    trust_proxy: bool | str | Sequence[str] = False,
    credentials: Credentials | None = None,
    token_ttl: float | None = None,
    connect_timeout: float = 3.0,
    read_timeout: float = 10.0,
    environ: Mapping[str, str] | None = None,
    database: str | None = None,
    store: Store | None = None,
    deliver_webhooks: bool = True,
    handles: HandleSigner | None = None,
    **protection: Any,
) -> TokenApp:
    """Build the token endpoint for ``project`` (default: the current directory).

    The emulator answers instead of Smile when ``emulator`` is set, or ``sandbox`` finds no
    credentials (:func:`_upstream`). The store is ``store``, else ``database``, else
    ``FLIPGEN_DATABASE_URL``, else ``<project>/.flipgen/flipgen.db``; handles are signed by
    ``handles``, else with ``FLIPGEN_SECRET_KEY``. ``deliver_webhooks`` false (the preview) sends
    no webhooks. The other keywords (``proxy_hops``, ``public_origins``…) go to :func:`build_guards`.
    """
    project_dir = Path(project) if project is not None else Path.cwd()
    if rate_limit < 0:
        raise UserError(f"--rate-limit must be 0 (off) or a positive number, not {rate_limit}.")
    parsed = _load_manifest(project_dir, manifest)
    env = os.environ if environ is None else environ
    credentials, transport, upstream = _upstream(
        project_dir, credentials, environ, sandbox=sandbox, emulator=emulator, token_ttl=token_ttl
    )
    # Offline, bot checks are verified only when a secret is set in the environment.
    if upstream == "emulator" and not env.get("TURNSTILE_SECRET"):
        protection.setdefault("verify_bots", False)
    if handles is None:
        handles = load_secret_key(project_dir, env, required=not (sandbox or emulator))
    guards = build_guards(
        parsed, project_dir, rate_limit=rate_limit, trust_proxy=trust_proxy, environ=environ, **protection
    )
    if store is None:
        store = open_store(database or env.get("FLIPGEN_DATABASE_URL") or None, project_dir)
    if guards.budget_in_store:
        guards.budget = StoreBudget(store)  # no Redis: the budget counts where the applications live
    settings = webhooks.WebhookSettings.load(project_dir, env, deliver=deliver_webhooks)
    smile = SmileClient(credentials, transport=transport, connect_timeout=connect_timeout, read_timeout=read_timeout)
    return TokenApp(
        parsed,
        smile=smile,
        store=store,
        handles=handles,
        upstream_name=upstream,
        guards=guards,
        webhook_settings=settings,
    )


def _load_manifest(
    project_dir: Path, manifest: Manifest | Mapping[str, Any] | str | os.PathLike[str] | None
) -> Manifest:
    """The manifest given (the model, its decoded JSON or its file's path), else the project's."""
    if manifest is None:
        manifest = manifest_module.load(project_dir)
    elif isinstance(manifest, str | os.PathLike):
        manifest = manifest_module.read(manifest)
    return manifest_module.parse(manifest)


def _upstream(
    project_dir: Path,
    credentials: Credentials | None,
    environ: Mapping[str, str] | None,
    *,
    sandbox: bool,
    emulator: bool,
    token_ttl: float | None,
) -> tuple[Credentials, httpx.AsyncBaseTransport | None, str]:
    """The Smile credentials, the transport to reach it with, and the upstream's name.

    ``credentials`` default to :func:`load_credentials`. The in-process Smile emulator answers
    when ``emulator`` is true, or when ``sandbox`` is true and no credentials are found;
    without credentials otherwise, :class:`~flipgen.errors.UserError` explains what to set.
    ``token_ttl`` (seconds) is the emulator's token lifetime.
    """
    if credentials is None and not emulator:
        credentials = load_credentials(project_dir, environ)
    if not emulator and credentials is not None:
        return credentials, None, "smile"
    if not (sandbox or emulator):
        raise missing_credentials(project_dir)
    from flipgen.sandbox.emulator import SmileEmulator

    # The real client, answered in process: the sandbox runs the production code path.
    credentials = Credentials("sandbox", "sandbox", "http://smile-emulator.invalid/v1")
    return credentials, SmileEmulator(token_ttl).transport(), "emulator"
