"""The applications repository, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, inspect

from flipgen.store import Store
from flipgen.store import applications as apps

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TRICKY = {
    "name": "Zoë “Ω” O'Brien, Jr.",
    "notes": 'line 1\nline 2, "quoted"\r\n=SUM(A1)',
    "n": 12.5,
    "tags": ["a", "b"],
}


def _create(store: Store, **kw: Any) -> apps.Application:
    with store.write() as conn:
        return apps.create(conn, **{"site": "acme", "now": T0, **kw})


def _get(store: Store, app_id: str) -> apps.Application:
    with store.read() as conn:
        app = apps.get(conn, app_id)
    assert app is not None
    return app


def test_create_stores_what_was_given_and_nothing_about_the_visitor(store: Store) -> None:
    app = _create(store, params={"ref": "mail"}, locale="fr-CA", first_screen="about")
    again = _get(store, app.id)
    assert again == app
    assert (again.site, again.status, again.params, again.locale, again.answers) == (
        "acme",
        "started",
        {"ref": "mail"},
        "fr-CA",
        {},
    )
    assert again.created_at == T0 and again.created_at.tzinfo is not None
    assert len(app.id) >= 22 and app.id != _create(store).id
    with store.read() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("applications")}
    assert not {"ip", "ip_address", "user_agent"} & columns


def test_answers_round_trip_exactly(store: Store) -> None:
    app = _create(store)
    with store.write() as conn:
        apps.save_answers(conn, app.id, TRICKY, now=T0)
    assert _get(store, app.id).answers == TRICKY


def test_saving_the_same_answers_twice_changes_nothing(store: Store) -> None:
    app = _create(store, first_screen="about")
    with store.write() as conn:
        first = apps.save_answers(conn, app.id, {"a": 1}, screen="about", next_screen="money", now=T0 + timedelta(1))
    with store.write() as conn:
        second = apps.save_answers(conn, app.id, {"a": 1}, screen="about", next_screen="money", now=T0 + timedelta(2))
    assert first == second == _get(store, app.id)
    assert second.updated_at == T0 + timedelta(1)
    with store.read() as conn:
        screens = [(v.screen, v.position) for v in apps.visits(conn, app_ids=[app.id])]
    assert screens == [("about", 0), ("money", 1)]


def test_save_merges_and_removes(store: Store) -> None:
    app = _create(store)
    with store.write() as conn:
        apps.save_answers(conn, app.id, {"a": 1, "b": 2}, now=T0)
        updated = apps.save_answers(conn, app.id, {"c": 3}, remove=["b"], now=T0)
    assert updated.answers == {"a": 1, "c": 3} == _get(store, app.id).answers


def test_unknown_id_raises_key_error(store: Store) -> None:
    with pytest.raises(KeyError), store.write() as conn:
        apps.save_answers(conn, "nope", {"a": 1})


def test_submit_is_idempotent_and_final(store: Store) -> None:
    app = _create(store)
    with store.write() as conn:
        submitted, changed = apps.submit(conn, app.id, answers={"a": "x"}, now=T0 + timedelta(hours=1))
    assert changed and submitted.status == "submitted" and submitted.submitted_at == T0 + timedelta(hours=1)
    with store.write() as conn:
        again, changed = apps.submit(conn, app.id, answers={"a": "x"}, now=T0 + timedelta(hours=2))
        assert not changed and again == submitted
        apps.save_answers(conn, app.id, {"a": "x"})  # a retried save of the same answers is fine
    with pytest.raises(apps.ApplicationClosed), store.write() as conn:
        apps.submit(conn, app.id, answers={"a": "changed"})
    with pytest.raises(apps.ApplicationClosed), store.write() as conn:
        apps.save_answers(conn, app.id, {"a": "changed"})
    assert _get(store, app.id) == submitted


def test_complete_counts_and_smile_user(store: Store) -> None:
    app = _create(store)
    with store.write() as conn:
        apps.set_smile_user(conn, app.id, "user-1", now=T0)
        apps.set_counts(conn, app.id, accounts=2, uploads=1, now=T0)
        done, changed = apps.complete(conn, app.id, now=T0 + timedelta(minutes=5))
        assert changed
        assert apps.complete(conn, app.id)[1] is False
        assert apps.find_by_smile_user(conn, "user-1") == done
        assert apps.find_by_smile_user(conn, "user-2") is None
    assert (done.status, done.accounts, done.uploads, done.smile_user_id) == ("completed", 2, 1, "user-1")
    assert done.completed_at == done.submitted_at == T0 + timedelta(minutes=5)


def test_listeners_fire_once_per_real_change_inside_the_transaction(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(apps, "_listeners", [])

    @apps.on_change
    def record(conn: Connection, event: str, changed: Sequence[apps.Application]) -> None:
        assert conn.in_transaction()
        seen.extend((event, app.status) for app in changed)

    app = _create(store)
    with store.write() as conn:
        apps.submit(conn, app.id)
        apps.submit(conn, app.id)
        apps.complete(conn, app.id)
        apps.complete(conn, app.id)
    assert seen == [
        ("application.started", "started"),
        ("application.submitted", "submitted"),
        ("application.completed", "completed"),
    ]


def test_a_failing_listener_rolls_the_change_back(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    app = _create(store)

    def refuse(conn: Connection, event: str, changed: Sequence[apps.Application]) -> None:
        raise RuntimeError("outbox full")

    monkeypatch.setattr(apps, "_listeners", [refuse])
    with pytest.raises(RuntimeError), store.write() as conn:
        apps.submit(conn, app.id)
    assert _get(store, app.id).status == "started"


def test_visits_record_arrival_and_departure(store: Store) -> None:
    app = _create(store, first_screen="a")
    with store.write() as conn:
        assert apps.reach(conn, app.id, "b", now=T0 + timedelta(seconds=30))
        assert not apps.reach(conn, app.id, "a", now=T0 + timedelta(seconds=40))  # going back is not a new arrival
        apps.reach(conn, app.id, "c", now=T0 + timedelta(seconds=90))
        apps.submit(conn, app.id, now=T0 + timedelta(seconds=100))
    with store.read() as conn:
        got = [
            (v.screen, v.position, v.reached_at - T0, v.left_at and v.left_at - T0)
            for v in apps.visits(conn, site="acme")
        ]
    assert got == [
        ("a", 0, timedelta(0), timedelta(seconds=30)),
        ("b", 1, timedelta(seconds=30), timedelta(seconds=90)),
        ("c", 2, timedelta(seconds=90), timedelta(seconds=100)),
    ]


def test_list_filters_by_site_status_and_time(store: Store) -> None:
    old = _create(store, now=T0 - timedelta(days=3))
    fresh = _create(store, now=T0)
    other = _create(store, site="other", now=T0)
    with store.write() as conn:
        apps.submit(conn, other.id, now=T0)
    now = T0 + timedelta(hours=1)
    with store.read() as conn:

        def ids(**kw: Any) -> list[str]:
            return [a.id for a in apps.list_applications(conn, now=now, **kw)]

        assert ids()[0] == old.id and set(ids()) == {old.id, fresh.id, other.id}
        assert set(ids(site="acme")) == {old.id, fresh.id}
        assert ids(status="abandoned") == [old.id]
        assert ids(status="started") == [fresh.id]
        assert ids(status="submitted") == [other.id]
        assert set(ids(since=T0)) == {fresh.id, other.id}
        assert ids(until=T0) == [old.id]
        assert len(ids(limit=2)) == 2
        with pytest.raises(ValueError):
            ids(status="weird")
    assert old.state(now) == "abandoned" and fresh.state(now) == "started"


def test_delete_purge_and_erase_return_what_they_removed(store: Store) -> None:
    keep = _create(store, now=T0)
    old = _create(store, now=T0 - timedelta(days=61), first_screen="a")
    by_answer = _create(store, now=T0)
    by_param = _create(store, now=T0, params={"email": "ANNA@example.com"})
    gone = _create(store, now=T0)
    with store.write() as conn:
        apps.save_answers(conn, by_answer.id, {"email": "anna@example.com"})
        apps.save_answers(conn, keep.id, {"email": "bob@example.com", "note": "anna@example.com is my friend"})
    with store.write() as conn:
        assert apps.delete_application(conn, gone.id) == gone
        assert apps.delete_application(conn, gone.id) is None
        assert [a.id for a in apps.purge(conn, before=T0 - timedelta(days=60))] == [old.id]
        erased = apps.erase(conn, field="email", value=" Anna@Example.com ")
        assert {a.id for a in erased} == {by_answer.id, by_param.id}
        assert apps.erase(conn, field="email", value="nobody@example.com") == []
    with store.read() as conn:
        assert [a.id for a in apps.list_applications(conn)] == [keep.id]
        assert apps.visits(conn) == []


def test_delete_listeners_see_what_is_removed_in_the_same_transaction(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, bool]] = []
    monkeypatch.setattr(apps, "_delete_listeners", [])

    @apps.on_delete
    def forget(conn: Connection, removed: list[apps.Application]) -> None:
        for app in removed:
            seen.append((app.id, apps.get(conn, app.id) is not None))  # still there: the listener runs first

    first, second = _create(store), _create(store)
    with store.write() as conn:
        apps.delete_application(conn, first.id)
        apps.purge(conn, before=T0 + timedelta(days=1))
    assert seen == [(first.id, True), (second.id, True)]

    def refuse(conn: Connection, removed: list[apps.Application]) -> None:
        raise RuntimeError("cannot erase")

    third = _create(store)
    monkeypatch.setattr(apps, "_delete_listeners", [refuse])
    with pytest.raises(RuntimeError), store.write() as conn:
        apps.delete_application(conn, third.id)
    assert _get(store, third.id) == third
