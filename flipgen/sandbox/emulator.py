"""An in-process stand-in for the two Smile Open API calls the token endpoint makes.

It answers ``POST …/users`` and ``POST …/tokens?userId=…`` with Smile's envelopes and shapes
(``mode: "SANDBOX"``), so the whole journey runs offline. Plug it under the real client as an
httpx transport (:meth:`SmileEmulator.transport`): the token endpoint then runs exactly the
code it runs against Smile.

Access tokens are a contract with the widget emulator (``smile-emulator.js``)::

    "sbx." + base64url_nopad(json({"u": userId, "exp": unix_seconds, "n": nonce})) + ".emulator"

User ids are ``"sbx-user-" + 24 hex chars``. The emulator keeps no state: a refresh accepts
any id of that form, so any number of instances agree.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

__all__ = [
    "DEFAULT_TOKEN_TTL",
    "SmileEmulator",
    "decode_access_token",
    "is_emulator_user_id",
]

DEFAULT_TOKEN_TTL = 5 * 60 * 60  # Smile's documented token lifetime: 5 hours
TTL_ENV = "FLIPGEN_EMULATOR_TOKEN_TTL"
USER_ID_RE = re.compile(r"^sbx-user-[0-9a-f]{24}$")
TOKEN_PREFIX, TOKEN_SUFFIX = "sbx.", ".emulator"


def is_emulator_user_id(value: object) -> bool:
    return isinstance(value, str) and USER_ID_RE.match(value) is not None


def decode_access_token(token: str) -> dict[str, Any] | None:
    """The ``{"u", "exp", "n"}`` payload of an emulator access token, or None if malformed."""
    if not (token.startswith(TOKEN_PREFIX) and token.endswith(TOKEN_SUFFIX)):
        return None
    middle = token[len(TOKEN_PREFIX) : -len(TOKEN_SUFFIX)]
    try:
        payload = json.loads(base64.urlsafe_b64decode(middle + "=" * (-len(middle) % 4)))
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def metadata_problem(metadata: object) -> str | None:
    """Why ``externalMetadata`` breaks Smile's documented limits, or None when it is fine."""
    if not isinstance(metadata, dict):
        return "externalMetadata must be an object"
    if len(metadata) > 5:
        return "externalMetadata allows at most 5 pairs"
    for key, value in metadata.items():
        if len(key) > 50 or not key.isascii():
            return "externalMetadata keys must be ASCII and at most 50 characters"
        if not isinstance(value, str) or len(value) > 500 or not value.isascii():
            return "externalMetadata values must be ASCII strings of at most 500 characters"
    return None


class SmileEmulator:
    """Answers like the Smile Open API, in process. ``token_ttl`` is in seconds."""

    def __init__(self, token_ttl: float | None = None) -> None:
        if token_ttl is None:
            token_ttl = float(os.environ.get(TTL_ENV) or DEFAULT_TOKEN_TTL)
        if token_ttl <= 0:
            raise ValueError("token_ttl must be positive")
        self.token_ttl = token_ttl

    def token(self, user_id: str) -> dict[str, Any]:
        """A Smile ``Token`` object for ``user_id``."""
        exp = int(time.time() + self.token_ttl)
        payload = json.dumps({"u": user_id, "exp": exp, "n": secrets.token_hex(8)}, separators=(",", ":")).encode()
        encoded = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
        return {
            "id": "tk-" + secrets.token_hex(16),
            "expiresAt": _iso(exp),
            "mode": "SANDBOX",
            "accessToken": TOKEN_PREFIX + encoded + TOKEN_SUFFIX,
        }

    def create_user(self, metadata: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The ``data`` of a ``POST /users`` answer: a new user and its first token."""
        user_id = "sbx-user-" + secrets.token_hex(12)
        user = {
            "id": user_id,
            "externalMetadata": dict(metadata or {}),
            "createdAt": _iso(time.time()),
            "providers": [],
            "session": {
                "userId": user_id,
                "channel": "Default",
                "channelId": None,
                "status": "IN_PROGRESS",
            },
        }
        return {"user": user, "token": self.token(user_id)}

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one HTTP request the way the Smile Open API would."""
        path = request.url.path.rstrip("/")
        if request.method != "POST":
            return _reply(501, "UNSUPPORTED_METHOD", "Only POST /users and POST /tokens exist here")
        if path.endswith("/users"):
            raw = request.content
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                return _reply(400, "INVALID_PARAMETERS", "Body is not JSON")
            if not isinstance(body, dict):
                return _reply(400, "INVALID_PARAMETERS", "Body must be an object")
            metadata = body.get("externalMetadata", {})
            problem = metadata_problem(metadata)
            if problem:
                return _reply(400, "INVALID_PARAMETERS", problem)
            return _reply(201, "OK", "Success", self.create_user(metadata))
        if path.endswith("/tokens"):
            user_id = request.url.params.get("userId", "")
            if not 1 <= len(user_id) <= 200:
                return _reply(400, "INVALID_PARAMETERS", "userId is required (1-200 characters)")
            if not is_emulator_user_id(user_id):
                return _reply(404, "MISSING_RESOURCE", "No such user in the sandbox emulator")
            return _reply(201, "OK", "Success", self.token(user_id))
        return _reply(404, "MISSING_RESOURCE", "Not found")

    def transport(self) -> httpx.MockTransport:
        """An httpx transport (sync and async clients) that routes every request here."""
        return httpx.MockTransport(self.handle)


def _reply(status: int, code: str, message: str, data: object = None) -> httpx.Response:
    envelope = {
        "code": code,
        "message": message,
        "requestId": "sbx-" + str(uuid.uuid4()),
        "data": {} if data is None else data,
    }
    return httpx.Response(status, json=envelope)
