"""Request and answer bodies of the token endpoint, and its one list of error codes.

These models are the contract: handlers validate requests with them and ``/openapi.json``
is generated from them (:mod:`flipgen.server.openapi`), so the two cannot drift apart.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from flipgen.schema import LANG

__all__ = [
    "ApiError",
    "ErrorBody",
    "ErrorCode",
    "ErrorDetail",
    "Health",
    "LinkToken",
    "MintRequest",
    "RefreshRequest",
    "MAX_METADATA_KEYS",
    "MAX_KEY_LEN",
    "MAX_VALUE_LEN",
    "MAX_USER_ID_LEN",
]

# Smile's externalMetadata limits (UserPostRequest in the Open API document).
MAX_METADATA_KEYS, MAX_KEY_LEN, MAX_VALUE_LEN = 5, 50, 500
MAX_USER_ID_LEN = 200


class ErrorCode(StrEnum):
    """Every ``error.code`` the endpoint answers; the HTTP status is part of the code."""

    invalid_json = "invalid_json"
    invalid_request = "invalid_request"
    invalid_metadata = "invalid_metadata"
    invalid_signature = "invalid_signature"
    bot_check_failed = "bot_check_failed"
    origin_not_allowed = "origin_not_allowed"
    unknown_site = "unknown_site"
    unknown_application = "unknown_application"
    not_found = "not_found"
    method_not_allowed = "method_not_allowed"
    request_timeout = "request_timeout"
    not_on_path = "not_on_path"
    already_submitted = "already_submitted"
    body_too_large = "body_too_large"
    unsupported_media_type = "unsupported_media_type"
    invalid_params = "invalid_params"
    invalid_answers = "invalid_answers"
    misdirected_request = "misdirected_request"
    rate_limited = "rate_limited"
    budget_exhausted = "budget_exhausted"
    internal_error = "internal_error"
    upstream_error = "upstream_error"
    service_unavailable = "service_unavailable"
    upstream_timeout = "upstream_timeout"

    @property
    def status(self) -> int:
        return _STATUS[self]


_STATUS = {
    ErrorCode.invalid_json: 400,
    ErrorCode.invalid_request: 400,
    ErrorCode.invalid_metadata: 400,
    ErrorCode.invalid_signature: 401,
    ErrorCode.bot_check_failed: 403,
    ErrorCode.origin_not_allowed: 403,
    ErrorCode.unknown_site: 404,
    ErrorCode.unknown_application: 404,
    ErrorCode.not_found: 404,
    ErrorCode.method_not_allowed: 405,
    ErrorCode.request_timeout: 408,
    ErrorCode.not_on_path: 409,
    ErrorCode.already_submitted: 409,
    ErrorCode.body_too_large: 413,
    ErrorCode.unsupported_media_type: 415,
    ErrorCode.invalid_params: 422,
    ErrorCode.invalid_answers: 422,
    ErrorCode.misdirected_request: 421,
    ErrorCode.rate_limited: 429,
    ErrorCode.budget_exhausted: 429,
    ErrorCode.internal_error: 500,
    ErrorCode.upstream_error: 502,
    ErrorCode.service_unavailable: 503,
    ErrorCode.upstream_timeout: 504,
}


class ApiError(Exception):
    """An answer with a stable error code; ``message`` is read by people, not programs."""

    def __init__(self, code: ErrorCode, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = code.status
        self.message = message
        self.headers = headers or {}
        # More members of the error object (e.g. `fields`, `rules` of a 422), for programs.
        self.extra: dict[str, Any] = {}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


Slug = Annotated[str, Field(min_length=1, max_length=200, description="the site's slug")]
ScreenId = Annotated[str | None, Field(description="a wink screen id of the site")]
MetadataValue = Annotated[str, StringConstraints(max_length=MAX_VALUE_LEN)]


class MintRequest(_Body):
    """``POST /api/link-token``: create a Smile user for a visitor of ``site``."""

    site: Slug
    screen: ScreenId = None
    metadata: Annotated[
        dict[str, MetadataValue] | None,
        Field(
            max_length=MAX_METADATA_KEYS,
            description="answers of fields/params marked `metadata: true`; ASCII text",
        ),
    ] = None
    locale: Annotated[
        str | None,
        Field(max_length=35, pattern=LANG, description="the page's language (BCP 47), e.g. `id`, `es-419`"),
    ] = None
    turnstile: Annotated[
        str | None,
        Field(max_length=2048, description="the Turnstile token; required when the site has bot_protection"),
    ] = None
    handle: Annotated[
        Handle | None,
        Field(description="the visitor's application; without it the mint starts one and answers its handle"),
    ] = None


Handle = Annotated[
    str,
    Field(
        min_length=1,
        max_length=256,
        description="the application handle (POST /api/applications or a mint): opaque, signed, bound to the site",
    ),
]


class RefreshRequest(_Body):
    """``POST /api/link-token/refresh``: a new token for the Smile user of an application."""

    site: Slug
    screen: ScreenId = None
    handle: Handle


class LinkToken(_Body):
    """A fresh single-use user token and the widget settings to open it with."""

    userToken: str
    handle: Annotated[str, Field(description="the application this token belongs to; never a Smile userId")]
    expiresAt: str
    mode: Literal["SANDBOX", "PRODUCTION"]
    templateId: str | None
    providers: list[str]
    topProviders: list[str]
    enableUpload: bool


class Health(_Body):
    status: Literal["ok"] = "ok"
    upstream: Literal["smile", "emulator"]


class ErrorDetail(_Body):
    code: ErrorCode
    message: str
    fields: Annotated[
        dict[str, str] | None,
        Field(description="invalid_answers, invalid_params: the message for each field or param id"),
    ] = None
    rules: Annotated[
        dict[str, str] | None,
        Field(description="invalid_answers, invalid_params: the rule each field or param breaks"),
    ] = None


class ErrorBody(_Body):
    """Every error answer: ``{"error": {"code": …, "message": …}}``."""

    error: ErrorDetail


def error_body(code: ErrorCode, message: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code.value, "message": message, **(extra or {})}}
