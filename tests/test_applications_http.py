"""The application routes over real HTTP (flipgen/server/applications.py): start, save, submit,
the re-validation of every rule, the handle, and the token routes that take it. Each test runs
on SQLite and on PostgreSQL (tests/support/db.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from flipgen import manifest as manifest_module
from flipgen.errors import UserError
from flipgen.handles import ENV_VAR, HandleSigner
from flipgen.server import create_app
from flipgen.smile import Credentials
from flipgen.store import applications as apps
from tests.support.db import db_url  # noqa: F401  (fixture)
from tests.support.fake_smile import FakeSmile
from tests.test_token import serve

PROJECT = Path(__file__).parent / "fixtures" / "applications"
SECRET = "s3cret-" + "x" * 40
PARAMS = {"ref": "ABC"}
BASICS = {"name": "Ada", "email": "ada@example.com", "kind": "gig", "consent": True}
ANSWERS = {**BASICS, "platform": "Upwork"}


class Live:
    def __init__(self, base: str, app: Any, fake: FakeSmile) -> None:
        self.http = httpx.Client(base_url=base, timeout=30)
        self.app = app
        self.fake = fake

    def start(self, site: str = "rules", params: dict[str, str] | None = None, **more: Any) -> str:
        r = self.http.post(
            "/api/applications", json={"site": site, "params": PARAMS if params is None else params, **more}
        )
        assert r.status_code == 201, r.text
        return str(r.json()["handle"])

    def save(self, handle: str, screen: str, answers: dict[str, Any], site: str = "rules") -> httpx.Response:
        return self.http.post(
            f"/api/applications/{handle}/answers", json={"site": site, "screen": screen, "answers": answers}
        )

    def submit(self, handle: str, answers: dict[str, Any], site: str = "rules", **more: Any) -> httpx.Response:
        return self.http.post(f"/api/applications/{handle}/submit", json={"site": site, "answers": answers, **more})

    def stored(self, handle: str, site: str = "rules") -> apps.Application:
        app_id = HandleSigner(SECRET).verify(handle, site)
        assert app_id
        with self.app.store.read() as conn:
            found = apps.get(conn, app_id)
        assert found is not None
        return found


@pytest.fixture
def live(db_url: str, tmp_path: Path) -> Iterator[Live]:  # noqa: F811
    manifest = manifest_module.load(PROJECT)
    with ExitStack() as stack:
        fake = stack.enter_context(FakeSmile())
        app = create_app(
            PROJECT,
            manifest=manifest,
            credentials=Credentials(fake.key, fake.secret, fake.url),
            environ={ENV_VAR: SECRET},
            database=db_url,
            rate_limit=0,
        )
        stack.callback(app.store.close)
        base = stack.enter_context(serve(app))
        live = Live(base, app, fake)
        stack.callback(live.http.close)
        yield live


def error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()["error"]
    assert body["code"] == code, body
    return body


# --------------------------------------------------------------------------- the happy path


def test_start_save_submit(live: Live) -> None:
    handle = live.start(locale="en-GB")
    assert "." in handle and len(handle) < 120
    r = live.save(handle, "basics", BASICS)
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "started", "screen": "basics", "next": "gig"}
    assert live.save(handle, "gig", {"platform": "Upwork"}).json()["next"] == "connect"
    r = live.submit(handle, ANSWERS, accounts=2, uploads=1)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "submitted" and r.json()["end"] == "done"
    stored = live.stored(handle)
    assert stored.status == "submitted" and stored.locale == "en-GB" and stored.params == PARAMS
    unanswered = dict.fromkeys(("phone", "age", "start", "plan", "extras", "news", "notes"))
    assert stored.answers == {**ANSWERS, **unanswered, "source": "ref-ABC"}, "hidden fields filled by the server"
    assert (stored.accounts, stored.uploads) == (2, 1)
    with live.app.store.read() as conn:
        reached = [v.screen for v in apps.visits(conn, app_ids=[stored.id])]
    assert reached == ["basics", "gig", "connect", "done"]


def test_saving_again_and_submitting_again_change_nothing(live: Live) -> None:
    handle = live.start()
    first = live.save(handle, "basics", BASICS)
    updated = live.stored(handle).updated_at
    again = live.save(handle, "basics", BASICS)
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert live.stored(handle).updated_at == updated, "a retried save is a no-op"
    one = live.submit(handle, ANSWERS)
    two = live.submit(handle, ANSWERS)
    assert one.status_code == two.status_code == 200
    assert one.json() == two.json()
    changed = live.submit(handle, {**ANSWERS, "platform": "Fiverr"})
    error(changed, 409, "already_submitted")
    assert live.stored(handle).answers["platform"] == "Upwork"
    # A save after the submission may repeat what was submitted, never change it.
    assert live.save(handle, "gig", {"platform": "Upwork"}).status_code == 200
    error(live.save(handle, "gig", {"platform": "Fiverr"}), 409, "already_submitted")


def test_going_back_replaces_a_screens_answers(live: Live) -> None:
    handle = live.start()
    live.save(handle, "basics", {**BASICS, "notes": "first"})
    live.save(handle, "gig", {"platform": "Upwork"})
    r = live.save(handle, "basics", {**BASICS, "kind": "job", "employer": "Acme"})
    assert r.json()["next"] == "job"
    stored = live.stored(handle).answers
    assert stored["notes"] is None and stored["employer"] == "Acme"
    assert live.save(handle, "job", {"company": "Acme"}).status_code == 200
    # The submission keeps only the path the answers take: the gig screen's answer is dropped.
    final = {**BASICS, "kind": "job", "employer": "Acme", "company": "Acme"}
    assert live.submit(handle, final).status_code == 200
    assert "platform" not in live.stored(handle).answers


# --------------------------------------------------------------------------- re-validation, rule by rule

RULES = [
    ("name", None, "required"),
    ("name", "   ", "required"),
    ("name", "A", "min_length"),
    ("name", "Ada Lovelace!", "max_length"),
    ("name", "Ada1", "pattern"),
    ("email", "ada@", "email"),
    ("phone", "12", "tel"),
    ("age", "eighteen", "number"),
    ("age", "17", "min"),
    ("age", "121", "max"),
    ("age", "30.5", "step"),
    ("start", "2026-02-30", "date"),
    ("start", "2025-12-31", "min"),
    ("start", "2027-01-01", "max"),
    ("plan", "gold", "options"),
    ("kind", "freelance", "options"),
    ("kind", None, "required"),
    ("extras", ["a", "z"], "options"),
    ("extras", ["a", "a"], "type"),
    ("news", "yes", "type"),
    ("consent", False, "required"),
    ("notes", "x" * 41, "max_length"),
    ("email", "zoë@example.com", "ascii"),
    ("name", 42, "type"),
    ("notes", "bad\x00byte", "characters"),
    ("source", "ref-XYZ", "fixed"),
    ("employer", "Acme", "not_shown"),
    ("nickname", "Ada", "unknown"),
]


@pytest.mark.parametrize(("field", "value", "rule"), RULES, ids=[f"{f}-{r}" for f, _, r in RULES])
def test_every_broken_rule_is_a_422_naming_the_field(live: Live, field: str, value: Any, rule: str) -> None:
    handle = live.start()
    saved = error(live.save(handle, "basics", {**BASICS, field: value}), 422, "invalid_answers")
    assert saved["rules"] == {field: rule}, saved
    # The submission may find more (a wrong `kind` takes another path), but names this one.
    submitted = error(live.submit(handle, {**ANSWERS, field: value}), 422, "invalid_answers")
    assert submitted["rules"][field] == rule, submitted
    for body in (saved, submitted):
        assert body["fields"][field] and field in body["message"]
    assert live.stored(handle).answers == {} and live.stored(handle).status == "started", "nothing saved"


def test_messages_are_the_sites_own(live: Live) -> None:
    body = error(live.submit(live.start(), {**ANSWERS, "email": "nope"}), 422, "invalid_answers")
    assert body["fields"] == {"email": "Enter an email address like name@example.com."}


def test_answers_off_the_path_are_refused(live: Live) -> None:
    handle = live.start()
    # `kind: gig` leads to the gig screen: a company (job screen) is not on that path.
    body = error(live.submit(handle, {**ANSWERS, "company": "Acme"}), 422, "invalid_answers")
    assert body["rules"] == {"company": "not_shown"}
    # Saving a screen the saved answers do not lead to is refused too.
    live.save(handle, "basics", BASICS)
    error(live.save(handle, "job", {"company": "Acme"}), 409, "not_on_path")
    # And a screen that holds no answers, or none at all.
    error(live.save(handle, "connect", {}), 422, "invalid_answers")
    error(live.save(handle, "nowhere", {}), 422, "invalid_answers")


def test_a_submission_needs_every_required_answer_on_its_path(live: Live) -> None:
    body = error(live.submit(live.start(), BASICS), 422, "invalid_answers")
    assert body["rules"] == {"platform": "required"}


def test_params_are_checked_when_starting(live: Live) -> None:
    for params, rules in (
        ({}, {"ref": "required"}),
        ({"ref": "abc"}, {"ref": "pattern"}),
        ({"ref": "ABC", "utm": "x\x07"}, {"utm": "characters"}),
        ({"ref": "ABC", "other": "1"}, {"other": "unknown"}),
    ):
        r = live.http.post("/api/applications", json={"site": "rules", "params": params})
        assert error(r, 422, "invalid_params")["rules"] == rules
    error(live.http.post("/api/applications", json={"site": "nope"}), 404, "unknown_site")
    r = live.http.post("/api/applications", json={"site": "rules", "params": PARAMS, "locale": "<script>"})
    error(r, 400, "invalid_request")


# --------------------------------------------------------------------------- the handle


def test_forged_and_foreign_handles_are_404(live: Live) -> None:
    handle = live.start()
    other = live.start(site="other")
    forged = [
        handle[:-1] + ("A" if handle[-1] != "A" else "B"),
        HandleSigner("not-the-key-" + "y" * 40).sign(HandleSigner(SECRET).verify(handle, "rules") or "", "rules"),
        "x",
        "a.b",
        other,  # signed, but for another site
    ]
    for bad in forged:
        error(live.save(bad, "basics", BASICS), 404, "unknown_application")
        error(live.submit(bad, ANSWERS), 404, "unknown_application")
        r = live.http.post("/api/link-token", json={"site": "rules", "handle": bad})
        error(r, 404, "unknown_application")
    # The handle of another site, presented with that site's name, still cannot touch this one.
    error(live.save(handle, "basics", BASICS, site="other"), 404, "unknown_application")
    assert live.stored(handle).answers == {}


def test_the_mint_links_the_smile_user_and_never_returns_it(live: Live) -> None:
    handle = live.start()
    r = live.http.post("/api/link-token", json={"site": "rules", "handle": handle, "metadata": {"ref": "ABC"}})
    assert r.status_code == 200, r.text
    assert r.json()["handle"] == handle and "userId" not in r.json()
    user = live.stored(handle).smile_user_id
    assert user and user not in r.text
    assert live.fake.users[user] == {"ref": "ABC"}
    refreshed = live.http.post("/api/link-token/refresh", json={"site": "rules", "handle": handle})
    assert refreshed.status_code == 200 and user not in refreshed.text
    assert live.fake.tokens[refreshed.json()["userToken"]] == user
    # Without a handle the mint starts an application and answers its handle.
    fresh = live.http.post("/api/link-token", json={"site": "rules"}).json()
    assert fresh["handle"] != handle and live.stored(fresh["handle"]).smile_user_id not in (None, user)


def test_the_secret_key_never_reaches_output_or_logs(live: Live, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    handle = live.start()
    bodies = [
        live.save(handle, "basics", BASICS).text,
        live.submit(handle, {**ANSWERS, "email": "x"}).text,
        live.submit("forged.handle", ANSWERS).text,
        live.http.get("/openapi.json").text,
    ]
    for text in [*bodies, caplog.text, repr(live.app.handles)]:
        assert SECRET not in text and SECRET[:16] not in text


def test_production_refuses_to_start_without_the_key(tmp_path: Path) -> None:
    with FakeSmile() as fake, pytest.raises(UserError) as err:
        create_app(
            PROJECT,
            manifest=manifest_module.load(PROJECT),
            credentials=Credentials(fake.key, fake.secret, fake.url),
            environ={},
            database=f"sqlite:///{tmp_path / 'x.db'}",
        )
    assert ENV_VAR in str(err.value)
    sandbox = create_app(
        PROJECT,
        manifest=manifest_module.load(PROJECT),
        sandbox=True,
        environ={},
        database=f"sqlite:///{tmp_path / 'y.db'}",
    )
    assert sandbox.handles.ephemeral
    sandbox.store.close()


def test_bodies_over_64_kib_are_refused(live: Live) -> None:
    handle = live.start()
    r = live.save(handle, "basics", {**BASICS, "notes": "x" * 70_000})
    error(r, 413, "body_too_large")


def test_origin_policy_is_the_token_routes(live: Live) -> None:
    r = live.http.post(
        "/api/applications", json={"site": "rules", "params": PARAMS}, headers={"origin": "https://evil.example"}
    )
    error(r, 403, "origin_not_allowed")
    pre = live.http.options(
        "/api/applications/abc/answers",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert pre.status_code == 403
