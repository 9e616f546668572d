"""Signatures: Smile's inbound HMAC-SHA512, and outbound Standard Webhooks judged by the
`standardwebhooks` package (an implementation we did not write)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from flipgen.webhooks.signing import (
    SignatureProblem,
    new_smile_secret,
    new_whsec,
    sign_standard,
    smile_signature,
    standard_headers,
    verify_smile_signature,
    whsec_key,
)

BODY = b'{"id":"et-1","version":1,"type":"ACCOUNT_CONNECTED","createdAt":"2021-04-14T09:30:24Z","data":{}}'


def test_smile_signature_is_hex_hmac_sha512_of_the_raw_body() -> None:
    secret = "a little secret"
    expected = hmac.new(secret.encode(), BODY, hashlib.sha512).hexdigest()
    assert smile_signature(BODY, secret) == expected
    assert verify_smile_signature(BODY, expected, secret) is None
    assert verify_smile_signature(BODY, expected.upper() + "  ", secret) is None


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (None, SignatureProblem.MISSING),
        ("", SignatureProblem.MISSING),
        ("sha512=abc", SignatureProblem.MALFORMED),
        ("0" * 128, SignatureProblem.MISMATCH),
    ],
)
def test_bad_smile_signatures_say_why(header: str | None, problem: SignatureProblem) -> None:
    assert verify_smile_signature(BODY, header, "s3cret") is problem


def test_one_changed_byte_fails_and_a_missing_secret_is_refused() -> None:
    signature = smile_signature(BODY, "s3cret")
    changed = BODY.replace(b"ACCOUNT_CONNECTED", b"ACCOUNT_CONNECTEE")
    assert verify_smile_signature(changed, signature, "s3cret") is SignatureProblem.MISMATCH
    assert verify_smile_signature(BODY + b" ", signature, "s3cret") is SignatureProblem.MISMATCH
    assert verify_smile_signature(BODY, signature, "") is SignatureProblem.NO_SECRET
    assert verify_smile_signature(BODY, signature, "other") is SignatureProblem.MISMATCH


def test_generated_secrets_fit_smile_and_the_standard() -> None:
    smile = new_smile_secret()
    assert 1 <= len(smile) <= 64 and smile != new_smile_secret()
    whsec = new_whsec()
    assert whsec.startswith("whsec_") and len(whsec_key(whsec)) == 32


def test_standard_webhooks_signature_verifies_with_the_reference_library() -> None:
    secret = new_whsec()
    body = '{"type":"application.submitted","data":{"name":"Zoë, \\"Z\\""}}'.encode()
    now = int(time.time())
    headers = standard_headers(whsec_key(secret), "msg_abc", now, body)
    assert Webhook(secret).verify(body, headers) == {"type": "application.submitted", "data": {"name": 'Zoë, "Z"'}}
    # The library's own signer agrees byte for byte.
    ours = sign_standard(whsec_key(secret), "msg_abc", now, body)
    assert ours == Webhook(secret).sign("msg_abc", datetime.fromtimestamp(now, UTC), body.decode())


def test_reference_library_refuses_tampering_and_other_secrets() -> None:
    secret = new_whsec()
    body = b'{"type":"application.started"}'
    headers = standard_headers(whsec_key(secret), "msg_1", int(time.time()), body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"started", b"startee"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_whsec()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, {**headers, "webhook-id": "msg_2"})


def test_whsec_key_accepts_the_bare_base64_and_refuses_junk_without_echoing_it() -> None:
    raw = bytes(range(32))
    assert whsec_key(base64.b64encode(raw).decode()) == raw
    for bad in ("whsec_not*base64!", "whsec_" + base64.b64encode(b"short").decode()):
        with pytest.raises(ValueError) as info:
            whsec_key(bad)
        assert bad not in str(info.value)
