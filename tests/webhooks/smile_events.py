"""Smile webhook events with the spec's shapes (smile-openapi-v1.yaml, `*Event` schemas), for tests."""

from __future__ import annotations

import json
import uuid
from typing import Any


def event(kind: str, data: dict[str, Any], *, id: str | None = None, created: str = "2026-01-02T03:04:05Z") -> bytes:
    return json.dumps(
        {"id": id or "et-" + uuid.uuid4().hex, "version": 1, "type": kind, "createdAt": created, "data": data}
    ).encode()


def account_connected(user: str, account: str = "a-1", **kw: Any) -> bytes:
    data = {"userId": user, "accountId": account, "loginName": "juan@example.com", "providers": ["sss_ph"]}
    return event("ACCOUNT_CONNECTED", data, **kw)


def account_failed(user: str, account: str = "a-2", **kw: Any) -> bytes:
    data = {
        "userId": user,
        "accountId": account,
        "loginName": "juan@example.com",
        "errorCode": "INVALID_CREDENTIALS",
        "errorMessage": "The login details are wrong",
        "providers": ["nbi_ph"],
    }
    return event("ACCOUNT_FAILED", data, **kw)


def account_disconnected(user: str, account: str = "a-1", **kw: Any) -> bytes:
    return event("ACCOUNT_DISCONNECTED", {"userId": user, "accountId": account, "providers": ["sss_ph"]}, **kw)


def archive(kind: str, user: str, archive_id: str = "archive-1", **kw: Any) -> bytes:
    return event(kind, {"userId": user, "archiveId": archive_id}, **kw)


def session_completed(user: str, *, padding: int = 0, **kw: Any) -> bytes:
    session = {"userId": user, "channel": "WinkSite", "channelId": "site-123", "status": "COMPLETED"}
    payload = {
        "metadata": session,
        "forms": [{"id": "form-1", "name": "Personal Information", "data": {"notes": "x" * padding}}],
        "accounts": [{"id": "a-1", "providerId": "sss_ph", "payload": {"identity": {"fullName": "Juan Dela Cruz"}}}],
        "archives": [{"id": "archive-1", "fileType": "payslip", "payload": {}}],
    }
    return event("USER_SESSION_COMPLETED", {"session": session, "payload": payload}, **kw)
