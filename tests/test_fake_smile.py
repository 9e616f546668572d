"""The fake Smile upstream keeps to its written contract (tests/support/smile_contract.py): it
answers what Smile answers, and it catches what a client sends off-contract. Other tests rely
on both, so both are tested here, over HTTP on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fake_smile import SAMPLE_TEMPLATE, FakeSmile

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake() -> Iterator[FakeSmile]:
    with FakeSmile() as server:
        yield server


@pytest.fixture
def http(fake: FakeSmile) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.url, auth=(fake.key, fake.secret), timeout=10) as client:
        yield client


def ok(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "requestId", "data"} and body["code"] == "OK"
    return body["data"]


INVITE = {"fullName": "Ana Lima", "email": "ana@example.com", "firstName": "Ana"}
WEBHOOK = {"name": "flipgen", "url": "https://hooks.acme.example/smile", "eventTypes": ["ALL_EVENTS"]}


def test_users_and_tokens(fake: FakeSmile, http: httpx.Client) -> None:
    created = ok(http.post("/users", json={"externalMetadata": {"ref": "a1"}}), 201)
    user_id = created["user"]["id"]
    assert user_id.startswith("tenant-") and created["user"]["externalMetadata"] == {"ref": "a1"}
    assert fake.tokens[created["token"]["accessToken"]] == user_id
    token = ok(http.post("/tokens", params={"userId": user_id}), 201)
    assert fake.tokens[token["accessToken"]] == user_id and token["mode"] == "SANDBOX"
    assert http.post("/tokens", params={"userId": "tenant-nobody"}).json()["code"] == "MISSING_RESOURCE"
    assert fake.violations == []


def test_invites_need_a_template_and_create_a_user(fake: FakeSmile, http: httpx.Client) -> None:
    template = ok(http.post("/inviteTemplates", json=SAMPLE_TEMPLATE), 201)
    assert template["id"].startswith("tpl-") and template["name"] == SAMPLE_TEMPLATE["name"]
    unknown = http.post("/invites", json={**INVITE, "templateId": "tpl-missing"})
    assert unknown.status_code == 404 and unknown.json()["code"] == "MISSING_RESOURCE"
    invite = ok(http.post("/invites", json={**INVITE, "templateId": template["id"]}), 201)
    assert invite["id"].startswith("inv-") and invite["status"] == "INVITED" and invite["userId"] in fake.users
    fake.set_invite_status(invite["id"], "LINKED")
    assert ok(http.get(f"/invites/{invite['id']}"), 200)["status"] == "LINKED"
    for _ in range(2):
        ok(http.post("/invites", json={**INVITE, "templateId": template["id"]}), 201)
    first = ok(http.get("/invites", params={"size": 2}), 200)
    assert len(first["items"]) == 2 and first["nextCursor"] is not None
    rest = ok(http.get("/invites", params={"size": 2, "cursor": first["nextCursor"]}), 200)
    assert len(rest["items"]) == 1 and rest["nextCursor"] is None
    assert fake.violations == []


def test_invite_templates_are_replaced_whole_and_deleted(fake: FakeSmile, http: httpx.Client) -> None:
    template_id = ok(http.post("/inviteTemplates", json=SAMPLE_TEMPLATE), 201)["id"]
    renamed = ok(http.put(f"/inviteTemplates/{template_id}", json={**SAMPLE_TEMPLATE, "name": "v2"}), 200)
    assert renamed == {"id": template_id, **SAMPLE_TEMPLATE, "name": "v2"}
    assert [t["name"] for t in ok(http.get("/inviteTemplates"), 200)["items"]] == ["v2"]
    ok(http.delete(f"/inviteTemplates/{template_id}"), 200)
    assert http.get(f"/inviteTemplates/{template_id}").status_code == 404
    assert fake.violations == []


def test_webhooks_answer_200_and_return_the_secret(fake: FakeSmile, http: httpx.Client) -> None:
    hook = ok(http.post("/webhooks", json={**WEBHOOK, "active": True, "secret": "s3cret"}), 200)
    assert hook["secret"] == "s3cret" and hook["includePayload"] is False and hook["active"] is True
    assert ok(http.get(f"/webhooks/{hook['id']}"), 200) == hook
    assert ok(http.get("/webhooks"), 200)["items"] == [hook]
    ok(http.delete(f"/webhooks/{hook['id']}"), 200)
    assert ok(http.get("/webhooks"), 200) == {"nextCursor": None, "items": []}
    assert fake.violations == []


@pytest.mark.parametrize(
    ("method", "path", "body", "fragment"),
    [
        ("POST", "/users", {"externalMetadata": {"k": "é"}}, "bad value"),
        ("POST", "/users", {"externalMetadata": {f"k{i}": "v" for i in range(6)}}, "more than 5"),
        ("POST", "/users", {"metadata": {}}, "UserRequest.metadata"),
        ("POST", "/invites", {"fullName": "Ana", "email": "not-an-email", "templateId": "tpl-1"}, "email"),
        ("POST", "/invites", {"email": "a@b.co", "templateId": "tpl-1"}, "fullName"),
        ("POST", "/inviteTemplates", {**SAMPLE_TEMPLATE, "successPage": None}, "successPage"),
        ("POST", "/inviteTemplates", {**SAMPLE_TEMPLATE, "email": {"sendEmail": False}}, "sendEmail"),
        ("POST", "/webhooks", {**WEBHOOK, "url": "http://plain.example", "active": True, "secret": "s"}, "url"),
        ("POST", "/webhooks", {**WEBHOOK, "active": True, "secret": "x" * 65}, "secret"),
        ("POST", "/webhooks", {**WEBHOOK, "eventTypes": ["NOPE"], "active": True, "secret": "s"}, "eventTypes"),
        ("PATCH", "/inviteTemplates/tpl-1", SAMPLE_TEMPLATE, "not an endpoint"),
        ("GET", "/invites?size=500", None, "size"),
    ],
)
def test_off_contract_requests_are_recorded_and_refused(
    fake: FakeSmile, http: httpx.Client, method: str, path: str, body: Any, fragment: str
) -> None:
    response = http.request(method, path, json=body)
    assert response.status_code in (400, 501), response.text
    assert response.json()["code"] in ("INVALID_PARAMETERS", "UNSUPPORTED_METHOD")
    assert fake.violations and any(fragment in v for v in fake.violations), fake.violations


def test_a_body_without_json_content_type_is_a_violation(fake: FakeSmile, http: httpx.Client) -> None:
    response = http.post("/users", content=b"{}", headers={"Content-Type": "text/plain"})
    assert response.status_code == 400 and any("Content-Type" in v for v in fake.violations)


def test_wrong_credentials_are_refused(fake: FakeSmile) -> None:
    with httpx.Client(base_url=fake.url, auth=(fake.key, "wrong"), timeout=10) as client:
        response = client.post("/users", json={})
    assert response.status_code == 401 and response.json()["code"] == "INVALID_CREDENTIALS"
    assert fake.users == {}


def test_faults_can_target_one_path_and_carry_retry_after(fake: FakeSmile, http: httpx.Client) -> None:
    fake.fail_next(429, code="REQUEST_LIMIT_EXCEEDED", retry_after="2", path="/invites")
    ok(http.post("/users", json={}), 201)  # another path is unaffected
    template_id = fake.create_template()["id"]
    limited = http.post("/invites", json={**INVITE, "templateId": template_id})
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    ok(http.post("/invites", json={**INVITE, "templateId": template_id}), 201)


def test_rate_limit_and_per_path_timestamps(fake: FakeSmile, http: httpx.Client) -> None:
    fake.limit_per_second = 3
    template_id = fake.create_template()["id"]
    statuses = [http.post("/invites", json={**INVITE, "templateId": template_id}).status_code for _ in range(5)]
    assert statuses[:3] == [201, 201, 201] and statuses[3:] == [429, 429]
    stamps = fake.times("/invites")
    assert len(stamps) == 5 and stamps == sorted(stamps)
    time.sleep(1.05)
    assert http.post("/invites", json={**INVITE, "templateId": template_id}).status_code == 201


def test_nothing_in_the_repository_reads_outside_it() -> None:
    """Tests, benchmarks and scripts only use files inside the clone (issue 9, item 5)."""
    offenders = []
    for folder in ("tests", "benchmarks", "scripts", ".ci", "flipgen"):
        for path in (REPO / folder).rglob("*"):
            if path == Path(__file__) or "node_modules" in path.parts:
                continue
            if path.is_file() and path.suffix in (".py", ".sh", ".js", ".mjs", ""):
                text = path.read_text("utf-8", "replace")
                if any(
                    needle in text
                    for needle in ("/work/shared", '"shared" /', "parents[3]", "../shared", "REPO.parent")
                ):
                    offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
