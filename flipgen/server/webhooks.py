"""Webhooks in the server: ``POST /api/smile/webhook`` and the outbound delivery task.

The route verifies ``Smile-Signature`` over the raw body before anything else, stores the
event (once per event id), answers, and processes it; a failure while processing is logged
and left to the delivery task's sweeper (the event is safe in the store). The delivery task
runs in the server's lifespan, in every worker: the outbox hands each row to one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flipgen.errors import UserError
from flipgen.schema import WebhookTarget
from flipgen.webhooks import inbound
from flipgen.webhooks.delivery import DeliveryWorker
from flipgen.webhooks.env import check_target_secrets, project_env, smile_secrets
from flipgen.webhooks.outbox import sync_endpoints
from flipgen.webhooks.signing import SignatureProblem, verify_smile_signature

from .api import ClientGone, Operation, RouteGroup, json_response, operation
from .models import ApiError, ErrorCode

if TYPE_CHECKING:
    from .app import TokenApp

__all__ = ["PATH", "WebhookSettings", "WebhookReceived", "routes", "delivery_task"]

PATH = "/api/smile/webhook"
SWEEP_EVERY = 30.0  # seconds between looks for stored-but-unprocessed events
log = logging.getLogger("flipgen.webhooks")


class WebhookReceived(BaseModel):
    """The answer to Smile: the event is stored (``duplicate``: it had been already)."""

    received: bool
    duplicate: bool


@dataclass(frozen=True)
class WebhookSettings:
    """What the server needs for webhooks: outbound targets, their secrets, Smile's secret(s)."""

    targets: list[WebhookTarget] = field(default_factory=list)
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    # False in the preview: its test applications are never sent to the project's receivers.
    deliver: bool = True

    @property
    def smile_secrets(self) -> list[str]:
        return smile_secrets(self.env)

    @classmethod
    def load(cls, project: Path, environ: Mapping[str, str] | None = None, *, deliver: bool = True) -> WebhookSettings:
        """``webhooks:`` of flipgen.yaml and the secrets from the environment or ``.env``.

        Refuses to start (UserError) when flipgen.yaml does not load or a target's secret is
        unusable. With ``deliver`` false only Smile's secret is read (inbound still works).
        """
        if not deliver:
            return cls([], project_env(project, environ), deliver=False)
        from flipgen.project import CONFIG_NAME, open_project

        targets: list[WebhookTarget] = []
        if (project / CONFIG_NAME).is_file():
            proj = open_project(project)
            errors = [d for d in proj.diagnostics if d.severity == "error"]
            if errors:
                raise UserError("flipgen.yaml has errors (run `flipgen check`): " + str(errors[0]))
            targets = list(proj.config.webhooks)
        env = project_env(project, environ)
        check_target_secrets(targets, env)
        return cls(targets, env)


async def _read_raw(request: Request, limit: int, timeout: float) -> bytes:
    """The body as received, at most ``limit`` bytes (413 beyond), within ``timeout`` seconds."""
    too_large = ApiError(ErrorCode.body_too_large, f"A webhook body may be at most {limit // (1024 * 1024)} MiB.")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(ErrorCode.request_timeout, f"The body did not arrive within {timeout:g} seconds.") from None
    except OSError:  # the client went away mid-body
        raise ClientGone from None
    return b"".join(chunks)


def routes(app: TokenApp) -> RouteGroup:
    """``POST /api/smile/webhook``: never rate limited (Smile sends every event from one address)."""

    async def receive(request: Request) -> Response:
        raw = await _read_raw(request, inbound.MAX_BODY, max(app.body_timeout, 30.0))
        problem = _verify(raw, request.headers.get("smile-signature"), app.webhooks.smile_secrets)
        if problem is not None:
            # Why, for the operator; never the body (it carries personal data) nor a secret.
            request.scope["state"]["record"]["why"] = problem.value
            log.warning("refused a Smile webhook (%d bytes): %s", len(raw), problem.value)
            raise ApiError(ErrorCode.invalid_signature, "The Smile-Signature header does not sign this body.")
        now = datetime.now(UTC)
        # Store.awrite: concurrent requests share one commit on SQLite (group commit).
        try:
            event_id, kind, new = await app.store.awrite(functools.partial(inbound.insert_event, raw=raw, now=now))
        except inbound.BadEvent as exc:
            raise ApiError(ErrorCode.invalid_json, f"The body is not a Smile event: {exc}.") from None
        request.scope["state"]["record"].update(event=event_id[:100], type=kind[:64], duplicate=not new)
        if new:
            try:
                await app.store.awrite(functools.partial(inbound.apply_event, event_id=event_id, now=now))
            except Exception as exc:  # noqa: BLE001 - stored: the sweeper processes it again later
                log.exception("processing Smile event %s (%s) failed; it is stored and will be retried", event_id, kind)
                await app.store.awrite(functools.partial(inbound.record_failure, event_id=event_id, exc=exc))
        return json_response({"received": True, "duplicate": not new})

    return RouteGroup(
        routes=[Route(PATH, operation(app, "POST", receive, limited=False))],
        operations=[
            Operation(
                PATH,
                "post",
                "Smile's webhook events (signed with Smile-Signature)",
                response=WebhookReceived,
                errors=(
                    ErrorCode.invalid_signature,
                    ErrorCode.invalid_json,
                    ErrorCode.body_too_large,
                    ErrorCode.request_timeout,
                    ErrorCode.method_not_allowed,
                ),
            )
        ],
    )


def _verify(raw: bytes, header: str | None, secrets: list[str]) -> SignatureProblem | None:
    """None when one of the configured secrets signs ``raw`` (several while rotating)."""
    if not secrets:
        return SignatureProblem.NO_SECRET
    problem: SignatureProblem | None = SignatureProblem.MISMATCH
    for secret in secrets:
        problem = verify_smile_signature(raw, header, secret)
        if problem is None or problem in (SignatureProblem.MISSING, SignatureProblem.MALFORMED):
            return problem
    return problem


def _labels(app: TokenApp, site: str | None) -> Mapping[str, str]:
    """Field id → label of a built site, from the manifest's journey data."""
    entry = app.manifest.sites.get(site or "")
    journey: Any = entry.journey if entry is not None else None
    labels: dict[str, str] = {}
    for screen in (journey or {}).get("screens", []):
        for spec in screen.get("fields") or []:
            labels.setdefault(str(spec.get("id")), str(spec.get("label") or spec.get("id")))
    return labels


@contextlib.asynccontextmanager
async def delivery_task(app: TokenApp) -> AsyncIterator[None]:
    """Sync the endpoints of flipgen.yaml, then deliver (and sweep unprocessed events) until shutdown."""
    if not app.webhooks.deliver:
        yield
        return
    await asyncio.to_thread(sync_endpoints, app.store, app.webhooks.targets)
    worker = DeliveryWorker(app.store, environ=app.webhooks.env, labels=functools.partial(_labels, app))
    tasks = [asyncio.create_task(worker.run()), asyncio.create_task(_sweep(app))]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await worker.sender.aclose()


async def _sweep(app: TokenApp) -> None:
    while True:
        try:
            await asyncio.to_thread(inbound.process_pending, app.store)
        except Exception:  # noqa: BLE001 - the next sweep tries again
            log.exception("sweeping unprocessed Smile events failed")
        await asyncio.sleep(SWEEP_EVERY)
