"""Configuration of the token server: Smile credentials, ``FLIPGEN_*`` variables, logging."""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from flipgen.errors import UserError
from flipgen.smile import DEFAULT_HOST, Credentials

__all__ = ["ENV_PREFIX", "configure_logging", "env_flag", "load_credentials", "log", "missing_credentials"]

log = logging.getLogger("flipgen.token")

ENV_PREFIX = "FLIPGEN_TOKEN_"


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_credentials(
    project: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Credentials | None:
    """Smile credentials from the environment, else ``<project>/.env``; None when absent.

    ``SMILE_API_KEY``/``SMILE_API_SECRET``/``SMILE_API_HOST``, with the quickstart's
    ``API_KEY``/``API_SECRET``/``OPEN_API_HOST`` as fallbacks. The environment wins over the
    file variable by variable. Raises :class:`UserError` for half a key pair or a bad host:
    the host must be https (plain http only to a loopback address, e.g. a local fake),
    since the key pair travels in every request.
    """
    from dotenv import dotenv_values  # only the token server reads .env files

    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    dotenv_path = Path(project or ".") / ".env"
    if dotenv_path.is_file():
        values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v})
    values.update({k: v for k, v in env.items() if v})

    def pick(primary: str, fallback: str) -> str | None:
        return (values.get(primary) or values.get(fallback) or "").strip() or None

    key = pick("SMILE_API_KEY", "API_KEY")
    secret = pick("SMILE_API_SECRET", "API_SECRET")
    host = pick("SMILE_API_HOST", "OPEN_API_HOST") or DEFAULT_HOST
    if key is None and secret is None:
        return None
    if key is None or secret is None:
        missing = "SMILE_API_KEY" if key is None else "SMILE_API_SECRET"
        raise UserError(
            f"{missing} is not set, but its partner is: set both SMILE_API_KEY and "
            f"SMILE_API_SECRET (in the environment or in {dotenv_path})."
        )
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"SMILE_API_HOST must be an https URL such as {DEFAULT_HOST}, not {host[:200]!r}.")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise UserError(
            f"SMILE_API_HOST must use https: {host[:200]!r} would send the API key and secret in clear "
            "text. Plain http is accepted only for loopback addresses (a local fake)."
        )
    return Credentials(key=key, secret=secret, host=host)


def missing_credentials(project: Path) -> UserError:
    return UserError(
        "No Smile API credentials: set SMILE_API_KEY and SMILE_API_SECRET (and SMILE_API_HOST, "
        f"default {DEFAULT_HOST}) in the environment or in {project / '.env'}, "
        "or start with --sandbox to use the built-in Smile emulator."
    )


def env_flag(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def configure_logging(level: str = "info") -> None:
    """Print the request log (one JSON object a line) on stderr, unless already configured."""
    if log.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(level.upper())
    log.propagate = False
