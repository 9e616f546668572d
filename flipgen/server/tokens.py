"""Minting (``POST /api/link-token``) and refreshing (``…/refresh``) Wink user tokens.

Every mint creates a Smile user that the customer pays for, so a mint request passes, in
order: method, origin, rate limit, body checks, the site's declared metadata, the site's
bot check and its daily budget; only then is Smile called.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flipgen.manifest import SiteEntry, WinkSettings
from flipgen.smile import MintedToken, SmileError, SmileTimeout

from . import applications
from .api import COMMON_POST_ERRORS, Operation, RouteGroup, json_response, operation, parse_body, read_json
from .models import (
    MAX_KEY_LEN,
    MAX_METADATA_KEYS,
    MAX_VALUE_LEN,
    ApiError,
    ErrorCode,
    LinkToken,
    MintRequest,
    RefreshRequest,
)

if TYPE_CHECKING:
    from .app import TokenApp

__all__ = ["DEFAULT_PATH", "routes"]

DEFAULT_PATH = "/api/link-token"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

UPSTREAM_ERRORS = (ErrorCode.upstream_error, ErrorCode.upstream_timeout)


def routes(app: TokenApp) -> RouteGroup:
    """The mint and refresh routes of every token path the build declares."""
    group = RouteGroup()
    for path in sorted(app.token_paths):
        group.routes.append(Route(path, operation(app, "POST, OPTIONS", lambda r: _mint(app, r))))
        group.routes.append(Route(path + "/refresh", operation(app, "POST, OPTIONS", lambda r: _refresh(app, r))))
        site_errors = (ErrorCode.unknown_site, ErrorCode.invalid_metadata)
        group.operations += [
            Operation(
                path,
                "post",
                "Create a Smile user and mint its link token",
                MintRequest,
                LinkToken,
                COMMON_POST_ERRORS
                + site_errors
                + (ErrorCode.bot_check_failed, ErrorCode.budget_exhausted, ErrorCode.unknown_application)
                + UPSTREAM_ERRORS,
            ),
            Operation(path, "options", "CORS preflight", errors=(ErrorCode.origin_not_allowed,)),
            Operation(
                path + "/refresh",
                "post",
                "Mint a new token for a known Smile user",
                RefreshRequest,
                LinkToken,
                COMMON_POST_ERRORS
                + (ErrorCode.unknown_site, ErrorCode.unknown_application, ErrorCode.not_found)
                + UPSTREAM_ERRORS,
            ),
            Operation(path + "/refresh", "options", "CORS preflight", errors=(ErrorCode.origin_not_allowed,)),
        ]
    return group


async def _mint(app: TokenApp, request: Request) -> Response:
    payload = await read_json(request, app.body_timeout)
    body = parse_body(MintRequest, payload, detail=_explain)
    site, settings = _site_settings(app, request, body.site, body.screen)
    metadata = _check_metadata(body.metadata, body.site, site)
    if body.locale is not None:
        request.scope["state"]["record"]["locale"] = body.locale  # the page's language, for the log
    application = None
    if body.handle is not None:
        application = await applications.application_for(app, body.handle, body.site)
        if application.smile_user_id:
            # This visitor has a Smile user already: a new token for it, never a second paid user.
            gone = ApiError(ErrorCode.not_found, "")
            try:
                token = await _upstream(request, app.smile.refresh_token(application.smile_user_id), gone)
                return _token_answer(token, settings, body.handle)
            except ApiError as err:
                if err is not gone:
                    raise  # else Smile forgot the user (after its retention): mint a new one below
    await app.guard_mint(request, body.site, site, body.turnstile)
    token = await _upstream(request, app.smile.create_user(metadata))
    if application is None:
        # One write: the application starts with its Smile user.
        first = site.journey["screens"][0]["id"] if site.journey else None
        _, handle = await applications.start_application(app, body.site, first, {}, body.locale, token.user_id)
        return _token_answer(token, settings, handle)
    await applications.link_smile_user(app, application.id, token.user_id)
    return _token_answer(token, settings, body.handle or "")


async def _refresh(app: TokenApp, request: Request) -> Response:
    payload = await read_json(request, app.body_timeout)
    body = parse_body(RefreshRequest, payload, detail=_explain)
    _, settings = _site_settings(app, request, body.site, body.screen)
    application = await applications.application_for(app, body.handle, body.site)
    # The application has no Smile user yet, or Smile no longer knows it: the caller fixes
    # that by minting with the handle, so it is theirs to handle, not an upstream failure.
    no_user = ApiError(
        ErrorCode.not_found,
        f"This application has no Smile user to refresh. Ask for a new token with POST {DEFAULT_PATH} "
        "and the handle instead.",
    )
    if not application.smile_user_id:
        raise no_user
    token = await _upstream(request, app.smile.refresh_token(application.smile_user_id), no_user)
    return _token_answer(token, settings, body.handle)


def _explain(name: str, value: Any) -> str | None:
    """Messages for the fields people get wrong most; metadata problems have their own code."""
    if name == "site":
        return '`site` must be the site\'s slug, e.g. {"site": "acme-income"}.'
    if name == "handle":
        return f"`handle` must be the application handle returned by {DEFAULT_PATH} or POST /api/applications."
    if name == "locale":
        return '`locale` must be the page\'s language tag, e.g. "id" or "es-419".'
    if name == "screen":
        return "`screen` must be the id of a wink screen of the site, or null."
    if name == "metadata":
        _check_metadata_shape(value)
    return None


def _site_settings(app: TokenApp, request: Request, slug: str, screen: str | None) -> tuple[SiteEntry, WinkSettings]:
    request.scope["state"]["record"]["site"] = slug[:100]
    site = app.manifest.sites.get(slug)
    if site is None:
        # Never list the known slugs: they are not the business of whoever asks.
        raise ApiError(
            ErrorCode.unknown_site,
            f"There is no site `{slug[:100]}` in this server's build. Check the slug, or rebuild "
            "and restart the token server after adding a site.",
        )
    if site.wink is None:
        raise ApiError(
            ErrorCode.invalid_request,
            f"Site `{slug[:100]}` has no `wink` settings, so it does not use tokens. Add a `wink` block to its YAML file.",
        )
    if screen is None:
        return site, site.wink
    settings = site.screens.get(screen)
    if settings is None:
        known = ", ".join(sorted(site.screens)) or "none"
        raise ApiError(
            ErrorCode.invalid_request, f"`screen` must name a wink screen of site `{slug}` (wink screens: {known})."
        )
    return site, settings


def _check_metadata_shape(metadata: Any) -> None:
    """Explain a metadata object that is not text values within Smile's limits."""
    if not isinstance(metadata, dict):
        raise ApiError(ErrorCode.invalid_metadata, '`metadata` must be an object of answers, e.g. {"ref": "abc"}.')
    problems = [_value_problem(str(key)[:MAX_KEY_LEN], value) for key, value in metadata.items()]
    if len(metadata) > MAX_METADATA_KEYS:
        problems.append(f"{len(metadata)} metadata entries sent; Smile accepts at most {MAX_METADATA_KEYS}")
    _reject([p for p in problems if p])


def _value_problem(shown: str, value: Any) -> str | None:
    if not isinstance(value, str):
        return f"the value of `{shown}` must be text"
    if not value.isascii():
        return f"the value of `{shown}` contains non-ASCII characters, which Smile does not accept"
    if _CONTROL.search(value):
        return f"the value of `{shown}` contains control characters"
    if len(value) > MAX_VALUE_LEN:
        return f"the value of `{shown}` is longer than {MAX_VALUE_LEN} characters"
    return None


def _check_metadata(metadata: dict[str, str] | None, slug: str, site: SiteEntry) -> dict[str, str]:
    """Only the keys the site declares, each matching its declared pattern, as Smile takes them."""
    if not metadata:
        return {}
    problems = []
    declared = set(site.metadata_keys)
    for key, value in metadata.items():
        shown = key[:MAX_KEY_LEN]
        if key not in declared:
            names = ", ".join(sorted(declared)) or "none"
            problems.append(
                f"`{shown}` is not a field or param marked `metadata: true` in site `{slug}` (declared: {names})"
            )
            continue
        if len(key) > MAX_KEY_LEN:
            problems.append(f"the name `{shown}…` is longer than {MAX_KEY_LEN} characters")
        problem = _value_problem(shown, value)
        pattern = site.metadata_patterns.get(key)
        if problem is None and pattern is not None and value and not _full_match(pattern, value):
            problem = f"the value of `{shown}` does not match the pattern the site declares for it"
        if problem:
            problems.append(problem)
    _reject(problems)
    return metadata


def _full_match(pattern: str, value: str) -> bool:
    # The browser's `pattern` attribute matches the whole value; so does the endpoint.
    try:
        return re.fullmatch(pattern, value) is not None
    except re.error:
        return True  # a pattern Python cannot read was refused by `flipgen check` already


def _reject(problems: list[str]) -> None:
    if problems:
        raise ApiError(ErrorCode.invalid_metadata, "Metadata rejected: " + "; ".join(problems) + ".")


async def _upstream(request: Request, call: Awaitable[MintedToken], on_404: ApiError | None = None) -> MintedToken:
    record = request.scope["state"]["record"]
    try:
        token = await call
    except SmileTimeout as err:
        record["upstream"] = {"error": err.message}
        raise ApiError(
            ErrorCode.upstream_timeout,
            "Smile, the account-linking service, did not answer in time. Please try again in a moment.",
        ) from None
    except SmileError as err:
        record["upstream"] = {"status": err.status, "code": err.code}
        record["requestId"] = err.request_id
        if err.status == 404 and on_404 is not None:
            raise on_404 from None
        raise ApiError(ErrorCode.upstream_error, _upstream_message(err)) from None
    record["requestId"] = token.request_id
    return token


def _token_answer(token: MintedToken, settings: WinkSettings, handle: str) -> Response:
    # Never the Smile userId: the browser names its visitor by the handle (docs/applications.md).
    return json_response(
        {
            "userToken": token.access_token,
            "handle": handle,
            "expiresAt": token.expires_at,
            "mode": token.mode,
            "templateId": settings.template_id,
            "providers": list(settings.providers),
            "topProviders": list(settings.top_providers),
            "enableUpload": settings.enable_upload,
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
