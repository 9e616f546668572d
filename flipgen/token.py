"""The token endpoint (SPEC §6): mints the Wink widget's short-lived user token.

A raw ASGI application, no framework, with one pooled Smile client per process
(:class:`flipgen.smile.SmileClient`). ASGI was chosen by measurement (see
``docs/token-server.md``): the endpoint spends its life waiting for Smile, and a sync WSGI
app on a thread pool sharing one ``httpx.Client`` reached well under half of the Node
reference's throughput.

* ``create_app(project, ...)`` builds the app from the project's manifest and credentials.
* ``app_from_env()`` is the same, configured by environment variables, for servers that
  import the app by name (``uvicorn --factory flipgen.token:app_from_env --workers N``).
* ``run_server(project, ...)`` serves it with uvicorn: the body of ``flipgen token-server``.

Stateless apart from the per-process rate limiter, so instances can run side by side.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flipgen.errors import UserError
from flipgen.schema import LANG
from flipgen.smile import (
    DEFAULT_HOST,
    Credentials,
    MintedToken,
    SmileClient,
    SmileError,
    SmileTimeout,
)

__all__ = ["TokenApp", "app_from_env", "create_app", "load_credentials", "run_server"]

log = logging.getLogger("flipgen.token")

MAX_BODY = 16 * 1024
DEFAULT_PATH = "/api/link-token"
# Smile's externalMetadata limits (UserPostRequest in the Open API document).
MAX_METADATA_KEYS, MAX_KEY_LEN, MAX_VALUE_LEN = 5, 50, 500
MAX_USER_ID_LEN = 200

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

ENV_PREFIX = "FLIPGEN_TOKEN_"


class ApiError(Exception):
    """An answer with a stable error code; ``message`` is read by people, not programs."""

    def __init__(self, status: int, code: str, message: str, headers: Headers | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or []


class _ClientGone(Exception):
    """The client disconnected before sending its whole body."""


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Site:
    """What the token endpoint needs to know about one built site."""

    slug: str
    metadata_keys: frozenset[str]
    wink: Mapping[str, Any] | None
    screens: Mapping[str, Mapping[str, Any]]


def _sites_from_manifest(manifest: Mapping[str, Any]) -> dict[str, Site]:
    sites = manifest.get("sites")
    if not isinstance(sites, Mapping):
        raise UserError("The build manifest has no `sites` mapping: rebuild with `flipgen build`.")
    return {
        slug: Site(
            slug=slug,
            metadata_keys=frozenset(entry.get("metadata_keys") or ()),
            wink=entry.get("wink"),
            screens=entry.get("screens") or {},
        )
        for slug, entry in sites.items()
    }


def _token_paths(manifest: Mapping[str, Any]) -> frozenset[str]:
    """``/api/link-token`` plus the path of every token endpoint the manifest declares."""
    declared = [manifest.get("token_endpoint")]
    declared += [s.get("token_endpoint") for s in (manifest.get("sites") or {}).values()]
    paths = {DEFAULT_PATH}
    for url in declared:
        if isinstance(url, str) and url:
            path = urlsplit(url).path.rstrip("/")
            if path.startswith("/"):
                paths.add(path)
    return frozenset(paths)


def load_credentials(
    project: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Credentials | None:
    """Smile credentials from the environment, else ``<project>/.env``; None when absent.

    ``SMILE_API_KEY``/``SMILE_API_SECRET``/``SMILE_API_HOST``, with the quickstart's
    ``API_KEY``/``API_SECRET``/``OPEN_API_HOST`` as fallbacks. The environment wins over the
    file variable by variable. Raises :class:`UserError` for half a key pair or a bad host.
    """
    from dotenv import dotenv_values

    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    dotenv_path = Path(project or ".") / ".env"
    if dotenv_path.is_file():
        values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v})
    values.update({k: v for k, v in env.items() if v})

    def pick(primary: str, fallback: str) -> str | None:
        return (values.get(primary) or values.get(fallback) or "").strip() or None

    key = pick("SMILE_API_KEY", "API_KEY")
    secret = pick("SMILE_API_SECRET", "API_SECRET")
    host = pick("SMILE_API_HOST", "OPEN_API_HOST") or DEFAULT_HOST
    if key is None and secret is None:
        return None
    if key is None or secret is None:
        missing = "SMILE_API_KEY" if key is None else "SMILE_API_SECRET"
        raise UserError(
            f"{missing} is not set, but its partner is: set both SMILE_API_KEY and "
            f"SMILE_API_SECRET (in the environment or in {dotenv_path})."
        )
    if urlsplit(host).scheme not in ("http", "https") or not urlsplit(host).netloc:
        raise UserError(f"SMILE_API_HOST must be an http(s) URL such as {DEFAULT_HOST}, not {host!r}.")
    return Credentials(key=key, secret=secret, host=host)


def _missing_credentials(project: Path) -> UserError:
    return UserError(
        "No Smile API credentials: set SMILE_API_KEY and SMILE_API_SECRET (and SMILE_API_HOST, "
        f"default {DEFAULT_HOST}) in the environment or in {project / '.env'}, "
        "or start with --sandbox to use the built-in Smile emulator."
    )


# --------------------------------------------------------------------------- rate limiting


class RateLimiter:
    """Per-key token bucket: ``per_minute`` requests a minute, bursts up to the same number."""

    MAX_KEYS = 10_000

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}

    def check(self, key: str) -> float:
        """0 when the request may go ahead (and is counted), else seconds until it may."""
        now = self.clock()
        tokens, last = self.buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self.buckets[key] = (tokens - 1.0, now)
            if len(self.buckets) > self.MAX_KEYS:
                self._forget_idle(now)
            return 0.0
        self.buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _forget_idle(self, now: float) -> None:
        # A bucket that has refilled completely is indistinguishable from a new one.
        full_after = self.capacity / self.rate
        self.buckets = {k: v for k, v in self.buckets.items() if now - v[1] < full_after}


# --------------------------------------------------------------------------- the application


class TokenApp:
    """The ASGI application. Build it with :func:`create_app`."""

    def __init__(
        self,
        manifest: Mapping[str, Any],
        *,
        smile: SmileClient,
        upstream_name: str,
        rate_limit: int,
        trust_proxy: bool,
    ) -> None:
        self.smile = smile
        self.upstream_name = upstream_name
        self.limiter = RateLimiter(rate_limit) if rate_limit > 0 else None
        self.trust_proxy = trust_proxy
        self.update_manifest(manifest)

    def update_manifest(self, manifest: Mapping[str, Any]) -> None:
        """Serve the sites of a new build (the preview server calls this after a rebuild)."""
        self.sites = _sites_from_manifest(manifest)
        self.token_paths = _token_paths(manifest)
        self.refresh_paths = frozenset(p + "/refresh" for p in self.token_paths)
        origins = manifest.get("allowed_origins") or []
        if isinstance(origins, str):
            origins = [origins]
        normalised = {_normalise_origin(o) for o in origins}
        self.any_origin = "*" in normalised
        self.allowed_origins = normalised - {"*"}
        token_sites = sorted(slug for slug, site in self.sites.items() if site.wink is not None)
        screens = sorted({screen for site in self.sites.values() for screen in site.screens})
        self.openapi = _json(openapi_document(sorted(self.token_paths), token_sites, screens))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.smile.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def aclose(self) -> None:
        """Close the pooled upstream client (servers do it through the ASGI lifespan)."""
        await self.smile.aclose()

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]},{text}" if key in headers else text
        record: dict[str, Any] = {"method": method, "path": path[:200], "site": None}
        origin = headers.get("origin")
        # Requests without Origin are not from a browser page: nothing to check.
        origin_ok = origin is None or self._origin_allowed(origin, headers)
        cors: Headers = []
        if origin is not None and origin_ok:
            cors = [(b"access-control-allow-origin", origin.encode("latin-1"))]
        try:
            status, body, extra = await self._route(method, path, scope, receive, headers, origin_ok, record)
        except ApiError as err:
            status, extra = err.status, err.headers
            body = _json({"error": {"code": err.code, "message": err.message}})
            record["error"] = err.code
        except _ClientGone:
            return
        except Exception:
            log.exception("unexpected error while answering %s %s", method, path[:200])
            status, extra = 500, []
            body = _json(
                {
                    "error": {
                        "code": "internal_error",
                        "message": "Something went wrong in the token server. Please try again in a moment.",
                    }
                }
            )
            record["error"] = "internal_error"
        response_headers: Headers = [(b"cache-control", b"no-store"), (b"vary", b"Origin")]
        if status != 204:
            response_headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
        response_headers += cors + extra
        if method == "HEAD":
            body = b""
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})
        level = logging.WARNING if status >= 500 else logging.INFO
        if log.isEnabledFor(level):
            record["status"] = status
            record["ms"] = round((time.perf_counter() - started) * 1000, 2)
            log.log(level, _json(record).decode())

    async def _route(
        self,
        method: str,
        path: str,
        scope: Scope,
        receive: Receive,
        headers: Mapping[str, str],
        origin_ok: bool,
        record: dict[str, Any],
    ) -> tuple[int, bytes, Headers]:
        if path in self.token_paths or path in self.refresh_paths:
            allowed = "POST, OPTIONS"
        elif path in ("/healthz", "/openapi.json"):
            allowed = "GET, HEAD, OPTIONS"
        else:
            raise ApiError(
                404,
                "not_found",
                f"Nothing here at {path[:200]}. The token endpoint "
                f"answers POST {DEFAULT_PATH} and POST {DEFAULT_PATH}/refresh.",
            )
        if method not in allowed.split(", "):
            raise ApiError(
                405, "method_not_allowed", f"{path} accepts {allowed}, not {method}.", [(b"allow", allowed.encode())]
            )
        if method in ("GET", "HEAD"):
            if path == "/healthz":
                return 200, _json({"status": "ok", "upstream": self.upstream_name}), []
            return 200, self.openapi, []
        if not origin_ok:
            origin = headers.get("origin", "")
            raise ApiError(
                403,
                "origin_not_allowed",
                f"Pages on {origin[:200]} may not ask this "
                "server for tokens. Add that origin to `allowed_origins` in "
                "flipgen.yaml, rebuild, and restart the token server.",
            )
        if method == "OPTIONS":
            return 204, b"", _preflight_headers(allowed, headers)
        if self.limiter is not None:
            wait = self.limiter.check(self._client_ip(scope, headers))
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                raise ApiError(
                    429,
                    "rate_limited",
                    f"Too many requests from this address. Please wait {seconds} second(s) and try again.",
                    [(b"retry-after", str(seconds).encode())],
                )
        payload = await _read_json(receive, headers)
        if path in self.refresh_paths:
            return 200, await self._refresh(payload, record), []
        return 200, await self._mint(payload, record), []

    # -- the two operations

    async def _mint(self, payload: Any, record: dict[str, Any]) -> bytes:
        fields = _expect_fields(payload, required=("site",), optional=("metadata", "screen", "locale"))
        site, settings = self._site_settings(fields, record)
        metadata = _check_metadata(fields.get("metadata"), site)
        if fields.get("locale") is not None:
            record["locale"] = _check_locale(fields["locale"])
        token = await self._upstream(self.smile.create_user(metadata), record)
        return _token_answer(token, settings)

    async def _refresh(self, payload: Any, record: dict[str, Any]) -> bytes:
        fields = _expect_fields(payload, required=("site", "userId"), optional=("screen",))
        _, settings = self._site_settings(fields, record)
        user_id = fields["userId"]
        if not isinstance(user_id, str) or not 1 <= len(user_id) <= MAX_USER_ID_LEN:
            raise ApiError(
                400,
                "invalid_request",
                f"`userId` must be the userId string returned by {DEFAULT_PATH} (1 to {MAX_USER_ID_LEN} characters).",
            )
        # Smile's 404 here means the visitor's userId is unknown: the caller can fix that by
        # minting anew, so it is theirs to handle, not an upstream failure to retry.
        unknown_user = ApiError(
            404, "not_found", f"Smile does not know this userId. Ask for a new token with POST {DEFAULT_PATH} instead."
        )
        token = await self._upstream(self.smile.refresh_token(user_id), record, unknown_user)
        return _token_answer(token, settings)

    def _site_settings(self, fields: Mapping[str, Any], record: dict[str, Any]) -> tuple[Site, Mapping[str, Any]]:
        slug = fields["site"]
        if not isinstance(slug, str) or not slug:
            raise ApiError(400, "invalid_request", '`site` must be the site\'s slug, e.g. {"site": "acme-income"}.')
        record["site"] = slug[:100]
        site = self.sites.get(slug)
        if site is None:
            known = ", ".join(sorted(self.sites)) or "none"
            raise ApiError(
                404,
                "unknown_site",
                f"There is no site `{slug[:100]}` in this "
                f"project's build (known sites: {known}). Check the slug, or rebuild "
                "and restart the token server after adding a site.",
            )
        if site.wink is None:
            raise ApiError(
                400,
                "invalid_request",
                f"Site `{slug}` has no `wink` settings, so it "
                "does not use tokens. Add a `wink` block to its YAML file.",
            )
        screen = fields.get("screen")
        if screen is None:
            return site, site.wink
        if not isinstance(screen, str) or screen not in site.screens:
            known = ", ".join(sorted(site.screens)) or "none"
            raise ApiError(
                400, "invalid_request", f"`screen` must name a wink screen of site `{slug}` (wink screens: {known})."
            )
        return site, site.screens[screen]

    async def _upstream(
        self,
        call: Awaitable[MintedToken],
        record: dict[str, Any],
        on_404: ApiError | None = None,
    ) -> MintedToken:
        try:
            token = await call
        except SmileTimeout as err:
            record["upstream"] = {"error": err.message}
            raise ApiError(
                504,
                "upstream_timeout",
                "Smile, the account-linking service, did not answer in time. Please try again in a moment.",
            ) from None
        except SmileError as err:
            record["upstream"] = {"status": err.status, "code": err.code}
            record["requestId"] = err.request_id
            if err.status == 404 and on_404 is not None:
                raise on_404 from None
            raise ApiError(502, "upstream_error", _upstream_message(err)) from None
        record["requestId"] = token.request_id
        return token

    # -- request context

    def _client_ip(self, scope: Scope, headers: Mapping[str, str]) -> str:
        if self.trust_proxy:
            # The right-most entry is the one our own proxy appended; the rest is client-made.
            hops = [h.strip() for h in headers.get("x-forwarded-for", "").split(",") if h.strip()]
            if hops:
                return hops[-1]
        client = scope.get("client")
        return str(client[0]) if client else "unknown"

    def _origin_allowed(self, origin: str, headers: Mapping[str, str]) -> bool:
        if self.any_origin:
            return True
        normalised = _normalise_origin(origin)
        if normalised in self.allowed_origins:
            return True
        # Same origin: the page and this endpoint share scheme-less host:port.
        host = headers.get("x-forwarded-host") if self.trust_proxy else None
        host = (host or headers.get("host", "")).split(",")[0].strip().lower()
        return bool(host) and _strip_default_port(host) == urlsplit(normalised).netloc


def _normalise_origin(origin: str) -> str:
    parts = urlsplit(origin.strip().lower().rstrip("/"))
    if not parts.scheme or not parts.netloc:
        return origin.strip().lower()
    return f"{parts.scheme}://{_strip_default_port(parts.netloc)}"


def _strip_default_port(netloc: str) -> str:
    for port in (":80", ":443"):
        if netloc.endswith(port):
            return netloc[: -len(port)]
    return netloc


def _preflight_headers(allowed: str, headers: Mapping[str, str]) -> Headers:
    requested = headers.get("access-control-request-headers", "content-type")
    return [
        (b"allow", allowed.encode()),
        (b"access-control-allow-methods", allowed.encode()),
        (b"access-control-allow-headers", requested.encode("latin-1")),
        (b"access-control-max-age", b"600"),
    ]


async def _read_json(receive: Receive, headers: Mapping[str, str]) -> Any:
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(
            415,
            "unsupported_media_type",
            "Send the request body as JSON with the header `Content-Type: application/json`.",
        )
    too_large = ApiError(
        413,
        "body_too_large",
        f"The request body is over {MAX_BODY // 1024} KiB. Send only the site, the metadata answers and the userId.",
    )
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "invalid_request", "The Content-Length header is not a number.")
        if int(declared) > MAX_BODY:
            raise too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError):
        raise ApiError(
            400,
            "invalid_json",
            'The request body is not valid JSON. Send an object such as {"site": "acme-income", "metadata": {}}.',
        ) from None


def _expect_fields(payload: Any, *, required: tuple[str, ...], optional: tuple[str, ...]) -> Mapping[str, Any]:
    example = ", ".join(f'"{name}"' for name in required + optional)
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_request", f"The request body must be a JSON object with the fields {example}.")
    missing = [name for name in required if name not in payload]
    unknown = sorted(set(payload) - set(required) - set(optional))
    if missing or unknown:
        problems = [f"missing `{name}`" for name in missing]
        problems += [f"unknown field `{name[:50]}`" for name in unknown]
        raise ApiError(400, "invalid_request", f"The request has {'; '.join(problems)}. It takes the fields {example}.")
    return payload


def _check_locale(locale: Any) -> str:
    """The page's language (docs/translations.md): a BCP 47 tag, kept with the request's log line."""
    if not isinstance(locale, str) or len(locale) > 35 or not re.fullmatch(LANG, locale):
        raise ApiError(400, "invalid_request", '`locale` must be the page\'s language tag, e.g. "id" or "es-419".')
    return locale


def _check_metadata(metadata: Any, site: Site) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise ApiError(400, "invalid_metadata", '`metadata` must be an object of answers, e.g. {"ref": "abc"}.')
    problems = []
    for key, value in metadata.items():
        shown = key[:MAX_KEY_LEN]
        if key not in site.metadata_keys:
            declared = ", ".join(sorted(site.metadata_keys)) or "none"
            problems.append(
                f"`{shown}` is not a field or param marked `metadata: true` in site "
                f"`{site.slug}` (declared: {declared})"
            )
        elif len(key) > MAX_KEY_LEN:
            problems.append(f"the name `{shown}…` is longer than {MAX_KEY_LEN} characters")
        if not isinstance(value, str):
            problems.append(f"the value of `{shown}` must be text")
        elif not value.isascii():
            problems.append(f"the value of `{shown}` contains non-ASCII characters, which Smile does not accept")
        elif len(value) > MAX_VALUE_LEN:
            problems.append(f"the value of `{shown}` is longer than {MAX_VALUE_LEN} characters")
    if len(metadata) > MAX_METADATA_KEYS:
        problems.append(f"{len(metadata)} metadata entries sent; Smile accepts at most {MAX_METADATA_KEYS}")
    if problems:
        raise ApiError(400, "invalid_metadata", "Metadata rejected: " + "; ".join(problems) + ".")
    return metadata


def _token_answer(token: MintedToken, settings: Mapping[str, Any]) -> bytes:
    return _json(
        {
            "userToken": token.access_token,
            "userId": token.user_id,
            "expiresAt": token.expires_at,
            "mode": token.mode,
            "templateId": settings.get("template_id"),
            "providers": list(settings.get("providers") or []),
            "topProviders": list(settings.get("top_providers") or []),
            "enableUpload": bool(settings.get("enable_upload", False)),
        }
    )


def _upstream_message(err: SmileError) -> str:
    if err.status in (401, 403):
        return (
            "Smile refused this server's API credentials. The site owner should check "
            "SMILE_API_KEY, SMILE_API_SECRET and SMILE_API_HOST (sandbox keys only work with "
            "the sandbox host)."
        )
    if err.status == 429:
        return "Smile is receiving too many requests right now. Please try again in a minute."
    if err.status is not None and err.status >= 500:
        return "Smile is having trouble right now. Please try again in a few minutes."
    if err.code == "CONNECTION_ERROR":
        return (
            "This server could not reach Smile. Please try again in a few minutes; if it "
            "persists, the site owner should check SMILE_API_HOST and the network."
        )
    return (
        f"Smile rejected the request ({err.code or err.status}). Please try again; if it "
        "persists, contact the site owner."
    )


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


# --------------------------------------------------------------------------- OpenAPI


def openapi_document(token_paths: Iterable[str], sites: list[str], screens: list[str]) -> dict[str, Any]:
    """The OpenAPI 3.0 description of this endpoint (served at ``/openapi.json``).

    ``sites`` are the slugs this server mints tokens for and ``screens`` the wink screen ids
    they have; listing them lets clients (and schemathesis) reach more than the 4xx answers.
    """
    from flipgen import __version__

    def error(description: str, headers: Mapping[str, Any] | None = None) -> dict[str, Any]:
        response: dict[str, Any] = {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        if headers:
            response["headers"] = headers
        return response

    errors = {
        "400": error("invalid_json, invalid_request or invalid_metadata"),
        "403": error("origin_not_allowed"),
        "404": error("unknown_site; not_found (refresh: Smile does not know the userId)"),
        "413": error("body_too_large"),
        "415": error("unsupported_media_type"),
        "429": error(
            "rate_limited",
            {
                "Retry-After": {
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1},
                    "description": "seconds to wait",
                }
            },
        ),
        "502": error("upstream_error: Smile answered an error"),
        "504": error("upstream_timeout: Smile did not answer in time"),
    }
    preflight = {
        "summary": "CORS preflight",
        "responses": {"204": {"description": "allowed origin or no Origin"}, "403": error("origin_not_allowed")},
    }

    def token_operation(summary: str, schema: str, refresh_path: str | None) -> dict[str, Any]:
        ok: dict[str, Any] = {
            "description": "a fresh single-use user token",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LinkToken"}}},
        }
        if refresh_path is not None:
            ok["links"] = {
                "Refresh": {
                    "operationRef": "#/paths/" + refresh_path.replace("/", "~1") + "/post",
                    "requestBody": {"site": "$request.body#/site", "userId": "$response.body#/userId"},
                }
            }
        return {
            "summary": summary,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
            },
            "responses": {"200": ok, **errors},
        }

    paths: dict[str, Any] = {}
    for path in token_paths:
        paths[path] = {
            "post": token_operation("Create a Smile user and mint its link token", "MintRequest", path + "/refresh"),
            "options": preflight,
        }
        paths[path + "/refresh"] = {
            "post": token_operation("Mint a new token for a known Smile user", "RefreshRequest", None),
            "options": preflight,
        }
    paths["/healthz"] = {
        "get": {
            "summary": "Liveness",
            "responses": {
                "200": {
                    "description": "the server is up",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}},
                }
            },
        }
    }
    paths["/openapi.json"] = {
        "get": {
            "summary": "This document",
            "responses": {
                "200": {
                    "description": "OpenAPI document",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }
    string = {"type": "string"}
    site: dict[str, Any] = {"type": "string", "minLength": 1, "description": "the site's slug"}
    if sites:
        site["enum"] = sites
    screen: dict[str, Any] = {"type": "string", "nullable": True, "description": "a wink screen id of the site"}
    if screens:
        screen["enum"] = [*screens, None]
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "flipgen token endpoint",
            "version": __version__,
            "description": "Mints short-lived Smile Wink user tokens for flipgen sites.",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "MintRequest": {
                    "type": "object",
                    "required": ["site"],
                    "additionalProperties": False,
                    "properties": {
                        "site": site,
                        "screen": screen,
                        "locale": {
                            "type": "string",
                            "maxLength": 35,
                            "pattern": LANG,
                            "description": "the page's language (BCP 47), e.g. `id`, `es-419`",
                        },
                        "metadata": {
                            "type": "object",
                            "nullable": True,
                            "maxProperties": MAX_METADATA_KEYS,
                            "additionalProperties": {"type": "string", "maxLength": MAX_VALUE_LEN},
                            "description": "answers of fields/params marked `metadata: true`; ASCII strings",
                        },
                    },
                },
                "RefreshRequest": {
                    "type": "object",
                    "required": ["site", "userId"],
                    "additionalProperties": False,
                    "properties": {
                        "site": site,
                        "screen": screen,
                        "userId": {"type": "string", "minLength": 1, "maxLength": MAX_USER_ID_LEN},
                    },
                },
                "LinkToken": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": [
                        "userToken",
                        "userId",
                        "expiresAt",
                        "mode",
                        "templateId",
                        "providers",
                        "topProviders",
                        "enableUpload",
                    ],
                    "properties": {
                        "userToken": string,
                        "userId": string,
                        "expiresAt": {"type": "string", "format": "date-time"},
                        "mode": {"type": "string", "enum": ["SANDBOX", "PRODUCTION"]},
                        "templateId": {"type": "string", "nullable": True},
                        "providers": {"type": "array", "items": string},
                        "topProviders": {"type": "array", "items": string},
                        "enableUpload": {"type": "boolean"},
                    },
                },
                "Health": {
                    "type": "object",
                    "required": ["status", "upstream"],
                    "properties": {
                        "status": {"type": "string", "enum": ["ok"]},
                        "upstream": {"type": "string", "enum": ["smile", "emulator"]},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {
                                    "type": "string",
                                    "enum": [
                                        "invalid_json",
                                        "invalid_request",
                                        "invalid_metadata",
                                        "origin_not_allowed",
                                        "unknown_site",
                                        "not_found",
                                        "method_not_allowed",
                                        "body_too_large",
                                        "unsupported_media_type",
                                        "rate_limited",
                                        "upstream_error",
                                        "upstream_timeout",
                                    ],
                                },
                                "message": string,
                            },
                        }
                    },
                },
            }
        },
    }


# --------------------------------------------------------------------------- factories


def create_app(
    project: str | os.PathLike[str] | None = None,
    *,
    manifest: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    sandbox: bool = False,
    emulator: bool = False,
    rate_limit: int = 30,
    trust_proxy: bool = False,
    credentials: Credentials | None = None,
    token_ttl: float | None = None,
    connect_timeout: float = 3.0,
    read_timeout: float = 10.0,
    environ: Mapping[str, str] | None = None,
) -> TokenApp:
    """Build the token endpoint for ``project`` (default: the current directory).

    ``manifest`` is the build manifest (``docs/internals.md``) or the path of its JSON file;
    when omitted it comes from ``flipgen.build.load_manifest(project)``. ``credentials`` default to
    :func:`load_credentials`. The in-process Smile emulator answers when ``emulator`` is true,
    or when ``sandbox`` is true and no credentials are found; without credentials otherwise,
    :class:`~flipgen.errors.UserError` explains what to set. ``token_ttl`` (seconds) is the
    emulator's token lifetime; the timeouts bound each call to Smile.
    """
    project_dir = Path(project) if project is not None else Path.cwd()
    if rate_limit < 0:
        raise UserError(f"--rate-limit must be 0 (off) or a positive number, not {rate_limit}.")
    if manifest is None:
        from flipgen.build import load_manifest

        manifest = load_manifest(project_dir)
    elif not isinstance(manifest, Mapping):
        manifest = _read_manifest(Path(manifest))
    if credentials is None and not emulator:
        credentials = load_credentials(project_dir, environ)
    transport = None
    upstream = "smile"
    if emulator or credentials is None:
        if not (sandbox or emulator):
            raise _missing_credentials(project_dir)
        from flipgen.sandbox.emulator import SmileEmulator

        # The real client, answered in process: the sandbox runs the production code path.
        credentials = Credentials("sandbox", "sandbox", "http://smile-emulator.invalid/v1")
        transport = SmileEmulator(token_ttl).transport()
        upstream = "emulator"
    smile = SmileClient(credentials, transport=transport, connect_timeout=connect_timeout, read_timeout=read_timeout)
    return TokenApp(
        manifest,
        smile=smile,
        upstream_name=upstream,
        rate_limit=rate_limit,
        trust_proxy=trust_proxy,
    )


def _read_manifest(path: Path) -> Mapping[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise UserError(f"Cannot read the build manifest {path}: {err.strerror}.") from None
    except ValueError as err:
        raise UserError(f"{path} is not valid JSON ({err}); rebuild with `flipgen build`.") from None
    if not isinstance(document, Mapping):
        raise UserError(f"{path} is not a flipgen manifest; rebuild with `flipgen build`.")
    return document


def _env_flag(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def app_from_env() -> TokenApp:
    """:func:`create_app` configured by ``FLIPGEN_TOKEN_*`` variables, for import-by-name.

    ``FLIPGEN_TOKEN_PROJECT`` (default: current directory), ``FLIPGEN_TOKEN_MANIFEST`` (a
    manifest JSON file instead of the project's build), ``FLIPGEN_TOKEN_SANDBOX``,
    ``FLIPGEN_TOKEN_RATE_LIMIT`` (default 30), ``FLIPGEN_TOKEN_TRUST_PROXY``,
    ``FLIPGEN_TOKEN_CONNECT_TIMEOUT`` (3 s), ``FLIPGEN_TOKEN_READ_TIMEOUT`` (10 s). Run with
    ``uvicorn --factory flipgen.token:app_from_env``.
    """
    env = os.environ
    configure_logging(env.get(ENV_PREFIX + "LOG_LEVEL", "info"))
    return create_app(
        env.get(ENV_PREFIX + "PROJECT") or None,
        manifest=env.get(ENV_PREFIX + "MANIFEST") or None,
        sandbox=_env_flag(env, ENV_PREFIX + "SANDBOX"),
        rate_limit=int(env.get(ENV_PREFIX + "RATE_LIMIT") or 30),
        trust_proxy=_env_flag(env, ENV_PREFIX + "TRUST_PROXY"),
        connect_timeout=float(env.get(ENV_PREFIX + "CONNECT_TIMEOUT") or 3.0),
        read_timeout=float(env.get(ENV_PREFIX + "READ_TIMEOUT") or 10.0),
    )


def configure_logging(level: str = "info") -> None:
    """Print the request log (one JSON object a line) on stderr, unless already configured."""
    if log.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(level.upper())
    log.propagate = False


def run_server(
    project: str | os.PathLike[str] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8787,
    sandbox: bool = False,
    rate_limit: int = 30,
    trust_proxy: bool = False,
    workers: int = 1,
    log_level: str = "info",
    manifest: str | os.PathLike[str] | None = None,
) -> None:
    """Serve the token endpoint with uvicorn until interrupted (``flipgen token-server``).

    ``manifest`` is a manifest JSON file to serve instead of the project's build.
    Raises :class:`UserError` before binding when the project or credentials are unusable.
    With ``workers > 1`` each worker process builds its own app through
    :func:`app_from_env`, configured through ``FLIPGEN_TOKEN_*`` variables set here.
    """
    import uvicorn

    project_dir = Path(project).resolve() if project is not None else Path.cwd()
    if workers < 1:
        raise UserError(f"--workers must be at least 1, not {workers}.")
    # Built here even for several workers: configuration errors surface before binding.
    manifest_path = str(Path(manifest).resolve()) if manifest is not None else ""
    app = create_app(
        project_dir, manifest=manifest_path or None, sandbox=sandbox, rate_limit=rate_limit, trust_proxy=trust_proxy
    )
    configure_logging(log_level)
    print(
        f"flipgen token endpoint on http://{host}:{port}{DEFAULT_PATH} "
        f"(upstream: {app.upstream_name}, {len(app.sites)} site(s), {workers} worker(s))",
        file=sys.stderr,
        flush=True,
    )
    # The app reads X-Forwarded-For itself (only with --trust-proxy): uvicorn must not.
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": False,
        "proxy_headers": False,
        "server_header": False,
        "lifespan": "on",
    }
    if workers == 1:
        uvicorn.run(app, **options)
        return
    os.environ.update(
        {
            ENV_PREFIX + "PROJECT": str(project_dir),
            ENV_PREFIX + "MANIFEST": manifest_path,
            ENV_PREFIX + "SANDBOX": "1" if sandbox else "",
            ENV_PREFIX + "RATE_LIMIT": str(rate_limit),
            ENV_PREFIX + "TRUST_PROXY": "1" if trust_proxy else "",
            ENV_PREFIX + "LOG_LEVEL": log_level,
        }
    )
    uvicorn.run("flipgen.token:app_from_env", factory=True, workers=workers, **options)
