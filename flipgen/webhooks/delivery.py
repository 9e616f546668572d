"""Sending outbound webhooks: one signed POST per attempt, and the task that drains the outbox.

The sender never follows a redirect (a 3xx is a failed attempt), connects only to the address
the SSRF guard checked, and reads no response body. The worker keeps up to ``concurrency``
attempts in flight; it claims more as attempts finish and records the results of every
attempt that finished meanwhile in one transaction.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
import httpx

from ..smile import parse_retry_after
from ..store import Store
from .events import render_body
from .outbox import Claimed, Outcome, claim, record
from .schedule import RetryPolicy, policy_from_env
from .signing import standard_headers, whsec_key
from .ssrf import BlockedTarget, resolve_target

__all__ = ["Sender", "DeliveryWorker"]

log = logging.getLogger("flipgen.webhooks")

USER_AGENT = "flipgen-webhooks"


class Sender:
    """Signs and POSTs one body; answers an :class:`Outcome`, never raises for network trouble."""

    def __init__(self, *, timeout: float = 10.0, connect_timeout: float = 5.0, max_connections: int = 64) -> None:
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,  # the address is pinned after the SSRF check; a proxy would undo that
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(
        self, url: str, body: bytes, *, key: bytes, msg_id: str, allow_private: bool, timestamp: int | None = None
    ) -> Outcome:
        try:
            target = await resolve_target(url, allow_private=allow_private)
        except BlockedTarget as exc:
            return Outcome(error=f"refused: {exc}")
        headers = {
            "host": target.host_header,
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            **standard_headers(key, msg_id, int(time.time()) if timestamp is None else timestamp, body),
        }
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        request = self._client.build_request(
            "POST", target.pinned_url, content=body, headers=headers, extensions=extensions
        )
        try:
            response = await self._client.send(request, stream=True)
            await response.aclose()
        except httpx.TimeoutException:
            return Outcome(error="timed out")
        except httpx.HTTPError as exc:
            return Outcome(error=f"could not connect ({type(exc).__name__})")
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        error = None if 200 <= response.status_code < 300 else f"answered {response.status_code}"
        if 300 <= response.status_code < 400:
            error = f"answered {response.status_code} (redirects are not followed)"
        return Outcome(status=response.status_code, error=error, retry_after=retry_after)


Labels = Callable[[str | None], Mapping[str, str]]


def _no_labels(site: str | None) -> Mapping[str, str]:
    return {}


class DeliveryWorker:
    """Drains the outbox of ``store``: claim due rows, send them, record what happened."""

    def __init__(
        self,
        store: Store,
        *,
        environ: Mapping[str, str],
        labels: Labels = _no_labels,
        policy: RetryPolicy | None = None,
        sender: Sender | None = None,
        concurrency: int = 32,
        poll_interval: float = 0.5,
        record_delay: float = 0.005,
    ) -> None:
        self.store = store
        self.environ = environ
        self.labels = labels
        self.policy = policy or policy_from_env()
        self.sender = sender or Sender()
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.record_delay = record_delay
        self._done: list[tuple[Claimed, Outcome]] = []
        self._in_flight = 0
        self._results = anyio.Event()
        self._wake = anyio.Event()

    def _render(self, event: Mapping[str, Any], site: str | None) -> bytes:
        return render_body(event, self.labels(site))

    def _key(self, secret_env: str) -> bytes | None:
        value = self.environ.get(secret_env)
        if not value:
            return None
        try:
            return whsec_key(value)
        except ValueError:
            return None

    async def _attempt(self, item: Claimed) -> Outcome:
        key = self._key(item.secret_env)
        if key is None:
            return Outcome(error=f"{item.secret_env} is not set to a whsec_… secret")
        return await self.sender.send(
            item.url, item.body, key=key, msg_id=item.msg_id, allow_private=item.allow_private
        )

    async def run_once(self) -> int:
        """Claim one batch, send it, record it; the number of attempts made (tests, the CLI)."""
        batch = await anyio.to_thread.run_sync(lambda: claim(self.store, self._render, limit=self.concurrency))
        results: list[tuple[Claimed, Outcome]] = []

        async def one(item: Claimed) -> None:
            results.append((item, await self._attempt(item)))

        async with anyio.create_task_group() as tg:
            for item in batch:
                tg.start_soon(one, item)
        if results:
            await anyio.to_thread.run_sync(lambda: record(self.store, results, self.policy))
            self._log(results)
        return len(batch)

    def wake(self) -> None:
        """Look for due rows now rather than at the next poll (call from the event loop's thread)."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver until cancelled."""
        # Claim in batches (a quarter of the slots at least, unless idle): a claim is a write
        # transaction, and one commit per row would cap delivery at the disk's fsync rate.
        threshold = max(1, self.concurrency // 4)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._recorder)
            while True:
                free = self.concurrency - self._in_flight
                batch: list[Claimed] = []
                if free >= threshold or (free > 0 and self._in_flight == 0):
                    try:
                        batch = await anyio.to_thread.run_sync(
                            functools.partial(claim, self.store, self._render, limit=free), abandon_on_cancel=False
                        )
                    except Exception:  # noqa: BLE001 - a database hiccup must not end delivery for good
                        log.exception("webhooks: claiming deliveries failed; trying again shortly")
                for item in batch:
                    self._in_flight += 1
                    tg.start_soon(self._deliver, item)
                if len(batch) < free or free < threshold:
                    with anyio.move_on_after(self.poll_interval):
                        await self._wake.wait()
                    self._wake = anyio.Event()

    async def _deliver(self, item: Claimed) -> None:
        outcome = await self._attempt(item)
        self._done.append((item, outcome))
        self._results.set()

    async def _recorder(self) -> None:
        while True:
            await self._results.wait()
            if self._in_flight > len(self._done):
                await anyio.sleep(self.record_delay)  # let the attempts finishing now share the commit
            self._results = anyio.Event()
            done, self._done = self._done, []
            try:
                await anyio.to_thread.run_sync(
                    functools.partial(record, self.store, done, self.policy), abandon_on_cancel=False
                )
            except Exception:  # noqa: BLE001 - the rows stay `sending`; their lease hands them out again
                log.exception("webhooks: recording %d delivery results failed", len(done))
            self._in_flight -= len(done)
            self._log(done)
            self._wake.set()

    @staticmethod
    def _log(results: list[tuple[Claimed, Outcome]]) -> None:
        for item, outcome in results:
            if outcome.ok:
                log.debug("webhook %s delivered to %s (attempt %d)", item.msg_id, shown_url(item.url), item.attempts)
            else:
                log.warning(
                    "webhook %s to %s failed (attempt %d): %s",
                    item.msg_id,
                    shown_url(item.url),
                    item.attempts,
                    outcome.error,
                )


def shown_url(url: str) -> str:
    """The URL without its query string, which may carry a receiver's token, for logs and listings."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
