"""Inbound events on both backends: stored once, processed into account states and outbound events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from flipgen.schema import WebhookTarget
from flipgen.store import Store
from flipgen.store import applications as apps
from flipgen.webhooks.inbound import (
    BadEvent,
    account_states,
    process_event,
    process_pending,
    session_payload,
    store_event,
)
from flipgen.webhooks.outbox import sync_endpoints
from flipgen.webhooks.tables import smile_events, webhook_deliveries

from . import smile_events as ev

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def receive(store: Store, raw: bytes) -> bool:
    event_id, _type, new = store_event(store, raw, now=T0)
    if new:
        process_event(store, event_id, now=T0)
    return new


def application(store: Store, user: str = "tenant-u1") -> apps.Application:
    with store.write() as conn:
        return apps.create(conn, site="acme", smile_user_id=user, now=T0)


def outbound(store: Store) -> list[tuple[str, dict]]:
    with store.read() as conn:
        rows = conn.execute(select(webhook_deliveries).order_by(webhook_deliveries.c.id)).all()
    return [(r.event_type, r.event["data"]) for r in rows]


def test_an_event_is_stored_once_however_often_it_comes(store: Store) -> None:
    raw = ev.account_connected("tenant-u1", id="et-same")
    assert [receive(store, raw) for _ in range(3)] == [True, False, False]
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(smile_events)).scalar() == 1


def test_unknown_types_are_stored_not_refused(store: Store) -> None:
    assert receive(store, ev.event("SOMETHING_NEW", {"userId": "u", "whatever": [1, 2]}, id="et-new"))
    with store.read() as conn:
        row = conn.execute(select(smile_events)).one()
    assert (row.type, row.user_id, row.processed_at) == ("SOMETHING_NEW", "u", T0)


@pytest.mark.parametrize("raw", [b"not json", b"[1,2]", b'{"type":"X"}', b'{"id":"et-1"}', b"[" * 15000])
def test_a_body_that_is_not_an_event_is_refused(store: Store, raw: bytes) -> None:
    with pytest.raises(BadEvent):
        store_event(store, raw)


def test_accounts_link_to_the_application_by_smile_user(store: Store) -> None:
    sync_endpoints(store, [WebhookTarget(url="http://127.0.0.1:1/h", events=["all"], secret_env="S")])
    app = application(store)
    receive(store, ev.account_connected("tenant-u1", "a-1"))
    receive(store, ev.account_failed("tenant-u1", "a-2"))
    receive(store, ev.archive("ARCHIVE_ANALYZED", "tenant-u1", "archive-9"))
    with store.read() as conn:
        states = {(s.kind, s.id): s for s in account_states(conn, "tenant-u1")}
        stored = apps.get(conn, app.id)
    assert states[("account", "a-1")].status == "connected" and states[("account", "a-1")].providers == ["sss_ph"]
    assert states[("account", "a-2")].error_code == "INVALID_CREDENTIALS"
    assert states[("archive", "archive-9")].status == "analyzed"
    assert stored is not None and (stored.accounts, stored.uploads) == (1, 1)
    kinds = [k for k, _ in outbound(store)]
    assert kinds == ["application.started", "account.connected", "account.failed"]
    assert outbound(store)[1][1]["account"] == {"id": "a-1", "providers": ["sss_ph"]}


def test_revocations_mark_the_data_revoked_and_tell_subscribers(store: Store) -> None:
    sync_endpoints(store, [WebhookTarget(url="http://127.0.0.1:1/h", events=["data.revoked"], secret_env="S")])
    app = application(store)
    receive(store, ev.account_connected("tenant-u1", "a-1", created="2026-01-02T03:00:00Z"))
    receive(store, ev.account_disconnected("tenant-u1", "a-1", created="2026-01-02T04:00:00Z"))
    receive(store, ev.archive("ARCHIVE_REVOKED", "tenant-u1", "archive-1"))
    with store.read() as conn:
        states = account_states(conn, "tenant-u1")
        assert apps.get(conn, app.id).accounts == 0  # type: ignore[union-attr]
    assert all(s.revoked for s in states)
    assert [d["revoked"]["kind"] for _, d in outbound(store)] == ["account", "archive"]


def test_an_older_event_arriving_late_does_not_undo_a_newer_one(store: Store) -> None:
    application(store)
    receive(store, ev.account_disconnected("tenant-u1", "a-1", created="2026-01-02T04:00:00Z"))
    receive(store, ev.account_connected("tenant-u1", "a-1", created="2026-01-02T03:00:00Z"))
    with store.read() as conn:
        (state,) = account_states(conn, "tenant-u1")
    assert state.status == "disconnected"


def test_session_completed_completes_the_application_and_keeps_its_payload(store: Store) -> None:
    sync_endpoints(store, [WebhookTarget(url="http://127.0.0.1:1/h", events=["application.completed"], secret_env="S")])
    app = application(store)
    receive(store, ev.session_completed("tenant-u1", padding=3 * 1024 * 1024))
    with store.read() as conn:
        done = apps.get(conn, app.id)
        payload = session_payload(conn, "tenant-u1")
    assert done is not None and done.status == "completed"
    assert payload is not None and payload["accounts"][0]["payload"]["identity"]["fullName"] == "Juan Dela Cruz"
    assert len(payload["forms"][0]["data"]["notes"]) == 3 * 1024 * 1024
    assert [k for k, _ in outbound(store)] == ["application.completed"]


def test_events_for_unknown_users_are_kept_and_count_once_the_application_exists(store: Store) -> None:
    receive(store, ev.account_connected("tenant-nobody", "a-7"))
    with store.read() as conn:
        assert [s.status for s in account_states(conn, "tenant-nobody")] == ["connected"]


def test_an_event_left_unprocessed_is_processed_later(store: Store) -> None:
    app = application(store)
    event_id, _, _ = store_event(store, ev.session_completed("tenant-u1"), now=T0)  # the process died here
    assert process_pending(store, now=T0 + timedelta(seconds=5)) == 0  # too fresh: its request may still run
    assert process_pending(store, now=T0 + timedelta(minutes=1)) == 1
    with store.read() as conn:
        assert apps.get(conn, app.id).status == "completed"  # type: ignore[union-attr]
        assert conn.execute(select(smile_events.c.processed_at)).scalar() is not None
    with store.write() as conn:  # processing again changes nothing
        conn.execute(update(smile_events).values(attempts=0))
    assert process_pending(store, now=T0 + timedelta(minutes=2)) == 0
    assert event_id.startswith("et-")


def test_invite_events_keep_the_invitation_ledger_current(store: Store) -> None:
    from flipgen.invites import ledger
    from flipgen.invites.people import Person

    app = application(store, "tenant-invited")
    with store.write() as conn:
        person = Person(row=2, email="Ana@Example.com", full_name="Ana Cruz")
        ledger.record_attempt(conn, person, site="acme", template="welcome", template_id="t-1", wink_template_id=None)
        ledger.mark_sent(conn, person.email, "acme", {"id": "inv-1", "userId": "tenant-invited", "status": "INVITED"})
    receive(store, ev.event("INVITE_LINKED", {"userId": "tenant-invited", "inviteId": "inv-1"}))
    receive(store, ev.event("INVITE_INVITED", {"userId": "tenant-invited", "inviteId": "inv-1"}))  # late, older
    with store.read() as conn:
        (invite,) = ledger.rows(conn)
    assert invite.smile_status == "LINKED" and invite.application_id == app.id


def test_erasing_an_application_erases_its_events_deliveries_and_accounts(store: Store) -> None:
    sync_endpoints(store, [WebhookTarget(url="http://127.0.0.1:1/h", events=["all"], secret_env="S")])
    gone = application(store, "tenant-erase")
    kept = application(store, "tenant-keep")
    with store.write() as conn:
        apps.submit(conn, gone.id, answers={"email": "erase.me@example.com"})
    for user in ("tenant-erase", "tenant-keep"):
        receive(store, ev.account_connected(user, f"a-{user}"))
        receive(store, ev.session_completed(user))
    with store.write() as conn:
        assert [a.id for a in apps.erase(conn, field="email", value="ERASE.ME@example.com")] == [gone.id]
    with store.read() as conn:
        deliveries = conn.execute(select(webhook_deliveries.c.application_id)).scalars().all()
        users = set(conn.execute(select(smile_events.c.user_id)).scalars())
        assert account_states(conn, "tenant-erase") == [] and len(account_states(conn, "tenant-keep")) == 1
    assert set(deliveries) == {kept.id} and users == {"tenant-keep"}
