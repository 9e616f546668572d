"""Applications over HTTP: a visitor's answers, saved screen by screen and submitted.

``POST /api/applications`` starts an application and answers its handle (see
:mod:`flipgen.handles`); ``POST /api/applications/{handle}/answers`` saves one form screen;
``POST /api/applications/{handle}/submit`` submits the complete answers. Every answer is
checked again with the browser's rules (:mod:`flipgen.answers`): 422 ``invalid_answers`` names
each field and says why. Saving and submitting are idempotent: the same request again changes
nothing and gets the same answer. ``docs/applications.md`` is the contract.

The store is synchronous (SQLAlchemy Core); its calls run on Starlette's thread pool so the
event loop keeps answering while SQLite or PostgreSQL commits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flipgen.answers import AnswersError, Problem, check_params, check_screen, check_submission
from flipgen.manifest import APPLICATIONS_PATH
from flipgen.schema import LANG
from flipgen.store import applications as apps

from .api import COMMON_POST_ERRORS, Operation, RouteGroup, json_response, operation, parse_body, read_json
from .models import ApiError, ErrorCode, Slug

if TYPE_CHECKING:
    from .app import TokenApp

__all__ = ["APPLICATIONS_PATH", "FieldsError", "application_for", "routes", "start_application"]

# A whole journey's answers in one submit, long textareas included.
MAX_APPLICATION_BODY = 64 * 1024
T = TypeVar("T")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


Handle = Annotated[str, Field(min_length=1, max_length=256, description="the application handle")]
Answers = Annotated[
    dict[str, Any],
    Field(
        max_length=500,
        description="field id → answer: text for text-like fields, select and radio; true/false for "
        "checkbox and consent; a list of option values for checkboxes",
    ),
]


class StartApplication(_Body):
    """``POST /api/applications``: a visitor starts the journey of ``site``."""

    site: Slug
    params: Annotated[
        dict[str, str], Field(max_length=100, description="the site's declared params, as read from the page URL")
    ] = Field(default_factory=dict)
    locale: Annotated[str | None, Field(max_length=35, pattern=LANG, description="the page's language")] = None


class ApplicationStarted(_Body):
    handle: Annotated[str, Field(description="opaque, signed, bound to the site; send it back on every call")]
    status: Literal["started"]


class SaveAnswers(_Body):
    """``POST /api/applications/{handle}/answers``: the answers of one form screen ("save on Next")."""

    site: Slug
    screen: Annotated[str, Field(min_length=1, max_length=50, description="the id of a form screen")]
    answers: Answers


class AnswersSaved(_Body):
    status: Literal["started", "submitted", "completed"]
    screen: str
    next: Annotated[str | None, Field(description="the screen these answers lead to; null when the journey ends")]


class SubmitApplication(_Body):
    """``POST /api/applications/{handle}/submit``: every answer of the journey, once it is complete."""

    site: Slug
    answers: Answers
    accounts: Annotated[int | None, Field(ge=0, le=10_000, description="accounts connected in the widget")] = None
    uploads: Annotated[int | None, Field(ge=0, le=10_000, description="documents uploaded in the widget")] = None


class ApplicationSubmitted(_Body):
    status: Literal["submitted", "completed"]
    submittedAt: str
    end: Annotated[str | None, Field(description="the end screen the answers lead to")]


class FieldsError(ApiError):
    """An error that names fields (or params): ``error.fields`` maps each id to its message."""

    def __init__(self, code: ErrorCode, message: str, problems: Mapping[str, Problem]) -> None:
        super().__init__(code, message)
        self.extra = {
            "fields": {key[:100]: p.message for key, p in problems.items()},
            "rules": {key[:100]: p.rule for key, p in problems.items()},
        }


def _invalid(code: ErrorCode, what: str, problems: Mapping[str, Problem]) -> FieldsError:
    names = ", ".join(k[:50] for k in list(problems)[:10])
    count = len(problems)
    return FieldsError(code, f"{count} {what}{'s' if count > 1 else ''} cannot be accepted: {names}.", problems)


def routes(app: TokenApp) -> RouteGroup:
    """The three application routes."""
    allowed = "POST, OPTIONS"
    by_handle = APPLICATIONS_PATH + "/{handle}"
    handle_errors = (ErrorCode.unknown_site, ErrorCode.unknown_application)
    return RouteGroup(
        routes=[
            Route(APPLICATIONS_PATH, operation(app, allowed, lambda r: _start(app, r))),
            Route(by_handle + "/answers", operation(app, allowed, lambda r: _save(app, r))),
            Route(by_handle + "/submit", operation(app, allowed, lambda r: _submit(app, r))),
        ],
        operations=[
            Operation(
                APPLICATIONS_PATH,
                "post",
                "Start an application",
                StartApplication,
                ApplicationStarted,
                COMMON_POST_ERRORS + (ErrorCode.unknown_site, ErrorCode.invalid_params),
                success=201,
            ),
            Operation(
                by_handle + "/answers",
                "post",
                "Save the answers of one form screen",
                SaveAnswers,
                AnswersSaved,
                COMMON_POST_ERRORS
                + handle_errors
                + (ErrorCode.invalid_answers, ErrorCode.not_on_path)
                + (ErrorCode.already_submitted,),
            ),
            Operation(
                by_handle + "/submit",
                "post",
                "Submit the complete answers",
                SubmitApplication,
                ApplicationSubmitted,
                COMMON_POST_ERRORS + handle_errors + (ErrorCode.invalid_answers, ErrorCode.already_submitted),
            ),
        ]
        + [
            Operation(path, "options", "CORS preflight", errors=(ErrorCode.origin_not_allowed,))
            for path in (APPLICATIONS_PATH, by_handle + "/answers", by_handle + "/submit")
        ],
    )


# --------------------------------------------------------------------------- shared with the token routes


def journey_of(app: TokenApp, request: Request, slug: str) -> dict[str, Any]:
    """The journey data block of site ``slug``, or 404 ``unknown_site``."""
    request.scope["state"]["record"]["site"] = slug[:100]
    site = app.manifest.sites.get(slug)
    if site is None or site.journey is None:
        raise ApiError(
            ErrorCode.unknown_site,
            f"There is no site `{slug[:100]}` in this server's build. Check the slug, or rebuild "
            "and restart the server after adding a site.",
        )
    return site.journey


def _unknown_application() -> ApiError:
    return ApiError(
        ErrorCode.unknown_application,
        f"This application handle is not valid for this site. Start a new application with POST {APPLICATIONS_PATH}.",
    )


def _locked(conn: Connection, app_id: str, site: str) -> apps.Application:
    """The application, its row locked for this transaction (PostgreSQL; SQLite's writer holds the file)."""
    conn.execute(select(apps.applications.c.id).where(apps.applications.c.id == app_id).with_for_update())
    found = apps.get(conn, app_id)
    if found is None or found.site != site:
        raise _unknown_application()
    return found


def application_id(app: TokenApp, handle: str, site: str) -> str:
    """The id in ``handle`` if it was signed for ``site``; else 404 ``unknown_application``."""
    app_id = app.handles.verify(handle, site)
    if app_id is None:
        raise _unknown_application()
    return app_id


async def in_transaction(app: TokenApp, work: Callable[[Connection], T]) -> T:
    """``work(conn)`` in one write transaction, off the event loop (``Store.awrite``: concurrent
    writes share a commit on SQLite, and an exception from ``work`` undoes only its own)."""
    return await app.store.awrite(work)


async def application_for(app: TokenApp, handle: str, site: str) -> apps.Application:
    """The stored application behind ``handle`` (read only); 404 ``unknown_application`` otherwise."""
    app_id = application_id(app, handle, site)

    def run() -> apps.Application | None:
        with app.store.read() as conn:
            return apps.get(conn, app_id)

    found = await run_in_threadpool(run)
    if found is None or found.site != site:
        raise _unknown_application()
    return found


async def start_application(
    app: TokenApp,
    site: str,
    first: str | None,
    params: Mapping[str, str],
    locale: str | None,
    smile_user_id: str | None = None,
) -> tuple[apps.Application, str]:
    """A new application of ``site`` (on screen ``first``) and its handle.

    Every mint starts one, so concurrent starts share one INSERT as well as one commit
    (`Store.awrite_combined`)."""
    new = apps.NewApplication(site, dict(params), locale, smile_user_id, first)
    created = await app.store.awrite_combined(apps.create_many, new)
    return created, app.handles.sign(created.id, site)


async def link_smile_user(app: TokenApp, app_id: str, user_id: str) -> None:
    """Remember which Smile user this application minted (never shown to the browser)."""
    await in_transaction(app, lambda conn: apps.set_smile_user(conn, app_id, user_id))


# --------------------------------------------------------------------------- handlers


async def _start(app: TokenApp, request: Request) -> Response:
    payload = await read_json(request, app.body_timeout, MAX_APPLICATION_BODY)
    body = parse_body(StartApplication, payload)
    journey = journey_of(app, request, body.site)
    params, problems = check_params(journey, body.params)
    if problems:
        raise _invalid(ErrorCode.invalid_params, "param", problems)
    _, handle = await start_application(app, body.site, journey["screens"][0]["id"], params, body.locale)
    return json_response({"handle": handle, "status": "started"}, 201)


def _save_in(conn: Connection, app_id: str, body: SaveAnswers, journey: Mapping[str, Any]) -> tuple[str, str | None]:
    stored = _locked(conn, app_id, body.site)
    try:
        checked = check_screen(journey, stored.params, stored.answers, body.screen, body.answers)
    except AnswersError as err:
        code = ErrorCode.not_on_path if err.code == "not_on_path" else ErrorCode.invalid_answers
        raise ApiError(code, err.message) from None
    if not checked.ok:
        raise _invalid(ErrorCode.invalid_answers, "answer", checked.problems)
    own = [f["id"] for s in journey["screens"] if s["id"] == body.screen for f in s["fields"]]
    try:
        saved = apps.save_answers(
            conn, app_id, checked.answers, remove=own, screen=body.screen, next_screen=checked.next
        )
    except apps.ApplicationClosed:
        raise _already_submitted() from None
    return saved.status, checked.next


async def _save(app: TokenApp, request: Request) -> Response:
    payload = await read_json(request, app.body_timeout, MAX_APPLICATION_BODY)
    body = parse_body(SaveAnswers, payload)
    journey = journey_of(app, request, body.site)
    app_id = application_id(app, request.path_params["handle"], body.site)
    status, nxt = await in_transaction(app, lambda conn: _save_in(conn, app_id, body, journey))
    return json_response({"status": status, "screen": body.screen, "next": nxt})


def _already_submitted() -> ApiError:
    return ApiError(
        ErrorCode.already_submitted,
        "This application was submitted already; its answers cannot change. Start a new application to apply again.",
    )


def _submit_in(conn: Connection, app_id: str, body: SubmitApplication, journey: Mapping[str, Any]) -> dict[str, Any]:
    stored = _locked(conn, app_id, body.site)
    checked = check_submission(journey, stored.params, body.answers)
    if not checked.ok:
        raise _invalid(ErrorCode.invalid_answers, "answer", checked.problems)
    try:
        if stored.status == "started":
            if checked.end is not None:
                apps.reach(conn, app_id, checked.end)
            if body.accounts is not None or body.uploads is not None:
                apps.set_counts(conn, app_id, accounts=body.accounts, uploads=body.uploads)
        done, _ = apps.submit(conn, app_id, answers=checked.answers)
    except apps.ApplicationClosed:
        raise _already_submitted() from None
    submitted_at: datetime | None = done.submitted_at
    return {
        "status": done.status,
        "submittedAt": submitted_at.isoformat().replace("+00:00", "Z") if submitted_at else None,
        "end": checked.end,
    }


async def _submit(app: TokenApp, request: Request) -> Response:
    payload = await read_json(request, app.body_timeout, MAX_APPLICATION_BODY)
    body = parse_body(SubmitApplication, payload)
    journey = journey_of(app, request, body.site)
    app_id = application_id(app, request.path_params["handle"], body.site)
    answer = await in_transaction(app, lambda conn: _submit_in(conn, app_id, body, journey))
    return json_response(answer)
