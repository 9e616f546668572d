"""Outbound delivery over real sockets on 127.0.0.1, on both backends, judged by `standardwebhooks`."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from flipgen.schema import WebhookTarget
from flipgen.store import Store
from flipgen.store import applications as apps
from flipgen.webhooks.delivery import DeliveryWorker
from flipgen.webhooks.outbox import sync_endpoints
from flipgen.webhooks.schedule import RetryPolicy
from flipgen.webhooks.signing import new_whsec
from flipgen.webhooks.tables import webhook_deliveries, webhook_endpoints

from .receiver import Answer, Receiver

SECRET = new_whsec()
ENV = {"HOOK_SECRET": SECRET}
FAST = RetryPolicy(scale=0.001)  # 5 ms, 300 ms, 1.8 s, …: the real schedule, a thousand times faster
LABELS = {"email": "Email address", "plan": "Which plan?"}


def target(url: str, *, allow_private: bool = True, events: list[str] | None = None) -> WebhookTarget:
    return WebhookTarget(url=url, events=events or ["all"], secret_env="HOOK_SECRET", allow_private=allow_private)


def submit(store: Store, answers: dict[str, object] | None = None) -> apps.Application:
    with store.write() as conn:
        app = apps.create(conn, site="acme", params={"ref": "newsletter"})
        app, _ = apps.submit(conn, app.id, answers=answers or {"email": "zoë@example.com", "plan": "pro"})
    return app


def deliveries(store: Store) -> list:
    with store.read() as conn:
        return list(conn.execute(select(webhook_deliveries).order_by(webhook_deliveries.c.id)))


def drive(store: Store, until: Callable[[], bool], *, timeout: float = 20.0, policy: RetryPolicy = FAST) -> None:
    """Run a delivery worker until ``until()`` holds (checked between polls)."""

    async def main() -> None:
        worker = DeliveryWorker(store, environ=ENV, labels=lambda site: LABELS, policy=policy, poll_interval=0.02)
        task = asyncio.create_task(worker.run())
        try:
            deadline = time.monotonic() + timeout
            while not await asyncio.to_thread(until):
                if task.done():
                    task.result()
                if time.monotonic() > deadline:
                    raise AssertionError("the condition did not hold in time")
                await asyncio.sleep(0.02)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await worker.sender.aclose()

    asyncio.run(main())


def delivered(store: Store, n: int = 1) -> Callable[[], bool]:
    return lambda: sum(r.status == "delivered" for r in deliveries(store)) >= n


def test_503_twice_then_200_delivers_one_event_with_one_unchanged_webhook_id(store: Store) -> None:
    with Receiver() as receiver:
        receiver.script(503, 503, 200)
        sync_endpoints(store, [target(receiver.url, events=["application.submitted"])])
        app = submit(store)
        drive(store, delivered(store))
        got = receiver.requests
    assert [r.headers["webhook-id"] for r in got] == [got[0].headers["webhook-id"]] * 3
    assert got[0].body == got[1].body == got[2].body
    for request in got:  # each attempt is signed afresh, and the reference library accepts it
        payload = Webhook(SECRET).verify(request.body, request.headers)
    assert payload["type"] == "application.submitted"
    data = payload["data"]["application"]
    assert data["id"] == app.id and data["answers"] == {"email": "zoë@example.com", "plan": "pro"}
    assert data["labels"] == LABELS and data["params"] == {"ref": "newsletter"}
    (row,) = deliveries(store)
    assert (row.status, row.attempts, row.last_status) == ("delivered", 3, 200)


def test_retry_after_is_honoured(store: Store) -> None:
    with Receiver() as receiver:
        receiver.script(Answer(503, {"Retry-After": "2"}), 200)
        sync_endpoints(store, [target(receiver.url, events=["application.started"])])
        submit(store)
        drive(store, delivered(store))
        first, second = receiver.requests
    assert second.at - first.at >= 2.0  # the schedule alone would have waited 5 ms


def test_410_disables_the_endpoint(store: Store) -> None:
    with Receiver() as receiver:
        receiver.script(410)
        sync_endpoints(store, [target(receiver.url, events=["application.submitted"])])
        submit(store)
        drive(store, lambda: deliveries(store)[0].status == "failed")
        submit(store)  # a later event is not even queued for it
        time.sleep(0.2)
        assert len(receiver.requests) == 1
    assert len(deliveries(store)) == 1
    with store.read() as conn:
        endpoint = conn.execute(select(webhook_endpoints)).one()
    assert endpoint.disabled_at is not None and "410" in endpoint.disabled_reason


def test_a_redirect_is_a_failure_and_never_followed(store: Store) -> None:
    with Receiver() as receiver:
        elsewhere = receiver.url.replace("/hook", "/elsewhere")
        receiver.script(Answer(302, {"Location": elsewhere}), Answer(307, {"Location": elsewhere}), 200)
        sync_endpoints(store, [target(receiver.url, events=["application.submitted"])])
        submit(store)
        drive(store, delivered(store))
        paths = [r.path for r in receiver.requests]
    assert paths == ["/hook", "/hook", "/hook"]
    assert deliveries(store)[0].attempts == 3


def test_a_loopback_target_without_allow_private_is_refused(store: Store) -> None:
    with Receiver() as receiver:
        sync_endpoints(store, [target(receiver.url.replace("http:", "https:"), allow_private=False)])
        submit(store)
        drive(store, lambda: deliveries(store)[0].attempts >= 2)
        assert receiver.requests == []
    assert "loopback" in deliveries(store)[0].last_error


def test_many_events_each_delivered_once_and_no_secret_in_the_log(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="flipgen.webhooks")
    with Receiver() as receiver:
        receiver.script(*([500] * 5))
        sync_endpoints(store, [target(receiver.url, events=["application.submitted"])])
        for i in range(40):
            submit(store, {"email": f"person{i}@example.com"})
        drive(store, delivered(store, 40))
        counts = receiver.ids()
    assert len(counts) == 40 and sum(counts.values()) == 45
    bodies = {json.loads(r.body)["data"]["application"]["answers"]["email"] for r in receiver.requests}
    assert len(bodies) == 40
    assert SECRET not in caplog.text and SECRET.removeprefix("whsec_") not in caplog.text
    assert "failed (attempt 1): answered 500" in caplog.text
