"""Application handles: what the browser holds instead of an application id or a Smile userId.

A handle is ``<id>.<mac>``, both URL-safe base64 without padding, where ``mac`` is
HMAC-SHA256 over the application id *and the site* with a key derived from
``FLIPGEN_SECRET_KEY``. So a handle cannot be forged, cannot be guessed from another one, and
a handle minted for one site is worthless on another: :meth:`HandleSigner.verify` gives the
application id back only for the site it was signed for, comparing in constant time.

The key: production servers refuse to start without ``FLIPGEN_SECRET_KEY`` (handles must
survive restarts and be shared by every worker and host); the sandbox and the preview use an
ephemeral random key. ``flipgen init`` writes a fresh key into the project's ``.env``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path

from flipgen.errors import UserError

__all__ = ["ENV_VAR", "MIN_KEY_LENGTH", "HandleSigner", "load_secret_key", "new_secret_key"]

ENV_VAR = "FLIPGEN_SECRET_KEY"
MIN_KEY_LENGTH = 32
MAX_HANDLE_LENGTH = 256
_B64 = re.compile(r"[A-Za-z0-9_-]+")
# Domain separation: the same secret may key other features without their MACs ever meeting.
_PURPOSE = b"flipgen application handle v1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_secret_key() -> str:
    """A fresh random key for ``FLIPGEN_SECRET_KEY`` (256 bits, URL-safe text)."""
    return secrets.token_urlsafe(32)


class HandleSigner:
    """Signs and verifies application handles with one secret key.

    The key is kept only in derived form and never printed, not even by ``repr``.
    """

    __slots__ = ("_key", "ephemeral")

    def __init__(self, secret: str | bytes, *, ephemeral: bool = False) -> None:
        raw = secret.encode("utf-8") if isinstance(secret, str) else secret
        self._key = hmac.new(raw, _PURPOSE, hashlib.sha256).digest()
        self.ephemeral = ephemeral

    @classmethod
    def random(cls) -> HandleSigner:
        """A signer with an ephemeral key: its handles die with the process."""
        return cls(secrets.token_bytes(32), ephemeral=True)

    def __repr__(self) -> str:
        return f"HandleSigner(ephemeral={self.ephemeral})"

    def _mac(self, application_id: str, site: str) -> bytes:
        message = b"\x00".join((site.encode("utf-8"), application_id.encode("utf-8")))
        return hmac.digest(self._key, message, "sha256")  # hmac.new(…).digest(), in one C call

    def sign(self, application_id: str, site: str) -> str:
        """The handle of application ``application_id`` of ``site``."""
        return f"{_b64(application_id.encode('utf-8'))}.{_b64(self._mac(application_id, site))}"

    def verify(self, handle: str, site: str) -> str | None:
        """The application id in ``handle`` if it was signed for ``site``; None for anything else."""
        if not isinstance(handle, str) or len(handle) > MAX_HANDLE_LENGTH or handle.count(".") != 1:
            return None
        encoded_id, encoded_mac = handle.split(".")
        if not _B64.fullmatch(encoded_id) or not _B64.fullmatch(encoded_mac):
            return None
        try:
            raw_id, mac = _unb64(encoded_id), _unb64(encoded_mac)
            application_id = raw_id.decode("utf-8")
        except (binascii.Error, ValueError):
            return None
        # Only the canonical spelling: base64 ignores the spare bits of a last character, and
        # one application must have exactly one handle.
        if _b64(raw_id) != encoded_id or _b64(mac) != encoded_mac:
            return None
        if not hmac.compare_digest(mac, self._mac(application_id, site)):
            return None
        return application_id


def load_secret_key(
    project: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    required: bool,
) -> HandleSigner:
    """The signer for ``FLIPGEN_SECRET_KEY`` from the environment, else ``<project>/.env``.

    ``required`` (production): a missing key is a :class:`UserError` that says how to make one.
    Otherwise (sandbox, preview) a missing key gives an ephemeral one. A key shorter than
    :data:`MIN_KEY_LENGTH` characters is refused either way. No message ever shows the key.
    """
    env = os.environ if environ is None else environ
    value = (env.get(ENV_VAR) or "").strip()
    dotenv_path = Path(project or ".") / ".env"
    if not value and dotenv_path.is_file():
        from dotenv import dotenv_values

        value = (dotenv_values(dotenv_path).get(ENV_VAR) or "").strip()
    if not value:
        if required:
            raise UserError(
                f"{ENV_VAR} is not set. The server signs application handles with it, so it must be the "
                f"same secret on every worker and host and stay the same across restarts. Set it in the "
                f"environment or in {dotenv_path} (`flipgen init` writes one), e.g. to the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`."
            )
        return HandleSigner.random()
    if len(value) < MIN_KEY_LENGTH:
        raise UserError(
            f"{ENV_VAR} is too short ({len(value)} characters): use at least {MIN_KEY_LENGTH} random "
            "characters, e.g. the output of `python -c 'import secrets; print(secrets.token_urlsafe(32))'`."
        )
    return HandleSigner(value)
