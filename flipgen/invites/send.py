"""Sending invites: one ``POST /invites`` per person, paced, resumable, and never twice.

The ledger row is written before each request and updated after it, so a run can be killed
at any moment. The next run first asks Smile about rows left ``pending`` (the request may or
may not have arrived) and marks the ones Smile has as sent; then it sends everyone the ledger
does not show as sent. A ``429`` pauses every worker for Smile's ``Retry-After``; a refusal
(4xx) is reported with the spreadsheet row; a 5xx or timeout leaves the row ``pending`` for
the next run to check, because resending blindly could email the person twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..errors import UserError
from ..smile import SmileClient, SmileError, SmileTimeout
from ..store import Store
from . import ledger
from .pacing import Pacer
from .people import Person, RowProblem
from .sync import all_pages

__all__ = ["Report", "Sender", "invite_body", "plan"]

# 429s in a row for one invite before the run gives up on it (each waits Retry-After).
MAX_RATE_LIMITED = 5


@dataclass
class Report:
    """What a run did. ``failed`` are Smile's refusals; ``unknown`` will be checked next run."""

    total: int = 0
    sent: int = 0
    skipped: int = 0
    reconciled: int = 0
    failed: list[RowProblem] = field(default_factory=list)
    unknown: list[RowProblem] = field(default_factory=list)
    stopped: bool = False

    @property
    def done(self) -> int:
        return self.sent + self.skipped + len(self.failed) + len(self.unknown)


def invite_body(person: Person, template_id: str, wink_template_id: str | None) -> dict[str, str]:
    """The ``InvitePostRequest`` for one person."""
    body = {"email": person.email, "fullName": person.full_name, "templateId": template_id}
    if person.first_name:
        body["firstName"] = person.first_name
    if person.last_name:
        body["lastName"] = person.last_name
    if wink_template_id:
        body["winkTemplateId"] = wink_template_id
    return body


def plan(store: Store, people: list[Person], site: str) -> tuple[list[Person], int]:
    """(the people the ledger does not show as sent for ``site``, how many it does)."""
    with store.read() as conn:
        sent = {row.email for row in ledger.rows(conn, site=site) if row.state == "sent"}
    todo = [p for p in people if p.key not in sent]
    return todo, len(people) - len(todo)


class _Fatal(Exception):
    """Stop the whole run (bad credentials, Smile asking for a very long pause)."""


@dataclass
class Sender:
    client: SmileClient
    store: Store
    pacer: Pacer
    site: str
    template: str
    template_id: str
    wink_template_id: str | None
    concurrency: int = 4
    max_wait: float = 120.0
    progress: Callable[[Report], None] | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    _writer: ThreadPoolExecutor | None = field(default=None, repr=False)

    async def run(self, people: list[Person]) -> Report:
        """Send an invite to each person not already invited to this site."""
        report = Report(total=len(people))
        report.reconciled = await self._reconcile()
        queue, report.skipped = plan(self.store, people, self.site)
        self._tick(report)
        pending: asyncio.Queue[Person] = asyncio.Queue()
        for person in queue:
            pending.put_nowait(person)
        self._writer = ThreadPoolExecutor(1, "flipgen-ledger")
        workers = [asyncio.create_task(self._worker(pending, report)) for _ in range(max(1, self.concurrency))]
        try:
            results = await asyncio.gather(*workers, return_exceptions=True)
        finally:
            self._writer.shutdown()
            self._writer = None
        report.stopped = self.stop.is_set() and report.done < report.total
        for result in results:
            if isinstance(result, _Fatal):
                raise UserError(str(result))
            if isinstance(result, BaseException):
                raise result
        return report

    async def _reconcile(self) -> int:
        """Ask Smile about ``pending`` rows (a killed run); mark those it has as sent."""
        with self.store.read() as conn:
            pending = {row.email for row in ledger.rows(conn, site=self.site) if row.state == "pending"}
        if not pending:
            return 0
        found: list[dict[str, Any]] = []
        try:
            async for item in all_pages(self.pacer, lambda cursor: self.client.list_invites(cursor)):
                if isinstance(item.get("email"), str) and item["email"].strip().lower() in pending:
                    found.append(item)
        except SmileError as exc:
            raise UserError(f"could not check unfinished invites with Smile: {exc}") from None
        with self.store.write() as conn:
            return sum(ledger.apply_smile_invite(conn, item) for item in found)

    async def _worker(self, queue: asyncio.Queue[Person], report: Report) -> None:
        while not self.stop.is_set():
            try:
                person = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                await self._send(person, report)
            except _Fatal:
                self.stop.set()
                raise
            self._tick(report)

    async def _send(self, person: Person, report: Report) -> None:
        body = invite_body(person, self.template_id, self.wink_template_id)
        for _ in range(MAX_RATE_LIMITED):
            await self._write(
                ledger.record_attempt,
                person,
                site=self.site,
                template=self.template,
                template_id=self.template_id,
                wink_template_id=self.wink_template_id,
            )
            # The pacer's turn comes last, so the request leaves right when it is granted:
            # a database write in between would bunch requests up at Smile.
            await self.pacer.acquire()
            if self.stop.is_set():
                return
            try:
                invite = await self.client.create_invite(body)
            except SmileTimeout as exc:
                report.unknown.append(RowProblem(person.row, f"{person.email}: {exc}; the next run checks with Smile"))
                return
            except SmileError as exc:
                if exc.status == 429:
                    self._wait(exc.retry_after)
                    continue
                await self._refused(person, exc, report)
                return
            await self._write(ledger.mark_sent, person.email, self.site, invite)
            report.sent += 1
            return
        await self._fail(person, report, f"Smile kept answering 429 (rate limited) {MAX_RATE_LIMITED} times")

    async def _write(self, change: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """One ledger change in its own transaction, off the event loop (a durable commit waits for the disk).

        One writer thread: concurrent writers would only wait on SQLite's lock, in its busy
        handler's growing sleeps.
        """

        def run() -> None:
            with self.store.write() as conn:
                change(conn, *args, **kwargs)

        await asyncio.get_running_loop().run_in_executor(self._writer, run)

    def _wait(self, retry_after: float | None) -> None:
        wait = 1.0 if retry_after is None else retry_after  # Smile's limit is per second
        if wait > self.max_wait:
            raise _Fatal(
                f"Smile asked to wait {wait:.0f} s before the next request (more than {self.max_wait:.0f} s): "
                "stopping here; run the same command later to send the rest"
            )
        self.pacer.pause(wait)

    async def _refused(self, person: Person, exc: SmileError, report: Report) -> None:
        if exc.status in (401, 403):
            raise _Fatal(f"Smile refused the API credentials ({exc}): check SMILE_API_KEY and SMILE_API_SECRET")
        if exc.status is not None and 400 <= exc.status < 500:
            await self._fail(person, report, str(exc))
        else:  # 5xx, connection lost: it may have been sent
            report.unknown.append(RowProblem(person.row, f"{person.email}: {exc}; the next run checks with Smile"))

    async def _fail(self, person: Person, report: Report, message: str) -> None:
        await self._write(ledger.mark_failed, person.email, self.site, message)
        report.failed.append(RowProblem(person.row, f"{person.email}: {message}"))

    def _tick(self, report: Report) -> None:
        if self.progress is not None:
            self.progress(report)
