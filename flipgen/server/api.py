"""Plumbing shared by the endpoint's JSON operations: route groups, body reading, validation.

A route group (``tokens.routes``, later ``applications.routes``…) is a function of the
running :class:`~flipgen.server.app.TokenApp` that returns its Starlette routes and the
:class:`Operation`\\ s that describe them; ``app.py`` lists the groups and ``openapi.py``
turns the operations into ``/openapi.json``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from .models import ApiError, ErrorCode

if TYPE_CHECKING:
    from .app import TokenApp

__all__ = ["ClientGone", "Endpoint", "Operation", "RouteGroup", "json_response", "operation", "parse_body", "read_json"]

MAX_BODY = 16 * 1024
M = TypeVar("M", bound=BaseModel)
Handler = Callable[[Request], Awaitable[Response]]

# Answers every POST operation may give before its handler runs.
COMMON_POST_ERRORS = (
    ErrorCode.invalid_json,
    ErrorCode.invalid_request,
    ErrorCode.origin_not_allowed,
    ErrorCode.method_not_allowed,
    ErrorCode.request_timeout,
    ErrorCode.body_too_large,
    ErrorCode.unsupported_media_type,
    ErrorCode.rate_limited,
    ErrorCode.service_unavailable,
)


@dataclass(frozen=True)
class Operation:
    """One documented method on one path (the source of its ``/openapi.json`` entry)."""

    path: str
    method: str
    summary: str
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    errors: tuple[ErrorCode, ...] = ()
    success: int = 200


@dataclass
class RouteGroup:
    routes: list[BaseRoute] = field(default_factory=list)
    operations: list[Operation] = field(default_factory=list)


class ClientGone(Exception):
    """The client disconnected before sending its whole body: nothing to answer."""


# One encoder for every answer: json.dumps with options builds a new one per call.
COMPACT_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = COMPACT_JSON.encode(value).encode()
    return Response(body, status, headers=headers, media_type="application/json")


class Endpoint:
    """A request handler as an ASGI app: Starlette then routes every method to it (the
    handler answers 405 itself, with a stable ``Allow`` header).

    Unlike ``starlette.routing.request_response`` it does not wrap each request in a second
    exception-handling layer: the app's ``ExceptionMiddleware`` applies the same handlers one
    layer up, and the hot path is shorter by a closure, a send wrapper and a coroutine.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handler(Request(scope, receive, send))
        await response(scope, receive, send)


def operation(app: TokenApp, allowed: str, handler: Handler, *, limited: bool = True) -> Endpoint:
    """Wrap a POST handler with what every API operation does first, in this order:
    method (405), origin (403), preflight (204), rate limit (429)."""
    methods = allowed.split(", ")

    async def endpoint(request: Request) -> Response:
        method = request.method
        if method not in methods:
            raise ApiError(
                ErrorCode.method_not_allowed, f"{request.url.path} accepts {allowed}, not {method}.", {"allow": allowed}
            )
        if method in ("GET", "HEAD"):
            return await handler(request)
        if not request.scope["state"]["origin_ok"]:
            origin = request.headers.get("origin", "")
            raise ApiError(
                ErrorCode.origin_not_allowed,
                f"Pages on {origin[:200]} may not ask this server for tokens. Add that origin to "
                "`allowed_origins` in flipgen.yaml, rebuild, and restart the token server.",
            )
        if method == "OPTIONS":
            from .origins import preflight_headers

            headers = preflight_headers(allowed, request.headers.get("access-control-request-headers"))
            return Response(status_code=204, headers=headers)
        if limited:
            await app.rate_limit(request)
        return await handler(request)

    return Endpoint(endpoint)


def retry_after(wait: float) -> dict[str, str]:
    return {"retry-after": str(max(1, math.ceil(wait)))}


async def read_json(request: Request, timeout: float, limit: int = MAX_BODY) -> Any:
    """The request body as JSON, within ``limit`` bytes (default ``MAX_BODY``) and ``timeout`` seconds."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(
            ErrorCode.unsupported_media_type,
            "Send the request body as JSON with the header `Content-Type: application/json`.",
        )
    too_large = ApiError(
        ErrorCode.body_too_large,
        f"The request body is over {limit // 1024} KiB."
        + (" Send only the site, the metadata answers and the handle." if limit == MAX_BODY else ""),
    )
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(ErrorCode.invalid_request, "The Content-Length header is not a number.")
        if int(declared) > limit:
            raise too_large
    chunks: list[bytes] = []
    size = 0
    more = True
    try:
        async with asyncio.timeout(timeout):
            while more:
                message = await request.receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
                more = message.get("more_body", False)
    except TimeoutError:
        raise ApiError(
            ErrorCode.request_timeout, f"The request body did not arrive within {timeout:g} seconds."
        ) from None
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: deeply nested arrays such as "[" * 15000 are not a request either.
        raise ApiError(
            ErrorCode.invalid_json,
            'The request body is not valid JSON. Send an object such as {"site": "acme-income", "metadata": {}}.',
        ) from None


@functools.cache
def _shape(model: type[BaseModel]) -> tuple[frozenset[str], tuple[str, ...], str]:
    """A request model's field names, its required ones, and the names as a message lists them."""
    fields = model.model_fields
    required = tuple(name for name, info in fields.items() if info.is_required())
    return frozenset(fields), required, ", ".join(f'"{name}"' for name in fields)


def parse_body(model: type[M], payload: Any, *, detail: Callable[[str, Any], str | None] | None = None) -> M:
    """``payload`` as ``model``, or ``invalid_request`` naming what is missing or unknown.

    ``detail(field, value)`` may explain a field's problem itself (and pick its error code
    by raising :class:`ApiError`); otherwise pydantic's message is used.
    """
    fields, required, example = _shape(model)
    if not isinstance(payload, dict):
        raise ApiError(ErrorCode.invalid_request, f"The request body must be a JSON object with the fields {example}.")
    missing = [name for name in required if name not in payload]
    unknown = sorted(str(name) for name in payload.keys() - fields)
    if missing or unknown:
        problems = [f"missing `{name}`" for name in missing]
        problems += [f"unknown field `{name[:50]}`" for name in unknown]
        raise ApiError(
            ErrorCode.invalid_request, f"The request has {'; '.join(problems)}. It takes the fields {example}."
        )
    try:
        return model.model_validate(payload)
    except ValidationError as err:
        first = err.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else ""
        explained = detail(name, payload.get(name)) if detail is not None else None
        raise ApiError(ErrorCode.invalid_request, explained or f"`{name}`: {first['msg']}.") from None
