"""`flipgen webhooks …`: Smile subscriptions (register, list, delete) and the outbound queue.

Secrets: `register` prints the new Smile secret once, as a line for `.env`; nothing else ever
prints or logs a secret (Smile's own listing returns them in clear; they are not shown).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from ..cli import Output, _verbosity
from ..errors import UserError
from ..project import Project, open_project
from ..schema import WEBHOOK_EVENTS
from ..store import Store, open_store
from ..store.options import database_option, project_option

__all__ = ["webhooks_group"]

T = TypeVar("T")

# Smile's event types (smile-openapi-v1.yaml, RefWebhookEventType); ALL_EVENTS subscribes to every one.
SMILE_EVENTS = (
    "USER_CREATED ACCOUNT_CREATED ACCOUNT_CONNECTED ACCOUNT_DISCONNECTED ACCOUNT_FAILED TASK_STARTED TASK_FINISHED "
    "ACCOUNT_SYNC_TASK_FINISHED ARCHIVE_STARTED ARCHIVE_ANALYZED ARCHIVE_REVOKED ARCHIVE_FAILED INVITE_INVITED "
    "INVITE_LINKED IDENTITY_ADDED RATING_ADDED TRANSACTIONS_ADDED DOCUMENTS_ADDED DOCUMENTS_UPDATED EMPLOYMENTS_ADDED "
    "EMPLOYMENTS_UPDATED INCOMES_ADDED INCOMES_UPDATED CONTRIBUTIONS_ADDED CONTRIBUTIONS_UPDATED EINCOMES_ADDED "
    "EINCOMES_UPDATED LIABILITIES_ADDED LIABILITIES_UPDATED INSIGHT_ADDED LINK_ADDED VERIFICATION_STARTED "
    "VERIFICATION_COMPLETED RECORD_CREATED RECORD_COMPLETED USER_SESSION_COMPLETED USER_SESSION_RESET ALL_EVENTS"
).split()


@contextmanager
def _store(project: Path, database: str | None) -> Iterator[Store]:
    store = open_store(database, open_project(project).root)
    try:
        yield store
    finally:
        store.close()


def _smile(project: Project, call: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``call(client)`` against Smile with the project's credentials; Smile errors become UserErrors."""
    from ..invites.runner import smile_user_error
    from ..smile import SmileClient, SmileError
    from ..token import load_credentials

    credentials = load_credentials(project.root)
    if credentials is None:
        raise UserError(
            f"No Smile API credentials: set SMILE_API_KEY and SMILE_API_SECRET in the environment or in "
            f"{project.root / '.env'}"
        )

    async def go() -> T:
        client = SmileClient(credentials, retries=0, read_timeout=30.0)
        try:
            return await call(client)
        except SmileError as exc:
            raise smile_user_error(exc) from None
        finally:
            await client.aclose()

    return asyncio.run(go())


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


@click.group("webhooks")
def webhooks_group() -> None:
    """Smile's webhooks in, signed application events out."""


def _smile_events(values: tuple[str, ...]) -> list[str]:
    events = [e.strip().upper() for v in values for e in v.split(",") if e.strip()] or ["ALL_EVENTS"]
    from ..loader import did_you_mean

    for event in events:
        if event not in SMILE_EVENTS:
            raise UserError(f"unknown Smile event type {event!r}{did_you_mean(event, SMILE_EVENTS)}")
    return ["ALL_EVENTS"] if "ALL_EVENTS" in events else list(dict.fromkeys(events))


@webhooks_group.command("register")
@click.argument("url")
@click.option(
    "--events", "events", multiple=True, metavar="TYPES", help="Smile event types, comma-separated (default: all)."
)
@click.option("--name", default="flipgen", show_default=True, help="A name for the subscription (1-200 characters).")
@project_option
@_verbosity
def register(out: Output, url: str, events: tuple[str, ...], name: str, project: Path) -> None:
    """Subscribe URL (your server's /api/smile/webhook) to Smile's events, with a new secret."""
    from .env import SMILE_SECRET_ENV
    from .signing import new_smile_secret

    if not url.startswith("https://") or len(url) > 500:
        raise UserError(
            "Smile delivers only to https:// URLs (at most 500 characters), e.g. https://apply.example.com/api/smile/webhook"
        )
    if not 1 <= len(name) <= 200:
        raise UserError("--name must be 1 to 200 characters")
    types = _smile_events(events)
    secret = new_smile_secret()
    body = {"name": name, "url": url, "eventTypes": types, "active": True, "secret": secret}
    created = _smile(open_project(project), lambda client: client.create_webhook(body))
    out.info(f"Registered Smile webhook {created['id']} → {url} ({', '.join(types)}).")
    click.echo(
        "\nPut this line in the .env of the server that receives it (it is shown only this once;\n"
        f"to keep an older subscription working too, list both secrets separated by a space):\n\n"
        f"{SMILE_SECRET_ENV}={secret}\n"
    )


@webhooks_group.command("list")
@project_option
@database_option
@click.option("--local", is_flag=True, help="Only the outbound endpoints; do not ask Smile.")
@_verbosity
def list_cmd(out: Output, project: Path, database: str | None, local: bool) -> None:
    """Smile's subscriptions (inbound) and flipgen.yaml's endpoints (outbound) with their queues."""
    from .admin import list_endpoints
    from .delivery import shown_url

    proj = open_project(project)
    if not local:

        async def every(client: Any) -> list[dict[str, Any]]:
            items, cursor = await client.list_webhooks()
            while cursor:
                more, cursor = await client.list_webhooks(cursor)
                items += more
            return list(items)

        subscriptions = _smile(proj, every)
        click.echo("Smile subscriptions (inbound)" if subscriptions else "Smile subscriptions (inbound): none")
        for sub in subscriptions:  # `secret` comes back in clear text: never shown
            state = "active" if sub.get("active") else "inactive"
            events = ", ".join(sub.get("eventTypes") or [])
            click.echo(f"  {sub.get('id')}  {sub.get('url')}  {state}  {events}")
    with _store(proj.root, database) as store:
        endpoints = list_endpoints(store)
    click.echo("Outbound endpoints" if endpoints else "Outbound endpoints: none (add `webhooks:` to flipgen.yaml)")
    for e in endpoints:
        state = "disabled: " + (e.disabled_reason or "") if e.disabled_at else ("active" if e.configured else "removed")
        sites = ", ".join(e.sites) if e.sites is not None else "all sites"
        click.echo(f"  {e.id}  {shown_url(e.url)}  {state}  {', '.join(e.events)} ({sites})")
        click.echo(f"      {e.pending} queued, {e.failed} given up")


@webhooks_group.command("delete")
@click.argument("webhook_id", metavar="ID")
@project_option
@_verbosity
def delete(out: Output, webhook_id: str, project: Path) -> None:
    """Delete Smile subscription ID (see `flipgen webhooks list`)."""
    _smile(open_project(project), lambda client: client.delete_webhook(webhook_id))
    out.info(f"Deleted Smile webhook {webhook_id}.")


@webhooks_group.command("secret")
@click.argument("name", default="WEBHOOK_SECRET")
@_verbosity
def secret_cmd(out: Output, name: str) -> None:
    """Print a new `whsec_…` signing secret as a .env line, for a target's `secret_env: NAME`."""
    from .signing import new_whsec

    click.echo(f"{name}={new_whsec()}")


@webhooks_group.command("deliveries")
@project_option
@database_option
@click.option("--failed", is_flag=True, help="Only deliveries that were given up.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1), help="How many, newest last.")
@_verbosity
def deliveries(out: Output, project: Path, database: str | None, failed: bool, limit: int) -> None:
    """Recent outbound deliveries: status, attempts, last answer."""
    from .admin import list_deliveries
    from .delivery import shown_url

    with _store(project, database) as store:
        rows = list_deliveries(store, failed=failed, limit=limit)
    if not rows:
        out.info("no failed deliveries" if failed else "no deliveries")
        return
    from ..applications.cli import text_table

    table = [
        [
            str(d.id),
            d.status,
            d.event_type,
            d.site or "",
            shown_url(d.url) if d.url else "(removed)",
            str(d.attempts),
            (str(d.last_status) if d.last_status is not None else "") + (f" {d.last_error}" if d.last_error else ""),
            _when(d.delivered_at if d.status == "delivered" else d.next_attempt_at if d.status == "pending" else None),
        ]
        for d in rows
    ]
    click.echo(text_table(["ID", "STATUS", "EVENT", "SITE", "URL", "TRIES", "LAST", "DELIVERED/NEXT"], table))


@webhooks_group.command("retry")
@click.argument("delivery_id", metavar="ID", type=int)
@project_option
@database_option
@_verbosity
def retry_cmd(out: Output, delivery_id: int, project: Path, database: str | None) -> None:
    """Send delivery ID again now (same webhook-id); re-enables an endpoint that a 410 disabled."""
    from .admin import retry

    with _store(project, database) as store:
        delivery = retry(store, delivery_id)
    if delivery is None:
        raise UserError(f"no delivery {delivery_id} (see `flipgen webhooks deliveries`)")
    out.info(f"Delivery {delivery.id} ({delivery.event_type}, {delivery.msg_id}) is queued; the server sends it.")


@webhooks_group.command("replay")
@click.option(
    "--since", required=True, metavar="DATE", help="Every event from DATE on (2026-03-01 or 2026-03-01T09:30)."
)
@click.option("--url", metavar="URL", help="Only to this endpoint of flipgen.yaml.")
@project_option
@database_option
@_verbosity
def replay_cmd(out: Output, since: str, url: str | None, project: Path, database: str | None) -> None:
    """Queue every event since DATE again, for each endpoint that subscribes to it now."""
    from ..applications.cli import parse_when
    from .admin import replay

    start = parse_when(since, "--since")
    assert start is not None
    proj = open_project(project)
    if url is not None and url not in [t.url for t in proj.config.webhooks]:
        raise UserError(f"{url} is not one of the `webhooks:` URLs of flipgen.yaml")
    with _store(proj.root, database) as store:
        events, queued = replay(store, since=start, url=url)
    out.info(f"{events} event(s) since {_when(start)} UTC: {queued} delivery(ies) queued; the server sends them.")


@webhooks_group.command("test")
@click.argument("url")
@click.option(
    "--event", "event_type", type=click.Choice(WEBHOOK_EVENTS), default="application.submitted", show_default=True
)
@click.option("--site", metavar="SLUG", help="Take the sample answers from this site (default: the first one).")
@click.option("--allow-private", is_flag=True, help="Allow a private or loopback address and plain http.")
@project_option
@_verbosity
def test_cmd(out: Output, url: str, event_type: str, site: str | None, allow_private: bool, project: Path) -> None:
    """Send one signed sample event (the real shape, this project's fields) to URL and show the answer."""
    from .delivery import Sender
    from .env import project_env
    from .events import new_msg_id
    from .sample import sample_body
    from .signing import new_whsec, whsec_key

    proj = open_project(project)
    target = next((t for t in proj.config.webhooks if t.url == url), None)
    env = project_env(proj.root)
    secret = env.get(target.secret_env) if target is not None else None
    note = f"signed with {target.secret_env}" if secret and target else "signed with a throwaway secret"
    if target is not None and not secret:
        note = f"signed with a throwaway secret: {target.secret_env} is not set"
    body, _slug = sample_body(proj, event_type, site)
    msg_id = new_msg_id()

    async def go() -> Any:
        sender = Sender()
        try:
            key = whsec_key(secret) if secret else whsec_key(new_whsec())
            private = allow_private or (target is not None and target.allow_private)
            return await sender.send(url, body, key=key, msg_id=msg_id, allow_private=private)
        finally:
            await sender.aclose()

    started = time.perf_counter()
    outcome = asyncio.run(go())
    took = (time.perf_counter() - started) * 1000
    out.info(f"POST {url}  {event_type}  webhook-id {msg_id} ({note}, {len(body)} bytes)")
    if outcome.ok:
        out.info(f"→ {outcome.status} in {took:.0f} ms: delivered")
        return
    raise UserError(f"→ {outcome.error} ({took:.0f} ms)")
