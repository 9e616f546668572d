"""The outbox on both backends: written with the change, claimed once, retried, disabled by 410."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from flipgen.schema import WebhookTarget
from flipgen.store import Store, open_store
from flipgen.store import applications as apps
from flipgen.webhooks.events import render_body
from flipgen.webhooks.outbox import Outcome, claim, endpoint_id, record, sync_endpoints
from flipgen.webhooks.schedule import RetryPolicy
from flipgen.webhooks.tables import webhook_deliveries, webhook_endpoints
from tests.support.db import another_writer, inserts_into

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
POLICY = RetryPolicy(jitter=0.0, rng=random.Random(1))


def target(url: str, events: list[str], sites: list[str] | None = None) -> WebhookTarget:
    return WebhookTarget.model_validate(
        {"url": url, "events": events, "secret_env": "HOOK_SECRET", "sites": sites, "allow_private": True}
    )


def render(event: Mapping[str, Any], site: str | None) -> bytes:
    return render_body(event, {"email": "Email address"})


def rows(store: Store) -> list[Any]:
    with store.read() as conn:
        return list(conn.execute(select(webhook_deliveries).order_by(webhook_deliveries.c.id)))


def test_an_application_change_writes_one_delivery_per_subscribed_endpoint(store: Store) -> None:
    sync_endpoints(
        store,
        [
            target("http://127.0.0.1:1/all", ["all"]),
            target("http://127.0.0.1:1/submitted", ["application.submitted"]),
            target("http://127.0.0.1:1/other-site", ["all"], sites=["other"]),
        ],
    )
    with store.write() as conn:
        app = apps.create(conn, site="acme", params={"ref": "x"}, now=T0)
    with store.write() as conn:
        apps.submit(conn, app.id, answers={"email": "a@example.com"}, now=T0)
    got = [(r.event_type, r.endpoint_id) for r in rows(store)]
    assert got == [
        ("application.started", endpoint_id("http://127.0.0.1:1/all")),
        ("application.submitted", endpoint_id("http://127.0.0.1:1/all")),
        ("application.submitted", endpoint_id("http://127.0.0.1:1/submitted")),
    ]
    submitted = rows(store)[1:]
    assert submitted[0].msg_id == submitted[1].msg_id  # one event, one webhook-id
    assert submitted[0].event["data"]["application"]["answers"] == {"email": "a@example.com"}


def test_applications_started_together_get_their_own_events_in_one_insert(store: Store) -> None:
    sync_endpoints(
        store,
        [target("http://127.0.0.1:1/a", ["all"]), target("http://127.0.0.1:1/b", ["application.started"], ["acme"])],
    )
    with inserts_into(store, "webhook_deliveries") as inserts, store.write() as conn:
        made = apps.create_many(
            conn, [apps.NewApplication("acme"), apps.NewApplication("other"), apps.NewApplication("acme")], now=T0
        )
    got = rows(store)
    assert inserts == [5]  # one statement: 2 endpoints x 2 acme applications + 1 endpoint x other
    assert sorted((r.application_id, r.endpoint_id) for r in got) == sorted(
        [(a.id, endpoint_id("http://127.0.0.1:1/a")) for a in made]
        + [(a.id, endpoint_id("http://127.0.0.1:1/b")) for a in made if a.site == "acme"]
    )
    by_app = {a.id: {r.msg_id for r in got if r.application_id == a.id} for a in made}
    assert all(len(ids) == 1 for ids in by_app.values())  # one event per application, one webhook-id each
    assert len(set.union(*by_app.values())) == 3
    assert {r.event["data"]["application"]["id"] for r in got} == {a.id for a in made}


def test_a_rolled_back_change_leaves_no_delivery(store: Store) -> None:
    sync_endpoints(store, [target("http://127.0.0.1:1/all", ["all"])])
    with pytest.raises(RuntimeError), store.write() as conn:
        apps.create(conn, site="acme")
        raise RuntimeError("the change fails after the event was enqueued")
    assert rows(store) == []


def test_no_endpoints_means_no_rows_and_a_removed_endpoint_stops_receiving(store: Store) -> None:
    with store.write() as conn:
        apps.create(conn, site="acme")
    assert rows(store) == []
    sync_endpoints(store, [target("http://127.0.0.1:1/a", ["all"])])
    sync_endpoints(store, [])
    with store.write() as conn:
        apps.create(conn, site="acme")
    assert rows(store) == []


def test_a_claimed_row_is_not_claimed_again_until_its_lease_ends(store: Store) -> None:
    sync_endpoints(store, [target("http://127.0.0.1:1/a", ["all"])])
    with store.write() as conn:
        apps.create(conn, site="acme", now=T0)
    first = claim(store, render, limit=10, now=T0)
    assert len(first) == 1 and first[0].attempts == 1
    assert claim(store, render, limit=10, now=T0 + timedelta(seconds=30)) == []
    again = claim(store, render, limit=10, now=T0 + timedelta(seconds=61))
    assert [c.id for c in again] == [first[0].id] and again[0].attempts == 2
    assert again[0].body == first[0].body and again[0].msg_id == first[0].msg_id
    # The first worker's late result does not overwrite the second claim.
    record(store, [(first[0], Outcome(status=200))], POLICY, now=T0 + timedelta(seconds=62))
    assert rows(store)[0].status == "sending"


def test_failures_follow_the_schedule_then_success_is_final(store: Store) -> None:
    sync_endpoints(store, [target("http://127.0.0.1:1/a", ["all"])])
    with store.write() as conn:
        apps.create(conn, site="acme", now=T0)
    (c,) = claim(store, render, limit=1, now=T0)
    record(store, [(c, Outcome(status=503, error="answered 503"))], POLICY, now=T0)
    row = rows(store)[0]
    assert (row.status, row.last_status, row.next_attempt_at) == ("pending", 503, T0 + timedelta(seconds=5))
    assert claim(store, render, limit=1, now=T0 + timedelta(seconds=4)) == []
    (c,) = claim(store, render, limit=1, now=T0 + timedelta(seconds=5))
    record(store, [(c, Outcome(status=429, retry_after=900))], POLICY, now=T0 + timedelta(seconds=5))
    assert rows(store)[0].next_attempt_at == T0 + timedelta(seconds=905)  # Retry-After beat 5 minutes
    (c,) = claim(store, render, limit=1, now=T0 + timedelta(seconds=905))
    record(store, [(c, Outcome(status=204))], POLICY, now=T0 + timedelta(seconds=906))
    row = rows(store)[0]
    assert (row.status, row.attempts, row.delivered_at) == ("delivered", 3, T0 + timedelta(seconds=906))
    assert claim(store, render, limit=1, now=T0 + timedelta(days=30)) == []


def test_410_disables_the_endpoint_and_fails_its_queue(store: Store) -> None:
    url = "http://127.0.0.1:1/gone"
    sync_endpoints(store, [target(url, ["all"])])
    with store.write() as conn:
        a = apps.create(conn, site="acme", now=T0)
        apps.submit(conn, a.id, now=T0)
    first, _second = claim(store, render, limit=2, now=T0)
    record(store, [(first, Outcome(status=410))], POLICY, now=T0)
    with store.read() as conn:
        endpoint = conn.execute(select(webhook_endpoints)).one()
    assert endpoint.disabled_at == T0
    assert {r.status for r in rows(store)} >= {"failed"}
    with store.write() as conn:
        apps.create(conn, site="acme", now=T0)
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(webhook_deliveries)).scalar() == 2
    sync_endpoints(store, [target(url, ["all"])])  # a restart does not silently re-enable it
    with store.read() as conn:
        assert conn.execute(select(webhook_endpoints.c.disabled_at)).scalar() == T0


def test_after_the_last_step_a_delivery_is_given_up(store: Store) -> None:
    sync_endpoints(store, [target("http://127.0.0.1:1/a", ["all"])])
    with store.write() as conn:
        apps.create(conn, site="acme", now=T0)
    now = T0
    for _ in range(POLICY.max_attempts):
        (c,) = claim(store, render, limit=1, now=now)
        record(store, [(c, Outcome(error="could not connect"))], POLICY, now=now)
        now = now + timedelta(days=2)
    row = rows(store)[0]
    assert (row.status, row.attempts, row.last_error) == ("failed", 10, "could not connect")


def test_an_idle_claim_on_sqlite_does_not_take_the_write_lock(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'idle.db'}", tmp_path)
    with another_writer(store):
        started = time.monotonic()
        assert claim(store, render, limit=5) == []  # nothing due: answered without waiting for the lock
        assert time.monotonic() - started < 2
    sync_endpoints(store, [target("http://127.0.0.1:1/all", ["all"])])
    with store.write() as conn:
        apps.create(conn, site="acme")
    assert [c.endpoint_id for c in claim(store, render, limit=5)] == [
        endpoint_id("http://127.0.0.1:1/all")
    ]  # work is still claimed
    store.close()
