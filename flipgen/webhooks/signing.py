"""Webhook signatures, both directions.

Inbound, Smile signs with ``Smile-Signature``: the hex HMAC-SHA512 of the raw request body,
keyed with the secret given when the subscription was created. No timestamp, no prefix.

Outbound, flipgen signs with the Standard Webhooks scheme (https://www.standardwebhooks.com):
``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature: v1,<base64
HMAC-SHA256 of "{id}.{timestamp}.{body}">``, keyed with the bytes of a ``whsec_<base64>``
secret. Receivers verify with any Standard Webhooks library.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from enum import StrEnum

__all__ = [
    "SignatureProblem",
    "verify_smile_signature",
    "smile_signature",
    "new_smile_secret",
    "new_whsec",
    "whsec_key",
    "sign_standard",
    "standard_headers",
]

WHSEC_PREFIX = "whsec_"


class SignatureProblem(StrEnum):
    """Why an inbound signature was refused; the value is what the log says."""

    NO_SECRET = "SMILE_WEBHOOK_SECRET is not set"
    MISSING = "no Smile-Signature header"
    MALFORMED = "Smile-Signature is not a hex SHA-512 digest"
    MISMATCH = "Smile-Signature does not match the body"


def smile_signature(raw: bytes, secret: str) -> str:
    """The ``Smile-Signature`` Smile would send for ``raw`` (what tests and fakes sign with)."""
    return hmac.new(secret.encode(), raw, hashlib.sha512).hexdigest()


def verify_smile_signature(raw: bytes, header: str | None, secret: str | None) -> SignatureProblem | None:
    """None when ``header`` signs exactly ``raw``; otherwise the reason it does not.

    The body is hashed byte for byte as received: parsing or re-serialising first would
    change what was signed. The comparison is constant-time.
    """
    if not secret:
        return SignatureProblem.NO_SECRET
    if header is None or not header.strip():
        return SignatureProblem.MISSING
    given = header.strip().lower()
    if len(given) != 128 or any(c not in "0123456789abcdef" for c in given):
        return SignatureProblem.MALFORMED
    if not hmac.compare_digest(smile_signature(raw, secret), given):
        return SignatureProblem.MISMATCH
    return None


def new_smile_secret() -> str:
    """A fresh secret for a Smile subscription: 64 URL-safe characters (Smile's maximum)."""
    return secrets.token_urlsafe(48)


def new_whsec() -> str:
    """A fresh Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    return WHSEC_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def whsec_key(secret: str) -> bytes:
    """The HMAC key inside a ``whsec_…`` secret. Raises ValueError (never echoing it) if unusable."""
    text = secret.strip()
    if text.startswith(WHSEC_PREFIX):
        text = text[len(WHSEC_PREFIX) :]
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the secret is not in the `whsec_<base64>` form") from None
    if len(key) < 16:
        raise ValueError("the secret is too short (it should hold at least 16 random bytes)")
    return key


def sign_standard(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 signature>`` over ``{id}.{timestamp}.{body}``."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def standard_headers(key: bytes, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt (the timestamp is the attempt's)."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_standard(key, msg_id, timestamp, body),
    }
