"""`flipgen invite templates sync`: make Smile's invite templates match `invites/*.yaml`.

Templates are matched by name. A missing one is created; one whose fields differ is
replaced (``PUT`` takes the whole template); an identical one is left alone, so a second
run changes nothing and sends nothing but the listing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..smile import SmileClient
from .pacing import Pacer
from .template import LoadedTemplate, to_smile

__all__ = ["Change", "sync_templates", "remote_templates", "all_pages", "changed_fields"]

Action = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class Change:
    name: str
    action: Action
    template_id: str
    fields: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        detail = f" ({', '.join(self.fields)})" if self.fields else ""
        return f"{self.action:9} {self.name} [{self.template_id}]{detail}"


async def all_pages(
    pacer: Pacer, fetch: Callable[[str | None], Awaitable[tuple[list[dict[str, Any]], str | None]]]
) -> AsyncIterator[dict[str, Any]]:
    """Every item of a paginated Smile list, one paced request per page."""
    cursor: str | None = None
    seen: set[str] = set()
    while True:
        await pacer.acquire()
        items, cursor = await fetch(cursor)
        for item in items:
            yield item
        # A cursor seen before would loop forever: stop instead.
        if cursor is None or cursor in seen:
            return
        seen.add(cursor)


async def remote_templates(client: SmileClient, pacer: Pacer) -> dict[str, dict[str, Any]]:
    """Smile's invite templates by name (the first one when Smile holds two of a name)."""
    found: dict[str, dict[str, Any]] = {}
    async for item in all_pages(pacer, lambda cursor: client.list_invite_templates(cursor)):
        name = item.get("name")
        if isinstance(name, str):
            found.setdefault(name, item)
    return found


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, sub in value.items():
            out.update(_flatten(sub, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: value}


def _same(a: Any, b: Any) -> bool:
    # Line ends and surrounding blanks are not a change (in case Smile normalises texts).
    if isinstance(a, str) and isinstance(b, str):
        return a.replace("\r\n", "\n").strip() == b.replace("\r\n", "\n").strip()
    return bool(a == b)


def changed_fields(remote: Mapping[str, Any], local: Mapping[str, Any]) -> list[str]:
    """Dotted names (Smile's spelling, `email.subject`) of the fields whose values differ."""
    have = _flatten(remote)
    return [key for key, value in _flatten(local).items() if not _same(have.get(key), value)]


async def sync_templates(
    client: SmileClient, templates: list[LoadedTemplate], pacer: Pacer, *, dry_run: bool = False
) -> list[Change]:
    """Create or update each template in Smile; returns what happened to each, in order."""
    remote = await remote_templates(client, pacer)
    changes: list[Change] = []
    for loaded in templates:
        body = to_smile(loaded)
        existing = remote.get(loaded.name)
        if existing is None:
            created: dict[str, Any] = {"id": "(dry run)"}
            if not dry_run:
                await pacer.acquire()
                created = await client.create_invite_template(body)
            changes.append(Change(loaded.name, "created", str(created.get("id"))))
            continue
        template_id = str(existing.get("id"))
        fields = changed_fields(existing, body)
        if not fields:
            changes.append(Change(loaded.name, "unchanged", template_id))
            continue
        if not dry_run:
            await pacer.acquire()
            await client.update_invite_template(template_id, body)
        changes.append(Change(loaded.name, "updated", template_id, fields))
    return changes
