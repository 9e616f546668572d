"""The invite ledger on both store backends: attempts, outcomes, reconciliation, webhook events."""

from __future__ import annotations

from flipgen.invites import ledger
from flipgen.invites.people import Person
from flipgen.store import Store
from flipgen.store import applications as apps

ANA = Person(row=2, email="Ana@Example.com", full_name="Ana Reyes", first_name="Ana", last_name="Reyes")
SMILE_INVITE = {
    "id": "inv-1",
    "email": "ana@example.com",
    "templateId": "tpl-1",
    "userId": "tenant-ana",
    "status": "INVITED",
}


def attempt(store: Store, person: Person = ANA, site: str = "acme") -> None:
    with store.write() as conn:
        ledger.record_attempt(
            conn, person, site=site, template="Welcome", template_id="tpl-1", wink_template_id="wtpl-1"
        )


def row(store: Store, site: str = "acme") -> ledger.Invite:
    with store.read() as conn:
        found = ledger.get(conn, "ana@example.com", site)
    assert found is not None
    return found


def test_attempt_then_sent_keyed_by_email_and_site(store: Store) -> None:
    attempt(store)
    assert row(store).state == "pending"
    with store.write() as conn:
        ledger.mark_sent(conn, ANA.email, "acme", SMILE_INVITE)
    sent = row(store)
    assert (sent.state, sent.smile_invite_id, sent.smile_user_id, sent.smile_status) == (
        "sent",
        "inv-1",
        "tenant-ana",
        "INVITED",
    )
    assert sent.sent_at is not None and sent.sent_at.tzinfo is not None
    attempt(store, site="other")  # the same person on another site is another invite
    with store.read() as conn:
        assert [(r.email, r.site, r.state) for r in ledger.rows(conn)] == [
            ("ana@example.com", "acme", "sent"),
            ("ana@example.com", "other", "pending"),
        ]


def test_failed_then_retried(store: Store) -> None:
    attempt(store)
    with store.write() as conn:
        ledger.mark_failed(conn, ANA.email, "acme", "Smile answered HTTP 400 INVALID_PARAMETERS")
    assert (row(store).state, row(store).error) == ("failed", "Smile answered HTTP 400 INVALID_PARAMETERS")
    attempt(store)
    assert (row(store).state, row(store).error) == ("pending", None)


def test_a_pending_row_found_at_smile_becomes_sent_and_statuses_follow(store: Store) -> None:
    attempt(store)
    other_template = {**SMILE_INVITE, "id": "inv-0", "templateId": "tpl-other"}
    with store.write() as conn:
        assert ledger.apply_smile_invite(conn, other_template) == 0  # another template's invite: not this one
        assert ledger.apply_smile_invite(conn, SMILE_INVITE) == 1
    assert (row(store).state, row(store).smile_invite_id) == ("sent", "inv-1")
    with store.write() as conn:
        assert ledger.apply_smile_invite(conn, SMILE_INVITE) == 0  # nothing new
        assert ledger.apply_smile_invite(conn, {**SMILE_INVITE, "status": "EMAIL_OPENED"}) == 1
    assert row(store).smile_status == "EMAIL_OPENED"


def test_webhook_events_update_the_row_and_link_the_application(store: Store) -> None:
    attempt(store)
    with store.write() as conn:
        ledger.mark_sent(conn, ANA.email, "acme", SMILE_INVITE)
        app = apps.create(conn, site="acme", smile_user_id="tenant-ana")
    linked = {
        "id": "et-2",
        "type": "INVITE_LINKED",
        "createdAt": "2026-12-01T10:00:00Z",
        "data": {"userId": "tenant-ana", "inviteId": "inv-1"},
    }
    invited = {"id": "et-1", "type": "INVITE_INVITED", "data": {"userId": "tenant-ana", "inviteId": "inv-1"}}
    with store.write() as conn:
        assert ledger.apply_event(conn, linked) is True
        # Delivered late (webhooks are not ordered): it must not undo LINKED.
        assert ledger.apply_event(conn, invited) is False
        assert ledger.apply_event(conn, {"type": "INVITE_LINKED", "data": {"inviteId": "inv-unknown"}}) is False
        assert ledger.apply_event(conn, {"type": "ACCOUNT_CONNECTED", "data": {"inviteId": "inv-1"}}) is False
    done = row(store)
    assert (done.smile_status, done.application_id) == ("LINKED", app.id)
    assert done.linked_at is not None and done.linked_at.isoformat() == "2026-12-01T10:00:00+00:00"


def test_smiles_invite_webhooks_reach_the_ledger_through_the_webhook_processor(store: Store) -> None:
    from flipgen.webhooks.inbound import process_event, store_event
    from tests.webhooks.smile_events import event

    attempt(store)
    with store.write() as conn:
        ledger.mark_sent(conn, ANA.email, "acme", {**SMILE_INVITE, "status": None})
        app = apps.create(conn, site="acme", smile_user_id="tenant-ana")
    data = {"userId": "tenant-ana", "inviteId": "inv-1"}
    for raw in (event("INVITE_INVITED", data), event("INVITE_LINKED", data, created="2026-12-01T10:00:00Z")):
        event_id, kind, new = store_event(store, raw)
        assert new
        process_event(store, event_id)
    done = row(store)
    assert (done.smile_status, done.application_id) == ("LINKED", app.id)
    assert done.linked_at is not None and done.linked_at.isoformat() == "2026-12-01T10:00:00+00:00"


def test_an_application_created_later_is_linked(store: Store) -> None:
    attempt(store)
    with store.write() as conn:
        ledger.mark_sent(conn, ANA.email, "acme", SMILE_INVITE)
        assert ledger.link_applications(conn) == 0
        apps.create(conn, site="acme", smile_user_id="tenant-someone-else")
        app = apps.create(conn, site="acme", smile_user_id="tenant-ana")
        assert ledger.link_applications(conn) == 1
        assert ledger.link_applications(conn) == 0
    assert row(store).application_id == app.id


def test_deleting_or_erasing_an_application_forgets_its_invites(store: Store) -> None:
    attempt(store)
    bob = Person(row=3, email="bob@example.com", full_name="Bob")
    attempt(store, bob)
    with store.write() as conn:
        ledger.mark_sent(conn, ANA.email, "acme", SMILE_INVITE)
        ledger.mark_sent(conn, bob.email, "acme", {**SMILE_INVITE, "id": "inv-2", "userId": "tenant-bob"})
        ana_app = apps.create(conn, site="acme", smile_user_id="tenant-ana")
        apps.create(conn, site="acme", smile_user_id="tenant-carol")
    with store.write() as conn:
        assert apps.delete_application(conn, ana_app.id) is not None  # a listener deletes Ana's invite
    with store.read() as conn:
        assert [r.email for r in ledger.rows(conn)] == ["bob@example.com"]
