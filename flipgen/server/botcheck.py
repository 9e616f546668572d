"""The optional bot check before a mint: Cloudflare Turnstile, verified server side.

A site with ``bot_protection: {provider: turnstile, site_key: …}`` renders the Turnstile
widget on its Wink screen; the page sends the widget's token as ``"turnstile"`` in the mint
request, and the endpoint asks the siteverify API (``TURNSTILE_SECRET``) before minting. A
missing or refused token is 403 ``bot_check_failed``; siteverify that cannot be reached is
503 ``service_unavailable`` (the check fails closed: it exists to protect money).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import httpx

from .config import log

__all__ = ["DEFAULT_VERIFY_URL", "Turnstile", "VerifyUnavailable", "turnstile_from_env"]

DEFAULT_VERIFY_URL = "https://challenges.cloudflare.com/turnstile/v0/siteverify"


class VerifyUnavailable(Exception):
    """siteverify did not give an answer (network error, timeout, 5xx, not JSON)."""


class Turnstile:
    """Verifies widget tokens with one pooled client. The secret goes only into request bodies."""

    def __init__(self, secret: str, verify_url: str = DEFAULT_VERIFY_URL, *, timeout: float = 5.0) -> None:
        self._secret = secret
        self.verify_url = verify_url
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    def __repr__(self) -> str:
        return f"Turnstile(verify_url={self.verify_url!r})"

    async def verify(self, token: str, remote_ip: str | None) -> bool:
        """Whether siteverify accepts ``token``; raises :class:`VerifyUnavailable` without an answer."""
        form = {"secret": self._secret, "response": token}
        if remote_ip:
            form["remoteip"] = remote_ip
        try:
            answer = await self._client.post(self.verify_url, data=form)
            result = answer.json() if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as exc:
            raise VerifyUnavailable(type(exc).__name__) from None
        if not isinstance(result, dict):
            raise VerifyUnavailable(f"HTTP {answer.status_code}")
        if result.get("success") is not True:
            log.info('{"botcheck":"refused","codes":%s}', _codes(result))
            return False
        return True

    async def aclose(self) -> None:
        await self._client.aclose()


def _codes(result: Mapping[str, object]) -> str:
    codes = result.get("error-codes")
    words = [c for c in codes if isinstance(c, str)][:5] if isinstance(codes, list) else []
    return "[" + ",".join(f'"{c[:40]}"' for c in words if c.replace("-", "").isalnum()) + "]"


def turnstile_from_env(project: Path, environ: Mapping[str, str] | None = None) -> Turnstile | None:
    """A verifier from ``TURNSTILE_SECRET`` (environment, else ``<project>/.env``) and
    ``FLIPGEN_TURNSTILE_VERIFY_URL``; None when no secret is set."""
    from dotenv import dotenv_values

    env = dict(os.environ if environ is None else environ)
    dotenv = project / ".env"
    file_values = {k: v for k, v in dotenv_values(dotenv).items() if v} if dotenv.is_file() else {}
    secret = (env.get("TURNSTILE_SECRET") or file_values.get("TURNSTILE_SECRET") or "").strip()
    if not secret:
        return None
    url = env.get("FLIPGEN_TURNSTILE_VERIFY_URL") or file_values.get("FLIPGEN_TURNSTILE_VERIFY_URL")
    return Turnstile(secret, url or DEFAULT_VERIFY_URL)
