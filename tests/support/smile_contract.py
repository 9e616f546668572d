"""The part of Smile's Open API (v1) that flipgen talks to, written down for the fake upstream.

Smile answers every request with an envelope ``{"code", "message", "requestId", "data"}``.
These models describe what a client may send (``*Request``: unknown fields are refused, so a
typo in flipgen's client is a contract violation) and what Smile sends back (the ``data`` of
each answer; the fake checks its own answers against them too). Limits are Smile's published
ones: a user's ``externalMetadata`` holds at most 5 ASCII string pairs, keys ≤ 50 and values ≤
500 characters; names and texts have the lengths given on each field.

Endpoints (all under ``/v1``, HTTP Basic auth with the API key and secret):

=======  ===========================  ===========================  ======  =====================
method   path                         request                      status  data
=======  ===========================  ===========================  ======  =====================
POST     /users                       UserRequest (body optional)  201     UserCreated
POST     /tokens?userId=<1..200>      no body                      201     Token
POST     /invites                     InviteRequest                201     Invite
GET      /invites, /invites/{id}      ``size`` 1..150, ``cursor``  200     page of / one Invite
POST     /inviteTemplates             TemplateRequest              201     Template
GET      /inviteTemplates[/{id}]      ``size``, ``cursor``         200     page of / one Template
PUT      /inviteTemplates/{id}        TemplateRequest (full)       200     Template
DELETE   /inviteTemplates/{id}                                     200     (empty)
POST     /webhooks                    WebhookRequest               200     Webhook
GET      /webhooks[/{id}]             ``size``, ``cursor``         200     page of / one Webhook
DELETE   /webhooks/{id}                                            200     (empty)
=======  ===========================  ===========================  ======  =====================

Errors: 400 ``INVALID_PARAMETERS`` (bad request), 401 ``INVALID_CREDENTIALS`` (bad key),
404 ``MISSING_RESOURCE``, 429 ``REQUEST_LIMIT_EXCEEDED`` (Smile allows 20 requests a second
per client address), 5xx ``SERVER_ERROR``/``SERVER_UNAVAILABLE``/``TIME_LIMIT_EXCEEDED``.
There is no endpoint to update a webhook; invite templates are replaced whole with PUT.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

# A deliberately plain e-mail shape: Smile declares `format: email` without saying more.
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
DATE_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"

Text = Annotated[str, StringConstraints(min_length=1)]
Name64 = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text5000 = Annotated[str, StringConstraints(min_length=1, max_length=5000)]
Email = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=EMAIL)]
Timestamp = Annotated[str, StringConstraints(pattern=DATE_TIME)]

EVENT_TYPES = (
    "USER_CREATED ACCOUNT_CREATED ACCOUNT_CONNECTED ACCOUNT_DISCONNECTED ACCOUNT_FAILED TASK_STARTED "
    "TASK_FINISHED ACCOUNT_SYNC_TASK_FINISHED ARCHIVE_STARTED ARCHIVE_ANALYZED ARCHIVE_REVOKED ARCHIVE_FAILED "
    "INVITE_INVITED INVITE_LINKED IDENTITY_ADDED RATING_ADDED TRANSACTIONS_ADDED DOCUMENTS_ADDED DOCUMENTS_UPDATED "
    "EMPLOYMENTS_ADDED EMPLOYMENTS_UPDATED INCOMES_ADDED INCOMES_UPDATED CONTRIBUTIONS_ADDED CONTRIBUTIONS_UPDATED "
    "EINCOMES_ADDED EINCOMES_UPDATED LIABILITIES_ADDED LIABILITIES_UPDATED INSIGHT_ADDED LINK_ADDED "
    "VERIFICATION_STARTED VERIFICATION_COMPLETED RECORD_CREATED RECORD_COMPLETED USER_SESSION_COMPLETED "
    "USER_SESSION_RESET ALL_EVENTS"
).split()
INVITE_STATUSES = ("INVITED", "EMAIL_OPENED", "LANDING_PAGE_OPENED", "WINK_WIDGET_OPENED", "LINKED", "REVOKED")
ERROR_CODES = (
    "INVALID_CREDENTIALS",
    "INVALID_PARAMETERS",
    "INVALID_TOKEN",
    "UNAUTHORIZED_ACCESS",
    "MISSING_RESOURCE",
    "REQUEST_LIMIT_EXCEEDED",
    "SERVER_ERROR",
    "UNSUPPORTED_METHOD",
    "SERVER_UNAVAILABLE",
    "TIME_LIMIT_EXCEEDED",
)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def metadata_problems(metadata: Any) -> list[str]:
    """Smile's ``externalMetadata`` limits: ≤ 5 pairs, ASCII strings, keys ≤ 50, values ≤ 500."""
    if not isinstance(metadata, dict):
        return ["externalMetadata is not an object"]
    problems = []
    if len(metadata) > 5:
        problems.append("more than 5 pairs")
    for key, value in metadata.items():
        if not 1 <= len(key) <= 50 or not key.isascii():
            problems.append(f"bad key {key!r}")
        if not isinstance(value, str) or len(value) > 500 or not value.isascii():
            problems.append(f"bad value for {key!r}")
    return problems


def _checked_metadata(value: dict[str, str]) -> dict[str, str]:
    problems = metadata_problems(value)
    if problems:
        raise ValueError("; ".join(problems))
    return value


# ----------------------------------------------------------------------------- users and tokens


class UserRequest(_Request):
    externalMetadata: dict[str, str] = Field(default_factory=dict)

    _metadata = field_validator("externalMetadata")(_checked_metadata)


class Token(_Answer):
    id: str | None = None  # declared but not required: a client must not depend on it
    expiresAt: Timestamp
    mode: Literal["SANDBOX", "PRODUCTION"]
    accessToken: Text


class Session(_Answer):
    userId: Text
    channel: Literal["WinkSite", "Default"]
    channelId: str | None = None
    status: Literal["IN_PROGRESS", "COMPLETED", "REVOKED"]


class User(_Answer):
    id: Text
    externalMetadata: dict[str, str]
    createdAt: Timestamp
    providers: list[str]  # deprecated, always present
    session: Session | None = None


class UserCreated(_Answer):
    user: User
    token: Token


# ----------------------------------------------------------------------------- invites


class InviteRequest(_Request):
    fullName: Text200
    email: Email
    templateId: Name64  # `tpl-…`
    firstName: Name64 | None = None
    lastName: Name64 | None = None
    winkTemplateId: Name64 | None = None  # `wtpl-…`


class Invite(_Answer):
    id: Text  # `inv-…`
    createdAt: Timestamp
    updatedAt: Timestamp
    invitedAt: Timestamp
    linkedAt: Timestamp  # required by the contract even before linking (then equal to invitedAt)
    fullName: Text
    email: Email
    templateId: Text
    firstName: str | None = None
    lastName: str | None = None
    winkTemplateId: str | None = None
    userId: Text  # every invite creates a Smile user
    status: Literal[INVITE_STATUSES]
    inviteLandingPageUrl: str | None = None


class Company(_Request):
    name: Text200
    logoUrl: Text200


class EmailTemplate(_Request):
    sendEmail: Literal[True]  # Smile only sends e-mail; `false` is refused
    senderName: Text200
    replyAddress: Email
    subject: Text200
    body: Text5000  # plain text; `${firstName}` and `${companyName}` are filled in


class Page(_Request):
    header: Text200
    description: Text5000
    button: Text200


class TemplateRequest(_Request):
    """POST and PUT take the whole template: every top-level field is required."""

    name: Name64
    company: Company
    email: EmailTemplate
    landingPage: Page
    successPage: Page


class Template(_Answer):
    id: Text  # `tpl-…`
    name: Text
    company: Company
    email: EmailTemplate
    landingPage: Page
    successPage: Page


# ----------------------------------------------------------------------------- webhooks

EventType = Literal[tuple(EVENT_TYPES)]


class WebhookRequest(_Request):
    name: Text200
    url: Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=r"^https://")]
    eventTypes: list[EventType]
    active: bool
    secret: Name64  # the HMAC-SHA512 key of the `Smile-Signature` header
    includePayload: bool = False


class Webhook(_Answer):
    id: Text
    createdAt: Timestamp
    updatedAt: Timestamp
    name: Text
    url: Text
    eventTypes: list[EventType]
    active: bool
    includePayload: bool
    secret: str  # Smile returns it in clear text


# ----------------------------------------------------------------------------- envelopes


class Envelope(_Answer):
    code: Literal[("OK", "CREATED", *ERROR_CODES)]
    message: str
    requestId: Text
    data: Any = None


def problems(model: type[BaseModel], value: Any) -> list[str]:
    """Every way ``value`` breaks ``model``, as `Model.field: message` lines ([] when it fits)."""
    try:
        model.model_validate(value)
    except ValidationError as exc:
        return [
            f"{model.__name__}.{'.'.join(str(p) for p in err['loc']) or '(body)'}: {err['msg']}"
            for err in exc.errors(include_url=False)
        ]
    return []


def page_problems(model: type[BaseModel], data: Any) -> list[str]:
    """A list answer's ``data``: ``{"nextCursor": str | null, "items": [model…]}``."""
    if not isinstance(data, dict) or set(data) != {"nextCursor", "items"} or not isinstance(data["items"], list):
        return [f"list of {model.__name__}: data must be {{nextCursor, items}}"]
    if data["nextCursor"] is not None and not isinstance(data["nextCursor"], str):
        return [f"list of {model.__name__}: nextCursor must be a string or null"]
    return [p for item in data["items"] for p in problems(model, item)]
